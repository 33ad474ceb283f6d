import type { CredentialTrait } from '../access-file/model.ts';
import type { Logger } from '../lib/log.ts';
import type { VerifiedToken } from '../token/types.ts';

/** Short-lived credentials, ready to export. */
export interface IssuedCredentials {
  /** Variables to export, unprefixed, in output order. Values may be secret. */
  readonly variables: readonly (readonly [name: string, value: string])[];
  /** The values that must never be printed (redaction list for logs and the scan in tests). */
  readonly secrets: readonly string[];
  readonly expiresAt: Date;
  /** Who the credentials act as, e.g. the assumed-role ARN. Not a secret. */
  readonly identity: string;
  readonly sessionName: string;
}

export interface ExchangeInput<T extends CredentialTrait> {
  readonly trait: T;
  readonly token: VerifiedToken;
  readonly sessionName: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly log: Logger;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Deadlines for tests; the defaults (lib/deadlines.ts) suit a real cloud. requestMs bounds one attempt, totalMs all of them. */
  readonly timeouts?: { readonly connectMs: number; readonly requestMs: number; readonly totalMs?: number };
}

/** One cloud's exchange of a GitLab ID token for credentials. */
export interface CredentialProvider<T extends CredentialTrait> {
  readonly type: T['type'];
  /** The audience the exchange token must carry unless --audience says otherwise. */
  readonly defaultAudience: string;
  exchange(input: ExchangeInput<T>): Promise<IssuedCredentials>;
}
