/**
 * request (automatic job): verify this job's `oam-grant` token and the access
 * file, evaluate the component's conditions, write the request evidence and
 * open the merge request note. Nothing here touches a cloud.
 */
import { checkComponentAudience } from '../approval/checks.ts';
import { approvalStepFor } from '../access-file/lookup.ts';
import type { CommandDeps } from '../approval/deps.ts';
import { gitlabApiOf, reportContextOf, scopeOf } from '../approval/deps.ts';
import { writeRequestEvidence } from '../approval/evidence.ts';
import { commentPlaceOf } from '../approval/lookups.ts';
import { EVIDENCE_AUDIENCE } from '../token/types.ts';
import { verifyJobToken } from './job-token.ts';
import { isOamError } from '../errors.ts';
import { assertAllowed, evaluatePolicies } from '../policy/evaluate.ts';
import { describeRequestedAccess } from '../providers/requested-access.ts';
import { buildReportState } from '../report/build-state.ts';
import { formatDuration } from '../report/format.ts';
import { fromIat, jobRefOf, personOf } from '../report/report-state.ts';
import { pipelineVariablesNotices } from '../report/pipeline-variables.ts';
import { jobProjectOf } from '../token/claims.ts';
import { reportEvent } from '../report/report-event.ts';
import type { VerifiedToken } from '../token/types.ts';
import { loadTarget } from './target.ts';
import { guardNarrowing } from '../narrowing/guard.ts';
import type { AccessChanges } from '../report/report-state.ts';

export async function runRequest(deps: CommandDeps): Promise<number> {
  const { options, log } = deps;
  const target = await loadTarget(deps);
  const own: VerifiedToken = await verifyJobToken(deps, target, options.evidenceTokenVar, EVIDENCE_AUDIENCE);
  // Evidence the grant would refuse is refused here, where the cause is plain.
  checkComponentAudience(own.claims, target.component.name, options.evidenceTokenVar);
  const step = approvalStepFor(target.file, target.component);
  const requested = describeRequestedAccess(target.component, target.traits);
  const api = gitlabApiOf(deps, target.file.gitlab);
  const scope = scopeOf(deps, own.claims);
  const commentPlace = commentPlaceOf(scope);
  const notices = await pipelineVariablesNotices(api, jobProjectOf(own.claims), log, options.debug);
  const report = { ...reportContextOf(deps, api, scope), notices };
  const base = {
    component: target.component.name,
    own,
    serverUrl: target.file.gitlab.url,
    requested,
    accessFileDigest: target.file.digest,
    step,
    request: own,
    approvals: [],
    ...(commentPlace ? { commentPlace } : {}),
  };

  let matched: string[] = [];
  let accessChanges: AccessChanges | undefined;
  try {
    await log.section('conditions', () => {
      const decision = evaluatePolicies(target.file, target.component, target.traits, own.claims, { checkComponentEnvironment: false });
      for (const r of decision.results) log.info(`${r.ok ? 'pass' : 'FAIL'} ${r.name}`);
      assertAllowed(decision, target.file);
      matched = decision.results.map((r) => r.name);
    });
    const narrowing = await guardNarrowing(deps, target, own.claims);
    accessChanges = { defaultBranch: narrowing.defaultBranch, changes: narrowing.changes, ...(narrowing.allowedBy !== undefined ? { allowedBy: narrowing.allowedBy } : {}) };
  } catch (error) {
    if (isOamError(error) && error.exitCode === 3) {
      const state = buildReportState({
        ...base,
        matchedPolicies: matched,
        outcome: { kind: 'denied', code: error.code, message: error.message, stage: 'request', actor: personOf(own.claims), job: jobRefOf(target.file.gitlab.url, own.claims), at: deps.now() },
      });
      await reportEvent({ ...report, state, required: false }).catch((reportError: unknown) => {
        log.warn(`could not record the denial: ${reportError instanceof Error ? reportError.message : 'unknown error'}`);
      });
    }
    throw error;
  }

  const path = await log.section('request evidence', async () => {
    const written = await writeRequestEvidence(options.outDir, {
      version: 1,
      kind: 'request',
      component: target.component.name,
      token: own.raw,
      requested,
      accessFileDigest: target.file.digest,
      createdAt: fromIat(own.claims).toISOString(),
    });
    const lifetime = requested.durationSeconds !== undefined ? ` for ${formatDuration(requested.durationSeconds)}` : '';
    log.info(`${written}: ${requested.credentials.map((c) => c.identity).join(', ')}${lifetime}, scope ${requested.scopeSummary} (digest ${requested.scopeDigest.slice(0, 12)})`);
    return written;
  });

  const state = buildReportState({ ...base, matchedPolicies: matched, outcome: { kind: 'requested' }, ...(accessChanges ? { accessChanges } : {}) });
  await reportEvent({ ...report, state, required: false });
  const waiting = step
    ? `waiting for ${step.minApprovals} approval${step.minApprovals === 1 ? '' : 's'} (step ${step.name}, within ${formatDuration(step.timeoutSeconds)})`
    : 'no approval needed';
  log.success(`requested ${target.component.name} as ${own.claims.user_login ?? '?'}: ${path}; ${waiting}`);
  return 0;
}
