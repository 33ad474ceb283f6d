/**
 * The grant job's reporting: after the exchange and before the dotenv, post
 * the note (a required audit stops the grant here with ERR_REPORT_FAILED),
 * then write the audit record and the metrics; on a denial, record it.
 */
import { approvalStepFor, isAuditRequired } from '../access-file/lookup.ts';
import type { ComponentTarget } from '../access-file/model.ts';
import type { CommandDeps } from '../approval/deps.ts';
import { gitlabApiOf, reportContextOf, scopeOf } from '../approval/deps.ts';
import { type ApprovalOutcome, partialOutcomeOf } from '../approval/verify-for-grant.ts';
import { isOamError } from '../errors.ts';
import type { Decision } from '../policy/evaluate.ts';
import { describeRequestedAccess } from '../providers/requested-access.ts';
import type { VerifiedToken } from '../token/types.ts';
import { buildReportState } from './build-state.ts';
import { pipelineVariablesNotices } from './pipeline-variables.ts';
import { jobProjectOf } from '../token/claims.ts';
import { type GrantedCredential, jobRefOf, personOf } from './report-state.ts';
import { type ReportEventResult, reportEvent } from './report-event.ts';

export interface GrantReportInput {
  readonly target: ComponentTarget;
  readonly token: VerifiedToken;
  readonly decision: Decision | undefined;
  readonly approvals: ApprovalOutcome | undefined;
  readonly credentials: readonly GrantedCredential[];
  readonly exchangeMs: number;
}

/** Where the note goes, with the project's pipeline-variable warning: the note is rewritten at every event and must keep it. */
async function reportContext(deps: CommandDeps, target: ComponentTarget, token: VerifiedToken) {
  const api = gitlabApiOf(deps, target.file.gitlab);
  const notices = await pipelineVariablesNotices(api, jobProjectOf(token.claims), deps.log, deps.options.debug);
  return { ...reportContextOf(deps, api, scopeOf(deps, token.claims)), notices };
}

function matchedPolicies(decision: Decision | undefined): string[] {
  return decision ? decision.results.filter((r) => r.ok).map((r) => r.name) : [];
}

/**
 * Post the "granted" note, then write audit.json and metrics.txt. Throws
 * ERR_REPORT_FAILED when the component's mr-audit trait is required and the
 * note could not be posted: call it before writing the dotenv.
 */
export async function reportGrant(deps: CommandDeps, input: GrantReportInput): Promise<ReportEventResult> {
  const { target, token, approvals, credentials } = input;
  const state = buildReportState({
    component: target.component.name,
    own: token,
    serverUrl: target.file.gitlab.url,
    requested: describeRequestedAccess(target.component, target.traits),
    accessFileDigest: target.file.digest,
    step: approvals?.step,
    request: approvals?.request,
    approvals: approvals?.approvals ?? [],
    matchedPolicies: matchedPolicies(input.decision),
    outcome: {
      kind: 'granted',
      actor: personOf(token.claims),
      job: jobRefOf(target.file.gitlab.url, token.claims),
      at: deps.now(),
      expiresAt: new Date(Math.min(...credentials.map((c) => c.expiresAt.getTime()))),
      credentials,
      exchangeMs: input.exchangeMs,
    },
  });
  return reportEvent({ ...(await reportContext(deps, target, token)), state, required: isAuditRequired(target.component) });
}

/**
 * Record a grant that was refused (exit 3) in the note and the audit record.
 * Best effort: the refusal itself is what the job reports; a failure to
 * record it is a warning.
 */
export async function reportGrantDenied(deps: CommandDeps, target: ComponentTarget, token: VerifiedToken, error: unknown): Promise<void> {
  if (!isOamError(error) || error.exitCode !== 3) return;
  // What had been verified before the refusal: shown next to it, never more than was checked.
  const partial = partialOutcomeOf(error);
  const state = buildReportState({
    component: target.component.name,
    own: token,
    serverUrl: target.file.gitlab.url,
    requested: describeRequestedAccess(target.component, target.traits),
    accessFileDigest: target.file.digest,
    step: approvalStepFor(target.file, target.component),
    request: partial?.request,
    approvals: partial?.approvals ?? [],
    matchedPolicies: [],
    outcome: { kind: 'denied', code: error.code, message: error.message, stage: 'grant', actor: personOf(token.claims), job: jobRefOf(target.file.gitlab.url, token.claims), at: deps.now() },
  });
  try {
    await reportEvent({ ...(await reportContext(deps, target, token)), state, required: false });
  } catch (reportError) {
    deps.log.warn(`could not record the denial: ${reportError instanceof Error ? reportError.message : 'unknown error'}`);
  }
}
