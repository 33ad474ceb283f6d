/**
 * httpGet's deadline is total, not idle: against a server that drips one byte
 * every 300 ms (so a socket-idle timeout never fires) the request still ends
 * on time, and its socket is destroyed rather than left open.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OamError } from '../../src/errors.ts';
import { httpGet, httpGetFor, TEST_DEADLINE_VARIABLE } from '../../src/lib/http.ts';
import { type DripServer, startDripServer, within } from '../helpers/drip-server.ts';

describe('httpGet against a dripping server', () => {
  let drip: DripServer;
  before(async () => {
    drip = await startDripServer({ intervalMs: 100 });
  });
  after(() => drip.close());

  it('ends at its total deadline with a TimeoutError and closes the socket', async () => {
    const started = Date.now();
    await assert.rejects(within(2_000, httpGet(new URL(`${drip.url}/.well-known/openid-configuration`), { timeoutMs: 400 })), (error: unknown) => {
      assert.ok(error instanceof Error);
      assert.equal(error.name, 'TimeoutError');
      assert.equal(error.message, 'no complete answer within 400 ms');
      return true;
    });
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 390 && elapsed < 1_500, `${elapsed} ms`);
    await drip.allClosed();
  });

  it('ends when its signal aborts, with the signal reason, and closes the socket', async () => {
    const controller = new AbortController();
    const reason = Object.assign(new Error('budget spent'), { name: 'TimeoutError' });
    setTimeout(() => controller.abort(reason), 200);
    await assert.rejects(within(2_000, httpGet(new URL(drip.url), { timeoutMs: 10_000, signal: controller.signal })), reason);
    await drip.allClosed();
  });

  it('refuses at once when the signal is already aborted', async () => {
    const before = drip.requests();
    await assert.rejects(httpGet(new URL(drip.url), { signal: AbortSignal.abort(new Error('too late')) }), /too late/);
    assert.equal(drip.requests(), before);
  });
});

describe(`httpGetFor (${TEST_DEADLINE_VARIABLE})`, () => {
  let drip: DripServer;
  before(async () => {
    drip = await startDripServer({ intervalMs: 100 });
  });
  after(() => drip.close());

  it('is plain httpGet without the variable', () => {
    assert.equal(httpGetFor({}), httpGet);
  });

  it('shortens the deadline for a loopback host', async () => {
    const started = Date.now();
    await assert.rejects(within(2_000, httpGetFor({ [TEST_DEADLINE_VARIABLE]: '200' })(new URL(drip.url))), /no complete answer within 200 ms/);
    assert.ok(Date.now() - started < 1_500);
    await drip.allClosed();
  });

  it('never lengthens a deadline', async () => {
    await assert.rejects(within(2_000, httpGetFor({ [TEST_DEADLINE_VARIABLE]: '999999' })(new URL(drip.url), { timeoutMs: 200 })), /no complete answer within 200 ms/);
  });

  it('refuses a value that is not a number of milliseconds', () => {
    for (const value of ['0', '-1', '1e3', 'soon', '10000000']) {
      assert.throws(() => httpGetFor({ [TEST_DEADLINE_VARIABLE]: value }), (error: unknown) => error instanceof OamError && error.code === 'ERR_USAGE', value);
    }
  });
});
