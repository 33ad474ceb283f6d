/**
 * The variables each credential trait exports, known from the file alone, so
 * that collisions and GitLab's dotenv limits are caught by `validate` and
 * before the first exchange, not after credentials exist.
 */
import type { CredentialTrait } from '../access-file/model.ts';

/** The names a trait exports, before its exportPrefix, in output order. */
export function exportedNames(trait: CredentialTrait): string[] {
  switch (trait.type) {
    case 'aws-sts':
      return ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', ...(trait.region ? ['AWS_REGION', 'AWS_DEFAULT_REGION'] : [])];
    case 'gcp-wif':
      return ['CLOUDSDK_AUTH_ACCESS_TOKEN', 'GOOGLE_OAUTH_ACCESS_TOKEN', ...(trait.projectId ? ['CLOUDSDK_CORE_PROJECT', 'GOOGLE_CLOUD_PROJECT'] : [])];
    case 'azure-federated':
      return [
        'AZURE_CLIENT_ID',
        'AZURE_TENANT_ID',
        ...(trait.subscriptionId ? ['AZURE_SUBSCRIPTION_ID'] : []),
        'ARM_CLIENT_ID',
        'ARM_TENANT_ID',
        ...(trait.subscriptionId ? ['ARM_SUBSCRIPTION_ID'] : []),
        'AZURE_ACCESS_TOKEN',
      ];
    case 'vault-jwt':
      return ['VAULT_ADDR', 'VAULT_TOKEN', ...(trait.namespace ? ['VAULT_NAMESPACE'] : [])];
    case 'token-exchange':
      return [trait.exportAs];
  }
}

/** The variable that carries the earliest expiry of a grant. */
export const EXPIRES_AT_VARIABLE = 'OAM_GRANT_EXPIRES_AT';

/**
 * Every variable a grant of these traits writes, prefixes applied, ending with
 * the expiry: under the traits' common prefix, or unprefixed when they differ.
 */
export function grantVariableNames(traits: readonly CredentialTrait[]): string[] {
  const names = traits.flatMap((trait) => exportedNames(trait).map((name) => `${trait.exportPrefix}${name}`));
  return [...names, `${expiryPrefix(traits)}${EXPIRES_AT_VARIABLE}`];
}

export function expiryPrefix(traits: readonly CredentialTrait[]): string {
  const prefixes = new Set(traits.map((t) => t.exportPrefix));
  return prefixes.size === 1 ? [...prefixes][0]! : '';
}
