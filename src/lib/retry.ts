/**
 * Retry with exponential backoff and full jitter for transient failures only.
 * Permanent failures (a refusal, a bad request) surface at once: retrying an
 * AccessDenied twelve times only makes the job slower to fail.
 */
export interface RetryOptions {
  /** Total attempts, the first included. */
  attempts: number;
  /** First backoff ceiling; attempt n waits random(0, min(maxDelayMs, baseDelayMs * 2^n)). */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Give up once this much time has passed, even with attempts left. */
  budgetMs: number;
  isTransient: (error: unknown) => boolean;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  now?: () => number;
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
}

export const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Backoff before retry number `attempt` (1-based), full jitter. */
export function backoffDelay(attempt: number, options: Pick<RetryOptions, 'baseDelayMs' | 'maxDelayMs'>, random: () => number): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(random() * ceiling);
}

/**
 * Runs `fn` until it succeeds, fails permanently, runs out of attempts or of
 * budget. The last error is rethrown unchanged so callers translate it once.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const started = now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= options.attempts || !options.isTransient(error)) throw error;
      const delayMs = backoffDelay(attempt, options, random);
      if (now() - started + delayMs > options.budgetMs) throw error;
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
