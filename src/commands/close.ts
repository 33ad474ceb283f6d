/**
 * `close`: the pipeline's last job for a component (`when: always`). Ends what
 * can be ended (a Vault token's revoke-self), names what cannot with its
 * expiry (AWS STS sessions, Google and Entra tokens), records when each grant
 * ended in `<out-dir>/closed.json`, the metrics and the note, and fails with
 * ERR_POLICY_DENIED (exit 3) when a grant or a refresh came after the
 * approval's window or was issued for longer than the file allows: a cap did
 * not hold, which is what that code means (design.md, section 5).
 *
 * It reads the grant job's audit.json and any refreshes-<job>.json handed on
 * as artifacts; its own token (the evidence audience, never a cloud's: this
 * job must not be able to exchange anything) ties them to this pipeline.
 */
import { readdir } from 'node:fs/promises';
import { approvalStepFor } from '../access-file/lookup.ts';
import { isOamError, OamError } from '../errors.ts';
import { gitlabApiOf, reportContextOf, scopeOf, type CommandDeps } from '../approval/deps.ts';
import { type AuditRecord, AUDIT_FILE } from '../report/audit-record.ts';
import { EVIDENCE_AUDIENCE } from '../token/types.ts';
import { allowedLifetimeSeconds, approvalWindowEnd, checkIssuances, type Issuance } from '../lifecycle/close-checks.ts';
import { type CloseResult, closeCredential } from '../lifecycle/close-actions.ts';
import { postClosedSection, renderClosedSection } from '../lifecycle/close-note.ts';
import { renderCloseMetrics } from '../lifecycle/close-metrics.ts';
import { CLOSED_FILE, readRecord, REFRESH_PREFIX, type RefreshRecord, writeRecord } from '../lifecycle/records.ts';
import { verifyJobToken } from './job-token.ts';
import { loadTarget, type Target } from './target.ts';
import { join } from 'node:path';
import { writeOutFile } from '../approval/safe-files.ts';
import { METRICS_FILE } from '../report/metrics.ts';

function invalid(message: string): OamError {
  return new OamError('ERR_APPROVAL_INVALID', message, { hint: 'give the close job `needs:` on this pipeline\'s grant job (artifacts: true) and hand its audit.json on unchanged' });
}

/** The grant job's audit record, checked to be this pipeline's and this component's. */
function parseAudit(value: unknown, target: Target, pipelineId: string): AuditRecord {
  const audit = value as Partial<AuditRecord> | null;
  if (!audit || typeof audit !== 'object' || audit.version !== 1 || !Array.isArray(audit.events)) throw invalid(`${AUDIT_FILE} is not an oam-grant audit record`);
  if (audit.component !== target.component.name) throw invalid(`${AUDIT_FILE} is for component ${JSON.stringify(audit.component)}, not ${target.component.name}`);
  if (audit.pipelineId !== pipelineId) throw invalid(`${AUDIT_FILE} is from pipeline ${JSON.stringify(audit.pipelineId)}, not this pipeline ${pipelineId}`);
  if (audit.outcome === 'granted' && (!audit.grant || !Array.isArray(audit.grant.credentials))) throw invalid(`${AUDIT_FILE} says granted but names no credentials`);
  return audit as AuditRecord;
}

function date(value: unknown, what: string): Date {
  const d = typeof value === 'string' ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(d.getTime())) throw invalid(`${what} is not a time`);
  return d;
}

/** Every refresh record of this pipeline and component handed on to this job. */
async function readRefreshes(deps: CommandDeps, target: Target, pipelineId: string): Promise<RefreshRecord[]> {
  let names: string[];
  try {
    names = (await readdir(deps.options.outDir)).filter((n) => n.startsWith(REFRESH_PREFIX) && n.endsWith('.json')).sort();
  } catch {
    return [];
  }
  const records: RefreshRecord[] = [];
  for (const name of names) {
    const record = (await readRecord(deps.options.outDir, name)) as Partial<RefreshRecord> | undefined;
    if (record?.version !== 1 || !Array.isArray(record.refreshes)) throw invalid(`${name} is not an oam-grant refresh record`);
    if (record.component !== target.component.name || record.pipelineId !== pipelineId) throw invalid(`${name} is from another pipeline or component`);
    records.push(record as RefreshRecord);
  }
  return records;
}

