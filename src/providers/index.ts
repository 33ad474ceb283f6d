import type { CredentialTrait } from '../access-file/model.ts';
import { OamError } from '../errors.ts';
import { awsStsProvider } from './aws-sts.ts';
import { gcpWifProvider } from './gcp-wif.ts';
import { azureFederatedProvider } from './azure-federated.ts';
import { tokenExchangeProvider } from './token-exchange.ts';
import type { CredentialProvider } from './types.ts';
import { vaultJwtProvider } from './vault-jwt.ts';

type Registry = { readonly [K in CredentialTrait['type']]?: CredentialProvider<Extract<CredentialTrait, { type: K }>> };

/** Providers keyed by trait type; adding a cloud means adding one entry here. */
const PROVIDERS: Registry = {
  'aws-sts': awsStsProvider,
  'gcp-wif': gcpWifProvider,
  'vault-jwt': vaultJwtProvider,
  'azure-federated': azureFederatedProvider,
  'token-exchange': tokenExchangeProvider,
};

export function providerFor<T extends CredentialTrait>(trait: T): CredentialProvider<T> {
  const provider = PROVIDERS[trait.type as CredentialTrait['type']];
  if (!provider) throw new OamError('ERR_METADATA_INVALID', `trait type ${trait.type} has no provider in this build`);
  return provider as unknown as CredentialProvider<T>;
}
