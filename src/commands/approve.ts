/**
 * approve (the manual job an approver presses Run on): this job's own token
 * names the approver. Check everything the grant will check, refuse early
 * with the precise code, and only then write `approvals/<job_id>.json`.
 */
import { checkComponentAudience } from '../approval/checks.ts';
import { approvalStepFor } from '../access-file/lookup.ts';
import {
  checkEligibility,
  checkSeparation,
  checkTimeout,
  describeMatch,
} from '../approval/checks.ts';
import type { CommandDeps } from '../approval/deps.ts';
import { gitlabApiOf, reportContextOf, scopeOf } from '../approval/deps.ts';
import { pipelineVariablesNotices } from '../report/pipeline-variables.ts';
import { jobProjectOf } from '../token/claims.ts';
import { writeApprovalEvidence } from '../approval/evidence.ts';
import { createApprovalLookups } from '../approval/lookups.ts';
import { findApproverReason, REASON_VARIABLE } from '../approval/reason.ts';
import { describeReasonSource } from '../approval/reason-comment.ts';
import { EVIDENCE_AUDIENCE } from '../token/types.ts';
import { verifyJobToken } from './job-token.ts';
import { verifyVisibleApprovals } from '../approval/verify-for-grant.ts';
import { type VerifiedRequest, verifyRequest } from '../approval/verify-request.ts';
import { isOamError, OamError } from '../errors.ts';
import { type ApprovalForReport, buildReportState } from '../report/build-state.ts';
import { formatDuration } from '../report/format.ts';
import { fromIat, jobRefOf, personOf } from '../report/report-state.ts';
import { reportEvent } from '../report/report-event.ts';
import { loadTarget } from './target.ts';

export async function runApprove(deps: CommandDeps): Promise<number> {
  const { options, log } = deps;
  const target = await loadTarget(deps);
  const { verifier } = target;
  const own = await verifyJobToken(deps, target, options.evidenceTokenVar, EVIDENCE_AUDIENCE);
  checkComponentAudience(own.claims, target.component.name, options.evidenceTokenVar);
  const step = approvalStepFor(target.file, target.component);
  if (!step) {
    throw new OamError('ERR_USAGE', `component ${target.component.name} has no jit-approval step in ${target.file.path}: there is nothing to approve`, {
      hint: 'remove the approve job, or add a jit-approval step for the component',
    });
  }
  const api = gitlabApiOf(deps, target.file.gitlab);
  const scope = scopeOf(deps, own.claims);
  const lookups = createApprovalLookups({ api, scope });
  const approver = own.claims.user_login ?? `user ${own.claims.user_id ?? '?'}`;
  // The note is rewritten at every event: the request's warning about pipeline variables must stay in it.
  const report = { ...reportContextOf(deps, api, scope), notices: await pipelineVariablesNotices(api, jobProjectOf(own.claims), log, options.debug) };

  let request: VerifiedRequest | undefined;
  let approval: ApprovalForReport;
  try {
    request = await log.section('request evidence', async () => {
      const verified = await verifyRequest(target, own, options.outDir, verifier);
      log.info(`${verified.path}: requested by ${verified.token.claims.user_login ?? '?'} in job ${verified.token.claims.job_id ?? '?'} at ${fromIat(verified.token.claims).toISOString()}`);
      return verified;
    });
    const req = request;
    approval = await log.section(`approval by ${approver}`, async () => {
      const source = options.evidenceTokenVar;
      if (own.claims.job_id === undefined || own.claims.job_id === req.token.claims.job_id) {
        throw new OamError('ERR_APPROVAL_INVALID', `${source}: this job (${own.claims.job_id ?? 'no job_id'}) is the request job, not an approve job`);
      }
      checkTimeout(step, req.token.claims.iat, own.claims.iat, source);
      await checkSeparation(step, own.claims, { requester: req.token.claims }, lookups, source);
      const match = await checkEligibility(step, own.claims, lookups, source);
      const { reason, source: reasonSource } = await findApproverReason({
        step,
        approver: own.claims,
        requestIat: req.token.claims.iat,
        lookups,
        variable: deps.env[REASON_VARIABLE],
        source,
        warn: (message) => log.warn(message),
      });
      log.info(`${approver} is eligible (${describeMatch(match)}); reason: ${reason === '' ? '(none)' : `${JSON.stringify(reason)}, ${describeReasonSource(reasonSource)}`}`);
      return { token: own, reason, reasonSource, match, latencySeconds: own.claims.iat - req.token.claims.iat };
    });
  } catch (error) {
    if (isOamError(error) && error.exitCode === 3) {
      const state = buildReportState({
        component: target.component.name,
        own,
        serverUrl: target.file.gitlab.url,
        requested: request?.requested,
        accessFileDigest: target.file.digest,
        step,
        request,
        approvals: [],
        matchedPolicies: [],
        ...(lookups.commentPlace ? { commentPlace: lookups.commentPlace } : {}),
        outcome: { kind: 'denied', code: error.code, message: error.message, stage: 'approve', actor: personOf(own.claims), job: jobRefOf(target.file.gitlab.url, own.claims), at: deps.now() },
      });
      await reportEvent({ ...report, state, required: false }).catch((reportError: unknown) => {
        log.warn(`could not record the refusal: ${reportError instanceof Error ? reportError.message : 'unknown error'}`);
      });
    }
    throw error;
  }

  const jobId = own.claims.job_id ?? '';
  const path = await log.section('approval evidence', async () => {
    const written = await writeApprovalEvidence(options.outDir, jobId, {
      version: 1,
      kind: 'approval',
      component: target.component.name,
      step: step.name,
      token: own.raw,
      reason: approval.reason,
      reasonSource: approval.reasonSource,
      createdAt: fromIat(own.claims).toISOString(),
    });
    log.info(`${written}: approval of step ${step.name} by ${approver}, signed by GitLab in this job's ID token`);
    return written;
  });
  // The note shows every valid approval this job can see (other approve jobs' artifacts, when handed on), not only its own.
  const visible = await verifyVisibleApprovals({ step, component: target.component, own, request, outDir: options.outDir, verifier, lookups, now: deps.now });
  for (const s of visible.skipped) log.warn(`not shown in the note: ${s.message}`);
  const approvals = [...visible.approvals, approval].sort((a, b) => a.token.claims.iat - b.token.claims.iat);
  const state = buildReportState({
    component: target.component.name,
    own,
    serverUrl: target.file.gitlab.url,
    requested: request.requested,
    accessFileDigest: target.file.digest,
    step,
    request,
    approvals,
    matchedPolicies: [],
    outcome: { kind: 'approved' },
    ...(lookups.commentPlace ? { commentPlace: lookups.commentPlace } : {}),
  });
  await reportEvent({ ...report, state, required: false });
  log.success(
    `approved ${target.component.name} as ${approver} (${describeMatch(approval.match)}), ${formatDuration(approval.latencySeconds)} after the request: ${path}; valid for ${formatDuration(step.validForSeconds)}`,
  );
  return 0;
}
