/**
 * ReportState from verified facts: the request evidence, the approvals and
 * the reporting job's own token. Only signed claims name people, jobs and
 * times; the reason is the one unsigned value, and it was checked.
 */
import type { ApprovalStep } from '../access-file/model.ts';
import { describeMatch } from '../approval/checks.ts';
import { approveCommandFor, type CommentPlace } from '../approval/reason-comment.ts';
import type { VerifiedApproval } from '../approval/verify-for-grant.ts';
import type { VerifiedRequest } from '../approval/verify-request.ts';
import type { RequestedAccess } from '../providers/requested-access.ts';
import type { VerifiedToken } from '../token/types.ts';
import {
  type AccessChanges,
  type ApprovalFacts,
  type ApproveInstruction,
  fromIat,
  jobRefOf,
  type Outcome,
  personOf,
  pipelineUrlFor,
  type ReportState,
} from './report-state.ts';

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
  /** Where approvers write their reason (request and approve jobs): the note then says what to write. */
  readonly commentPlace?: CommentPlace;
  readonly accessChanges?: AccessChanges;
}

/** What the note and the audit record need from a verified approval. */
export type ApprovalForReport = Pick<VerifiedApproval, 'token' | 'reason' | 'reasonSource' | 'match' | 'latencySeconds'>;

function requestToken(request: VerifiedRequest | VerifiedToken): VerifiedToken {
  return 'evidence' in request ? request.token : request;
}

export function approvalFacts(serverUrl: string | undefined, approval: ApprovalForReport): ApprovalFacts {
  return {
    approver: personOf(approval.token.claims),
    reason: approval.reason,
    reasonSource: approval.reasonSource,
    job: jobRefOf(serverUrl, approval.token.claims),
    at: fromIat(approval.token.claims),
    via: describeMatch(approval.match),
    latencySeconds: approval.latencySeconds,
  };
}

function instructionFor(input: StateInput): ApproveInstruction | undefined {
  const { step, commentPlace } = input;
  if (!step || !commentPlace) return undefined;
  const url = pipelineUrlFor(input.serverUrl, input.own.claims);
  return {
    command: approveCommandFor(step.component),
    reasonRequired: step.requireReason,
    ...(step.reasonPattern !== undefined ? { reasonPattern: step.reasonPattern } : {}),
    place: commentPlace.kind,
    variableAccepted: step.acceptReasonVariable,
    pipeline: { id: input.own.claims.pipeline_id ?? 'unknown', ...(url ? { url } : {}) },
  };
}

export function buildReportState(input: StateInput): ReportState {
  const instruction = instructionFor(input);
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
    ...(instruction ? { instruction } : {}),
    matchedPolicies: input.matchedPolicies,
    outcome: input.outcome,
    ...(input.accessChanges && input.accessChanges.changes.length > 0 ? { accessChanges: input.accessChanges } : {}),
  };
}
