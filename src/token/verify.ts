/**
 * Verifies GitLab ID tokens against the issuer's published keys: expected
 * issuer and audience, RS256 only, `exp`/`nbf`/`iat` with a small skew, and a
 * key from the JWKS. The JWKS is fetched once per process and refetched once
 * when a token names a key it does not hold (GitLab rotates keys "without any
 * notice").
 */
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { OamError } from '../errors.ts';
import type { HttpGet } from '../lib/http.ts';
import { toGitlabClaims } from './claims.ts';
import { discoverIssuer, type IssuerKeys, normalizeIssuer } from './discovery.ts';
import { COMPONENT_AUDIENCE_PREFIX, EVIDENCE_AUDIENCE, isEvidenceAudience, type TokenExpectation, type TokenVerifier, type VerifiedToken } from './types.ts';

/** GitLab signs ID tokens with RS256 and nothing else; accepting more only widens the attack surface. */
export const ALLOWED_ALGORITHMS = ['RS256'] as const;

/** Tolerated clock difference between GitLab and the runner, in seconds. */
export const CLOCK_SKEW_SECONDS = 30;

export interface IssuerVerifierOptions {
  issuer: string;
  get: HttpGet;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

function invalid(source: string, reason: string, cause?: unknown): OamError {
  return new OamError('ERR_TOKEN_INVALID', `${source}: ${reason}`, {
    hint: `make sure ${source} holds the job's ID token as GitLab issued it (declared with id_tokens:)`,
    cause,
  });
}

/** The claims that every GitLab ID token carries and oam-grant relies on. */
const REQUIRED_CLAIMS = ['iss', 'sub', 'aud', 'exp', 'iat'];

export class IssuerTokenVerifier implements TokenVerifier {
  readonly #issuer: string;
  readonly #get: HttpGet;
  readonly #now: () => Date;
  readonly #sleep: ((ms: number) => Promise<void>) | undefined;
  #discovery: Promise<IssuerKeys> | undefined;
  #keys: Promise<JWTVerifyGetKey> | undefined;
  #refetched = false;

  constructor(options: IssuerVerifierOptions) {
    this.#issuer = normalizeIssuer(options.issuer);
    this.#get = options.get;
    this.#now = options.now ?? (() => new Date());
    this.#sleep = options.sleep;
  }

  /**
   * Starts discovery and the JWKS fetch without waiting, so the network round
   * trips overlap with reading the access file. A failure surfaces at `verify`.
   */
  prefetch(): void {
    this.#keys ??= this.#loadKeys();
    this.#keys.catch(() => undefined);
  }

  #loadKeys(): Promise<JWTVerifyGetKey> {
    this.#discovery ??= discoverIssuer(this.#issuer, this.#get, this.#sleep ? { sleep: this.#sleep } : {});
    const keys = this.#discovery.then(async (discovery) => createLocalJWKSet((await discovery.fetchKeys()) as Parameters<typeof createLocalJWKSet>[0]));
    // A failed discovery or key fetch must not poison the cache: the next token starts over from discovery.
    keys.catch(() => {
      if (this.#keys !== keys) return;
      this.#keys = undefined;
      this.#discovery = undefined;
    });
    return keys;
  }

  async verify(token: string, expect: TokenExpectation): Promise<VerifiedToken> {
    const { source } = expect;
    const trimmed = token.trim();
    let header: ReturnType<typeof decodeProtectedHeader>;
    let unverified: ReturnType<typeof decodeJwt>;
    try {
      header = decodeProtectedHeader(trimmed);
      unverified = decodeJwt(trimmed);
    } catch (error) {
      throw invalid(source, 'not a well-formed JWT', error);
    }
    if (typeof header.alg !== 'string' || !(ALLOWED_ALGORITHMS as readonly string[]).includes(header.alg)) {
      throw invalid(source, `unexpected algorithm ${JSON.stringify(header.alg ?? null)} (only ${ALLOWED_ALGORITHMS.join(', ')} is accepted)`);
    }
    if (typeof header.kid !== 'string' || header.kid === '') throw invalid(source, 'the token header names no key (kid)');
    // Checked before any key lookup: a token from another issuer must not make us fetch its keys.
    if (typeof unverified.iss !== 'string' || normalizeIssuer(unverified.iss) !== this.#issuer) {
      throw new OamError('ERR_TOKEN_ISSUER', `${source}: issuer ${JSON.stringify(unverified.iss ?? null)} is not the expected ${this.#issuer}`, {
        hint: 'the access file trusts the issuer in spec.gitlab (issuer, default url): the token must come from that GitLab instance',
      });
    }

    const now = this.#now();
    const iat = unverified.iat;
    if (typeof iat !== 'number') throw invalid(source, 'the token has no iat claim');
    // jose checks iat only against a maximum age; a token from the future is refused here, for every purpose.
    if (iat > now.getTime() / 1000 + CLOCK_SKEW_SECONDS) {
      throw new OamError('ERR_TOKEN_EXPIRED', `${source}: iat ${new Date(iat * 1000).toISOString()} is in the future`, {
        hint: "check the runner's clock",
      });
    }
    // Evidence is a signed record: judge it as of its own issue time so `exp` does not apply.
    const currentDate = expect.purpose === 'evidence' ? new Date(iat * 1000) : now;

    this.#keys ??= this.#loadKeys();
    let result: Awaited<ReturnType<typeof jwtVerify>>;
    try {
      result = await this.#verifyWith(await this.#keys, trimmed, expect.audience, currentDate);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey) || this.#refetched) throw this.#translate(error, expect, header.kid, now);
      // Unknown kid: GitLab may have rotated its key since we fetched the set. Refetch once.
      this.#refetched = true;
      this.#keys = this.#loadKeys();
      try {
        result = await this.#verifyWith(await this.#keys, trimmed, expect.audience, currentDate);
      } catch (retryError) {
        throw this.#translate(retryError, expect, header.kid, now);
      }
    }
    const claims = toGitlabClaims(result.payload as Record<string, unknown>);
    if (expect.audience === EVIDENCE_AUDIENCE) {
      // Evidence tokens sit in artifacts that project members can download: one that a cloud would also accept is a credential.
      const foreign = claims.aud.filter((a) => !isEvidenceAudience(a));
      if (foreign.length > 0) {
        throw new OamError('ERR_TOKEN_AUDIENCE', `${source}: aud also holds ${foreign.map((a) => JSON.stringify(a)).join(', ')}; a token kept as evidence may carry only ${EVIDENCE_AUDIENCE} and ${COMPONENT_AUDIENCE_PREFIX}<component>`, {
          hint: `declare the evidence token with id_tokens: { ${source}: { aud: [${EVIDENCE_AUDIENCE}, ${COMPONENT_AUDIENCE_PREFIX}<component>] } } and give the cloud its own token`,
        });
      }
    }
    return { raw: trimmed, claims, kid: header.kid };
  }

