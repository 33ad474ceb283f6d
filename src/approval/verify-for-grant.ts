/**
 * The grant job's gate: re-verify the request and every approval from the
 * evidence alone, trusting no unsigned field. Times come from signed `iat`
 * claims; people are told apart by `user_id`; each evidence token is bound to
 * this project, pipeline and commit.
 */
import { basename } from 'node:path';
import type { AccessFile, ApprovalStep, Component, CredentialTrait } from '../access-file/model.ts';
import { OamError } from '../errors.ts';
import { formatDuration } from '../report/format.ts';
import type { TokenVerifier, VerifiedToken } from '../token/types.ts';
import {
  type ApproverMatch,
  checkBinding,
  checkComponentAudience,
  checkEligibility,
  checkSeparation,
  checkTimeout,
  checkValidFor,
  verifyEvidenceToken,
} from './checks.ts';
import { type ApprovalEvidence, type Located, readApprovalEvidence } from './evidence.ts';
import type { ApprovalLookups } from './lookups.ts';
import { verifyRecordedReason } from './reason.ts';
import type { ReasonSource } from './reason-comment.ts';
import { type VerifiedRequest, verifyRequest } from './verify-request.ts';

export interface VerifiedApproval {
  readonly path: string;
  readonly evidence: ApprovalEvidence;
  readonly token: VerifiedToken;
  /** Re-checked against requireReason and reasonPattern; a comment's read again through the API (see docs/approval.md). */
  readonly reason: string;
  readonly reasonSource: ReasonSource;
  readonly match: ApproverMatch;
  /** Approval `iat` minus request `iat`, in seconds. */
  readonly latencySeconds: number;
}

/** An approval that was valid once but ran out (timeout or validFor): not counted. */
export interface ExpiredApproval {
  readonly path: string;
  readonly message: string;
}

export interface ApprovalOutcome {
  /** False when the component has no jit-approval step: nothing else was read. */
  readonly required: boolean;
  readonly step: ApprovalStep | undefined;
  readonly request: VerifiedRequest | undefined;
  /** The counted approvals: valid, one per person, in job order. */
  readonly approvals: readonly VerifiedApproval[];
  readonly expired: readonly ExpiredApproval[];
}

export interface VerifyApprovalsInput {
  readonly file: AccessFile;
  readonly component: Component;
  readonly traits: readonly CredentialTrait[];
  readonly step: ApprovalStep | undefined;
  /** The grant job's own verified token: the bindings are checked against it. */
  readonly own: VerifiedToken;
  readonly outDir: string;
  readonly verifier: TokenVerifier;
  readonly lookups: ApprovalLookups;
  readonly now: () => Date;
}

function personKey(token: VerifiedToken): string {
  const { user_id, user_login } = token.claims;
  return user_id ? `id:${user_id}` : `login:${(user_login ?? '').toLowerCase()}`;
}

interface ApprovalCheckContext {
  readonly step: ApprovalStep;
  readonly component: Component;
  readonly own: VerifiedToken;
  readonly request: VerifiedRequest;
  readonly verifier: TokenVerifier;
  readonly lookups: ApprovalLookups;
}

/** Every check of one approval except its age, which the caller weighs separately. */
async function verifyApproval(context: ApprovalCheckContext, located: Located<ApprovalEvidence>): Promise<VerifiedApproval> {
  const { step, component, own, request, verifier, lookups } = context;
  const { path, evidence } = located;
  const token = await verifyEvidenceToken(verifier, evidence.token, path);
  checkBinding(token.claims, own.claims, path);
  checkComponentAudience(token.claims, component.name, path);
  if (evidence.component !== component.name || evidence.step !== step.name) {
    throw new OamError(
      'ERR_APPROVAL_INVALID',
      `${path}: approves step ${evidence.step} of component ${evidence.component}, not step ${step.name} of ${component.name}`,
      { hint: 'give each component its own --out-dir' },
    );
  }
  const jobId = token.claims.job_id;
  // readApprovalEvidence reads only files named `<digits>.json`.
  const fileJobId = basename(path, '.json');
  if (!jobId || jobId !== fileJobId) {
    throw new OamError('ERR_APPROVAL_INVALID', `${path}: the token's job_id ${jobId ?? 'is absent and'} does not match the file name`, {
      hint: 'evidence files are written by the approve job only; rerun it instead of copying files',
    });
  }
  if (jobId === request.token.claims.job_id || jobId === own.claims.job_id) {
    throw new OamError('ERR_APPROVAL_INVALID', `${path}: job ${jobId} cannot both request (or grant) and approve`, {
      hint: 'approvals come from the manual approve job',
    });
  }
  if (token.claims.iat < request.token.claims.iat) {
    throw new OamError('ERR_APPROVAL_INVALID', `${path}: the approval (iat ${token.claims.iat}) precedes the request (iat ${request.token.claims.iat})`, {
      hint: 'an approval counts only for a request made before it: run the approve job again',
    });
  }
  await checkSeparation(step, token.claims, { requester: request.token.claims }, lookups, path);
  const match = await checkEligibility(step, token.claims, lookups, path);
  const reason = await verifyRecordedReason({
    step,
    approver: token.claims,
    requestIat: request.token.claims.iat,
    reason: evidence.reason,
    source: evidence.reasonSource,
    lookups,
    path,
  });
  return { path, evidence, token, reason, reasonSource: evidence.reasonSource, match, latencySeconds: token.claims.iat - request.token.claims.iat };
}

/** What the grant had verified when it refused: the note and audit record show it next to the denial. */
export interface PartialOutcome {
  readonly step: ApprovalStep;
  readonly request: VerifiedRequest | undefined;
  readonly approvals: readonly VerifiedApproval[];
}

