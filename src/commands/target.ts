/**
 * The step every command but validate starts with: load the access file,
 * hold GitLab's variables to the instance it states, and pick the component,
 * its credential traits and their providers.
 */
import { loadAccessFile } from '../access-file/load.ts';
import { credentialTraitsOf, findComponent } from '../access-file/lookup.ts';
import type { ComponentTarget, CredentialTrait } from '../access-file/model.ts';
import { OamError } from '../errors.ts';
import { describeCredential } from '../providers/requested-access.ts';
import { providerFor } from '../providers/index.ts';
import type { CredentialProvider } from '../providers/types.ts';
import { EVIDENCE_AUDIENCE, type TokenVerifier } from '../token/types.ts';
import type { Deps } from './deps.ts';
import { checkInstanceVariables } from './instance.ts';

/** One credential trait with what its exchange needs. */
export interface TraitGrant {
  readonly trait: CredentialTrait;
  readonly provider: CredentialProvider<CredentialTrait>;
  /** The audience the exchange token for this trait must carry. */
  readonly audience: string;
  /** The variable holding that token: --token-var, or `<token-var>_<TYPE>` when a component has several credential traits. */
  readonly tokenVar: string;
}

export interface Target extends ComponentTarget {
  readonly grants: readonly TraitGrant[];
  /** Verifies tokens of the file's issuer, and of no other. */
  readonly verifier: TokenVerifier;
}

/** `OAM_ID_TOKEN` + `vault-jwt` -> `OAM_ID_TOKEN_VAULT_JWT`: each provider's token has its own audience. */
export function tokenVariableFor(tokenVar: string, trait: CredentialTrait, several: boolean): string {
  return several ? `${tokenVar}_${trait.type.toUpperCase().replace(/-/g, '_')}` : tokenVar;
}

export async function loadTarget(deps: Deps): Promise<Target> {
  const { options, log } = deps;
  return log.section('access file', async () => {
    const file = await loadAccessFile(options.file);
    checkInstanceVariables(file, deps.env);
    const component = findComponent(file, options.component ?? '');
    const traits = credentialTraitsOf(component);
    const several = traits.length > 1;
    if (several && options.audience !== undefined) {
      // The components always pass their audience input; with several traits each token carries its provider's own.
      log.warn(
        `--audience (OAM_AUDIENCE) ${JSON.stringify(options.audience)} is not used: component ${component.name} has ${traits.length} credential traits, ` +
          `each checked for its provider's audience in ${traits.map((t) => tokenVariableFor(options.tokenVar, t, true)).join(', ')}`,
      );
    }
    const grants = traits.map((trait): TraitGrant => {
      const provider = providerFor(trait);
      const audience = (several ? undefined : options.audience) ?? provider.defaultAudience(trait);
      if (audience === EVIDENCE_AUDIENCE) {
        // Evidence tokens sit in artifacts that developers can download: they must never open a cloud.
        throw new OamError('ERR_USAGE', `--audience ${EVIDENCE_AUDIENCE} is reserved for evidence tokens`, {
          hint: `use the cloud's audience (${provider.defaultAudience(trait)} for ${trait.type})`,
        });
      }
      return { trait, provider, audience, tokenVar: tokenVariableFor(options.tokenVar, trait, several) };
    });
    log.info(`${file.path}: component ${component.name}, ${traits.map((t) => `${t.type} ${describeCredential(t).identity}`).join('; ')}`);
    const verifier = deps.verifier(file.gitlab.issuer);
    // The keys of the file's issuer (never of a host a variable names), fetched while the command gets on with its checks.
    if (options.command !== 'trust-policy') verifier.prefetch?.();
    return { file, component, traits, grants, verifier };
  });
}
