/**
 * Retry with exponential backoff and full jitter for transient failures only.
 * Permanent failures (a refusal, a bad request) surface at once: retrying an
 * AccessDenied twelve times only makes the job slower to fail.
 *
 * Time is bounded twice: each attempt by `attemptTimeoutMs` and the whole
 * operation (attempts and backoff) by `budgetMs`. Both are hard deadlines,
 * not socket-idle timeouts: a peer that sends one byte every few seconds is
 * cut off on time. The attempt's AbortSignal fires at the deadline so the
 * client destroys its request, and the caller gets a DeadlineError at once
 * even when a client ignores the signal.
 */
export interface RetryOptions {
  /** Total attempts, the first included. */
  attempts: number;
  /** First backoff ceiling; attempt n waits random(0, min(maxDelayMs, baseDelayMs * 2^n)). */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Deadline for the whole operation, every attempt and backoff included. */
  budgetMs: number;
  /** Deadline for one attempt (connect, answer and the last byte of it); a late attempt counts as transient. */
  attemptTimeoutMs?: number;
  isTransient: (error: unknown) => boolean;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  now?: () => number;
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
}

export const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A deadline ran out. Named TimeoutError, as Node and the SDKs name theirs, so
 * every transient check already knows it; `scope` tells one attempt from the
 * whole operation.
 */
export class DeadlineError extends Error {
  readonly scope: 'attempt' | 'total';
  readonly limitMs: number;
  constructor(scope: 'attempt' | 'total', limitMs: number, attempts: number) {
    super(
      scope === 'attempt'
        ? `no complete answer within ${limitMs} ms (attempt ${attempts})`
        : `no complete answer within ${limitMs} ms, the limit for all ${attempts} attempt${attempts === 1 ? '' : 's'}`,
    );
    this.name = 'TimeoutError';
    this.scope = scope;
    this.limitMs = limitMs;
  }
}

/** Backoff before retry number `attempt` (1-based), full jitter. */
export function backoffDelay(attempt: number, options: Pick<RetryOptions, 'baseDelayMs' | 'maxDelayMs'>, random: () => number): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(random() * ceiling);
}

/**
 * One attempt, raced against its deadline. On time-out the signal aborts
 * (the client destroys its socket) and the DeadlineError wins the race.
 */
async function attemptWithin<T>(fn: (attempt: number, signal: AbortSignal) => Promise<T>, attempt: number, limitMs: number, deadline: () => DeadlineError): Promise<T> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = deadline();
      reject(error);
      controller.abort(error);
    }, Math.max(0, limitMs));
  });
  const work = fn(attempt, controller.signal);
  // An abandoned attempt may still fail later; that failure is no longer news.
  work.catch(() => undefined);
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs `fn` until it succeeds, fails permanently, runs out of attempts or of
 * time. The last error is rethrown unchanged so callers translate it once;
 * a deadline that runs out surfaces as a DeadlineError.
 */
export async function withRetry<T>(fn: (attempt: number, signal: AbortSignal) => Promise<T>, options: RetryOptions): Promise<T> {
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const started = now();
  for (let attempt = 1; ; attempt++) {
    const remaining = options.budgetMs - (now() - started);
    const attemptLimit = options.attemptTimeoutMs ?? Number.POSITIVE_INFINITY;
    const limitedByTotal = remaining <= attemptLimit;
    try {
      return await attemptWithin(fn, attempt, Math.min(remaining, attemptLimit), () =>
        limitedByTotal ? new DeadlineError('total', options.budgetMs, attempt) : new DeadlineError('attempt', attemptLimit, attempt),
      );
    } catch (error) {
      if (error instanceof DeadlineError && error.scope === 'total') throw error;
      const transient = error instanceof DeadlineError || options.isTransient(error);
      if (attempt >= options.attempts || !transient) throw error;
      const delayMs = backoffDelay(attempt, options, random);
      if (now() - started + delayMs >= options.budgetMs) throw error;
      options.onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs);
    }
  }
}

const TRANSIENT_NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** True for socket-level failures worth another try (resets, refused connections, timeouts). */
export function isTransientNetworkError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const record = e as { code?: unknown; name?: unknown; cause?: unknown };
    if (typeof record.code === 'string' && TRANSIENT_NETWORK_CODES.has(record.code)) return true;
    if (record.name === 'TimeoutError' || record.name === 'RequestTimeout') return true;
    e = record.cause;
  }
  return false;
}
