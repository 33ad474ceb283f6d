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
  const LINK = /^remove the link or choose another --dotenv path$/;
  const LONG = 'x'.repeat(300);
  const refused: [string, string, (root: string, elsewhere: string) => void, string, string, RegExp][] = [
    ['the file is a symlink', 'oam-grant.env', (r, e) => symlinkSync(join(e, 'victim.env'), join(r, 'oam-grant.env')), 'ERR_EXPORT_FAILED', 'oam-grant.env is a symbolic link; refusing to write credentials through it', LINK],
    ['the file is a symlink to /dev/null', 'oam-grant.env', (r) => symlinkSync('/dev/null', join(r, 'oam-grant.env')), 'ERR_EXPORT_FAILED', 'oam-grant.env is a symbolic link; refusing to write credentials through it', LINK],
    ['its folder is a symlink', 'out/oam-grant.env', (r, e) => symlinkSync(e, join(r, 'out')), 'ERR_EXPORT_FAILED', 'out is a symbolic link; refusing to write credentials through it', LINK],
    ['a folder further up is a symlink', 'a/b/oam-grant.env', (r, e) => {
      mkdirSync(join(e, 'b'));
      symlinkSync(e, join(r, 'a'));
    }, 'ERR_EXPORT_FAILED', 'a is a symbolic link; refusing to write credentials through it', LINK],
    ['a folder on the way is a regular file', 'a/oam-grant.env', (r) => writeFileSync(join(r, 'a'), ''), 'ERR_EXPORT_FAILED', 'a is not a directory', /choose another --dotenv path/],
    ['its folder does not exist', 'no/such/oam-grant.env', () => undefined, 'ERR_EXPORT_FAILED', 'no/such: cannot write there (ENOENT)', /^create the folder first/],
    ['a folder name is too long to inspect', `${LONG}/oam-grant.env`, () => undefined, 'ERR_EXPORT_FAILED', `${LONG}/oam-grant.env: cannot inspect (ENAMETOOLONG)`, /check the path given with --dotenv/],
    ['the file name is too long to inspect', LONG, () => undefined, 'ERR_EXPORT_FAILED', `${LONG}: cannot inspect (ENAMETOOLONG)`, /check the path given with --dotenv/],
    ['the file is a FIFO', 'oam-grant.env', (r) => execFileSync('mkfifo', [join(r, 'oam-grant.env')]), 'ERR_EXPORT_FAILED', 'oam-grant.env exists and is a named pipe (FIFO), not a regular file', /^choose another --dotenv path$/],
    ['the file is a directory', 'oam-grant.env', (r) => mkdirSync(join(r, 'oam-grant.env')), 'ERR_EXPORT_FAILED', 'oam-grant.env exists and is a directory, not a regular file', /^choose another --dotenv path$/],
    ['the path leaves the workspace with ..', '../oam-grant.env', () => undefined, 'ERR_USAGE', "--dotenv (OAM_DOTENV) ../oam-grant.env is outside the job's workspace ROOT", /inside the project directory/],
    ['the path is absolute outside the workspace', 'ELSEWHERE/victim.env', () => undefined, 'ERR_USAGE', "--dotenv (OAM_DOTENV) ELSEWHERE/victim.env is outside the job's workspace ROOT", /inside the project directory/],
  ];
  for (const [name, given, plant, code, message, hint] of refused) {
    it(`refuses when ${name} (${code})`, async () => {
      const { root, elsewhere } = world();
      plant(root, elsewhere);
      const path = given.replace('ELSEWHERE', elsewhere);
      const expected = { code, message: message.replace('ROOT', root).replace('ELSEWHERE', elsewhere), hint };
      await assert.rejects(checkDotenvTarget(path, root), expected);
      await assert.rejects(writeDotenvFile(path, 'A=1\n', root), expected);
      assert.equal(readFileSync(join(elsewhere, 'victim.env'), 'utf8'), 'untouched');
      assert.equal(existsSync(join(elsewhere, 'oam-grant.env')), false);
    });
  }

  it('refuses a folder the job cannot write to, before the exchange', { skip: process.getuid?.() === 0 && 'root may write anywhere' }, async () => {
    const { root } = world();
    mkdirSync(join(root, 'ro'), { mode: 0o555 });
    await assert.rejects(checkDotenvTarget('ro/oam-grant.env', root), { code: 'ERR_EXPORT_FAILED', message: 'ro: cannot write there (EACCES)', hint: /check the path given with --dotenv/ });
  });

  it('refuses, before the exchange, a name whose temporary file could not be created; takes the longest one that can', async () => {
    const { root } = world();
    const longest = 'a'.repeat(255 - 18);
    await checkDotenvTarget(longest, root);
    await writeDotenvFile(longest, 'A=1\n', root);
    await assert.rejects(checkDotenvTarget(`${longest}b`, root), {
      code: 'ERR_EXPORT_FAILED',
      message: `${longest}b: the file name is too long (at most 237 bytes, for the temporary file written first)`,
      hint: 'choose a shorter --dotenv name',
    });
  });

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
