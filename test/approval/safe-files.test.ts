/**
 * The path rules for evidence and records (lib/workspace-path.ts), table
 * driven: a symbolic link at any level from the workspace down, a path that
 * leaves the workspace, and evidence that is not a regular file (FIFO,
 * socket, directory, a link to /dev/null). Every case also checks that
 * nothing was written where the link pointed.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readApprovalEvidence, readRequestEvidence, writeApprovalEvidence, writeRequestEvidence } from '../../src/approval/evidence.ts';
import { checkOutDirWritable, describeFsError, locateOutDir, readSmallFile, UnsafeFileError, writeOutFile } from '../../src/approval/safe-files.ts';
import { buildAuditRecord, writeAuditRecord } from '../../src/report/audit-record.ts';

const OUT = '.oam-grant/deploy';
const request = {
  version: 1,
  kind: 'request',
  component: 'deploy',
  token: 'x.y.z',
  requested: { component: 'deploy', credentials: [{ provider: 'aws-sts', identity: 'arn:aws:iam::1:role/r', durationSeconds: 900, scopeDigest: 'd', scopeSummary: 's' }], durationSeconds: 900, scopeDigest: 'd', scopeSummary: 's' },
  accessFileDigest: 'd',
  createdAt: '2026-01-01T00:00:00Z',
} as const;
const approval = {
  version: 1,
  kind: 'approval',
  component: 'deploy',
  step: 's',
  token: 'x.y.z',
  reason: 'OPS-1',
  reasonSource: { kind: 'variable', variable: 'OAM_APPROVAL_REASON' },
  createdAt: '2026-01-01T00:00:00Z',
} as const;
const requestText = JSON.stringify(request);
const approvalText = JSON.stringify(approval);

/** A workspace, and a folder outside it that holds a complete set of evidence to lure a reader there. */
function world(): { root: string; elsewhere: string } {
  const root = mkdtempSync(join(tmpdir(), 'oam-ws-'));
  const elsewhere = mkdtempSync(join(tmpdir(), 'oam-elsewhere-'));
  mkdirSync(join(elsewhere, 'deploy/approvals'), { recursive: true });
  writeFileSync(join(elsewhere, 'deploy/request.json'), requestText);
  writeFileSync(join(elsewhere, 'deploy/approvals/7.json'), approvalText);
  writeFileSync(join(elsewhere, 'request.json'), requestText);
  return { root, elsewhere };
}

const servers: Server[] = [];
after(() => {
  for (const server of servers) server.close();
});

function listenOn(path: string): Promise<void> {
  const server = createServer();
  servers.push(server);
  return new Promise((resolve) => server.listen(path, resolve));
}

/** Opens every FIFO below `dir` for writing, which unblocks a reader waiting in open(2). */
function releaseFifos(dir: string): void {
  for (const path of [join(dir, 'request.json'), join(dir, 'approvals/7.json')]) {
    try {
      closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // Not a FIFO with a reader: nothing to release.
    }
  }
}

type Plant = (root: string, elsewhere: string) => void | Promise<void>;

