/**
 * Vault's side of a vault-jwt trait: the JWT auth method's config (GitLab's
 * OIDC discovery) and the role, keyed by the path each is written to, so
 * that each value is the JSON `vault write <path> -` accepts. The role binds
 * the audience and, through bound_claims (Vault reads claims, not just
 * `sub`), the projects, ref types, refs and ref_protected of the file.
 *
 * Parameters as Vault documents them (api-docs/auth/jwt.mdx and the token
 * fields): bound_claims_type "glob" uses ryanuber/go-glob, whose only
 * wildcard `*` matches any run of characters, `/` included.
 */
import type { VaultJwtTrait } from '../access-file/model.ts';
import { parseSafeUrl } from '../lib/http.ts';
import { unprotectedTagWarning } from '../policy/trust-scope.ts';
import { normalizeIssuer } from '../token/discovery.ts';
import type { TrustBuilder } from './types.ts';

/** The role's token TTL when no credential-limits cap applies. */
export const DEFAULT_VAULT_ROLE_TTL_SECONDS = 900;

/** Our glob to go-glob: `**` and `*` become `*` (which also spans `/`), and `?`, which go-glob lacks, becomes `*` too. */
export function toVaultGlob(glob: string): string {
  return glob.replace(/\*\*|\*|\?/g, '*').replace(/\*+/g, '*');
}

export const vaultJwtTrustConfig: TrustBuilder<VaultJwtTrait> = ({ trait, component, scope, issuer, audience }) => {
  // As the tokens' iss, exactly: bound_issuer compares it, and Vault checks discovery's issuer against oidc_discovery_url.
  const gitlab = normalizeIssuer(issuer);
  parseSafeUrl(gitlab, 'spec.gitlab.issuer');
  const ttl = scope.maxDurationSeconds ?? DEFAULT_VAULT_ROLE_TTL_SECONDS;
  const mount = `auth/${trait.mount}`;
  const rolePath = `${mount}/role/${trait.role}`;
  const boundClaims: Record<string, string | string[]> = {
    project_path: [...scope.projects],
    ref_type: [...scope.refTypes],
    ref: [...new Set(scope.refs.map(toVaultGlob))],
  };
  if (scope.refProtected !== undefined) boundClaims.ref_protected = String(scope.refProtected);
  const config = {
    [`${mount}/config`]: { oidc_discovery_url: gitlab, bound_issuer: gitlab },
    [rolePath]: {
      role_type: 'jwt',
      // GitLab's Vault guide names the entity alias after the job's user.
      user_claim: 'user_email',
      bound_audiences: [audience],
      bound_claims_type: 'glob',
      bound_claims: boundClaims,
      // Service tokens, so that exec and a failed grant can revoke them (batch tokens cannot be revoked).
      token_type: 'service',
      token_ttl: ttl,
      token_max_ttl: ttl,
      // The hard cap: renewals cannot pass it, and oam-grant reads it back (lookup-self) to check the token.
      token_explicit_max_ttl: ttl,
      token_policies: [`<policy for ${component.name}>`],
    },
  };

  const warnings = scope.refProtected === true ? scope.warnings.filter((w) => w !== unprotectedTagWarning(scope.refs)) : [...scope.warnings];
  const ns = trait.namespace ? ` -namespace=${trait.namespace}` : '';
  const notes = [
    `apply it with: vault write${ns} ${mount}/config oidc_discovery_url=${gitlab} bound_issuer=${gitlab}, then ` +
      `oam-grant trust-policy --component ${component.name} | jq '."${rolePath}"' | vault write${ns} ${rolePath} -` +
      ` (when the component has several credential traits the output is keyed by trait type: jq '."vault-jwt"."${rolePath}"')`,
    `replace the token_policies placeholder with the Vault policies ${component.name} needs; tokens also get the default policy, which lets them look themselves up and revoke themselves (keep it: oam-grant uses both)`,
    scope.maxDurationSeconds !== undefined
      ? `token_ttl, token_max_ttl and token_explicit_max_ttl are the credential-limits cap (${ttl} s); oam-grant refuses and revokes a token that lives longer or could be renewed past it`
      : `no credential-limits cap applies: the token TTLs are ${ttl} s; oam-grant refuses a token that lives longer than 12 h, and warns about one that could be renewed without an explicit max TTL`,
    'bound_claims binds project_path: if the project is renamed or transferred, another project could take the old path; bind project_id (the number) instead where you know it',
    ...scope.notes,
  ];
  if (scope.refProtected === undefined) {
    notes.push('the access file requires no refProtected, so the role admits unprotected refs that match; add refProtected: true to a gitlab-conditions policy to bind ref_protected in the role');
  } else if (scope.refProtected && scope.refTypes.includes('tag')) {
    notes.push('tags are admitted only when protected: the role binds ref_protected "true"');
  }
  if (scope.refs.some((r) => /(^|[^*])\*([^*]|$)/.test(r))) {
    notes.push("Vault's glob `*` also matches '/': `release/*` in bound_claims admits `release/a/b`, which the access file's glob does not; oam-grant still enforces the narrower glob");
  }
  if (scope.refs.some((r) => r.includes('?'))) {
    notes.push("Vault's glob has no `?`: it is written `*`, which admits any run of characters there; oam-grant still enforces the narrower glob");
  }
  return { config, warnings, notes };
};