  #verifyWith(keys: JWTVerifyGetKey, token: string, audience: string, currentDate: Date) {
    return jwtVerify(token, keys, {
      issuer: [this.#issuer, `${this.#issuer}/`],
      audience,
      algorithms: [...ALLOWED_ALGORITHMS],
      clockTolerance: CLOCK_SKEW_SECONDS,
      currentDate,
      requiredClaims: REQUIRED_CLAIMS,
    });
  }

  #translate(error: unknown, expect: TokenExpectation, kid: string, now: Date): OamError {
    const { source } = expect;
    if (error instanceof OamError) return error;
    if (error instanceof errors.JWTExpired) {
      const exp = typeof error.payload.exp === 'number' ? new Date(error.payload.exp * 1000).toISOString() : 'unknown';
      return new OamError('ERR_TOKEN_EXPIRED', `${source}: the token expired at ${exp} (now ${now.toISOString()})`, {
        hint: 'ID tokens live as long as the job timeout; re-run the job to get a fresh token',
        cause: error,
      });
    }
    if (error instanceof errors.JWTClaimValidationFailed) {
      const payload = error.payload as Record<string, unknown>;
      if (error.claim === 'aud') {
        return new OamError('ERR_TOKEN_AUDIENCE', `${source}: aud ${JSON.stringify(payload.aud ?? null)} does not contain ${JSON.stringify(expect.audience)}`, {
          hint: `declare the token with id_tokens: { ${source}: { aud: ${expect.audience} } }, or set --audience to the audience it was minted for`,
          cause: error,
        });
      }
      if (error.claim === 'iss') {
        return new OamError('ERR_TOKEN_ISSUER', `${source}: issuer ${JSON.stringify(payload.iss ?? null)} is not the expected ${this.#issuer}`, {
          hint: 'the access file trusts the issuer in spec.gitlab (issuer, default url): the token must come from that GitLab instance',
          cause: error,
        });
      }
      // iat is checked before jose sees the token (verify), so only nbf can be in the future here; an nbf that is not a number is malformed.
      if (error.claim === 'nbf' && error.reason === 'check_failed') {
        return new OamError('ERR_TOKEN_EXPIRED', `${source}: the token is not valid yet (nbf is in the future)`, {
          hint: "check the runner's clock",
          cause: error,
        });
      }
      return invalid(source, `claim ${error.claim} is missing or malformed`, error);
    }
    if (error instanceof errors.JWKSNoMatchingKey) {
      return invalid(source, `the issuer publishes no key with kid ${JSON.stringify(kid)}`, error);
    }
    if (error instanceof errors.JWSSignatureVerificationFailed) return invalid(source, 'the signature does not verify', error);
    if (error instanceof errors.JOSEError) return invalid(source, `cannot verify the token (${error.code})`, error);
    return invalid(source, error instanceof Error ? error.message : 'cannot verify the token', error);
  }
}

/** Reads the token from the named variable; an unset or empty variable is ERR_TOKEN_MISSING. */
export function readTokenVariable(env: Readonly<Record<string, string | undefined>>, name: string, audience: string): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') {
    throw new OamError('ERR_TOKEN_MISSING', `${name} is not set or empty`, {
      hint: `declare it in the job: id_tokens: { ${name}: { aud: ${audience} } }`,
    });
  }
  return value;
}
