import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readApprovalEvidence, readRequestEvidence, writeApprovalEvidence, writeRequestEvidence } from '../../src/approval/evidence.ts';

/** A fresh workspace (the job's directory) and its out-dir, as the functions take them. */
function fresh(): { root: string; dir: string } {
  const root = mkdtempSync(join(tmpdir(), 'oam-evidence-'));
  return { root, dir: join(root, '.oam-grant') };
}
const request = {
  version: 1,
  kind: 'request',
  component: 'c',
  token: 'x.y.z',
  requested: { component: 'c', credentials: [{ provider: 'aws-sts', identity: 'arn:aws:iam::1:role/r', durationSeconds: 900, scopeDigest: 'd', scopeSummary: 's' }], durationSeconds: 900, scopeDigest: 'd', scopeSummary: 's' },
  accessFileDigest: 'd',
  createdAt: '2026-01-01T00:00:00Z',
} as const;
const approval = {
  version: 1,
  kind: 'approval',
  component: 'c',
  step: 's',
  token: 'x.y.z',
  reason: 'OPS-1',
  reasonSource: { kind: 'comment', noteId: 120, location: { kind: 'merge-request', projectId: '1217', iid: '7' }, createdAt: '2026-01-01T00:00:00Z' },
  createdAt: '2026-01-01T00:00:00Z',
} as const;

