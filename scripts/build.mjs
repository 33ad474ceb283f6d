#!/usr/bin/env node
// Builds dist/oam-grant.mjs: one ESM file that runs with plain `node` (>= 20)
// and needs no node_modules. The AWS SDK and gitbeaker are built as CommonJS
// chunks and embedded as source text, compiled only by the commands that use
// them (src/lib/lazy-module.ts explains why).
import { readFileSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { build } from 'esbuild';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

// The access file validator is compiled from the JSON Schema ahead of time (no ajv compile at run time).
const generated = spawnSync(process.execPath, [new URL('./generate-validator.mjs', import.meta.url).pathname], { stdio: 'inherit' });
if (generated.status !== 0) process.exit(generated.status ?? 1);

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
    b.onLoad({ filter: /.*/, namespace: 'oam-stub' }, () => ({
      contents: 'export const defaultProvider = () => async () => { throw new Error("oam-grant: the AWS credential chain is not bundled; AssumeRoleWithWebIdentity needs no credentials"); };',
      loader: 'js',
    }));
  },
};

/** In the core chunk, lazy-module is the loader's own instance, not a second copy. */
const sharedLoader = {
  name: 'shared-lazy-loader',
  setup(b) {
    b.onResolve({ filter: /(^|\/)lazy-module\.ts$/ }, () => ({ path: 'lazy-module', namespace: 'oam-shared' }));
    b.onLoad({ filter: /.*/, namespace: 'oam-shared' }, () => ({
      contents: "module.exports = globalThis[Symbol.for('oam-grant.lazy-module')];",
      loader: 'js',
    }));
  },
};

const CHUNKS = {
  core: { entry: 'src/lazy/core.ts', plugins: [sharedLoader], define: { OAM_GRANT_VERSION: JSON.stringify(version) } },
  'aws-sts': { entry: 'src/lazy/aws-sts.ts', plugins: [withoutCredentialChain] },
  gitbeaker: { entry: 'src/lazy/gitbeaker.ts', plugins: [] },
  re2js: { entry: 'src/lazy/re2js.ts', plugins: [] },
  'openid-client': { entry: 'src/lazy/openid-client.ts', plugins: [] },
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
}

/** Swaps the empty LAZY_SOURCES for the chunks' text, and keeps the chunks' own code out of the main file. */
const embedChunks = {
  name: 'embed-lazy-chunks',
  setup(b) {
    b.onResolve({ filter: /lazy-sources\.ts$/ }, () => ({ path: 'lazy-sources', namespace: 'oam-lazy' }));
    b.onLoad({ filter: /.*/, namespace: 'oam-lazy' }, () => ({ contents: `export const LAZY_SOURCES = ${JSON.stringify(chunkSources)};`, loader: 'js' }));
    b.onResolve({ filter: /\/lazy\/(core|aws-sts|gitbeaker|re2js|openid-client)\.ts$/ }, (args) => ({ path: args.path, namespace: 'oam-lazy-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'oam-lazy-stub' }, () => ({ contents: 'export {};', loader: 'js' }));
  },
};

const outfile = 'dist/oam-grant.mjs';
rmSync('dist', { recursive: true, force: true });
const result = await build({
  ...common,
  entryPoints: ['src/bin.ts'],
  outfile,
  format: 'esm',
  metafile: true,
  plugins: [embedChunks],
  // Some CommonJS dependencies call require() on Node built-ins; give the ESM bundle one.
  banner: { js: "#!/usr/bin/env node\nimport{createRequire as __oamRequire}from'node:module';const require=__oamRequire(import.meta.url);" },
});
if (process.argv.includes('--analyze')) {
  const { analyzeMetafile } = await import('esbuild');
  console.log(await analyzeMetafile(result.metafile));
}
// V8 code caches for the chunks, made by the Node that built the bundle (optional at run time).
const cached = spawnSync(process.execPath, [outfile], {
  env: { ...process.env, OAM_GRANT_BUILD_CODE_CACHE: '1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  stdio: ['ignore', 'ignore', 'inherit'],
});
if (cached.status !== 0) process.exit(cached.status ?? 1);
const sizes = Object.entries(chunkSources).map(([name, text]) => `${name} ${text.length} bytes`).join(', ');
console.log(`built ${outfile} (${statSync(outfile).size} bytes, version ${version}; lazy chunks: ${sizes})`);
