/**
 * OIDC discovery of a GitLab instance: `<issuer>/.well-known/openid-configuration`
 * -> `jwks_uri` -> the signing keys. Both documents are checked strictly: the
 * discovery document must name exactly the issuer we asked for, and the keys
 * must come from an https (or loopback) URL.
 */
import { OamError } from '../errors.ts';
import { getJson, type HttpGet, isTransientHttpError, parseSafeUrl } from '../lib/http.ts';
import { ISSUER_DEADLINE } from '../lib/deadlines.ts';
import { isTransientNetworkError, withRetry, type RetryOptions } from '../lib/retry.ts';

export interface JsonWebKeySet {
  keys: Record<string, unknown>[];
}

export interface IssuerKeys {
  issuer: string;
  jwksUri: URL;
  fetchKeys(): Promise<JsonWebKeySet>;
}

/** Issuer URLs compare without a trailing slash: GitLab's is `https://gitlab.com`, some tools add one. */
export function normalizeIssuer(issuer: string): string {
  return issuer.replace(/\/+$/, '');
}

type DiscoveryRetry = Pick<RetryOptions, 'sleep' | 'random'>;

function retryOptions(extra: DiscoveryRetry): RetryOptions {
  return {
    attempts: 4,
    baseDelayMs: 200,
    maxDelayMs: 2_000,
    attemptTimeoutMs: ISSUER_DEADLINE.attemptMs,
    budgetMs: ISSUER_DEADLINE.totalMs,
    isTransient: (error) => isTransientNetworkError(error) || isTransientHttpError(error),
    ...extra,
  };
}

function unreachable(what: string, url: URL, error: unknown): OamError {
  const reason = error instanceof Error ? error.message : String(error);
  return new OamError('ERR_TOKEN_INVALID', `cannot read the issuer's ${what} at ${url.origin}${url.pathname}: ${reason}`, {
    hint: 'check spec.gitlab in the access file and that this runner can reach the GitLab instance',
    cause: error,
    // No key, no verdict: this is an outage (retry the job), not a refusal of the token.
    exitCode: 1,
  });
}

export async function discoverIssuer(issuer: string, get: HttpGet, retry: DiscoveryRetry = {}): Promise<IssuerKeys> {
  const expected = normalizeIssuer(issuer);
  const base = parseSafeUrl(expected, 'spec.gitlab.issuer');
  const discoveryUrl = new URL(`${base.href.replace(/\/+$/, '')}/.well-known/openid-configuration`);
  let document: unknown;
  try {
    document = await withRetry((_, signal) => getJson(get, discoveryUrl, { maxBytes: 256 * 1024, signal }), retryOptions(retry));
  } catch (error) {
    throw unreachable('discovery document', discoveryUrl, error);
  }
  if (document === null || typeof document !== 'object') {
    throw unreachable('discovery document', discoveryUrl, new Error('not a JSON object'));
  }
  const { issuer: announced, jwks_uri: jwksUri } = document as Record<string, unknown>;
  if (typeof announced !== 'string' || normalizeIssuer(announced) !== expected) {
    throw new OamError('ERR_TOKEN_ISSUER', `the discovery document at ${discoveryUrl.origin} names issuer ${JSON.stringify(announced)}, not ${expected}`, {
      hint: 'set spec.gitlab.issuer in the access file to the issuer GitLab puts in its ID tokens (the instance URL, or ci_id_tokens_issuer_url when configured)',
    });
  }
  if (typeof jwksUri !== 'string') {
    throw unreachable('discovery document', discoveryUrl, new Error('jwks_uri is missing'));
  }
  const keysUrl = parseSafeUrl(jwksUri, 'jwks_uri in the discovery document', 'ERR_TOKEN_INVALID');
  return {
    issuer: expected,
    jwksUri: keysUrl,
    async fetchKeys() {
      let jwks: unknown;
      try {
        jwks = await withRetry((_, signal) => getJson(get, keysUrl, { maxBytes: 256 * 1024, signal }), retryOptions(retry));
      } catch (error) {
        throw unreachable('signing keys', keysUrl, error);
      }
      const keys = (jwks as { keys?: unknown } | null)?.keys;
      if (!Array.isArray(keys)) throw unreachable('signing keys', keysUrl, new Error('no "keys" array'));
      return { keys: keys.filter((k): k is Record<string, unknown> => k !== null && typeof k === 'object') };
    },
  };
}
