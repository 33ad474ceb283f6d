/**
 * The grant job's entry to the approval gate, in the shape of the lead's
 * command seams: `checkApprovalsForGrant(deps, target, token)` before the
 * exchange. Logs each counted approval; throws the precise ERR_APPROVAL_*.
 */
import { approvalStepFor } from '../access-file/lookup.ts';
import type { ComponentTarget } from '../access-file/model.ts';
import { formatDuration } from '../report/format.ts';
import type { TokenVerifier, VerifiedToken } from '../token/types.ts';
import { describeMatch } from './checks.ts';
import { type CommandDeps, gitlabApiOf, scopeOf } from './deps.ts';
import { createApprovalLookups } from './lookups.ts';
import { type ApprovalOutcome, verifyApprovalsForGrant } from './verify-for-grant.ts';

export async function checkApprovalsForGrant(
  deps: CommandDeps,
  target: ComponentTarget & { readonly verifier: TokenVerifier },
  own: VerifiedToken,
): Promise<ApprovalOutcome> {
  const { log, options } = deps;
  const step = approvalStepFor(target.file, target.component);
  if (!step) return { required: false, step: undefined, request: undefined, approvals: [], expired: [] };
  return log.section(`approvals (step ${step.name})`, async () => {
    const lookups = createApprovalLookups({ api: gitlabApiOf(deps, target.file.gitlab), scope: scopeOf(deps, own.claims) });
    const outcome = await verifyApprovalsForGrant({ ...target, step, own, outDir: options.outDir, verifier: target.verifier, lookups, now: deps.now });
    const { request } = outcome;
    if (request) log.info(`request: ${request.path} by ${request.token.claims.user_login ?? '?'} in job ${request.token.claims.job_id ?? '?'}`);
    for (const a of outcome.approvals) {
      log.info(`approval: ${a.path} by ${a.token.claims.user_login ?? '?'} (${describeMatch(a.match)}), ${formatDuration(a.latencySeconds)} after the request`);
    }
    for (const e of outcome.expired) log.warn(`not counted: ${e.message}`);
    log.success(`${outcome.approvals.length} of ${step.minApprovals} approval${step.minApprovals === 1 ? '' : 's'} from distinct people`);
    return outcome;
  });
}
