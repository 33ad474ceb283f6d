import type { GitlabClaims } from './claims.ts';

/** A token whose signature, issuer, audience and times were checked. */
export interface VerifiedToken {
  /** The compact JWS as received; evidence files keep it so later jobs can re-verify. */
  readonly raw: string;
  readonly claims: GitlabClaims;
  readonly kid: string;
}

/**
 * `exchange`: the job's own token for the cloud — every check, `exp` included.
 * `evidence`: a request or approval record's token — signature, issuer and
 * audience are checked and `iat` must not be in the future, but `exp` is not
 * (design.md, section 3: evidence is a signed record, not a bearer credential).
 */
export type TokenPurpose = 'exchange' | 'evidence';

export interface TokenExpectation {
  readonly audience: string;
  readonly purpose: TokenPurpose;
  /** Where the token came from, for messages: a variable name or a file path. */
  readonly source: string;
}

export interface TokenVerifier {
  /** Throws OamError ERR_TOKEN_INVALID | ERR_TOKEN_EXPIRED | ERR_TOKEN_AUDIENCE | ERR_TOKEN_ISSUER. */
  verify(token: string, expect: TokenExpectation): Promise<VerifiedToken>;
  /** Starts fetching the issuer's keys without waiting (a failure surfaces at verify). */
  prefetch?(): void;
}

/** The audience every evidence token carries (design.md). */
export const EVIDENCE_AUDIENCE = 'oam-grant';

/** Prefix of the optional second evidence audience that names the component (`oam-grant:component:deploy-prod`). */
export const COMPONENT_AUDIENCE_PREFIX = 'oam-grant:component:';

/** An audience an evidence token may carry: `oam-grant` or a component's; nothing a cloud would accept. */
export function isEvidenceAudience(audience: string): boolean {
  return audience === EVIDENCE_AUDIENCE || audience.startsWith(COMPONENT_AUDIENCE_PREFIX);
}
