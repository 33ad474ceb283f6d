/**
 * The merge request note, rendered from a ReportState by a pure function.
 * One note per pipeline and component, found again by its hidden marker.
 * Every value that a person could influence is escaped; tokens and
 * credentials are not part of the state, so they cannot reach the note.
 */
import { VARIABLE_REASON_LABEL } from '../approval/reason-comment.ts';
import { codeOrEscaped, codeSpanOrEscaped, escapeMarkdown, escapeMarkerValue } from './escape.ts';
import { formatDuration, formatTime } from './format.ts';
import type { ApprovalFacts, JobRef, Person, ReportState } from './report-state.ts';

/** Hidden first line that identifies the note of one pipeline and component. */
export function noteMarker(pipelineId: string, component: string): string {
  return `<!-- oam-grant:v1 pipeline=${escapeMarkerValue(pipelineId)} component=${escapeMarkerValue(component)} -->`;
}

/** Whether a note body is ours for this pipeline and component: the marker must open it. */
export function isNoteFor(body: string, pipelineId: string, component: string): boolean {
  return body.startsWith(noteMarker(pipelineId, component));
}

const e = (text: string): string => escapeMarkdown(text);

function person(p: Person): string {
  return e(p.login);
}

function job(ref: JobRef): string {
  const label = `job ${e(ref.id)}`;
  return ref.url ? `[${label}](${ref.url})` : label;
}

function headline(state: ReportState): string {
  const name = e(state.component);
  const needed = state.step?.minApprovals ?? 0;
  const have = state.approvals.length;
  switch (state.outcome.kind) {
    case 'requested':
      return needed > 0 ? `⏳ **${name}**: access requested, waiting for approval (${have} of ${needed})` : `⏳ **${name}**: access requested`;
    case 'approved':
      return have >= needed
        ? `✅ **${name}**: approved (${have} of ${needed}), waiting for the grant job`
        : `⏳ **${name}**: approved ${have} of ${needed}, waiting for more approvals`;
    case 'denied':
      return `⛔ **${name}**: denied at ${state.outcome.stage} (${e(state.outcome.code)})`;
    case 'granted':
      return `🔑 **${name}**: granted until ${formatTime(state.outcome.expiresAt)}`;
  }
}

/** The reason and where it came from: a variable's is labelled unsigned. */
function reasonCell(a: ApprovalFacts): string {
  if (a.reason === '') return '—';
  const source = a.reasonSource;
  if (source?.kind === 'variable') return `${e(a.reason)} · ${VARIABLE_REASON_LABEL}`;
  if (source?.kind === 'comment') return `${e(a.reason)} · comment ${source.noteId}`;
  return e(a.reason);
}

function approvalRow(a: ApprovalFacts): string {
  const reason = reasonCell(a);
  return `| ${person(a.approver)} | ${e(a.via)} | ${reason} | ${job(a.job)} | ${formatTime(a.at)} | ${formatDuration(a.latencySeconds)} |`;
}

/** Longest warning shown in the note (they are oam-grant's own sentences). */
const MAX_NOTICE_LENGTH = 1000;
/** While approvals are awaited: exactly what an approver writes, and where, and then which job to run. */
function instructionLines(state: ReportState): string[] {
  const i = state.instruction;
  const o = state.outcome;
  const waiting =
    o.kind === 'requested' ||
    (o.kind === 'approved' && state.approvals.length < (state.step?.minApprovals ?? 0)) ||
    (o.kind === 'denied' && o.stage === 'approve');
  if (!i || !waiting) return [];
  const where = i.place === 'merge-request' ? 'on this merge request' : 'on this commit';
  const pipeline = i.pipeline.url ? `[pipeline ${e(i.pipeline.id)}](${i.pipeline.url})` : `pipeline ${e(i.pipeline.id)}`;
  const command = codeSpanOrEscaped(`${i.command} ${i.reasonPattern !== undefined ? `<reason matching ${i.reasonPattern}>` : '<reason>'}`);
  const run = `press Run on the approve job of ${pipeline}`;
  const line = i.reasonRequired
    ? `**To approve:** comment ${command} ${where} yourself (as a line of its own), then ${run}.`
    : `**To approve:** ${run}. To give a reason, first comment ${command} ${where} yourself.`;
  const fallback = i.variableAccepted ? ' Only where you wrote no such comment does a Run-form variable `OAM_APPROVAL_REASON` count, marked unsigned.' : '';
  return ['', `${line}${fallback}`];
}

