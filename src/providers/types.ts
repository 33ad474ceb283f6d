import type { CredentialTrait } from '../access-file/model.ts';
import type { Logger } from '../lib/log.ts';
import type { VerifiedToken } from '../token/types.ts';

/** Short-lived credentials, ready to export. */
export interface IssuedCredentials {
  /** Variables to export, unprefixed, in output order. Values may be secret. */
  readonly variables: readonly (readonly [name: string, value: string])[];
  /**
   * Variables for `exec`'s child only, never written to the dotenv file that
   * later jobs (and project members) can download: e.g. the job's own ID
   * token for tools that can only sign in with a federated token themselves
   * (`az login --federated-token`, Terraform's ARM_OIDC_TOKEN). Unprefixed,
   * like `variables`.
   */
  readonly execOnlyVariables?: readonly (readonly [name: string, value: string])[];
  /** The values that must never be printed (redaction list for logs and the scan in tests). */
  readonly secrets: readonly string[];
  readonly expiresAt: Date;
  /** Who the credentials act as, e.g. the assumed-role ARN or the service account. Not a secret. */
  readonly identity: string;
  /** The provider's name for this session (AWS role session name, Vault accessor...), when it has one. Not a secret. */
  readonly sessionName: string;
  /**
   * Ends the credentials early, where the provider allows it (a Vault token's
   * revoke-self). Absent where it cannot (AWS STS sessions, Google and Entra
   * access tokens): their short lifetime is then the bound.
   */
  readonly revoke?: () => Promise<void>;
}

export interface ExchangeInput<T extends CredentialTrait> {
  readonly trait: T;
  /** The job's ID token for this trait's audience, verified. */
  readonly token: VerifiedToken;
  /** A name for the session, `<project>@p<pipeline>.j<job>`, for providers that take one. */
  readonly sessionName: string;
  /** Used only for loopback endpoint overrides in tests; trust never comes from here. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly log: Logger;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Deadlines for tests; the defaults (lib/deadlines.ts) suit a real cloud. requestMs bounds one attempt, totalMs all of them. */
  readonly timeouts?: { readonly connectMs: number; readonly requestMs: number; readonly totalMs?: number };
  /** The shortest credential-limits cap that applies, in seconds, for providers whose lifetime the file does not set (Vault). */
  readonly maxDurationSeconds?: number;
}

/** One cloud's exchange of a GitLab ID token for credentials. */
export interface CredentialProvider<T extends CredentialTrait> {
  readonly type: T['type'];
  /** The audience the exchange token must carry unless --audience says otherwise. */
  defaultAudience(trait: T): string;
  exchange(input: ExchangeInput<T>): Promise<IssuedCredentials>;
}