describe('reading evidence: links and non-regular files are refused (ERR_APPROVAL_INVALID naming the path)', () => {
  const cases: [string, Plant, 'request' | 'approvals', string][] = [
    ['.oam-grant is a symlink', (r, e) => symlinkSync(e, join(r, '.oam-grant')), 'request', '.oam-grant: is a symbolic link'],
    ['.oam-grant/<component> is a symlink', (r, e) => {
      mkdirSync(join(r, '.oam-grant'));
      symlinkSync(join(e, 'deploy'), join(r, OUT));
    }, 'request', '.oam-grant/deploy: is a symbolic link'],
    ['approvals/ is a symlink', (r, e) => {
      mkdirSync(join(r, OUT), { recursive: true });
      symlinkSync(join(e, 'deploy/approvals'), join(r, OUT, 'approvals'));
    }, 'approvals', '.oam-grant/deploy/approvals: is a symbolic link'],
    ['request.json is a symlink', (r, e) => {
      mkdirSync(join(r, OUT), { recursive: true });
      symlinkSync(join(e, 'request.json'), join(r, OUT, 'request.json'));
    }, 'request', '.oam-grant/deploy/request.json: is a symbolic link'],
    ['request.json is a symlink to /dev/null', (r) => {
      mkdirSync(join(r, OUT), { recursive: true });
      symlinkSync('/dev/null', join(r, OUT, 'request.json'));
    }, 'request', '.oam-grant/deploy/request.json: is a symbolic link'],
    ['request.json is a FIFO (would block the open forever)', (r) => {
      mkdirSync(join(r, OUT), { recursive: true });
      execFileSync('mkfifo', [join(r, OUT, 'request.json')]);
    }, 'request', '.oam-grant/deploy/request.json: is a named pipe (FIFO), not a regular file'],
    ['request.json is a socket', async (r) => {
      mkdirSync(join(r, OUT), { recursive: true });
      await listenOn(join(r, OUT, 'request.json'));
    }, 'request', '.oam-grant/deploy/request.json: is a socket or a device, not a regular file'],
    ['request.json is a directory', (r) => mkdirSync(join(r, OUT, 'request.json'), { recursive: true }), 'request', '.oam-grant/deploy/request.json: is a directory, not a regular file'],
    ['an approval is a FIFO', (r) => {
      mkdirSync(join(r, OUT, 'approvals'), { recursive: true });
      execFileSync('mkfifo', [join(r, OUT, 'approvals/7.json')]);
    }, 'approvals', '.oam-grant/deploy/approvals/7.json: is a named pipe (FIFO), not a regular file'],
    ['approvals is a regular file', (r) => {
      mkdirSync(join(r, OUT), { recursive: true });
      writeFileSync(join(r, OUT, 'approvals'), approvalText);
    }, 'approvals', '.oam-grant/deploy/approvals: is not a directory'],
    ['.oam-grant is a regular file', (r) => writeFileSync(join(r, '.oam-grant'), requestText), 'request', '.oam-grant: is not a directory'],
  ];
  for (const [name, plant, what, message] of cases) {
    it(`refuses when ${name}`, async () => {
      const { root, elsewhere } = world();
      await plant(root, elsewhere);
      const started = Date.now();
      // Should an open ever block on a FIFO again, a writer releases it after a second, and the timing below fails.
      const release = setTimeout(() => releaseFifos(join(root, OUT)), 1_000);
      const read = what === 'request' ? readRequestEvidence(OUT, root) : readApprovalEvidence(OUT, root);
      try {
        await assert.rejects(read, { code: 'ERR_APPROVAL_INVALID', message });
      } finally {
        clearTimeout(release);
      }
      assert.ok(Date.now() - started < 1_000, 'refused at once');
    });
  }

  it('checks from the out-dir down when the user points it outside the workspace (nothing to write there)', async () => {
    const { root, elsewhere } = world();
    const found = await readRequestEvidence(join(elsewhere, 'deploy'), root);
    assert.equal(found?.evidence.component, 'deploy');
    symlinkSync(join(elsewhere, 'deploy'), join(elsewhere, 'linked'));
    await assert.rejects(readRequestEvidence(join(elsewhere, 'linked'), root), { code: 'ERR_APPROVAL_INVALID', message: `${join(elsewhere, 'linked')}: is a symbolic link` });
  });
});

