/**
 * ReportState from verified facts: the request evidence, the approvals and
 * the reporting job's own token. Only signed claims name people, jobs and
 * times; the reason is the one unsigned value, and it was checked.
 */
import type { ApprovalStep } from '../access-file/model.ts';
import { describeMatch } from '../approval/checks.ts';
import type { VerifiedApproval } from '../approval/verify-for-grant.ts';
import type { VerifiedRequest } from '../approval/verify-request.ts';
import type { RequestedAccess } from '../providers/requested-access.ts';
import type { VerifiedToken } from '../token/types.ts';
import { type ApprovalFacts, fromIat, jobRefOf, type Outcome, personOf, type ReportState } from './report-state.ts';

export interface StateInput {
  readonly component: string;
  /** The reporting job's own verified token: pipeline, project, ref and commit come from it. */
  readonly own: VerifiedToken;
  readonly serverUrl: string | undefined;
  readonly requested: RequestedAccess | undefined;
  readonly accessFileDigest: string | undefined;
  readonly step: ApprovalStep | undefined;
  /** The request: verified evidence, or this job's own token when it is the request job. */
  readonly request: VerifiedRequest | VerifiedToken | undefined;
  readonly approvals: readonly ApprovalForReport[];
  readonly matchedPolicies: readonly string[];
  readonly outcome: Outcome;
}

/** What the note and the audit record need from a verified approval. */
export type ApprovalForReport = Pick<VerifiedApproval, 'token' | 'reason' | 'match' | 'latencySeconds'>;

function requestToken(request: VerifiedRequest | VerifiedToken): VerifiedToken {
  return 'evidence' in request ? request.token : request;
}

export function approvalFacts(serverUrl: string | undefined, approval: ApprovalForReport): ApprovalFacts {
  return {
    approver: personOf(approval.token.claims),
    reason: approval.reason,
    job: jobRefOf(serverUrl, approval.token.claims),
    at: fromIat(approval.token.claims),
    via: describeMatch(approval.match),
    latencySeconds: approval.latencySeconds,
  };
}

export function buildReportState(input: StateInput): ReportState {
  const c = input.own.claims;
  const request = input.request ? requestToken(input.request) : undefined;
  return {
    component: input.component,
    pipelineId: c.pipeline_id ?? 'unknown',
    ...(c.project_path ? { projectPath: c.project_path } : {}),
    ...(c.ref ? { ref: c.ref } : {}),
    ...(c.sha ? { commitSha: c.sha } : {}),
    ...(input.requested ? { requested: input.requested } : {}),
    ...(input.accessFileDigest ? { accessFileDigest: input.accessFileDigest } : {}),
    ...(input.step
      ? {
          step: {
            name: input.step.name,
            minApprovals: input.step.minApprovals,
            validForSeconds: input.step.validForSeconds,
            timeoutSeconds: input.step.timeoutSeconds,
          },
        }
      : {}),
    ...(request
      ? { request: { requester: personOf(request.claims), job: jobRefOf(input.serverUrl, request.claims), at: fromIat(request.claims) } }
      : {}),
    approvals: input.approvals.map((a) => approvalFacts(input.serverUrl, a)),
    matchedPolicies: input.matchedPolicies,
    outcome: input.outcome,
  };
}
