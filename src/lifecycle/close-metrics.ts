/**
 * The close job's metrics report (OpenMetrics text, `artifacts:reports:metrics`):
 * how long revoking took next to how long approving took, so the MR widget
 * shows both ends of a grant.
 */
export interface CloseMetricsInput {
  readonly component: string;
  readonly approvalLatencySeconds: number | undefined;
  readonly revokeSeconds: number;
  readonly refreshes: number;
  readonly violations: number;
  readonly secondsUntilLastExpiry: number;
}

function labelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function renderCloseMetrics(input: CloseMetricsInput): string {
  const labels = `{component="${labelValue(input.component)}"}`;
  const lines: string[] = [];
  const gauge = (name: string, help: string, value: number | undefined): void => {
    if (value === undefined || !Number.isFinite(value)) return;
    lines.push(`# TYPE ${name} gauge`, `# HELP ${name} ${help}`, `${name}${labels} ${value}`);
  };
  gauge('oam_grant_approval_latency_seconds', 'Seconds from the request to the approval that completed the quorum.', input.approvalLatencySeconds);
  gauge('oam_grant_revoke_duration_seconds', 'Seconds the close job took to revoke what could be revoked.', input.revokeSeconds);
  gauge('oam_grant_refreshes', 'Credentials issued again by oam-grant credentials after the grant.', input.refreshes);
  gauge('oam_grant_unrevoked_seconds', 'Seconds after closing until the last credential of the grant expires.', input.secondsUntilLastExpiry);
  gauge('oam_grant_close_violations', 'Issuances after the approval window or longer than the file allows.', input.violations);
  lines.push('# EOF');
  return `${lines.join('\n')}\n`;
}