describe('writing records: inside the workspace, no link on the way', () => {
  const writers: [string, (outDir: string, root: string) => Promise<unknown>, string][] = [
    ['request evidence', (o, r) => writeRequestEvidence(o, request, r), 'request.json'],
    ['approval evidence', (o, r) => writeApprovalEvidence(o, '7', approval, r), 'approvals/7.json'],
    ['audit record', (o, r) => writeAuditRecord(o, buildAuditRecord({ component: 'deploy', pipelineId: '1', approvals: [], matchedPolicies: [], outcome: { kind: 'requested' } }, new Date()), r), 'audit.json'],
  ];
  const links: [string, string, Plant, string][] = [
    ['.oam-grant is a symlink', OUT, (r, e) => symlinkSync(e, join(r, '.oam-grant')), '.oam-grant: is a symbolic link'],
    ['.oam-grant/<component> is a symlink', OUT, (r, e) => {
      mkdirSync(join(r, '.oam-grant'));
      symlinkSync(join(e, 'deploy'), join(r, OUT));
    }, '.oam-grant/deploy: is a symbolic link'],
    ['a parent folder of the out-dir is a symlink', 'build/.oam-grant', (r, e) => symlinkSync(e, join(r, 'build')), 'build: is a symbolic link'],
  ];
  for (const [what, write, file] of writers) {
    for (const [name, outDir, plant, reason] of links) {
      it(`${what}: refuses when ${name}, writing nothing there`, async () => {
        const { root, elsewhere } = world();
        await plant(root, elsewhere);
        const before = readdirSync(elsewhere, { recursive: true }).sort();
        await assert.rejects(write(outDir, root), { code: 'ERR_EXPORT_FAILED', message: `cannot write the ${what} ${join(outDir, file)}: ${reason}` });
        assert.deepEqual(readdirSync(elsewhere, { recursive: true }).sort(), before, 'nothing written where the link points');
      });
    }
  }

  it('refuses approvals/ as a symlink when writing an approval', async () => {
    const { root, elsewhere } = world();
    mkdirSync(join(root, OUT), { recursive: true });
    symlinkSync(join(elsewhere, 'deploy/approvals'), join(root, OUT, 'approvals'));
    await assert.rejects(writeApprovalEvidence(OUT, '8', approval, root), {
      code: 'ERR_EXPORT_FAILED',
      message: 'cannot write the approval evidence .oam-grant/deploy/approvals/8.json: .oam-grant/deploy/approvals: is a symbolic link',
    });
    assert.equal(existsSync(join(elsewhere, 'deploy/approvals/8.json')), false);
  });

  const outside: [string, (root: string, elsewhere: string) => string][] = [
    ['.. out of the workspace', () => '../elsewhere/.oam-grant'],
    ['.. hidden in the middle', () => '.oam-grant/../../x'],
    ['an absolute path outside the workspace', (_, e) => join(e, '.oam-grant')],
  ];
  for (const [name, outDir] of outside) {
    it(`refuses ${name} with ERR_USAGE naming --out-dir and OAM_OUT_DIR`, async () => {
      const { root, elsewhere } = world();
      const given = outDir(root, elsewhere);
      const message = `--out-dir (OAM_OUT_DIR) ${given} is outside the job's workspace ${root}`;
      await assert.rejects(writeRequestEvidence(given, request, root), { code: 'ERR_USAGE', message, hint: 'give a path inside the project directory, such as the default .oam-grant' });
      await assert.rejects(checkOutDirWritable(given, root), { code: 'ERR_USAGE', message });
    });
  }

  const accepted: [string, (root: string) => string][] = [
    ['a relative path', () => OUT],
    ['an absolute path inside the workspace', (r) => join(r, OUT)],
    ['a .. that stays inside', () => 'a/../.oam-grant/deploy'],
  ];
  for (const [name, outDir] of accepted) {
    it(`accepts ${name}`, async () => {
      const { root } = world();
      await writeRequestEvidence(outDir(root), request, root);
      assert.equal(existsSync(join(root, OUT, 'request.json')), true);
      assert.equal((await readRequestEvidence(outDir(root), root))?.evidence.kind, 'request');
    });
  }

  it('checkOutDirWritable: refuses a link before anything is exchanged, accepts a missing out-dir', async () => {
    const { root, elsewhere } = world();
    await checkOutDirWritable(OUT, root);
    symlinkSync(elsewhere, join(root, '.oam-grant'));
    await assert.rejects(checkOutDirWritable(OUT, root), {
      code: 'ERR_EXPORT_FAILED',
      message: `cannot write records below --out-dir ${OUT}: .oam-grant: is a symbolic link`,
      hint: `make --out-dir (${OUT}) a writable directory of the job's workspace, with no symbolic link on the way`,
    });
  });
});