/**
 * The whole note body for this state, with the job's warnings (e.g. about
 * the project's pipeline-variable setting) under the headline.
 *
 * @example renderNote(state).startsWith(noteMarker(state.pipelineId, state.component)) // true
 */
export function renderNote(state: ReportState, notices: readonly string[] = []): string {
  const lines: string[] = [noteMarker(state.pipelineId, state.component), `### oam-grant · ${headline(state)}`, ''];
  for (const notice of notices) lines.push(`> ⚠️ **Warning**: ${escapeMarkdown(notice, MAX_NOTICE_LENGTH)}`, '');
  lines.push('| | |', '|---|---|');
  lines.push(`| Component | ${e(state.component)} |`);
  const r = state.requested;
  if (r) {
    const several = r.credentials.length > 1;
    for (const c of r.credentials) {
      // One AWS role reads as before; several credentials are told apart by provider.
      const label = several ? e(c.provider) : c.provider === 'aws-sts' ? 'Role' : 'Identity';
      const where = c.region ? ` (${codeOrEscaped(c.region)})` : '';
      const scope = several ? ` · ${e(c.scopeSummary)}${c.durationSeconds !== undefined ? ` · ${formatDuration(c.durationSeconds)}` : ''}` : '';
      lines.push(`| ${label} | ${codeOrEscaped(c.identity)}${where}${scope} |`);
    }
    lines.push(`| Scope | ${e(r.scopeSummary)} · digest ${codeOrEscaped(r.scopeDigest.slice(0, 12))} |`);
    const expiry = state.outcome.kind === 'granted' ? `expires ${formatTime(state.outcome.expiresAt)}` : '';
    const duration = r.durationSeconds !== undefined ? formatDuration(r.durationSeconds) : '';
    if (duration || expiry) lines.push(`| Duration | ${[duration, expiry].filter(Boolean).join(', ')} |`);
  }
  const where = [
    `pipeline ${e(state.pipelineId)}`,
    ...(state.ref ? [`ref ${e(state.ref)}`] : []),
    ...(state.commitSha ? [`commit ${codeOrEscaped(state.commitSha.slice(0, 12))}`] : []),
  ];
  lines.push(`| Where | ${where.join(' · ')} |`);
  if (state.request) {
    lines.push(`| Requested by | ${person(state.request.requester)} in ${job(state.request.job)} at ${formatTime(state.request.at)} |`);
  }
  if (state.step) {
    lines.push(
      `| Approvals | ${state.approvals.length} of ${state.step.minApprovals} (step ${e(state.step.name)}; within ${formatDuration(state.step.timeoutSeconds)} of the request, valid for ${formatDuration(state.step.validForSeconds)}) |`,
    );
  } else {
    lines.push('| Approvals | none required |');
  }
  if (state.matchedPolicies.length > 0) lines.push(`| Policies | ${state.matchedPolicies.map(e).join(', ')} |`);
  const o = state.outcome;
  if (o.kind === 'granted') {
    lines.push(`| Granted | by ${job(o.job)} at ${formatTime(o.at)}, exchange took ${o.exchangeMs} ms |`);
    const sessions = o.credentials.map((c) => c.sessionName).filter((name) => name !== '');
    if (sessions.length > 0) lines.push(`| Session | ${sessions.map(codeOrEscaped).join(', ')} |`);
  }
  if (o.kind === 'denied') {
    lines.push(`| Denied | ${person(o.actor)} in ${job(o.job)} at ${formatTime(o.at)}: ${e(o.message)} |`);
  }
  lines.push(...renderAccessChanges(state));
  lines.push(...instructionLines(state));
  if (state.approvals.length > 0) {
    lines.push('', '| Approver | Eligible as | Reason | Job | Approved at | Latency |', '|---|---|---|---|---|---|');
    for (const a of state.approvals) lines.push(approvalRow(a));
  }
  lines.push(
    '',
    "<sub>Edited by each oam-grant job of this pipeline. A reason is quoted from the approver's own comment (its author and text re-checked through the API), unless marked as from a pipeline variable: that one is unsigned and may have been set by someone else. No credentials are shown here; this note is the audit trail, and every job log has the same summary.</sub>",
  );
  return `${lines.join('\n')}\n`;
}