// Keyed by the thrown error, so the grant command (which only sees the error) can report what was verified.
const partialOutcomes = new WeakMap<object, PartialOutcome>();

/** The request and approvals verified before `error` was thrown by {@link verifyApprovalsForGrant}, if any. */
export function partialOutcomeOf(error: unknown): PartialOutcome | undefined {
  return error !== null && typeof error === 'object' ? partialOutcomes.get(error) : undefined;
}

/**
 * Verify the request and approvals for `component`. Resolves when the step is
 * satisfied (or there is none); throws the precise ERR_APPROVAL_* otherwise,
 * and {@link partialOutcomeOf} the error tells what had been verified by then.
 *
 * @example
 * const outcome = await verifyApprovalsForGrant({ file, component, traits, step: approvalStepFor(file, component), own, outDir, verifier, lookups, now });
 */
export async function verifyApprovalsForGrant(input: VerifyApprovalsInput): Promise<ApprovalOutcome> {
  const { step, component } = input;
  if (!step) return { required: false, step: undefined, request: undefined, approvals: [], expired: [] };
  let request: VerifiedRequest | undefined;
  const counted: VerifiedApproval[] = [];
  try {
    request = await verifyRequest(input, input.own, input.outDir, input.verifier);
    const nowSeconds = Math.floor(input.now().getTime() / 1000);
    const context: ApprovalCheckContext = { ...input, step, request };
    const expired: ExpiredApproval[] = [];
    const people = new Set<string>();
    for (const located of await readApprovalEvidence(input.outDir)) {
      const approval = await verifyApproval(context, located);
      try {
        checkTimeout(step, request.token.claims.iat, approval.token.claims.iat, approval.path);
        checkValidFor(step, approval.token.claims.iat, nowSeconds, approval.path);
      } catch (error) {
        if (error instanceof OamError && error.code === 'ERR_APPROVAL_EXPIRED') {
          expired.push({ path: approval.path, message: error.message });
          continue;
        }
        throw error;
      }
      const person = personKey(approval.token);
      if (people.has(person)) continue;
      people.add(person);
      counted.push(approval);
    }
    if (counted.length < step.minApprovals) {
      const have = `${counted.length} of ${step.minApprovals} approval${step.minApprovals === 1 ? '' : 's'} from distinct people`;
      if (expired.length > 0) {
        throw new OamError('ERR_APPROVAL_EXPIRED', `step ${step.name} of ${component.name}: ${have}; ${expired[0]?.message}`, {
          hint: `approvals are valid for ${formatDuration(step.validForSeconds)} and must come within ${formatDuration(step.timeoutSeconds)} of the request: run the approve job again, then the grant job`,
        });
      }
      throw new OamError('ERR_APPROVAL_MISSING', `step ${step.name} of ${component.name}: ${have}`, {
        hint:
          counted.length === 0
            ? 'an approver must press Run on the approve job of this pipeline before the grant job runs'
            : 'another eligible person must press Run on the approve job (the same person counts once)',
      });
    }
    return { required: true, step, request, approvals: counted, expired };
  } catch (error) {
    if (error !== null && typeof error === 'object') partialOutcomes.set(error, { step, request, approvals: [...counted] });
    throw error;
  }
}

export interface VisibleApprovalsInput {
  readonly step: ApprovalStep;
  readonly component: Component;
  /** The reporting (approve) job's own token: bindings are checked against it. */
  readonly own: VerifiedToken;
  readonly request: VerifiedRequest;
  readonly outDir: string;
  readonly verifier: TokenVerifier;
  readonly lookups: ApprovalLookups;
  readonly now: () => Date;
}

export interface VisibleApprovals {
  /** Valid, unexpired approvals of other approve jobs, one per person, in job order. */
  readonly approvals: readonly VerifiedApproval[];
  /** Files that were not counted, and why. */
  readonly skipped: readonly ExpiredApproval[];
}

/**
 * The other approvals an approve job can see in its out-dir, checked as the
 * grant would check them; the job's own file is left out (the caller adds
 * its own approval). Unlike the grant, a bad file is skipped, not fatal: this
 * is only for the note, and the grant job re-checks everything.
 */
export async function verifyVisibleApprovals(input: VisibleApprovalsInput): Promise<VisibleApprovals> {
  const { step, request } = input;
  const nowSeconds = Math.floor(input.now().getTime() / 1000);
  const context: ApprovalCheckContext = { ...input };
  const approvals: VerifiedApproval[] = [];
  const skipped: ExpiredApproval[] = [];
  let located: Located<ApprovalEvidence>[];
  try {
    located = await readApprovalEvidence(input.outDir);
  } catch (error) {
    if (!(error instanceof OamError)) throw error;
    return { approvals, skipped: [{ path: input.outDir, message: error.message }] };
  }
  const people = new Set<string>([personKey(input.own)]);
  for (const file of located) {
    if (basename(file.path) === `${input.own.claims.job_id ?? ''}.json`) continue;
    try {
      const approval = await verifyApproval(context, file);
      checkTimeout(step, request.token.claims.iat, approval.token.claims.iat, approval.path);
      checkValidFor(step, approval.token.claims.iat, nowSeconds, approval.path);
      const person = personKey(approval.token);
      if (people.has(person)) continue;
      people.add(person);
      approvals.push(approval);
    } catch (error) {
      if (!(error instanceof OamError)) throw error;
      skipped.push({ path: file.path, message: error.message });
    }
  }
  return { approvals, skipped };
}
