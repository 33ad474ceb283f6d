import type { CredentialTrait } from '../access-file/model.ts';
import { awsStsProvider } from './aws-sts.ts';
import type { CredentialProvider } from './types.ts';

/** Providers keyed by trait type; adding a cloud means adding one entry here. */
const PROVIDERS: { readonly [K in CredentialTrait['type']]: CredentialProvider<Extract<CredentialTrait, { type: K }>> } = {
  'aws-sts': awsStsProvider,
};

export function providerFor<T extends CredentialTrait>(trait: T): CredentialProvider<T> {
  return PROVIDERS[trait.type as CredentialTrait['type']] as unknown as CredentialProvider<T>;
}
