/**
 * The step every command but validate starts with: load the access file,
 * hold GitLab's variables to the instance it states, and pick the component,
 * its credential trait and provider.
 */
import { loadAccessFile } from '../access-file/load.ts';
import { credentialTraitOf, findComponent } from '../access-file/lookup.ts';
import type { ComponentTarget, CredentialTrait } from '../access-file/model.ts';
import { providerFor } from '../providers/index.ts';
import type { CredentialProvider } from '../providers/types.ts';
import { EVIDENCE_AUDIENCE } from '../token/types.ts';
import { OamError } from '../errors.ts';
import type { TokenVerifier } from '../token/types.ts';
import type { Deps } from './deps.ts';
import { checkInstanceVariables } from './instance.ts';

export interface Target extends ComponentTarget {
  readonly provider: CredentialProvider<CredentialTrait>;
  /** The audience the exchange token must carry. */
  readonly audience: string;
  /** Verifies tokens of the file's issuer, and of no other. */
  readonly verifier: TokenVerifier;
}

export async function loadTarget(deps: Deps): Promise<Target> {
  const { options, log } = deps;
  return log.section('access file', async () => {
    const file = await loadAccessFile(options.file);
    checkInstanceVariables(file, deps.env);
    const component = findComponent(file, options.component ?? '');
    const trait = credentialTraitOf(component);
    const provider = providerFor(trait);
    log.info(`${file.path}: component ${component.name}, ${trait.type} role ${trait.roleArn}`);
    const audience = options.audience ?? provider.defaultAudience;
    if (audience === EVIDENCE_AUDIENCE) {
      // Evidence tokens sit in artifacts that developers can download: they must never open a cloud.
      throw new OamError('ERR_USAGE', `--audience ${EVIDENCE_AUDIENCE} is reserved for evidence tokens`, {
        hint: `use the cloud's audience (${provider.defaultAudience} for ${trait.type})`,
      });
    }
    return { file, component, trait, provider, audience, verifier: deps.verifier(file.gitlab.issuer) };
  });
}
