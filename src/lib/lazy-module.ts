/**
 * The bundle is a small loader plus chunks carried as source text: the CLI
 * itself (`core`), the AWS SDK, gitbeaker and re2js. V8 must at least pre-parse
 * every line of an ES module before running any of it (~30 ms for 1 MB here),
 * while a string literal is only scanned; so `validate` and `plan` never pay
 * for the AWS SDK or gitbeaker, `grant` pays for gitbeaker only when it
 * posts a note, and only an access file with a reasonPattern pays for re2js
 * (it cost every `grant` ~10 ms when it was part of `core`). The bundle stays one file that runs with plain `node` and no
 * node_modules.
 *
 * Chunks are compiled as classic scripts, which, unlike ES modules on Node 20,
 * can use a V8 code cache: one written next to the bundle at build time
 * (`oam-grant.mjs.<chunk>.code-cache`) halves their load time. It is optional:
 * V8 refuses a cache from another Node version or a changed source, and the
 * chunk is then simply compiled.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import { LAZY_SOURCES } from './lazy-sources.ts';

type Core = typeof import('../lazy/core.ts');
type AwsSts = typeof import('../lazy/aws-sts.ts');
type Gitbeaker = typeof import('../lazy/gitbeaker.ts');
type Re2js = typeof import('../lazy/re2js.ts');
type OpenidClient = typeof import('../lazy/openid-client.ts');
type ChunkName = keyof typeof LAZY_SOURCES;

interface Evaluated {
  readonly exports: unknown;
  readonly script: Script;
}

const loaded = new Map<ChunkName, Evaluated>();

function cachePath(name: ChunkName): string {
  return `${fileURLToPath(import.meta.url)}.${name}.code-cache`;
}

function readCache(name: ChunkName): Buffer | undefined {
  try {
    return readFileSync(cachePath(name));
  } catch {
    return undefined;
  }
}

/** Runs a CommonJS chunk built by esbuild, with a `require` rooted at the bundle. */
function evaluateChunk(name: ChunkName, source: string): Evaluated {
  const done = loaded.get(name);
  if (done) return done;
  const filename = fileURLToPath(import.meta.url);
  const cachedData = readCache(name);
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: `${filename}#${name}`,
    ...(cachedData ? { cachedData } : {}),
  });
  const wrapper = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: { exports: unknown }, file: string, dir: string) => void;
  const module = { exports: {} as unknown };
  wrapper(module.exports, createRequire(import.meta.url), module, filename, dirname(filename));
  const evaluated = { exports: module.exports, script };
  loaded.set(name, evaluated);
  return evaluated;
}

export async function loadCore(): Promise<Core> {
  const source = LAZY_SOURCES.core;
  return source === undefined ? import('../lazy/core.ts') : (evaluateChunk('core', source).exports as Core);
}

export async function loadAwsSts(): Promise<AwsSts> {
  const source = LAZY_SOURCES['aws-sts'];
  return source === undefined ? import('../lazy/aws-sts.ts') : (evaluateChunk('aws-sts', source).exports as AwsSts);
}

export async function loadGitbeaker(): Promise<Gitbeaker> {
  const source = LAZY_SOURCES.gitbeaker;
  return source === undefined ? import('../lazy/gitbeaker.ts') : (evaluateChunk('gitbeaker', source).exports as Gitbeaker);
}

/** openid-client, for the token-exchange provider only. */
export async function loadOpenidClient(): Promise<OpenidClient> {
  const source = LAZY_SOURCES['openid-client'];
  return source === undefined ? import('../lazy/openid-client.ts') : (evaluateChunk('openid-client', source).exports as OpenidClient);
}

/**
 * Synchronous, unlike the others, so that compiling a reasonPattern stays a
 * plain function call for the access file checks. From source, re2js's own
 * CommonJS build stands in for the chunk.
 */
export function loadRe2js(): Re2js {
  const source = LAZY_SOURCES.re2js;
  return source === undefined ? (createRequire(import.meta.url)('re2js') as Re2js) : (evaluateChunk('re2js', source).exports as Re2js);
}

/**
 * Build step (scripts/build.mjs runs the bundle with OAM_GRANT_BUILD_CODE_CACHE=1):
 * evaluate every chunk and write its code cache next to the bundle. Returns the paths.
 */
export function writeCodeCaches(): string[] {
  const written: string[] = [];
  for (const [name, source] of Object.entries(LAZY_SOURCES) as [ChunkName, string][]) {
    const { script } = evaluateChunk(name, source);
    writeFileSync(cachePath(name), script.createCachedData());
    written.push(cachePath(name));
  }
  return written;
}
