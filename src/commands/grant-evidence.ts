/**
 * The grant's seams to the approval gate and the audit trail.
 */
import { OamError } from '../errors.ts';
import type { Decision } from '../policy/evaluate.ts';
import type { IssuedCredentials } from '../providers/types.ts';
import type { VerifiedToken } from '../token/types.ts';
import type { Deps } from './deps.ts';
import type { Target } from './target.ts';

export type ApprovalSummary = unknown;

export async function checkApprovalsForGrant(_deps: Deps, target: Target, _token: VerifiedToken): Promise<ApprovalSummary> {
  const step = target.file.steps.find((s) => s.component === target.component.name);
  if (!step) return undefined;
  throw new OamError('ERR_APPROVAL_MISSING', `workflow step ${step.name} requires approval for ${target.component.name}`, {
    hint: 'run the approve job before the grant job',
  });
}

export interface GrantReport {
  target: Target;
  token: VerifiedToken;
  decision: Decision;
  credentials: IssuedCredentials;
  approvals: ApprovalSummary;
  exchangeMs: number;
}

export async function reportGrant(_deps: Deps, _report: GrantReport): Promise<void> {}
