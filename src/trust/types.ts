import type { Component, CredentialTrait } from '../access-file/model.ts';
import type { TrustScope } from '../policy/trust-scope.ts';

export interface TrustInput<T extends CredentialTrait> {
  readonly trait: T;
  readonly component: Component;
  readonly scope: TrustScope;
  /** The access file's issuer (spec.gitlab). */
  readonly issuer: string;
  /** The audience the exchange token carries for this trait. */
  readonly audience: string;
}

/** A provider's cloud-side configuration that matches the file, as JSON, with what it cannot express. */
export interface TrustConfig {
  readonly config: Record<string, unknown>;
  readonly warnings: readonly string[];
  readonly notes: readonly string[];
}

export type TrustBuilder<T extends CredentialTrait> = (input: TrustInput<T>) => TrustConfig;
