import type { Component, CredentialTrait } from '../access-file/model.ts';
import { awsStsProvider } from './aws-sts.ts';
import type { CredentialProvider } from './types.ts';

/** Providers keyed by trait type; adding a cloud means adding one entry here. */
const PROVIDERS: { readonly [K in CredentialTrait['type']]: CredentialProvider<Extract<CredentialTrait, { type: K }>> } = {
  'aws-sts': awsStsProvider,
};

export function providerFor<T extends CredentialTrait>(trait: T): CredentialProvider<T> {
  return PROVIDERS[trait.type as CredentialTrait['type']] as unknown as CredentialProvider<T>;
}

/** The component's credential trait; the loader guarantees exactly one. */
export function credentialTraitOf(component: Component): CredentialTrait {
  const trait = component.traits.find((t): t is CredentialTrait => t.type === 'aws-sts');
  if (!trait) throw new Error(`component ${component.name} has no credential trait (the loader should have refused it)`);
  return trait;
}
