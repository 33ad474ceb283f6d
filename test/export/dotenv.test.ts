import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { OamError } from '../../src/errors.ts';
import { checkDotenvNames, DOTENV_MAX_BYTES, DOTENV_MAX_VARIABLES, prefixVariables, renderDotenv, writeDotenvFile } from '../../src/export/dotenv.ts';

describe('renderDotenv', () => {
  it('writes KEY=value lines only, newline-terminated, values with = kept whole', () => {
    assert.equal(renderDotenv([['A', 'x=y'], ['B_2', 'abc/+']]), 'A=x=y\nB_2=abc/+\n');
  });

  it('applies the export prefix', () => {
    assert.deepEqual(prefixVariables([['AWS_REGION', 'eu-west-1']], 'PROD_'), [['PROD_AWS_REGION', 'eu-west-1']]);
  });

  const many = (n: number) => Array.from({ length: n }, (_, i): [string, string] => [`K${i}`, 'v']);
  // Every refusal names the file and the key (never the value), and says what to do.
  const refused: [string, [string, string][], string, RegExp][] = [
    ['a key with a dash', [['BAD-KEY', 'v']], 'the dotenv file: "BAD-KEY" is not a valid variable name ([A-Za-z0-9_])', /exportPrefix/],
    ['an empty key', [['', 'v']], 'the dotenv file: "" is not a valid variable name ([A-Za-z0-9_])', /exportPrefix/],
    ['a duplicate key', [['A', '1'], ['A', '2']], 'the dotenv file: A would be written twice', /distinct exportPrefix/],
    ['a multi-line value', [['A', 'a\nb']], 'the dotenv file: the value of A cannot be written as a dotenv value', /report it/],
    ['a value with a carriage return', [['A', 'a\rb']], 'the dotenv file: the value of A cannot be written as a dotenv value', /report it/],
    ['a value with a NUL', [['A', 'a\0b']], 'the dotenv file: the value of A cannot be written as a dotenv value', /report it/],
    ['a value with surrounding spaces (GitLab trims)', [['A', ' a']], 'the dotenv file: the value of A cannot be written as a dotenv value', /report it/],
    ['a value with $ (GitLab expands it later)', [['A', 'a$b']], 'the dotenv file: the value of A cannot be written as a dotenv value', /report it/],
    ['an empty value', [['A', '']], 'the dotenv file: the value of A cannot be written as a dotenv value', /report it/],
    ['more variables than GitLab accepts', many(DOTENV_MAX_VARIABLES + 1), "the dotenv file: 21 variables exceed GitLab's default limit of 20", /fewer variables/],
    ['one byte more than 5 KB', [['A', 'x'.repeat(DOTENV_MAX_BYTES - 2)]], "the dotenv file: 5121 bytes exceed GitLab's dotenv limit of 5120", /split the grant/],
  ];
  for (const [name, vars, message, hint] of refused) {
    it(`refuses ${name}`, () => assert.throws(() => renderDotenv(vars), { code: 'ERR_EXPORT_FAILED', message, hint }));
  }

  it('accepts exactly GitLab\'s limits: 20 variables, 5120 bytes', () => {
    assert.equal(renderDotenv(many(DOTENV_MAX_VARIABLES)).split('\n').length, DOTENV_MAX_VARIABLES + 1);
    assert.equal(Buffer.byteLength(renderDotenv([['A', 'x'.repeat(DOTENV_MAX_BYTES - 3)]])), DOTENV_MAX_BYTES);
    // Bytes, not characters: each é is two.
    assert.throws(() => renderDotenv([['A', 'é'.repeat(3000)]]), { code: 'ERR_EXPORT_FAILED', message: "the dotenv file: 6003 bytes exceed GitLab's dotenv limit of 5120" });
  });

  it('names the file it renders', () => {
    assert.throws(() => renderDotenv([['A', '']], 'oam-grant.env'), { message: 'oam-grant.env: the value of A cannot be written as a dotenv value' });
  });

  it('never puts a value in an error message', () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    try {
      renderDotenv([['AWS_SECRET_ACCESS_KEY', `${secret}\n`]]);
      assert.fail('expected a refusal');
    } catch (error) {
      assert.ok(error instanceof OamError);
      assert.ok(!error.message.includes(secret));
    }
  });
});

