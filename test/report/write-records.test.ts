/**
 * The audit record and the metrics report on disk: written atomically below
 * the out-dir, and every failure is ERR_EXPORT_FAILED naming the file (a
 * regression: a symlinked out-dir used to surface as error[INTERNAL]).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildAuditRecord, writeAuditRecord } from '../../src/report/audit-record.ts';
import { writeMetrics } from '../../src/report/metrics.ts';
import type { ReportState } from '../../src/report/report-state.ts';

const state: ReportState = {
  component: 'deploy-prod',
  pipelineId: '1002',
  approvals: [],
  matchedPolicies: [],
  outcome: { kind: 'requested' },
};
const now = new Date('2026-01-01T10:00:00Z');

describe('writing the audit record and metrics', () => {
  it('writes both below the out-dir', async () => {
    const root = mkdtempSync(join(tmpdir(), 'oam-records-'));
    const dir = join(root, '.oam-grant');
    const audit = await writeAuditRecord(dir, buildAuditRecord(state, now), root);
    assert.equal(JSON.parse(readFileSync(audit, 'utf8')).component, 'deploy-prod');
    assert.match(readFileSync(await writeMetrics(dir, state, root), 'utf8'), /# EOF\n$/);
  });

  it('refuses a symlinked out-dir with ERR_EXPORT_FAILED', async () => {
    const root = mkdtempSync(join(tmpdir(), 'oam-records-'));
    const dir = join(root, '.oam-grant');
    symlinkSync(mkdtempSync(join(tmpdir(), 'oam-elsewhere-')), dir);
    await assert.rejects(writeAuditRecord(dir, buildAuditRecord(state, now), root), {
      code: 'ERR_EXPORT_FAILED',
      message: `cannot write the audit record ${join(dir, 'audit.json')}: ${dir}: is a symbolic link`,
    });
    await assert.rejects(writeMetrics(dir, state, root), {
      code: 'ERR_EXPORT_FAILED',
      message: `cannot write the metrics report ${join(dir, 'metrics.txt')}: ${dir}: is a symbolic link`,
    });
  });

  it('refuses an out-dir that is a regular file with ERR_EXPORT_FAILED', async () => {
    const root = mkdtempSync(join(tmpdir(), 'oam-records-'));
    const dir = join(root, '.oam-grant');
    writeFileSync(dir, 'a file, not a directory');
    await assert.rejects(writeAuditRecord(dir, buildAuditRecord(state, now), root), (error: Error & { code?: string; hint?: string }) => {
      assert.equal(error.code, 'ERR_EXPORT_FAILED');
      assert.equal(error.message, `cannot write the audit record ${join(dir, 'audit.json')}: ${dir}: is not a directory`);
      assert.match(error.hint ?? '', /--out-dir/);
      return true;
    });
  });
});
