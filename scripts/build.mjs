#!/usr/bin/env node
// Builds dist/oam-grant.mjs: one ESM file that runs with plain `node` (>= 20)
// and needs no node_modules. The CLI, the AWS SDK, gitbeaker, re2js and openid-client are
// built as CommonJS chunks and carried as text, compiled only by the commands
// that use them (src/entry/chunks.ts explains why).
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { build } from 'esbuild';
import { nodeVersions } from './node-versions.mjs';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

// The access file validator is compiled from the JSON Schema ahead of time (no ajv compile at run time).
const generated = spawnSync(process.execPath, [new URL('./generate-validator.mjs', import.meta.url).pathname], { stdio: 'inherit' });
if (generated.status !== 0) process.exit(generated.status ?? 1);

const isAscii = (text) => Buffer.byteLength(text) === text.length;

const common = { bundle: true, platform: 'node', target: 'node20', minify: true, legalComments: 'none', logLevel: 'warning' };

/**
 * AssumeRoleWithWebIdentity is an unsigned call, so the SDK's default credential
 * chain (SSO, INI files, IMDS, nested STS/SSO clients: ~130 KB, ~10 ms to load)
 * is never used. A stub takes its place; should the SDK ever ask it for
 * credentials, it fails loudly instead of looking for any.
 */
const withoutCredentialChain = {
  name: 'without-aws-credential-chain',
  setup(b) {
    b.onResolve({ filter: /^@aws-sdk\/credential-provider-node$/ }, () => ({ path: 'credential-provider-node', namespace: 'oam-stub' }));
    b.onLoad({ filter: /^credential-provider-node$/, namespace: 'oam-stub' }, () => ({
      contents: 'export const defaultProvider = () => async () => { throw new Error("oam-grant: the AWS credential chain is not bundled; AssumeRoleWithWebIdentity needs no credentials"); };',
      loader: 'js',
    }));
  },
};

/**
 * In the CLI chunk, the registry's fallback to node_modules (lib/lazy-packages.ts)
 * gives way to one that fails loudly: the entry installs the chunk loader first.
 */
const entryInstallsLoader = {
  name: 'entry-installs-loader',
  setup(b) {
    b.onResolve({ filter: /(^|\/)lazy-packages\.ts$/ }, () => ({ path: 'lazy-packages', namespace: 'oam-stub' }));
    b.onLoad({ filter: /^lazy-packages$/, namespace: 'oam-stub' }, () => ({
      contents: 'export function packageDependencies() { throw new Error("oam-grant: the chunk loader was not installed (src/bin.ts installs it)"); }',
      loader: 'js',
    }));
  },
};

/**
 * The SDK's CRC32 checksum class (checksummed S3 uploads; STS never checksums)
 * takes zlib.crc32 where Node has it (22+) and its own JavaScript CRC32
 * otherwise, as on Node 20. Loading zlib cost every grant ~1.5 ms for nothing.
 */
