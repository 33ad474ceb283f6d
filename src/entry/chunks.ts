/**
 * The bundle's loader. dist/oam-grant.mjs is a small ES module (this loader
 * and bin.ts) followed by one block comment that carries the chunks as
 * CommonJS source text: the CLI itself (`core`), the AWS SDK, gitbeaker,
 * re2js, openid-client, and the build-time `warm-up`. Its last line is a table of where each
 * chunk sits (scripts/build.mjs writes it). V8 pre-parses every line of an ES
 * module before running any of it, and allocates every string literal; a
 * comment is only scanned for its end. A chunk is compiled only when a command
 * needs it, as a classic script, which (unlike an ES module on Node 20) can use
 * a V8 code cache: `oam-grant.mjs.node<major>.<chunk>.code-cache` next to the
 * bundle, written after a training run (warm-up) so that it holds the
 * functions a grant runs, not only the chunk's top level. Caches are optional:
 * V8 refuses one from another build of Node or for a changed source, and the
 * chunk is then simply compiled.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import type { LazyDependencies } from '../lib/lazy-module.ts';

type Core = typeof import('../lazy/core.ts');
type AwsSts = typeof import('../lazy/aws-sts.ts');
type Gitbeaker = typeof import('../lazy/gitbeaker.ts');
type Re2js = typeof import('../lazy/re2js.ts');
type OpenidClient = typeof import('../lazy/openid-client.ts');
type WarmUp = typeof import('../lazy/warm-up.ts');

interface ChunkExports {
  core: Core;
  'aws-sts': AwsSts;
  gitbeaker: Gitbeaker;
  re2js: Re2js;
  'openid-client': OpenidClient;
  'warm-up': WarmUp;
}
export type ChunkName = keyof ChunkExports;

/** The chunks a code cache is written for (warm-up runs once, at build time). */
const CACHED: readonly ChunkName[] = ['core', 'aws-sts', 'gitbeaker', 're2js', 'openid-client'];

/** The bundle's last line starts so; scripts/build.mjs writes it. */
const TABLE_PREFIX = '//# oam-grant-chunks ';

/**
 * Where a chunk's text sits in the bundle (byte offsets; chunks are ASCII).
 * `slashes`: offsets in the chunk where the text had `*` + `/`, which would end
 * the comment: the build wrote another character for the slash.
 */
interface ChunkPlace {
  readonly at: number;
  readonly length: number;
  readonly slashes: readonly number[];
}

const BUNDLE_FILE = fileURLToPath(import.meta.url);

let table: { readonly bytes: Buffer; readonly places: Readonly<Record<string, ChunkPlace>> } | undefined;

function readTable(): NonNullable<typeof table> {
  if (table) return table;
  const bytes = readFileSync(BUNDLE_FILE);
  const end = bytes[bytes.length - 1] === 0x0a ? bytes.length - 1 : bytes.length;
  const line = bytes.toString('latin1', bytes.lastIndexOf(0x0a, end - 1) + 1, end);
  if (!line.startsWith(TABLE_PREFIX)) throw new Error(`oam-grant: ${BUNDLE_FILE} has no chunk table on its last line; rebuild it with npm run build`);
  table = { bytes, places: JSON.parse(line.slice(TABLE_PREFIX.length)) as Record<string, ChunkPlace> };
  return table;
}

function chunkSource(name: ChunkName): string {
  const { bytes, places } = readTable();
  const place = places[name];
  if (!place) throw new Error(`oam-grant: the bundle has no chunk ${name}`);
  const text = bytes.toString('latin1', place.at, place.at + place.length);
  if (place.slashes.length === 0) return text;
  const parts: string[] = [];
  let from = 0;
  for (const slash of place.slashes) {
    parts.push(text.slice(from, slash));
    from = slash + 1;
  }
  parts.push(text.slice(from));
  return parts.join('/');
}

/** Per Node major version: the bundle ships caches for each version it supports, and V8 checks the rest. */
function cachePath(name: ChunkName): string {
  return `${BUNDLE_FILE}.node${process.versions.node.split('.')[0]}.${name}.code-cache`;
}

function readCache(name: ChunkName): Buffer | undefined {
  try {
    return readFileSync(cachePath(name));
  } catch {
    return undefined;
  }
}

