/**
 * Starts the embedded default (issuer, STS, GitLab API on loopback) and prints
 * one JSON line with their URLs, then stays up until SIGTERM or SIGINT.
 *
 *   node --import tsx test/emulators/cli.ts [--issuer-port N] [--sts-port N] [--gitlab-port N]
 *   curl "$ISSUER/mint?format=raw&ref=main"     # a token for shell scripts
 */
import { parseArgs } from 'node:util';
import { startEmbeddedDefault } from './index.ts';

const { values } = parseArgs({
  options: {
    'issuer-port': { type: 'string' },
    'sts-port': { type: 'string' },
    'gitlab-port': { type: 'string' },
  },
});
const port = (value: string | undefined) => (value === undefined ? undefined : Number(value));

const world = await startEmbeddedDefault({
  issuerPort: port(values['issuer-port']),
  stsPort: port(values['sts-port']),
  gitlabPort: port(values['gitlab-port']),
});
process.stdout.write(`${JSON.stringify({ issuer: world.issuer.url, sts: world.sts.url, gitlab: world.gitlab.url })}\n`);

const stop = () => {
  world.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
