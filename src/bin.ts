/**
 * The program's entry: it loads the CLI (the core chunk in the bundle, the
 * sources otherwise), gives it the loader of the other chunks, and runs the
 * command. Nothing else happens before the command is known.
 */
import { BUNDLED, bundleDependencies, chunkReport, loadCore, writeCodeCaches } from './entry/chunks.ts';

if (process.env.OAM_GRANT_BUILD_CODE_CACHE === '1') {
  for (const path of await writeCodeCaches()) process.stdout.write(`wrote ${path}\n`);
  process.exit(0);
}
const core = await loadCore();
// From source, lib/lazy-module.ts falls back to the packages in node_modules.
if (BUNDLED) core.installLazyDependencies(bundleDependencies);
const status = await core.main(process.argv.slice(2), process.env);
if (process.env.OAM_GRANT_TRACE_CHUNKS === '1') process.stderr.write(chunkReport());
// Exit now: a prefetch of the issuer's keys that the command no longer needs (say, the
// access file was invalid) must not keep the job waiting on its retries.
process.exit(status);