describe('checkDotenvNames', () => {
  it('names the dotenv file by default', () => {
    assert.throws(() => checkDotenvNames(['A', 'A']), { code: 'ERR_EXPORT_FAILED', message: 'the dotenv file: A would be written twice' });
  });

  it('passes names the dotenv file can hold', () => {
    checkDotenvNames(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'OAM_GRANT_EXPIRES_AT']);
  });

  const refused: [string, string[], string][] = [
    ['an invalid name', ['PROD-AWS_REGION'], 'oam-grant.env: "PROD-AWS_REGION" is not a valid variable name ([A-Za-z0-9_])'],
    ['a name twice', ['AWS_REGION', 'AWS_REGION'], 'oam-grant.env: AWS_REGION would be written twice'],
    ['too many names', Array.from({ length: 21 }, (_, i) => `K${i}`), "oam-grant.env: 21 variables exceed GitLab's default limit of 20"],
  ];
  for (const [name, names, message] of refused) {
    it(`refuses ${name} before any credential exists`, () => assert.throws(() => checkDotenvNames(names, 'oam-grant.env'), { code: 'ERR_EXPORT_FAILED', message }));
  }
});

describe('writeDotenvFile', () => {
  const dir = () => mkdtempSync(join(tmpdir(), 'oam-dotenv-'));

  it('writes with mode 0600 and leaves no temporary file', async () => {
    const d = dir();
    const path = join(d, 'oam-grant.env');
    await writeDotenvFile(path, 'A=1\n', d);
    assert.equal(readFileSync(path, 'utf8'), 'A=1\n');
    assert.equal(lstatSync(path).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(d), ['oam-grant.env']);
  });

  it('replaces an existing file atomically', async () => {
    const d = dir();
    const path = join(d, 'x.env');
    writeFileSync(path, 'OLD=1\n', { mode: 0o644 });
    await writeDotenvFile(path, 'NEW=1\n', d);
    assert.equal(readFileSync(path, 'utf8'), 'NEW=1\n');
    assert.equal(lstatSync(path).mode & 0o777, 0o600);
  });

  it('refuses to write through a symlink and leaves its target alone', async () => {
    const d = dir();
    const target = join(d, 'target');
    writeFileSync(target, 'untouched');
    symlinkSync(target, join(d, 'link.env'));
    await assert.rejects(writeDotenvFile(join(d, 'link.env'), 'A=1\n', d), (error: unknown) => error instanceof OamError && error.code === 'ERR_EXPORT_FAILED' && /symbolic link/.test(error.message));
    assert.equal(readFileSync(target, 'utf8'), 'untouched');
  });

  it('reports a write that fails as ERR_EXPORT_FAILED, and leaves nothing behind', async () => {
    const d = dir();
    // The name itself fits, the temporary file's (name + 18 characters) does not.
    const path = join(d, 'a'.repeat(240));
    await assert.rejects(writeDotenvFile(path, 'A=1\n', d), { code: 'ERR_EXPORT_FAILED', message: `${path}: cannot write (ENAMETOOLONG)`, hint: /check that the job can write/ });
    assert.deepEqual(readdirSync(d), []);
  });

  it('reports a missing folder as ERR_EXPORT_FAILED', async () => {
    const d = dir();
    await assert.rejects(writeDotenvFile(join(d, 'no/such/dir/x.env'), 'A=1\n', d), (error: unknown) => error instanceof OamError && error.code === 'ERR_EXPORT_FAILED' && /ENOENT/.test(error.message));
  });
});
