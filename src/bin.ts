/**
 * The bundle's entry: a loader that compiles the CLI chunk (with its code
 * cache) and runs it. The chunk's own `import` of lazy-module resolves to this
 * very module instance (scripts/build.mjs wires it), so all chunks share one
 * loader and one cache of evaluated chunks.
 */
import * as lazy from './lib/lazy-module.ts';

(globalThis as Record<symbol, unknown>)[Symbol.for('oam-grant.lazy-module')] = lazy;

if (process.env.OAM_GRANT_BUILD_CODE_CACHE === '1') {
  for (const path of lazy.writeCodeCaches()) process.stdout.write(`wrote ${path}\n`);
} else {
  const { main } = await lazy.loadCore();
  const status = await main(process.argv.slice(2), process.env);
  // Exit now: a prefetch of the issuer's keys that the command no longer needs (say, the
  // access file was invalid) must not keep the job waiting on its retries.
  process.exit(status);
}
