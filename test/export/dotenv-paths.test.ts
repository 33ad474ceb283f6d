/**
 * Where the dotenv file may be written: inside the workspace, with no link
 * from the workspace down, and only over a regular file. Each refusal comes
 * from checkDotenvTarget (before the exchange) and again from writeDotenvFile,
 * and leaves the link's target untouched.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkDotenvTarget, writeDotenvFile } from '../../src/export/dotenv.ts';

function world(): { root: string; elsewhere: string } {
  const root = mkdtempSync(join(tmpdir(), 'oam-ws-'));
  const elsewhere = mkdtempSync(join(tmpdir(), 'oam-elsewhere-'));
  writeFileSync(join(elsewhere, 'victim.env'), 'untouched');
  return { root, elsewhere };
}

describe('dotenv path rules', () => {
  const refused: [string, string, (root: string, elsewhere: string) => void, string, string][] = [
    ['the file is a symlink', 'oam-grant.env', (r, e) => symlinkSync(join(e, 'victim.env'), join(r, 'oam-grant.env')), 'ERR_EXPORT_FAILED', 'oam-grant.env is a symbolic link; refusing to write credentials through it'],
    ['the file is a symlink to /dev/null', 'oam-grant.env', (r) => symlinkSync('/dev/null', join(r, 'oam-grant.env')), 'ERR_EXPORT_FAILED', 'oam-grant.env is a symbolic link; refusing to write credentials through it'],
    ['its folder is a symlink', 'out/oam-grant.env', (r, e) => symlinkSync(e, join(r, 'out')), 'ERR_EXPORT_FAILED', 'out is a symbolic link; refusing to write credentials through it'],
    ['a folder further up is a symlink', 'a/b/oam-grant.env', (r, e) => {
      mkdirSync(join(e, 'b'));
      symlinkSync(e, join(r, 'a'));
    }, 'ERR_EXPORT_FAILED', 'a is a symbolic link; refusing to write credentials through it'],
    ['the file is a FIFO', 'oam-grant.env', (r) => execFileSync('mkfifo', [join(r, 'oam-grant.env')]), 'ERR_EXPORT_FAILED', 'oam-grant.env exists and is a named pipe (FIFO), not a regular file'],
    ['the file is a directory', 'oam-grant.env', (r) => mkdirSync(join(r, 'oam-grant.env')), 'ERR_EXPORT_FAILED', 'oam-grant.env exists and is a directory, not a regular file'],
    ['the path leaves the workspace with ..', '../oam-grant.env', () => undefined, 'ERR_USAGE', "--dotenv (OAM_DOTENV) ../oam-grant.env is outside the job's workspace ROOT"],
    ['the path is absolute outside the workspace', 'ELSEWHERE/victim.env', () => undefined, 'ERR_USAGE', "--dotenv (OAM_DOTENV) ELSEWHERE/victim.env is outside the job's workspace ROOT"],
  ];
  for (const [name, given, plant, code, message] of refused) {
    it(`refuses when ${name} (${code})`, async () => {
      const { root, elsewhere } = world();
      plant(root, elsewhere);
      const path = given.replace('ELSEWHERE', elsewhere);
      const expected = { code, message: message.replace('ROOT', root).replace('ELSEWHERE', elsewhere) };
      await assert.rejects(checkDotenvTarget(path, root), expected);
      await assert.rejects(writeDotenvFile(path, 'A=1\n', root), expected);
      assert.equal(readFileSync(join(elsewhere, 'victim.env'), 'utf8'), 'untouched');
      assert.equal(existsSync(join(elsewhere, 'oam-grant.env')), false);
    });
  }

  it('writes a relative path, an absolute one inside the workspace, and one in a real sub-folder', async () => {
    const { root } = world();
    mkdirSync(join(root, 'out'));
    for (const path of ['oam-grant.env', join(root, 'abs.env'), 'out/sub.env']) {
      await checkDotenvTarget(path, root);
      await writeDotenvFile(path, 'A=1\n', root);
    }
    for (const file of ['oam-grant.env', 'abs.env', 'out/sub.env']) assert.equal(lstatSync(join(root, file)).mode & 0o777, 0o600);
  });
});