describe('reading and writing files below the out-dir', () => {
  it('reads a missing file in an existing out-dir as absent, and creates nothing when reading', async () => {
    const { root } = world();
    assert.equal(await readRequestEvidence(OUT, root), undefined);
    assert.deepEqual(await readApprovalEvidence(OUT, root), []);
    assert.equal(existsSync(join(root, '.oam-grant')), false, 'reading made no directory');
    mkdirSync(join(root, OUT, 'approvals'), { recursive: true });
    assert.equal(await readRequestEvidence(OUT, root), undefined);
  });

  it('reads a file of exactly the size limit, refuses one byte more', async () => {
    const { root } = world();
    const dir = locateOutDir(OUT, root);
    mkdirSync(join(root, OUT), { recursive: true });
    writeFileSync(join(root, OUT, 'ten'), '0123456789');
    assert.equal(await readSmallFile(dir, join(OUT, 'ten'), root, 10), '0123456789');
    await assert.rejects(readSmallFile(dir, join(OUT, 'ten'), root, 9), (error: unknown) => {
      assert.ok(error instanceof UnsafeFileError);
      assert.equal(error.message, '.oam-grant/deploy/ten: is 10 bytes, more than the 9 allowed');
      return true;
    });
  });

  it('closes every file it opens', async (t) => {
    if (!existsSync('/proc/self/fd')) return t.skip('no /proc/self/fd here');
    const { root } = world();
    mkdirSync(join(root, OUT), { recursive: true });
    writeFileSync(join(root, OUT, 'request.json'), requestText);
    mkdirSync(join(root, OUT, 'approvals/9.json'), { recursive: true });
    const dir = locateOutDir(OUT, root);
    const before = readdirSync('/proc/self/fd').length;
    for (let i = 0; i < 40; i++) {
      await readSmallFile(dir, join(OUT, 'request.json'), root);
      await readSmallFile(dir, join(OUT, 'approvals/9.json'), root).catch(() => undefined);
    }
    assert.ok(readdirSync('/proc/self/fd').length - before < 10, 'no descriptor left open per read');
  });

  it('lets an unexpected open failure through as it is, not as an unsafe file', async () => {
    const { root } = world();
    mkdirSync(join(root, OUT), { recursive: true });
    await assert.rejects(readSmallFile(locateOutDir(OUT, root), join(OUT, 'x'.repeat(300)), root), { code: 'ENAMETOOLONG' });
  });

  // Paths are made by the callers (request.json, approvals/<job_id>.json, audit.json); one that is not below the out-dir is a bug, refused before any write.
  const notBelow: [string, string][] = [
    ['the out-dir itself', OUT],
    ['its parent', '.oam-grant'],
    ['a sibling', '.oam-grant/other/audit.json'],
    ['a file beside the workspace', '../audit.json'],
  ];
  for (const [name, path] of notBelow) {
    it(`refuses to write ${name} as a record, writing nothing`, async () => {
      const { root } = world();
      const before = readdirSync(root, { recursive: true }).sort();
      await assert.rejects(writeOutFile(OUT, path, '{}', 'audit record', root), {
        code: 'ERR_EXPORT_FAILED',
        message: `cannot write the audit record ${path}: ${path} is not below the out-dir`,
        hint: `make --out-dir (${OUT}) a writable directory of the job's workspace, with no symbolic link on the way`,
      });
      assert.deepEqual(readdirSync(root, { recursive: true }).sort(), before);
      await assert.rejects(readSmallFile(locateOutDir(OUT, root), path, root), { message: `${path} is not below the out-dir` });
    });
  }

  it('writes records readable by the next job but writable only by this one, whatever the umask', async () => {
    const { root } = world();
    const previous = process.umask(0);
    try {
      await writeOutFile(OUT, join(OUT, 'audit.json'), '{}', 'audit record', root);
    } finally {
      process.umask(previous);
    }
    assert.equal(statSync(join(root, OUT, 'audit.json')).mode & 0o777, 0o644);
  });
});

describe('describeFsError: the errno in words, never the error object', () => {
  const errno = (code: string) => Object.assign(new Error(`${code}: something, open '/secret/path'`), { code });
  const cases: [string, unknown, string][] = [
    ['EACCES', errno('EACCES'), 'permission denied (EACCES)'],
    ['EPERM', errno('EPERM'), 'operation not permitted (EPERM)'],
    ['ENOSPC', errno('ENOSPC'), 'no space left on the device (ENOSPC)'],
    ['EDQUOT', errno('EDQUOT'), 'disk quota exceeded (EDQUOT)'],
    ['EROFS', errno('EROFS'), 'read-only file system (EROFS)'],
    ['ENOTDIR', errno('ENOTDIR'), 'a parent is not a directory (ENOTDIR)'],
    ['EISDIR', errno('EISDIR'), 'is a directory (EISDIR)'],
    ['EEXIST', errno('EEXIST'), 'exists and is not a directory (EEXIST)'],
    ['EIO', errno('EIO'), 'input/output error (EIO)'],
    ['another code', errno('EMFILE'), 'file system error (EMFILE)'],
    ['an unsafe file', new UnsafeFileError('.oam-grant', 'is a symbolic link'), '.oam-grant: is a symbolic link'],
    ['an error without a code', new Error('x is not below the out-dir'), 'x is not below the out-dir'],
    ['something else thrown', 'EACCES', 'unknown error'],
  ];
  for (const [name, error, words] of cases) {
    it(`describes ${name}`, () => assert.equal(describeFsError(error), words));
  }
});
