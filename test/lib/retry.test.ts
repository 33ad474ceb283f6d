import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay, DeadlineError, isTransientNetworkError, withRetry } from '../../src/lib/retry.ts';

const transient = Object.assign(new Error('reset'), { code: 'ECONNRESET' });
const permanent = Object.assign(new Error('denied'), { name: 'AccessDenied' });

function recorder() {
  const delays: number[] = [];
  return { delays, sleep: async (ms: number) => void delays.push(ms) };
}

describe('withRetry', () => {
  const base = { attempts: 4, baseDelayMs: 100, maxDelayMs: 1000, budgetMs: 10_000, isTransient: isTransientNetworkError, random: () => 0.5 };

  it('retries transient failures with growing, jittered delays, then succeeds', async () => {
    const { delays, sleep } = recorder();
    let calls = 0;
    const result = await withRetry(async () => {
      calls++;
      if (calls < 3) throw transient;
      return 'ok';
    }, { ...base, sleep });
    assert.equal(result, 'ok');
    assert.equal(calls, 3);
    assert.deepEqual(delays, [50, 100]);
  });

  it('fails at once on a permanent error', async () => {
    const { delays, sleep } = recorder();
    let calls = 0;
    await assert.rejects(withRetry(async () => { calls++; throw permanent; }, { ...base, sleep }), permanent);
    assert.equal(calls, 1);
    assert.deepEqual(delays, []);
  });

  it('gives up after the last attempt and rethrows the error unchanged', async () => {
    const { sleep } = recorder();
    let calls = 0;
    await assert.rejects(withRetry(async () => { calls++; throw transient; }, { ...base, sleep }), transient);
    assert.equal(calls, 4);
  });

  it('stops when the time budget would be exceeded', async () => {
    let clock = 0;
    let calls = 0;
    await assert.rejects(
      withRetry(async () => { calls++; clock += 400; throw transient; }, { ...base, random: () => 0.99, budgetMs: 1000, now: () => clock, sleep: async (ms) => { clock += ms; } }),
      transient,
    );
    assert.equal(calls, 2);
  });
});

describe('backoffDelay', () => {
  it('is full jitter under an exponential, capped ceiling', () => {
    assert.equal(backoffDelay(1, { baseDelayMs: 100, maxDelayMs: 1000 }, () => 0.999), 99);
    assert.equal(backoffDelay(4, { baseDelayMs: 100, maxDelayMs: 1000 }, () => 0.999), 799);
    assert.equal(backoffDelay(10, { baseDelayMs: 100, maxDelayMs: 1000 }, () => 0.999), 999);
    assert.equal(backoffDelay(3, { baseDelayMs: 100, maxDelayMs: 1000 }, () => 0), 0);
  });
});

describe('isTransientNetworkError', () => {
  it('finds socket codes through causes, and not in refusals', () => {
    assert.equal(isTransientNetworkError(new Error('wrapped', { cause: transient })), true);
    assert.equal(isTransientNetworkError(Object.assign(new Error('t'), { name: 'TimeoutError' })), true);
    assert.equal(isTransientNetworkError(permanent), false);
    assert.equal(isTransientNetworkError('ECONNRESET'), false);
  });
});

describe('withRetry deadlines (real timers)', () => {
  const never = (signal: AbortSignal, seen: AbortSignal[]) => {
    seen.push(signal);
    return new Promise<never>(() => undefined);
  };

  it('ends an attempt that does not finish in attemptTimeoutMs, aborts its signal and retries', async () => {
    const seen: AbortSignal[] = [];
    const started = Date.now();
    await assert.rejects(
      withRetry((_, signal) => never(signal, seen), { attempts: 3, baseDelayMs: 1, maxDelayMs: 1, budgetMs: 10_000, attemptTimeoutMs: 100, isTransient: () => false }),
      (error: unknown) => error instanceof DeadlineError && error.scope === 'attempt' && error.name === 'TimeoutError' && /within 100 ms \(attempt 3\)/.test(error.message),
    );
    assert.equal(seen.length, 3, 'a late attempt is transient, whatever isTransient says');
    assert.ok(seen.every((s) => s.aborted && s.reason instanceof DeadlineError), 'every abandoned attempt was told to stop');
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 280 && elapsed < 2_000, `${elapsed} ms`);
  });

  it('ends the whole operation at budgetMs, even in the middle of an attempt', async () => {
    const seen: AbortSignal[] = [];
    const started = Date.now();
    await assert.rejects(
      withRetry((_, signal) => never(signal, seen), { attempts: 10, baseDelayMs: 1, maxDelayMs: 1, budgetMs: 250, attemptTimeoutMs: 100, isTransient: () => true }),
      (error: unknown) => error instanceof DeadlineError && error.scope === 'total' && /within 250 ms, the limit for all 3 attempts/.test(error.message),
    );
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 240 && elapsed < 1_500, `${elapsed} ms`);
    assert.ok(seen.at(-1)?.aborted);
  });

  it('bounds a single attempt by the budget when there is no attempt deadline', async () => {
    const seen: AbortSignal[] = [];
    await assert.rejects(
      withRetry((_, signal) => never(signal, seen), { attempts: 3, baseDelayMs: 1, maxDelayMs: 1, budgetMs: 150, isTransient: () => true }),
      (error: unknown) => error instanceof DeadlineError && error.scope === 'total',
    );
    assert.equal(seen.length, 1);
  });

  it('leaves the signal alone when the attempt succeeds in time', async () => {
    let signal: AbortSignal | undefined;
    const result = await withRetry(async (_, s) => {
      signal = s;
      return 'ok';
    }, { attempts: 1, baseDelayMs: 1, maxDelayMs: 1, budgetMs: 1_000, attemptTimeoutMs: 50, isTransient: () => true });
    assert.equal(result, 'ok');
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal(signal?.aborted, false);
  });
});
