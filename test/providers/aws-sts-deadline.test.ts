/**
 * STS that answers its headers and then drips the body one byte at a time:
 * the SDK's requestTimeout (headers) and socket timeout (idle) never fire, so
 * only our per-attempt abort signal and the total budget end the exchange.
 * It must end in ERR_EXCHANGE_FAILED, in bounded time, with no socket left.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OamError } from '../../src/errors.ts';
import { httpGet } from '../../src/lib/http.ts';
import { Logger } from '../../src/lib/log.ts';
import { awsStsProvider } from '../../src/providers/aws-sts.ts';
import type { VerifiedToken } from '../../src/token/types.ts';
import { IssuerTokenVerifier } from '../../src/token/verify.ts';
import { type Issuer, startIssuer } from '../emulators/issuer.ts';
import { type DripServer, startDripServer } from '../helpers/drip-server.ts';
import { awsTrait } from '../helpers/model.ts';

describe('awsStsProvider deadlines against a dripping STS', () => {
  let issuer: Issuer;
  let drip: DripServer;
  let token: VerifiedToken;
  const logged: string[] = [];
  const log = new Logger({ sink: { write: (t) => void logged.push(t) } });

  before(async () => {
    issuer = await startIssuer();
    drip = await startDripServer({ contentType: 'text/xml' });
    const raw = await issuer.mint({ ref: 'main', ref_type: 'branch' });
    token = await new IssuerTokenVerifier({ issuer: issuer.url, get: httpGet }).verify(raw, { audience: 'sts.amazonaws.com', purpose: 'exchange', source: 'OAM_ID_TOKEN' });
  });
  after(async () => {
    await drip.close();
    await issuer.close();
  });

  // A short real backoff, so the server sees an abandoned attempt's socket close before the next one connects.
  const sleep = () => new Promise<void>((resolve) => setTimeout(resolve, 50));
  const exchange = (timeouts: { connectMs: number; requestMs: number; totalMs?: number }) =>
    awsStsProvider.exchange({ trait: awsTrait(), token, sessionName: 'acme.payments@p1.j9', env: { AWS_ENDPOINT_URL_STS: drip.url }, log, sleep, timeouts });

  function assertUnavailable(error: unknown, detail: RegExp): true {
    assert.ok(error instanceof OamError, String(error));
    assert.equal(error.code, 'ERR_EXCHANGE_FAILED');
    assert.equal(error.exitCode, 1);
    assert.match(error.message, /^STS stayed unavailable for arn:aws:iam::123456789012:role\/ci-deploy after retries: TimeoutError: /);
    assert.match(error.message, detail);
    assert.match(error.hint ?? '', /re-run the job later/);
    return true;
  }

  it('ends each attempt at its deadline, retries, then fails with ERR_EXCHANGE_FAILED', async () => {
    const before = drip.requests();
    drip.takePeakConnections();
    const started = Date.now();
    await assert.rejects(exchange({ connectMs: 1_000, requestMs: 250 }), (error) => assertUnavailable(error, /no complete answer within 250 ms \(attempt 5\)/));
    const elapsed = Date.now() - started;
    assert.equal(drip.requests() - before, 5, 'every attempt reached STS');
    assert.equal(drip.takePeakConnections(), 1, 'each abandoned attempt was destroyed before the next began');
    assert.ok(elapsed >= 1_200 && elapsed < 4_000, `${elapsed} ms`);
    assert.ok(logged.some((l) => /STS answered TimeoutError \(attempt 1\); retrying/.test(l)));
    await drip.allClosed();
  });

  it('ends at the total budget even while an attempt is still running', async () => {
    const started = Date.now();
    await assert.rejects(exchange({ connectMs: 1_000, requestMs: 5_000, totalMs: 600 }), (error) => assertUnavailable(error, /no complete answer within 600 ms, the limit for all 1 attempt$/));
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 590 && elapsed < 2_000, `${elapsed} ms`);
    await drip.allClosed();
  });
});
