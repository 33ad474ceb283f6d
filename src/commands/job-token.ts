/**
 * The job's own ID token, read from its variable and fully verified (exp
 * included: it is this job's live token), with one log line of what it says.
 * grant and exec verify the exchange token (the cloud's audience); request and
 * approve verify their evidence token (audience `oam-grant`, never a cloud's:
 * it is stored in evidence and must be useless to a cloud).
 */
import { readTokenVariable } from '../token/verify.ts';
import type { VerifiedToken } from '../token/types.ts';
import type { Deps } from './deps.ts';
import type { Target } from './target.ts';

export async function verifyJobToken(deps: Deps, target: Target, variable: string, audience: string): Promise<VerifiedToken> {
  const { log } = deps;
  return log.section('verify ID token', async () => {
    const raw = readTokenVariable(deps.env, variable, audience);
    const token = await target.verifier.verify(raw, { audience, purpose: 'exchange', source: variable });
    const c = token.claims;
    log.info(
      `${variable}: ${c.project_path ?? '?'} ${c.ref_type ?? '?'} ${c.ref ?? '?'} (protected: ${c.ref_protected ?? '?'}), ` +
        `pipeline ${c.pipeline_id ?? '?'}, job ${c.job_id ?? '?'}, user ${c.user_login ?? '?'} (id ${c.user_id ?? '?'})`,
    );
    return token;
  });
}
