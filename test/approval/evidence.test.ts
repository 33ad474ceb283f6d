import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  parseApprovalEvidence,
  parseRequestEvidence,
  readApprovalEvidence,
  readRequestEvidence,
  writeApprovalEvidence,
  writeRequestEvidence,
} from '../../src/approval/evidence.ts';

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

  it('refuses a job id that is not one before making a path of it (no ../ into the out-dir)', async () => {
    const { root, dir } = fresh();
    for (const jobId of ['../../etc/5', '5/../6', 'x5', '5x', '', '1'.repeat(21)]) {
      await assert.rejects(writeApprovalEvidence(dir, jobId, approval, root), {
        code: 'ERR_APPROVAL_INVALID',
        message: `job_id ${JSON.stringify(jobId)} is not a GitLab job id`,
      });
    }
    await writeApprovalEvidence(dir, '1'.repeat(20), approval, root);
    assert.deepEqual((await readApprovalEvidence(dir, root)).map((r) => r.path), [join(dir, 'approvals', `${'1'.repeat(20)}.json`)]);
  });

  it('orders approvals by job id as numbers, also beyond 2^53', async () => {
    const { root, dir } = fresh();
    const ids = ['100', '7', '99999999999999999999', '5', '99999999999999999998', '1000', '64'];
    for (const id of ids) await writeApprovalEvidence(dir, id, approval, root);
    const read = await readApprovalEvidence(dir, root);
    assert.deepEqual(read.map((r) => r.path), ['5', '7', '64', '100', '1000', '99999999999999999998', '99999999999999999999'].map((id) => join(dir, 'approvals', `${id}.json`)));
  });

  it('skips hidden files in approvals/ (an interrupted atomic write), but refuses other names', async () => {
    const { root, dir } = fresh();
    await writeApprovalEvidence(dir, '5', approval, root);
    writeFileSync(join(dir, 'approvals/.6.json.tmp'), 'half a file');
    assert.deepEqual((await readApprovalEvidence(dir, root)).map((r) => r.path), [join(dir, 'approvals/5.json')]);
    for (const name of ['x6.json', '6.json.bak', '6.JSON']) {
      writeFileSync(join(dir, 'approvals', name), JSON.stringify(approval));
      await assert.rejects(readApprovalEvidence(dir, root), { code: 'ERR_APPROVAL_INVALID', message: `${join(dir, 'approvals', name)}: is not named <job_id>.json` });
      rmSync(join(dir, 'approvals', name));
    }
  });

  it('names a file it cannot read, with the errno code and a hint about --out-dir', async () => {
    const { root } = fresh();
    // A path component longer than NAME_MAX: lstat fails with ENAMETOOLONG, an error that is neither "missing" nor unsafe.
    const dir = join(root, 'x'.repeat(300));
    await assert.rejects(readRequestEvidence(dir, root), {
      code: 'ERR_APPROVAL_INVALID',
      message: `${join(dir, 'request.json')}: cannot be read: file system error (ENAMETOOLONG)`,
      hint: 'check that the job can read --out-dir, where the artifacts of the request and approve jobs are unpacked',
    });
    await assert.rejects(readApprovalEvidence(dir, root), {
      code: 'ERR_APPROVAL_INVALID',
      message: `${join(dir, 'approvals')}: cannot be read: file system error (ENAMETOOLONG)`,
    });
  });
});

