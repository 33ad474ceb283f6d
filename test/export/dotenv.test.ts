import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { OamError } from '../../src/errors.ts';
import { DOTENV_MAX_BYTES, prefixVariables, renderDotenv, writeDotenvFile } from '../../src/export/dotenv.ts';

const refusesExport = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (error: unknown) => error instanceof OamError && error.code === 'ERR_EXPORT_FAILED' && message.test(error.message));

describe('renderDotenv', () => {
  it('writes KEY=value lines only, newline-terminated, values with = kept whole', () => {
    assert.equal(renderDotenv([['A', 'x=y'], ['B_2', 'abc/+']]), 'A=x=y\nB_2=abc/+\n');
  });

  it('applies the export prefix', () => {
    assert.deepEqual(prefixVariables([['AWS_REGION', 'eu-west-1']], 'PROD_'), [['PROD_AWS_REGION', 'eu-west-1']]);
  });

  const refused: [string, [string, string][], RegExp][] = [
    ['a key with a dash', [['BAD-KEY', 'v']], /"BAD-KEY" is not a valid variable name/],
    ['a duplicate key', [['A', '1'], ['A', '2']], /A would be written twice/],
    ['a multi-line value', [['A', 'a\nb']], /value of A cannot be written/],
    ['a value with surrounding spaces (GitLab trims)', [['A', ' a']], /value of A/],
    ['a value with $ (GitLab expands it later)', [['A', 'a$b']], /value of A/],
    ['an empty value', [['A', '']], /value of A/],
    ['more variables than GitLab accepts', Array.from({ length: 21 }, (_, i): [string, string] => [`K${i}`, 'v']), /21 variables exceed/],
    ['more than 5 KB', [['A', 'x'.repeat(DOTENV_MAX_BYTES)]], /bytes exceed GitLab's dotenv limit of 5120/],
  ];
  for (const [name, vars, message] of refused) {
    it(`refuses ${name}`, () => refusesExport(() => renderDotenv(vars), message));
  }

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

  it('reports a missing folder as ERR_EXPORT_FAILED', async () => {
    const d = dir();
    await assert.rejects(writeDotenvFile(join(d, 'no/such/dir/x.env'), 'A=1\n', d), (error: unknown) => error instanceof OamError && error.code === 'ERR_EXPORT_FAILED' && /ENOENT/.test(error.message));
  });
});
