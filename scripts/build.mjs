#!/usr/bin/env node
// Builds dist/oam-grant.mjs: one ESM file that runs with plain `node` (>= 20)
// and needs no node_modules.
import { readFileSync, statSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { build } from 'esbuild';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

// The access file validator is compiled from the JSON Schema ahead of time (no ajv compile at run time).
if (existsSync(new URL('./generate-validator.mjs', import.meta.url))) {
  const generated = spawnSync(process.execPath, [new URL('./generate-validator.mjs', import.meta.url).pathname], { stdio: 'inherit' });
  if (generated.status !== 0) process.exit(generated.status ?? 1);
}

const outfile = 'dist/oam-grant.mjs';
const result = await build({
  entryPoints: ['src/bin.ts'],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  legalComments: 'none',
  metafile: true,
  define: { OAM_GRANT_VERSION: JSON.stringify(version) },
  // Some CommonJS dependencies call require() on Node built-ins; give the ESM bundle one.
  banner: { js: "#!/usr/bin/env node\nimport{createRequire as __oamRequire}from'node:module';const require=__oamRequire(import.meta.url);" },
  logLevel: 'warning',
});
if (process.argv.includes('--analyze')) {
  const { analyzeMetafile } = await import('esbuild');
  console.log(await analyzeMetafile(result.metafile));
}
console.log(`built ${outfile} (${statSync(outfile).size} bytes, version ${version})`);