describe('evidence format: every field checked, nothing unknown let through', () => {
  const path = '.oam-grant/request.json';
  const credential = request.requested.credentials[0];
  const withCredentials = (credentials: unknown[]) => ({ ...request, requested: { ...request.requested, credentials } });
  const text = (value: unknown) => JSON.stringify(value);

  it('parses a request to exactly what was written, optional fields absent or present', () => {
    assert.deepEqual(parseRequestEvidence(text(request), path), request);
    const { durationSeconds: _d, ...bare } = credential;
    const { durationSeconds: _r, ...requested } = request.requested;
    const minimal = { ...request, requested: { ...requested, credentials: [bare] } };
    const parsed = parseRequestEvidence(text(minimal), path);
    assert.deepEqual(parsed, minimal);
    assert.equal('durationSeconds' in parsed.requested, false);
    assert.equal('durationSeconds' in (parsed.requested.credentials[0] ?? {}), false);
    assert.equal('region' in (parsed.requested.credentials[0] ?? {}), false);
    const regional = withCredentials([{ ...credential, region: 'eu-west-1' }]);
    assert.deepEqual(parseRequestEvidence(text(regional), path), regional);
    // Up to one credential per provider type: five.
    const five = withCredentials(Array.from({ length: 5 }, () => credential));
    assert.equal(parseRequestEvidence(text(five), path).requested.credentials.length, 5);
    const long = { ...request, token: 't'.repeat(16 * 1024) };
    assert.equal(parseRequestEvidence(text(long), path).token.length, 16 * 1024);
  });

  const badRequests: [string, string, string][] = [
    ['null', 'null', 'is not a JSON object'],
    ['a list', '[1]', 'is not a JSON object'],
    ['a string', '"request"', 'is not a JSON object'],
    ['no version', text({ ...request, version: undefined }), 'version undefined is not supported (expected 1)'],
    ['a missing component', text({ ...request, component: undefined }), 'field component is missing or not a string'],
    ['a component that is a number', text({ ...request, component: 5 }), 'field component is missing or not a string'],
    ['an oversized token', text({ ...request, token: 't'.repeat(16 * 1024 + 1) }), 'field token is longer than 16384 characters'],
    ['no requested', text({ ...request, requested: undefined }), 'field requested is missing or not an object'],
    ['requested as a list', text({ ...request, requested: [] }), 'field requested is missing or not an object'],
    ['an unknown field in requested', text({ ...request, requested: { ...request.requested, approved: true } }), 'field requested.approved is not part of the evidence format'],
    ['credentials that are not a list', text(withCredentials(undefined as unknown as unknown[])), 'field requested.credentials is not a list of 1 to 5 credentials'],
    ['credentials as an object', text({ ...request, requested: { ...request.requested, credentials: { 0: credential } } }), 'field requested.credentials is not a list of 1 to 5 credentials'],
    ['no credentials', text(withCredentials([])), 'field requested.credentials is not a list of 1 to 5 credentials'],
    ['six credentials', text(withCredentials(Array.from({ length: 6 }, () => credential))), 'field requested.credentials is not a list of 1 to 5 credentials'],
    ['a credential that is a string', text(withCredentials([credential, 'aws-sts'])), 'field requested.credentials[1] is not an object'],
    ['a credential that is null', text(withCredentials([null])), 'field requested.credentials[0] is not an object'],
    ['an unknown field in a credential', text(withCredentials([{ ...credential, sessionPolicy: '{}' }])), 'field requested.credentials[0].sessionPolicy is not part of the evidence format'],
    ['an unknown provider', text(withCredentials([{ ...credential, provider: 'aws' }])), 'field requested.credentials[0].provider "aws" is not supported'],
    ['a provider that is not a string', text(withCredentials([{ ...credential, provider: 5 }])), 'field requested.credentials[0].provider 5 is not supported'],
    ['a region that is not a string', text(withCredentials([{ ...credential, region: 5 }])), 'field requested.credentials[0].region is not a string'],
    ['a fractional duration', text(withCredentials([{ ...credential, durationSeconds: 900.5 }])), 'field durationSeconds is not an integer'],
    ['a duration as a string', text({ ...request, requested: { ...request.requested, durationSeconds: '900' } }), 'field durationSeconds is not an integer'],
    ['a credential without identity', text(withCredentials([{ ...credential, identity: undefined }])), 'field identity is missing or not a string'],
  ];
  for (const [name, given, message] of badRequests) {
    it(`refuses a request with ${name}`, () => {
      assert.throws(() => parseRequestEvidence(given, path), {
        code: 'ERR_APPROVAL_INVALID',
        message: `${path}: ${message}`,
        hint: 'evidence files are written by the request and approve jobs only; rerun the pipeline instead of editing them',
      });
    });
  }

  const approvalPath = '.oam-grant/approvals/5.json';
  it('parses an approval to exactly what was written', () => {
    assert.deepEqual(parseApprovalEvidence(text(approval), approvalPath), approval);
    const sha256 = { kind: 'comment', noteId: 1, location: { kind: 'commit', projectId: '12345678901234567890', sha: 'c'.repeat(64), discussionId: 'D'.repeat(64) }, createdAt: 'now' };
    assert.deepEqual(parseApprovalEvidence(text({ ...approval, reasonSource: sha256 }), approvalPath).reasonSource, sha256);
    const mr = { ...approval.reasonSource, location: { kind: 'merge-request', projectId: '1217', iid: '123456789012' } };
    assert.deepEqual(parseApprovalEvidence(text({ ...approval, reasonSource: mr }), approvalPath).reasonSource, mr);
  });

  const location = (overrides: Record<string, unknown>) => ({ ...approval.reasonSource, location: { kind: 'commit', projectId: '1217', sha: 'a'.repeat(40), discussionId: 'abc', ...overrides } });
  const badApprovals: [string, unknown, string][] = [
    ['a request in its place', { ...request }, 'kind "request" is not "approval"'],
    ['a note id of zero', { ...approval.reasonSource, noteId: 0 }, 'field reasonSource.noteId is not a note id'],
    ['a negative note id', { ...approval.reasonSource, noteId: -120 }, 'field reasonSource.noteId is not a note id'],
    ['a fractional note id', { ...approval.reasonSource, noteId: 1.5 }, 'field reasonSource.noteId is not a note id'],
    ['a location that is not an object', { ...approval.reasonSource, location: 'mr!7' }, 'field reasonSource.location is missing or not an object'],
    ['a project id with a path after it', location({ projectId: '1217/../9' }), 'field reasonSource.location.projectId "1217/../9" is malformed'],
    ['a project id with a path before it', location({ projectId: '../1217' }), 'field reasonSource.location.projectId "../1217" is malformed'],
    ['a sha with a suffix', location({ sha: `${'a'.repeat(40)}/x` }), `field reasonSource.location.sha "${'a'.repeat(40)}/x" is malformed`],
    ['a sha with a prefix', location({ sha: `x/${'a'.repeat(40)}` }), `field reasonSource.location.sha "x/${'a'.repeat(40)}" is malformed`],
    ['a sha of 50 digits', location({ sha: 'a'.repeat(50) }), `field reasonSource.location.sha "${'a'.repeat(50)}" is malformed`],
    ['a discussion id with a suffix', location({ discussionId: 'abc/../x' }), 'field reasonSource.location.discussionId "abc/../x" is malformed'],
    ['a discussion id with a prefix', location({ discussionId: '../abc' }), 'field reasonSource.location.discussionId "../abc" is malformed'],
    // Untrusted text is shown in part only: 80 characters of it.
    ['a long malformed iid', { ...approval.reasonSource, location: { kind: 'merge-request', projectId: '1217', iid: 'i'.repeat(200) } }, `field reasonSource.location.iid "${'i'.repeat(79)} is malformed`],
    ['a variable name of 129 characters', { kind: 'variable', variable: 'V'.repeat(129) }, 'field variable is longer than 128 characters'],
  ];
  for (const [name, reasonSource, message] of badApprovals) {
    it(`refuses an approval with ${name}`, () => {
      const given = name === 'a request in its place' ? reasonSource : { ...approval, reasonSource };
      assert.throws(() => parseApprovalEvidence(text(given), approvalPath), { code: 'ERR_APPROVAL_INVALID', message: `${approvalPath}: ${message}` });
    });
  }
});