function describeEnd(result: CloseResult, expiresAt: string): string {
  switch (result.ended) {
    case 'revoked':
      return `revoked at ${result.at.toISOString()}`;
    case 'expires':
      return `cannot be revoked (${result.why}); expires at ${expiresAt}`;
    case 'revoke-failed':
      return `NOT revoked (${result.why}); expires at ${expiresAt}`;
  }
}

export async function runClose(deps: CommandDeps): Promise<number> {
  const { log, options } = deps;
  const target = await loadTarget(deps);
  const own = await verifyJobToken(deps, target, options.evidenceTokenVar, EVIDENCE_AUDIENCE);
  const pipelineId = own.claims.pipeline_id ?? '?';
  const closedAt = deps.now();
  const audit = await readRecord(options.outDir, AUDIT_FILE);
  if (audit === undefined) {
    log.warn(`no ${join(options.outDir, AUDIT_FILE)}: the grant job did not run, or its artifacts were not handed on; nothing to close`);
    await writeRecord(options.outDir, CLOSED_FILE, { version: 1, component: target.component.name, pipelineId, closedAt: closedAt.toISOString(), outcome: 'nothing-granted' }, 'closing record');
    return 0;
  }
  const record = parseAudit(audit, target, pipelineId);
  if (record.outcome !== 'granted' || !record.grant) {
    log.info(`the grant of ${target.component.name} ended as ${record.outcome}: nothing was issued, nothing to close`);
    await writeRecord(options.outDir, CLOSED_FILE, { version: 1, component: target.component.name, pipelineId, closedAt: closedAt.toISOString(), outcome: record.outcome }, 'closing record');
    return 0;
  }
  const granted = record.events.find((e) => e.event === 'granted');
  const grantedAt = date(granted?.at, `${AUDIT_FILE} granted event`);
  const refreshRecords = await readRefreshes(deps, target, pipelineId);

  // End what can be ended, one credential trait at a time, timing the revocations.
  const started = deps.now().getTime();
  const ended = await log.section('revoke', async () => {
    const results = [];
    for (const [i, credential] of record.grant!.credentials.entries()) {
      const trait = target.grants[i]?.trait;
      if (!trait || trait.type !== credential.provider) throw invalid(`${AUDIT_FILE} credential ${i + 1} is ${credential.provider}, but the file's trait ${i + 1} is ${trait?.type ?? 'absent'}`);
      const result = await closeCredential({ trait, env: deps.env, now: deps.now });
      const text = describeEnd(result, credential.expiresAt);
      (result.ended === 'revoke-failed' ? log.warn : log.info).call(log, `${trait.type} ${credential.identity}: ${text}`);
      results.push({ credential, result, text });
    }
    return results;
  });
  const revokeMs = deps.now().getTime() - started;
  // Every refreshed credential is still alive until it expires: none of them can be revoked (credentials serves aws-sts only).
  for (const r of refreshRecords) for (const e of r.refreshes) log.info(`refresh in job ${r.jobId}: ${e.identity} cannot be revoked; expires at ${e.expiresAt}`);

  const issuances: Issuance[] = [
    ...record.grant.credentials.map((c) => ({ what: 'the grant', provider: c.provider, identity: c.identity, at: grantedAt, expiresAt: date(c.expiresAt, `${AUDIT_FILE} expiresAt`) })),
    ...refreshRecords.flatMap((r) =>
      r.refreshes.map((e) => ({ what: `a refresh in job ${r.jobId}`, provider: 'aws-sts', identity: e.identity, at: date(e.at, 'refresh at'), expiresAt: date(e.expiresAt, 'refresh expiresAt') })),
    ),
  ];
  // The window's rules come from the reviewed file, as the lifetimes below do; the audit record is an
  // artifact any earlier job could rewrite, so only the approval times are taken from it.
  const step = approvalStepFor(target.file, target.component);
  const windowEnd = approvalWindowEnd(
    step
      ? { minApprovals: step.minApprovals, validForSeconds: step.validForSeconds, approvedAt: record.events.filter((e) => e.event === 'approved').map((e) => date(e.at, 'approval at')) }
      : undefined,
  );
  const violations = checkIssuances(issuances, windowEnd, (provider) => {
    const trait = target.grants.find((g) => g.trait.type === provider)?.trait;
    return trait ? allowedLifetimeSeconds(target.file, target.component, trait) : undefined;
  });
  for (const v of violations) log.warn(`VIOLATION: ${v.message}`);

  const refreshCount = refreshRecords.reduce((n, r) => n + r.refreshes.length, 0);
  const lastExpiry = new Date(Math.max(...issuances.map((i) => i.expiresAt.getTime())));
  const closing = {
    version: 1,
    component: target.component.name,
    pipelineId,
    outcome: violations.length > 0 ? 'violated' : 'closed',
    closedAt: closedAt.toISOString(),
    grantedAt: grantedAt.toISOString(),
    ...(windowEnd ? { approvalWindowEndsAt: windowEnd.toISOString() } : {}),
    refreshes: refreshCount,
    // The last moment any credential of this grant works, revoked or not.
    lastExpiresAt: lastExpiry.toISOString(),
    credentials: ended.map(({ credential, result }) => ({
      provider: credential.provider,
      identity: credential.identity,
      ...(credential.sessionName ? { sessionName: credential.sessionName } : {}),
      expiresAt: credential.expiresAt,
      ended: result.ended,
      endedAt: result.ended === 'revoked' ? result.at.toISOString() : credential.expiresAt,
      ...(result.ended !== 'revoked' ? { why: result.why } : {}),
    })),
    violations: violations.map((v) => v.message),
    timings: { ...(record.timings.approvalLatencySeconds !== undefined ? { approvalLatencySeconds: record.timings.approvalLatencySeconds } : {}), revokeDurationMs: revokeMs },
  };
  await writeRecord(options.outDir, CLOSED_FILE, closing, 'closing record');
  await writeOutFile(
    options.outDir,
    join(options.outDir, METRICS_FILE),
    renderCloseMetrics({ component: target.component.name, approvalLatencySeconds: record.timings.approvalLatencySeconds, revokeSeconds: revokeMs / 1000, refreshes: refreshCount, violations: violations.length, secondsUntilLastExpiry: Math.max(0, Math.round((lastExpiry.getTime() - closedAt.getTime()) / 1000)) }),
    'metrics report',
  );

  const api = gitlabApiOf(deps, target.file.gitlab);
  const context = reportContextOf(deps, api, scopeOf(deps, own.claims));
  if (api) {
    const section = renderClosedSection({ closedAt, refreshes: refreshCount, lines: ended.map(({ credential, text }) => ({ credential: `${credential.provider} ${credential.identity}`, ended: text })), violations: violations.map((v) => v.message) });
    try {
      const where = await postClosedSection({ api, pipelineId, component: target.component.name, projectId: context.projectId, mergeRequest: context.mergeRequest, commitSha: context.commitSha, section });
      if (where) log.info(`added the closed event to the audit note on ${where}`);
      else log.warn('no audit note of this pipeline to add the closed event to; closed.json stands for it');
    } catch (error) {
      log.warn(`could not add the closed event to the audit note: ${isOamError(error) || error instanceof Error ? error.message : 'unknown error'}`);
    }
  } else {
    log.warn('no OAM_GITLAB_TOKEN: the closed event is in closed.json and this log only');
  }
  if (violations.length > 0) {
    throw new OamError('ERR_POLICY_DENIED', `${violations.length} issuance${violations.length === 1 ? '' : 's'} of ${target.component.name} broke the approval window or the file's duration: ${violations[0]!.message}`, {
      hint: 'see closed.json and the log above; rotate what was issued if it should not exist, and find out how it was issued outside the gate',
    });
  }
  log.success(`closed ${target.component.name}: ${ended.length} credential${ended.length === 1 ? '' : 's'}, ${refreshCount} refresh${refreshCount === 1 ? '' : 'es'}; the last expires at ${lastExpiry.toISOString()}`);
  return 0;
}
