/**
 * How long oam-grant waits for each service it calls. Each limit is a total
 * deadline (connect, answer, last byte of the body), not a socket-idle
 * timeout, so a peer that trickles one byte every few seconds cannot keep a
 * job waiting. `attemptMs` bounds one request; `totalMs` bounds the call
 * with every retry and backoff. They are fixed on purpose: no variable
 * lengthens or disables them (README, "Troubleshooting: time limits").
 */
export interface Deadline {
  /** One request: connect, answer and the last byte of the body. */
  readonly attemptMs: number;
  /** Every attempt and backoff of one call together. */
  readonly totalMs: number;
}

/**
 * The issuer's discovery document and its signing keys, each: GitLab serves
 * both from a cache in well under a second. A token check that needs both
 * waits at most twice `totalMs` (three times when a key rotation makes it
 * refetch the keys).
 */
export const ISSUER_DEADLINE: Deadline = { attemptMs: 5_000, totalMs: 12_000 };

/** One AssumeRoleWithWebIdentity call; STS may itself wait on the issuer's keys. */
export const STS_DEADLINE: Deadline & { readonly connectMs: number } = { connectMs: 5_000, attemptMs: 15_000, totalMs: 40_000 };

/**
 * One GitLab API call (a note, a membership, a page of commits). `attemptMs`
 * is gitbeaker's `queryTimeout`: one AbortSignal.timeout per call, covering
 * the fetch, the body, its own 429/502 retries and every page. `totalMs` is
 * the retry budget in lib/gitlab-api.ts.
 */
export const GITLAB_API_DEADLINE: Deadline = { attemptMs: 15_000, totalMs: 60_000 };

/**
 * One token exchange at Google STS / IAM Credentials, Entra ID, Vault or an
 * RFC 8693 server: as for AWS STS, the service may itself wait on the issuer's keys.
 */
export const PROVIDER_DEADLINE: Deadline = { attemptMs: 15_000, totalMs: 40_000 };

/**
 * How every credential exchange retries a transient failure (throttling, 5xx,
 * resets, an attempt past its deadline): five attempts, backoff from 250 ms
 * doubling to at most 4 s, with jitter, all within the provider's `totalMs`.
 */
export const PROVIDER_RETRY = { attempts: 5, baseDelayMs: 250, maxDelayMs: 4_000 } as const;