describe('evidence files', () => {
  it('round-trips an approval, atomically written and ordered by job id', async () => {
    const { root, dir } = fresh();
    await writeApprovalEvidence(dir, '1000', approval, root);
    await writeApprovalEvidence(dir, '999', { ...approval, reason: 'OPS-2' }, root);
    const read = await readApprovalEvidence(dir, root);
    assert.deepEqual(read.map((r) => [r.path, r.evidence.reason]), [
      [join(dir, 'approvals/999.json'), 'OPS-2'],
      [join(dir, 'approvals/1000.json'), 'OPS-1'],
    ]);
    assert.equal(statSync(join(dir, 'approvals/999.json')).mode & 0o777, 0o644);
  });

  it('reads no request as undefined and no approvals as none', async () => {
    const { root, dir } = fresh();
    assert.equal(await readRequestEvidence(dir, root), undefined);
    assert.deepEqual(await readApprovalEvidence(dir, root), []);
  });

  const invalid: [string, (dir: string) => void, string][] = [
    ['malformed JSON', (d) => writeFileSync(join(d, 'request.json'), '{'), 'request.json: is not valid JSON'],
    ['an unknown version', (d) => writeFileSync(join(d, 'request.json'), '{"version":2}'), 'request.json: version 2 is not supported (expected 1)'],
    ['a wrong kind', (d) => writeFileSync(join(d, 'request.json'), JSON.stringify({ ...approval })), 'request.json: kind "approval" is not "request"'],
    ['an oversized file', (d) => writeFileSync(join(d, 'request.json'), ' '.repeat(70_000)), 'request.json: is 70000 bytes, more than the 65536 allowed'],
    ['a symlink', (d) => { writeFileSync(join(d, 'elsewhere'), '{}'); symlinkSync(join(d, 'elsewhere'), join(d, 'request.json')); }, 'request.json: is a symbolic link'],
  ];
  for (const [name, plant, message] of invalid) {
    it(`refuses ${name}`, async () => {
      const { root, dir } = fresh();
      mkdirSync(dir, { recursive: true });
      plant(dir);
      await assert.rejects(readRequestEvidence(dir, root), { code: 'ERR_APPROVAL_INVALID', message: join(dir, message) });
    });
  }

  it('round-trips every reason source', async () => {
    const sources = [
      approval.reasonSource,
      { kind: 'comment', noteId: 7, location: { kind: 'commit', projectId: '1217', sha: 'a'.repeat(40), discussionId: 'b'.repeat(40) }, createdAt: '2026-01-01T00:00:00Z' },
      { kind: 'variable', variable: 'OAM_APPROVAL_REASON' },
      { kind: 'none' },
    ] as const;
    for (const [i, reasonSource] of sources.entries()) {
      const { root, dir } = fresh();
      await writeApprovalEvidence(dir, String(i + 1), { ...approval, reasonSource }, root);
      assert.deepEqual((await readApprovalEvidence(dir, root))[0]?.evidence.reasonSource, reasonSource);
    }
  });

  const badSources: [string, unknown, string][] = [
    ['no reason source', undefined, 'field reasonSource is missing or not an object'],
    ['an unknown kind', { kind: 'ticket' }, 'field reasonSource.kind "ticket" is not comment, variable or none'],
    ['a note id that is not one', { ...approval.reasonSource, noteId: '120' }, 'field reasonSource.noteId is not a note id'],
    ['a malformed iid', { ...approval.reasonSource, location: { kind: 'merge-request', projectId: '1217', iid: '7/../9' } }, 'field reasonSource.location.iid "7/../9" is malformed'],
    ['a project path instead of an id', { ...approval.reasonSource, location: { kind: 'merge-request', projectId: 'acme/payments', iid: '7' } }, 'field reasonSource.location.projectId "acme/payments" is malformed'],
    ['a commit without a discussion', { ...approval.reasonSource, location: { kind: 'commit', projectId: '1217', sha: 'a'.repeat(40) } }, 'field reasonSource.location.discussionId is missing'],
    ['an unknown location', { ...approval.reasonSource, location: { kind: 'issue', projectId: '1217', iid: '7' } }, 'field reasonSource.location.kind "issue" is not merge-request or commit'],
  ];
  for (const [name, reasonSource, message] of badSources) {
    it(`refuses an approval with ${name}`, async () => {
      const { root, dir } = fresh();
      mkdirSync(join(dir, 'approvals'), { recursive: true });
      writeFileSync(join(dir, 'approvals/5.json'), JSON.stringify({ ...approval, reasonSource }));
      await assert.rejects(readApprovalEvidence(dir, root), { code: 'ERR_APPROVAL_INVALID', message: `${join(dir, 'approvals/5.json')}: ${message}` });
    });
  }

  it('refuses a file in approvals/ that no approve job wrote', async () => {
    const { root, dir } = fresh();
    await writeApprovalEvidence(dir, '5', approval, root);
    writeFileSync(join(dir, 'approvals/extra.json'), readFileSync(join(dir, 'approvals/5.json')));
    await assert.rejects(readApprovalEvidence(dir, root), { code: 'ERR_APPROVAL_INVALID', message: `${join(dir, 'approvals/extra.json')}: is not named <job_id>.json` });
  });

  it('refuses an approvals directory that is a symlink', async () => {
    const { root, dir } = fresh();
    mkdirSync(dir, { recursive: true });
    const elsewhere = mkdtempSync(join(tmpdir(), 'oam-elsewhere-'));
    symlinkSync(elsewhere, join(dir, 'approvals'));
    await assert.rejects(readApprovalEvidence(dir, root), { code: 'ERR_APPROVAL_INVALID', message: `${join(dir, 'approvals')}: is a symbolic link` });
  });

  // Regressions: these escaped as plain errors and printed error[INTERNAL] ... this is a bug.
  it('refuses an out-dir that is a symlink, for reading and for writing', async () => {
    const root = mkdtempSync(join(tmpdir(), 'oam-evidence-'));
    const elsewhere = mkdtempSync(join(tmpdir(), 'oam-elsewhere-'));
    mkdirSync(join(elsewhere, 'approvals'));
    const dir = join(root, '.oam-grant');
    symlinkSync(elsewhere, dir);
    const message = `${dir}: is a symbolic link`;
    await assert.rejects(readRequestEvidence(dir, root), { code: 'ERR_APPROVAL_INVALID', message });
    await assert.rejects(readApprovalEvidence(dir, root), { code: 'ERR_APPROVAL_INVALID', message });
    await assert.rejects(writeApprovalEvidence(dir, '901', approval, root), {
      code: 'ERR_EXPORT_FAILED',
      message: `cannot write the approval evidence ${join(dir, 'approvals/901.json')}: ${dir}: is a symbolic link`,
    });
    await assert.rejects(writeRequestEvidence(dir, request, root), {
      code: 'ERR_EXPORT_FAILED',
      message: `cannot write the request evidence ${join(dir, 'request.json')}: ${dir}: is a symbolic link`,
    });
  });

  it('refuses an out-dir that is a regular file, naming it', async () => {
    const { root, dir } = fresh();
    writeFileSync(dir, 'not a directory');
    await assert.rejects(readRequestEvidence(dir, root), { code: 'ERR_APPROVAL_INVALID', message: `${dir}: is not a directory` });
    await assert.rejects(readApprovalEvidence(dir, root), { code: 'ERR_APPROVAL_INVALID', message: `${dir}: is not a directory` });
    await assert.rejects(writeApprovalEvidence(dir, '901', approval, root), {
      code: 'ERR_EXPORT_FAILED',
      message: `cannot write the approval evidence ${join(dir, 'approvals/901.json')}: ${dir}: is not a directory`,
    });
  });

  it('refuses a request.json that is a directory', async () => {
    const { root, dir } = fresh();
    mkdirSync(join(dir, 'request.json'), { recursive: true });
    await assert.rejects(readRequestEvidence(dir, root), { code: 'ERR_APPROVAL_INVALID', message: `${join(dir, 'request.json')}: is a directory, not a regular file` });
  });
});
