/**
 * An issuer that drips its discovery document (or its keys) one byte every
 * 100 ms, well inside any idle timeout, ends in ERR_TOKEN_INVALID, exit 1, with the issuer hint, within the
 * deadline (scaled down here through the per-request timeout the HttpGet
 * takes), and leaves no socket open.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { OamError } from '../../src/errors.ts';
import { type HttpGet, httpGet } from '../../src/lib/http.ts';
import { discoverIssuer } from '../../src/token/discovery.ts';
import { type DripServer, startDripServer } from '../helpers/drip-server.ts';

/** httpGet with the per-request deadline scaled down, as a test would have it. */
const within = (ms: number): HttpGet => (url, options) => httpGet(url, { ...options, timeoutMs: ms });
const noSleep = async () => {};

function assertUnreachable(error: unknown, what: RegExp): true {
  assert.ok(error instanceof OamError, String(error));
  assert.equal(error.code, 'ERR_TOKEN_INVALID');
  assert.equal(error.exitCode, 1, 'an unreachable issuer is an outage, not a refusal');
  assert.match(error.message, what);
  assert.match(error.message, /: no complete answer within 300 ms$/);
  assert.match(error.hint ?? '', /spec\.gitlab/);
  return true;
}

describe('issuer deadlines', () => {
  let drip: DripServer;
  before(async () => {
    drip = await startDripServer({ intervalMs: 100 });
  });
  after(() => drip.close());

  it('gives up on a dripping discovery document after its attempts, in bounded time', async () => {
    const before = drip.requests();
    const started = Date.now();
    await assert.rejects(discoverIssuer(drip.url, within(300), { sleep: noSleep }), (error) => assertUnreachable(error, /discovery document at http:\/\/127\.0\.0\.1:\d+\/\.well-known\/openid-configuration/));
    const elapsed = Date.now() - started;
    assert.equal(drip.requests() - before, 4, 'four attempts');
    assert.ok(elapsed >= 1_150 && elapsed < 4_000, `${elapsed} ms`);
    await drip.allClosed();
  });

  it('gives up on dripping keys the same way', async () => {
    // Discovery answers at once and points at the dripping keys.
    const server = createServer((_, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ issuer: url, jwks_uri: `${drip.url}/oauth/discovery/keys` }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    try {
      const found = await discoverIssuer(url, within(300), { sleep: noSleep });
      await assert.rejects(found.fetchKeys(), (error) => assertUnreachable(error, /signing keys at http:\/\/127\.0\.0\.1:\d+\/oauth\/discovery\/keys/));
      await drip.allClosed();
    } finally {
      server.close();
    }
  });
});
