/**
 * The audit record `<out-dir>/audit.json`: every event of the request with
 * time, actor, decision and reason, the matched policies and the timings.
 * Built from the ReportState only, which holds no token and no credential,
 * so a secret cannot end up here by accident.
 */
import { join } from 'node:path';
import { describeReasonSource, type ReasonSource } from '../approval/reason-comment.ts';
import { writeOutFile } from '../approval/safe-files.ts';
import type { ErrorCode } from '../errors.ts';
import type { Person, ReportState } from './report-state.ts';

export const AUDIT_FILE = 'audit.json';

export interface AuditEvent {
  readonly event: 'requested' | 'approved' | 'denied' | 'granted';
  readonly at: string;
  readonly actor: Person;
  readonly decision: 'allow' | 'deny';
  readonly jobId: string;
  readonly jobUrl?: string;
  readonly reason?: string;
  /** Where the reason came from, in words: the approver's comment, or "reason from a pipeline variable (unsigned)". */
  readonly reasonFrom?: string;
  /** The same, as data: the comment's id and where it lives. */
  readonly reasonSource?: ReasonSource;
  readonly via?: string;
  readonly code?: ErrorCode;
  readonly message?: string;
  readonly latencySeconds?: number;
  readonly expiresAt?: string;
}

export interface AuditRecord {
  readonly version: 1;
  readonly generatedAt: string;
  readonly outcome: ReportState['outcome']['kind'];
  readonly component: string;
  readonly projectPath?: string;
  readonly pipelineId: string;
  readonly ref?: string;
  readonly commitSha?: string;
  readonly accessFileDigest?: string;
  readonly requested?: ReportState['requested'];
  readonly step?: ReportState['step'];
  readonly matchedPolicies: readonly string[];
  readonly events: readonly AuditEvent[];
  readonly timings: {
    /** Request to the approval that completed the quorum, from signed `iat` claims. */
    readonly approvalLatencySeconds?: number;
    readonly exchangeDurationMs?: number;
  };
  readonly grant?: {
    readonly credentials: readonly { readonly provider: string; readonly identity: string; readonly sessionName?: string; readonly expiresAt: string }[];
    /** The earliest expiry. */
    readonly expiresAt: string;
    readonly scopeDigest?: string;
  };
}

/** Seconds from the request to the approval that made the quorum (or the last one, short of it). */
export function approvalLatency(state: ReportState): number | undefined {
  if (state.approvals.length === 0) return undefined;
  const sorted = state.approvals.map((a) => a.latencySeconds).sort((a, b) => a - b);
  const needed = Math.max(1, Math.min(state.step?.minApprovals ?? 1, sorted.length));
  return sorted[needed - 1];
}

export function buildAuditRecord(state: ReportState, now: Date): AuditRecord {
  const events: AuditEvent[] = [];
  if (state.request) {
    const { requester, job, at } = state.request;
    events.push({ event: 'requested', at: at.toISOString(), actor: requester, decision: 'allow', jobId: job.id, ...(job.url ? { jobUrl: job.url } : {}) });
  }
  for (const a of state.approvals) {
    events.push({
      event: 'approved',
      at: a.at.toISOString(),
      actor: a.approver,
      decision: 'allow',
      jobId: a.job.id,
      ...(a.job.url ? { jobUrl: a.job.url } : {}),
      reason: a.reason,
      ...(a.reasonSource ? { reasonFrom: describeReasonSource(a.reasonSource), reasonSource: a.reasonSource } : {}),
      via: a.via,
      latencySeconds: a.latencySeconds,
    });
  }
  const o = state.outcome;
  if (o.kind === 'denied') {
    events.push({
      event: 'denied',
      at: o.at.toISOString(),
      actor: o.actor,
      decision: 'deny',
      jobId: o.job.id,
      ...(o.job.url ? { jobUrl: o.job.url } : {}),
      code: o.code,
      message: o.message,
    });
  }
  if (o.kind === 'granted') {
    events.push({
      event: 'granted',
      at: o.at.toISOString(),
      actor: o.actor,
      decision: 'allow',
      jobId: o.job.id,
      ...(o.job.url ? { jobUrl: o.job.url } : {}),
      expiresAt: o.expiresAt.toISOString(),
    });
  }
  const latency = approvalLatency(state);
  return {
    version: 1,
    generatedAt: now.toISOString(),
    outcome: o.kind,
    component: state.component,
    ...(state.projectPath ? { projectPath: state.projectPath } : {}),
    pipelineId: state.pipelineId,
    ...(state.ref ? { ref: state.ref } : {}),
    ...(state.commitSha ? { commitSha: state.commitSha } : {}),
    ...(state.accessFileDigest ? { accessFileDigest: state.accessFileDigest } : {}),
    ...(state.requested ? { requested: state.requested } : {}),
    ...(state.step ? { step: state.step } : {}),
    matchedPolicies: state.matchedPolicies,
    events,
    timings: {
      ...(latency !== undefined ? { approvalLatencySeconds: latency } : {}),
      ...(o.kind === 'granted' ? { exchangeDurationMs: o.exchangeMs } : {}),
    },
    ...(o.kind === 'granted'
      ? {
          grant: {
            credentials: o.credentials.map((c) => ({
              provider: c.provider,
              identity: c.identity,
              ...(c.sessionName ? { sessionName: c.sessionName } : {}),
              expiresAt: c.expiresAt.toISOString(),
            })),
            expiresAt: o.expiresAt.toISOString(),
            ...(state.requested ? { scopeDigest: state.requested.scopeDigest } : {}),
          },
        }
      : {}),
  };
}

/** Write `<outDir>/audit.json` atomically; returns its path. */
export async function writeAuditRecord(outDir: string, record: AuditRecord, root: string = process.cwd()): Promise<string> {
  const path = join(outDir, AUDIT_FILE);
  await writeOutFile(outDir, path, `${JSON.stringify(record, null, 2)}\n`, 'audit record', root);
  return path;
}