/**
 * Built-ins a chunk requires at its top but few commands use: loaded on first
 * use of one of their functions (child_process: `exec` only; ~2 ms otherwise).
 * The chunks only call these modules' functions (esbuild's `(0, m.spawn)(...)`).
 */
const ON_FIRST_USE: ReadonlySet<string> = new Set(['node:child_process']);

function chunkRequire(): NodeJS.Require {
  const require = createRequire(import.meta.url);
  const deferred = (id: string): unknown => {
    let module: Record<string | symbol, unknown> | undefined;
    const real = () => (module ??= require(id) as Record<string | symbol, unknown>);
    return new Proxy({}, { get: (_target, key) => real()[key], has: (_target, key) => key in real() });
  };
  return Object.assign((id: string) => (ON_FIRST_USE.has(id) ? deferred(id) : require(id)), require);
}

interface Evaluated {
  readonly exports: unknown;
  readonly script: Script;
}

const evaluated = new Map<ChunkName, Evaluated>();

/** Runs a CommonJS chunk built by esbuild, with a `require` rooted at the bundle (Node built-ins only). */
function evaluate(name: ChunkName, options: { useCache: boolean }): Evaluated {
  const done = evaluated.get(name);
  if (done) return done;
  const cachedData = options.useCache ? readCache(name) : undefined;
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${chunkSource(name)}\n})`, {
    filename: `${BUNDLE_FILE}#${name}`,
    ...(cachedData ? { cachedData } : {}),
  });
  const wrapper = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: { exports: unknown }, file: string, dir: string) => void;
  const module = { exports: {} as unknown };
  wrapper(module.exports, chunkRequire(), module, BUNDLE_FILE, dirname(BUNDLE_FILE));
  const result = { exports: module.exports, script };
  evaluated.set(name, result);
  return result;
}

declare const OAM_GRANT_BUNDLED: boolean | undefined;

/** True in dist/oam-grant.mjs; false when bin.ts runs from source. */
export const BUNDLED = typeof OAM_GRANT_BUNDLED === 'boolean' && OAM_GRANT_BUNDLED;

let building = false;

function load<N extends ChunkName>(name: N): ChunkExports[N] {
  return evaluate(name, { useCache: !building }).exports as ChunkExports[N];
}

/** The CLI: from the bundle's chunk, or from source. */
export async function loadCore(): Promise<Core> {
  return BUNDLED ? load('core') : import('../lazy/core.ts');
}

/** What the core chunk's lib/lazy-module.ts loads through, in the bundle. */
export const bundleDependencies: LazyDependencies = {
  awsSts: async () => load('aws-sts'),
  gitbeaker: async () => load('gitbeaker'),
  re2js: () => load('re2js'),
  // The token-exchange provider's OAuth client; its subset type is the package's own.
  openidClient: async () => load('openid-client') as unknown as Awaited<ReturnType<LazyDependencies['openidClient']>>,
};

/**
 * Build step (scripts/build.mjs and the Dockerfile run the bundle with
 * OAM_GRANT_BUILD_CODE_CACHE=1): compile every chunk afresh, run the warm-up
 * (real commands against loopback stand-ins), then write each chunk's code
 * cache, which now holds the functions the commands ran. Returns the paths.
 */
export async function writeCodeCaches(): Promise<string[]> {
  if (!BUNDLED) throw new Error('oam-grant: code caches are written by the bundle (npm run build), not from source');
  building = true;
  const core = load('core');
  core.installLazyDependencies(bundleDependencies);
  for (const name of CACHED) load(name);
  await load('warm-up').warmUp(core.main);
  const written: string[] = [];
  for (const name of CACHED) {
    const chunk = evaluated.get(name);
    if (!chunk) continue;
    writeFileSync(cachePath(name), chunk.script.createCachedData());
    written.push(cachePath(name));
  }
  return written;
}

/**
 * For tests and the benchmark (OAM_GRANT_TRACE_CHUNKS=1): each chunk compiled,
 * and whether V8 took its code cache (`cached`), refused it (`rejected`) or
 * found none (`compiled`).
 */
export function chunkReport(): string {
  const states = [...evaluated].map(([name, { script }]) => {
    const state = script.cachedDataRejected === undefined ? 'compiled' : script.cachedDataRejected ? 'rejected' : 'cached';
    return `${name}=${state}`;
  });
  return `oam-grant chunks: ${states.join(' ')}\n`;
}
