/**
 * A GitLab metrics report (`artifacts:reports:metrics`, OpenMetrics text):
 * approval latency, approvals counted, exchange time and credential lifetime,
 * so the MR widget shows how long the gate took.
 */
import { join } from 'node:path';
import { writeOutFile } from '../approval/safe-files.ts';
import { approvalLatency } from './audit-record.ts';
import type { ReportState } from './report-state.ts';

export const METRICS_FILE = 'metrics.txt';

/** OpenMetrics label values escape backslash, double quote and newline. */
function labelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function renderMetrics(state: ReportState): string {
  const providers = state.requested?.credentials.map((c) => c.provider).join(',');
  const labels = `{component="${labelValue(state.component)}"${providers ? `,providers="${labelValue(providers)}"` : ''}}`;
  const lines: string[] = [];
  const gauge = (name: string, help: string, value: number | undefined): void => {
    if (value === undefined || !Number.isFinite(value)) return;
    lines.push(`# TYPE ${name} gauge`, `# HELP ${name} ${help}`, `${name}${labels} ${value}`);
  };
  gauge('oam_grant_approval_latency_seconds', 'Seconds from the request to the approval that completed the quorum.', approvalLatency(state));
  gauge('oam_grant_approvals', 'Valid approvals from distinct people.', state.step ? state.approvals.length : undefined);
  const o = state.outcome;
  if (o.kind === 'granted') {
    gauge('oam_grant_exchange_duration_seconds', 'Seconds the credential exchange took.', o.exchangeMs / 1000);
    gauge('oam_grant_credential_lifetime_seconds', 'Seconds the credentials stay valid after the grant.', Math.round((o.expiresAt.getTime() - o.at.getTime()) / 1000));
  }
  gauge('oam_grant_granted', '1 when credentials were issued, 0 otherwise.', o.kind === 'granted' ? 1 : o.kind === 'denied' ? 0 : undefined);
  lines.push('# EOF');
  return `${lines.join('\n')}\n`;
}

/** Write `<outDir>/metrics.txt`; returns its path. */
export async function writeMetrics(outDir: string, state: ReportState, root: string = process.cwd()): Promise<string> {
  const path = join(outDir, METRICS_FILE);
  await writeOutFile(outDir, path, renderMetrics(state), 'metrics report', root);
  return path;
}
