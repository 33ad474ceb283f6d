/**
 * The steps every token-bearing command starts with: load the access file,
 * pick the component and its credential trait, verify the job's token.
 */
import { loadAccessFile } from '../access-file/load.ts';
import { credentialTraitOf, findComponent } from '../access-file/lookup.ts';
import type { ComponentTarget, CredentialTrait } from '../access-file/model.ts';
import { providerFor } from '../providers/index.ts';
import type { CredentialProvider } from '../providers/types.ts';
import { readTokenVariable } from '../token/verify.ts';
import { EVIDENCE_AUDIENCE, type VerifiedToken } from '../token/types.ts';
import { OamError } from '../errors.ts';
import type { Deps } from './deps.ts';

export interface Target extends ComponentTarget {
  readonly provider: CredentialProvider<CredentialTrait>;
  /** The audience the exchange token must carry. */
  readonly audience: string;
}

export async function loadTarget(deps: Deps): Promise<Target> {
  const { options, log } = deps;
  return log.section('access file', async () => {
    const file = await loadAccessFile(options.file);
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
    return { file, component, trait, provider, audience };
  });
}

export async function verifyExchangeToken(deps: Deps, target: Target): Promise<VerifiedToken> {
  const { options, log } = deps;
  return log.section('verify ID token', async () => {
    const raw = readTokenVariable(deps.env, options.tokenVar, target.audience);
    const token = await deps.verifier().verify(raw, { audience: target.audience, purpose: 'exchange', source: options.tokenVar });
    const c = token.claims;
    log.info(`${options.tokenVar}: ${c.project_path ?? '?'} ${c.ref_type ?? '?'} ${c.ref ?? '?'} (protected: ${c.ref_protected ?? '?'}), pipeline ${c.pipeline_id ?? '?'}, job ${c.job_id ?? '?'}, user ${c.user_login ?? '?'}`);
    return token;
  });
}
