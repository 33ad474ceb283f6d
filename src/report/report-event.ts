/**
 * One reporting step for every job: post (or log) the note, then write the
 * audit record and the metrics report. Returns the publish result so grant
 * can stop before the dotenv when a required note failed (publishReport
 * throws in that case, before any file is written).
 */
import type { MergeRequestRef } from '../approval/merge-requests.ts';
import type { GitlabApi } from '../lib/gitlab-api.ts';
import type { Logger } from '../lib/log.ts';
import { buildAuditRecord, writeAuditRecord } from './audit-record.ts';
import { writeMetrics } from './metrics.ts';
import { type PublishResult, publishReport } from './publish.ts';
import type { ReportState } from './report-state.ts';

export interface ReportEventInput {
  readonly state: ReportState;
  readonly api: GitlabApi | undefined;
  readonly projectId: string | undefined;
  readonly mergeRequest: MergeRequestRef | undefined;
  readonly commitSha: string | undefined;
  readonly required: boolean;
  /** Warnings for the note (request: the project's pipeline-variable setting). */
  readonly notices?: readonly string[];
  readonly outDir: string;
  readonly log: Logger;
  readonly now: () => Date;
}

export interface ReportEventResult {
  readonly publish: PublishResult;
  readonly auditPath: string;
  readonly metricsPath: string;
}

export async function reportEvent(input: ReportEventInput): Promise<ReportEventResult> {
  const { log } = input;
  return log.section('audit trail', async () => {
    const publish = await publishReport(input);
    const auditPath = await writeAuditRecord(input.outDir, buildAuditRecord(input.state, input.now()));
    const metricsPath = await writeMetrics(input.outDir, input.state);
    log.info(`audit record ${auditPath}, metrics ${metricsPath}`);
    return { publish, auditPath, metricsPath };
  });
}