/** Most differences listed in a note; the rest are counted. */
const MAX_CHANGE_ROWS = 30;

/**
 * How the branch's access file differs from the default branch's, for the
 * approver to read before pressing Run: one row per change, wider ones first.
 * Values come from a file anyone with push access may have written: escaped.
 */
export function renderAccessChanges(state: ReportState): string[] {
  const diff = state.accessChanges;
  if (!diff || diff.changes.length === 0) return [];
  const base = e(diff.defaultBranch);
  const widening = diff.changes.filter((c) => c.widens);
  const ordered = [...widening, ...diff.changes.filter((c) => !c.widens)];
  const allowed = diff.allowedBy !== undefined ? ` — wider, allowed on this ref by ${base}'s allowWideningFrom ${codeOrEscaped(diff.allowedBy)}` : '';
  const lines = ['', `**Access differs from ${base}'s file** (${widening.length} wider, ${diff.changes.length - widening.length} narrower or neutral)${allowed}`, ''];
  lines.push(`| | Changes | What | ${base} | This ref |`, '|---|---|---|---|---|');
  for (const c of ordered.slice(0, MAX_CHANGE_ROWS)) {
    lines.push(`| ${c.widens ? '⚠️ wider' : 'narrower'} | ${e(c.category)} | ${e(c.subject)} | ${e(c.old)} | ${e(c.new)} |`);
  }
  if (ordered.length > MAX_CHANGE_ROWS) lines.push(`| | | … and ${ordered.length - MAX_CHANGE_ROWS} more (see the request job's log) | | |`);
  return lines;
}

/** A plain-text summary for the job log when no note can be posted. */
export function renderSummary(state: ReportState): string {
  const lines: string[] = [`oam-grant ${state.component}, pipeline ${state.pipelineId}: ${state.outcome.kind}`];
  const r = state.requested;
  if (r) {
    const duration = r.durationSeconds !== undefined ? `, ${formatDuration(r.durationSeconds)}` : '';
    lines.push(`  ${r.credentials.map((c) => (c.provider === 'aws-sts' ? `role ${c.identity}` : `${c.provider} ${c.identity}`)).join(', ')}${duration}, scope ${r.scopeSummary} (digest ${r.scopeDigest.slice(0, 12)})`);
  }
  if (state.request) lines.push(`  requested by ${state.request.requester.login} in job ${state.request.job.id} at ${formatTime(state.request.at)}`);
  for (const a of state.approvals) {
    const label = a.reasonSource?.kind === 'variable' ? ` (${VARIABLE_REASON_LABEL})` : a.reasonSource?.kind === 'comment' ? ` (comment ${a.reasonSource.noteId})` : '';
    lines.push(`  approved by ${a.approver.login} (${a.via}) in job ${a.job.id} at ${formatTime(a.at)}${a.reason ? `: ${JSON.stringify(a.reason)}${label}` : ''}`);
  }
  const o = state.outcome;
  if (o.kind === 'granted') lines.push(`  granted until ${formatTime(o.expiresAt)} by job ${o.job.id}`);
  if (o.kind === 'denied') lines.push(`  denied by job ${o.job.id} (${o.code}): ${o.message}`);
  return lines.join('\n');
}
