import { main } from './cli.ts';
import { writeCodeCaches } from './lib/lazy-module.ts';

if (process.env.OAM_GRANT_BUILD_CODE_CACHE === '1') {
  for (const path of writeCodeCaches()) process.stdout.write(`wrote ${path}\n`);
} else {
  process.exitCode = await main(process.argv.slice(2), process.env);
}