const withoutZlib = {
  name: 'without-zlib',
  setup(b) {
    b.onResolve({ filter: /^(node:)?zlib$/ }, () => ({ path: 'zlib', namespace: 'oam-stub' }));
    b.onLoad({ filter: /^zlib$/, namespace: 'oam-stub' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
  },
};

const CHUNKS = {
  core: { entry: 'src/lazy/core.ts', plugins: [entryInstallsLoader], define: { OAM_GRANT_VERSION: JSON.stringify(version) } },
  'aws-sts': { entry: 'src/lazy/aws-sts.ts', plugins: [withoutCredentialChain, withoutZlib] },
  gitbeaker: { entry: 'src/lazy/gitbeaker.ts', plugins: [] },
  re2js: { entry: 'src/lazy/re2js.ts', plugins: [] },
  // The token-exchange provider's OAuth client: only a grant with that trait loads it.
  'openid-client': { entry: 'src/lazy/openid-client.ts', plugins: [] },
  // The training run behind the code caches: run by the build and the image's build only.
  'warm-up': { entry: 'src/lazy/warm-up.ts', plugins: [] },
};
const chunkSources = {};
for (const [name, { entry, plugins, define = {} }] of Object.entries(CHUNKS)) {
  // The packages' ES module builds tree-shake far better than their CommonJS ones (AWS SDK: 448 KB -> 307 KB).
  const result = await build({ ...common, entryPoints: [entry], format: 'cjs', mainFields: ['module', 'main'], plugins, define, write: false });
  // A script restored from a V8 code cache cannot import() on Node 20, so the chunks'
  // dynamic imports of Node built-ins (node:http, node:async_hooks) become require().
  chunkSources[name] = result.outputFiles[0].text.replace(/\bimport\("(node:[a-z_/]+)"\)/g, 'Promise.resolve(require("$1"))');
  // (gitbeaker's rate limiter keeps an import() of an ORM for its SQL stores, which oam-grant never uses.)
  if (/\bimport\(["'`]node:/.test(chunkSources[name])) throw new Error(`chunk ${name} still imports a Node built-in dynamically`);
  // The loader reads chunks as Latin-1 bytes; esbuild escapes anything else (charset: ascii).
  if (!isAscii(chunkSources[name])) throw new Error(`chunk ${name} is not ASCII`);
}

/** The entry never compiles the chunks' sources itself: from source it imports them, in the bundle it reads them. */
const chunksStayOut = {
  name: 'chunks-stay-out',
  setup(b) {
    b.onResolve({ filter: /\/lazy\/[a-z0-9-]+\.ts$/ }, (args) => ({ path: args.path, namespace: 'oam-lazy-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'oam-lazy-stub' }, () => ({ contents: 'export {};', loader: 'js' }));
  },
};

const outfile = 'dist/oam-grant.mjs';
rmSync('dist', { recursive: true, force: true });
const result = await build({
  ...common,
  entryPoints: ['src/bin.ts'],
  format: 'esm',
  metafile: true,
  write: false,
  plugins: [chunksStayOut],
  define: { OAM_GRANT_BUNDLED: 'true' },
  banner: { js: '#!/usr/bin/env node' },
});

/**
 * The entry's code, then the chunks in one block comment (scanned for its end,
 * never parsed or allocated, unlike string literals), then a last line telling
 * where each chunk sits. The chunks' own `*` + `/` pairs would close the
 * comment: the slash is written as `_` and its place listed, and the loader
 * (src/entry/chunks.ts) puts it back.
 */
const TABLE_PREFIX = '//# oam-grant-chunks ';
let bundle = `${result.outputFiles[0].text.trimEnd()}\n/*\n`;
const places = {};
for (const [name, source] of Object.entries(chunkSources)) {
  const slashes = [];
  for (let at = source.indexOf('*/'); at !== -1; at = source.indexOf('*/', at + 2)) slashes.push(at + 1);
  const escaped = slashes.reduce((text, at) => `${text.slice(0, at)}_${text.slice(at + 1)}`, source);
  places[name] = { at: bundle.length, length: escaped.length, slashes };
  bundle += `${escaped}\n`;
}
bundle += `*/\n${TABLE_PREFIX}${JSON.stringify(places)}\n`;
if (!isAscii(bundle)) throw new Error('the bundle is not ASCII: byte offsets would not be string offsets');
mkdirSync('dist');
writeFileSync(outfile, bundle, { mode: 0o755 });

if (process.argv.includes('--analyze')) {
  const { analyzeMetafile } = await import('esbuild');
  console.log(await analyzeMetafile(result.metafile));
}

// V8 code caches for the chunks, one set per Node version found (optional at run time): each
// node runs the bundle's warm-up and writes dist/oam-grant.mjs.node<major>.<chunk>.code-cache.
const cachesFor = [];
for (const node of nodeVersions()) {
  const cached = spawnSync(node.path, [outfile], {
    env: { ...process.env, OAM_GRANT_BUILD_CODE_CACHE: '1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (cached.status !== 0) process.exit(cached.status ?? 1);
  cachesFor.push(node.version);
}
const sizes = Object.entries(chunkSources).map(([name, text]) => `${name} ${text.length} bytes`).join(', ');
console.log(`built ${outfile} (${statSync(outfile).size} bytes, version ${version}; lazy chunks: ${sizes}; code caches for Node ${cachesFor.join(', ')})`);
