/**
 * The request and approve jobs prove themselves with their own ID token of
 * audience `oam-grant` (never a cloud audience: this token is stored in
 * evidence and must be useless to a cloud).
 */
import type { Logger } from '../lib/log.ts';
import type { Env } from '../context.ts';
import { EVIDENCE_AUDIENCE, type TokenVerifier, type VerifiedToken } from '../token/types.ts';
import { readTokenVariable } from '../token/verify.ts';

export async function verifyOwnEvidenceToken(env: Env, variable: string, verifier: TokenVerifier, log: Logger): Promise<VerifiedToken> {
  return log.section('verify ID token', async () => {
    const raw = readTokenVariable(env, variable, EVIDENCE_AUDIENCE);
    const token = await verifier.verify(raw, { audience: EVIDENCE_AUDIENCE, purpose: 'exchange', source: variable });
    const c = token.claims;
    log.info(
      `${variable}: ${c.project_path ?? '?'} ${c.ref_type ?? '?'} ${c.ref ?? '?'}, pipeline ${c.pipeline_id ?? '?'}, job ${c.job_id ?? '?'}, user ${c.user_login ?? '?'} (id ${c.user_id ?? '?'})`,
    );
    return token;
  });
}
