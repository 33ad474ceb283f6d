/**
 * `credentials`: the AWS `credential_process` of a long job. Each call is a
 * full grant again (token, conditions, approvals within validFor, the
 * exchange with the file's session policy and duration), minus the dotenv
 * and the note: the JSON goes to stdout for the AWS CLI or SDK, and the
 * issuance is counted in `<out-dir>/refreshes-<job>.json` for the close job.
 */
import { OamError } from '../errors.ts';
import { appendRefresh } from '../lifecycle/records.ts';
import type { Deps } from './deps.ts';
import { obtainGrant } from './grant.ts';
import type { Target } from './target.ts';

/** Only a lone aws-sts trait: credential_process answers for one AWS identity. */
export function assertRefreshable(target: Target): void {
  const types = target.grants.map((g) => g.trait.type);
  if (types.length !== 1 || types[0] !== 'aws-sts') {
    throw new OamError('ERR_USAGE', `credentials serves AWS credential_process only, but component ${target.component.name} has ${types.length === 0 ? 'no credential trait' : `credential traits ${types.join(', ')}`}`, {
      hint: 'use it for a component with exactly one aws-sts trait; for the others, run grant (or exec) again within the approval\'s validFor',
    });
  }
}

export async function runCredentials(deps: Deps): Promise<number> {
  const out = deps.secretOut;
  if (!out) throw new OamError('ERR_USAGE', 'credentials needs an unredacted stdout', { hint: 'run it through the oam-grant CLI' });
  const result = await obtainGrant(deps, { refresh: true, accept: assertRefreshable });
  const issued = result.issued[0]!;
  const value = (name: string): string => {
    const found = issued.variables.find(([n]) => n === name)?.[1];
    if (!found) throw new OamError('ERR_EXCHANGE_FAILED', `the aws-sts exchange returned no ${name}`, { hint: 'check the STS endpoint' });
    return found;
  };
  const count = await appendRefresh(
    deps.options.outDir,
    { component: result.target.component.name, pipelineId: result.token.claims.pipeline_id ?? '?', jobId: result.token.claims.job_id ?? '?' },
    { at: deps.now().toISOString(), identity: issued.identity, sessionName: issued.sessionName, expiresAt: issued.expiresAt.toISOString() },
  );
  // https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-sourcing-external.html
  const json = {
    Version: 1,
    AccessKeyId: value('AWS_ACCESS_KEY_ID'),
    SecretAccessKey: value('AWS_SECRET_ACCESS_KEY'),
    SessionToken: value('AWS_SESSION_TOKEN'),
    Expiration: issued.expiresAt.toISOString(),
  };
  deps.log.success(`credentials for ${result.target.component.name}: ${issued.identity} until ${json.Expiration} (issuance ${count} in this job)`);
  out(`${JSON.stringify(json)}\n`);
  return 0;
}
