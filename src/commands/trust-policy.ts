/**
 * trust-policy: the cloud-side configuration that matches the access file for
 * a component — the outer wall that holds even when a job script is changed.
 * JSON on stdout (one trait: its configuration; several: one per trait type);
 * what the cloud cannot express goes to stderr as warnings and notes. It is
 * never wider than the file (src/policy/trust-scope.ts).
 */
import type { CredentialTrait } from '../access-file/model.ts';
import { OamError } from '../errors.ts';
import { trustScopeOf } from '../policy/trust-scope.ts';
import { awsTrustPolicy } from '../trust/aws-sts.ts';
import { gcpTrustConfig } from '../trust/gcp-wif.ts';
import { azureFederatedCredentials } from '../trust/azure-federated.ts';
import { tokenExchangeTrust } from '../trust/token-exchange.ts';
import type { TrustBuilder, TrustConfig } from '../trust/types.ts';
import { vaultJwtTrustConfig } from '../trust/vault-jwt.ts';
import type { Deps } from './deps.ts';
import { loadTarget } from './target.ts';

type Registry = { readonly [K in CredentialTrait['type']]?: TrustBuilder<Extract<CredentialTrait, { type: K }>> };

/** Each provider's configuration builder, keyed by trait type. */
const TRUST_BUILDERS: Registry = {
  'aws-sts': awsTrustPolicy,
  'gcp-wif': gcpTrustConfig,
  'vault-jwt': vaultJwtTrustConfig,
  'azure-federated': azureFederatedCredentials,
  'token-exchange': tokenExchangeTrust,
};

function builderFor<T extends CredentialTrait>(trait: T): TrustBuilder<T> {
  const builder = TRUST_BUILDERS[trait.type as CredentialTrait['type']];
  if (!builder) throw new OamError('ERR_USAGE', `trust-policy cannot print a configuration for ${trait.type} yet`);
  return builder as unknown as TrustBuilder<T>;
}

export async function runTrustPolicy(deps: Deps): Promise<number> {
  const target = await loadTarget(deps);
  const scope = trustScopeOf(target.file, target.component, deps.ctx.projectPath);
  const built: [CredentialTrait['type'], TrustConfig][] = target.grants.map((g) => [
    g.trait.type,
    builderFor(g.trait)({ trait: g.trait, component: target.component, scope, issuer: target.file.gitlab.issuer, audience: g.audience }),
  ]);
  const output = built.length === 1 ? built[0]![1].config : Object.fromEntries(built.map(([type, b]) => [type, b.config]));
  deps.out(`${JSON.stringify(output, null, 2)}\n`);
  const warnings = new Set(built.flatMap(([, b]) => b.warnings));
  const notes = new Set(built.flatMap(([, b]) => b.notes));
  for (const warning of warnings) deps.log.warn(warning);
  for (const note of notes) deps.log.info(`note: ${note}`);
  return 0;
}
