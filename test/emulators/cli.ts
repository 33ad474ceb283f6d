/**
 * Starts the embedded default (issuer, STS, GitLab API on loopback) and an
 * RFC 8693 authorization server that trusts the issuer, prints one JSON line
 * with their URLs, then stays up until SIGTERM or SIGINT.
 *
 *   node --import tsx test/emulators/cli.ts [--issuer-port N] [--sts-port N] [--gitlab-port N]
 *   curl "$ISSUER/mint?format=raw&ref=main"     # a token for shell scripts
 */
import { parseArgs } from 'node:util';
import { DEFAULT_PROJECT, startEmbeddedDefault, startTokenExchange } from './index.ts';

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
// An RFC 8693 authorization server trusting the issuer's tokens of the default project on main (for the benchmark).
const tokenExchange = await startTokenExchange({ trustedIssuers: [world.issuer.url], subPatterns: [`project_path:${DEFAULT_PROJECT.path}:ref_type:branch:ref:main`] });
process.stdout.write(`${JSON.stringify({ issuer: world.issuer.url, sts: world.sts.url, gitlab: world.gitlab.url, tokenExchange: tokenExchange.issuer })}\n`);

const stop = () => {
  Promise.all([world.close(), tokenExchange.close()]).then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
