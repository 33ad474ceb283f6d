/**
 * Walks test/fixtures/policy-tests (written for its oam.yaml): every valid
 * test file loads, and every invalid one fails with exactly the problems its
 * `# expect: LINE:COL CODE message` lines declare, in position order, as the
 * access file fixtures do.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';
import { loadAccessFile } from '../../src/access-file/load.ts';
import type { AccessFile } from '../../src/access-file/model.ts';
import { AccessFileError } from '../../src/errors.ts';
import { loadPolicyTests } from '../../src/policy-test/load.ts';

const root = new URL('../fixtures/policy-tests/', import.meta.url);
// Relative, as a user passes it: messages name the access file by that path.
const accessFilePath = relative(process.cwd(), fileURLToPath(new URL('oam.yaml', root)));
const list = (dir: string): string[] =>
  readdirSync(new URL(dir, root))
    .filter((f) => f.endsWith('.yaml'))
    .sort();

function expectationsOf(text: string): { line: number; col: number; code: string; message: string }[] {
  const found = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('#')) break;
    const match = /^# expect: (\d+):(\d+) (ERR_[A-Z_]+) (.+)$/.exec(line);
    if (match) found.push({ line: Number(match[1]), col: Number(match[2]), code: match[3]!, message: match[4]! });
  }
  return found;
}

describe('policy test fixtures', () => {
  let file: AccessFile;
  before(async () => {
    file = await loadAccessFile(accessFilePath);
  });

  for (const name of list('valid/')) {
    it(`loads valid/${name}`, async () => {
      const tests = await loadPolicyTests(fileURLToPath(new URL(`valid/${name}`, root)), file);
      assert.ok(tests.cases.length > 0);
    });
  }

  const invalid = list('invalid/');
  it('has invalid fixtures', () => assert.ok(invalid.length >= 5));
  for (const name of invalid) {
    it(`refuses invalid/${name}`, async () => {
      const path = fileURLToPath(new URL(`invalid/${name}`, root));
      const expected = expectationsOf(readFileSync(path, 'utf8'));
      assert.ok(expected.length > 0, `${name} declares no "# expect:" lines`);
      await assert.rejects(loadPolicyTests(path, file), (error: unknown) => {
        assert.ok(error instanceof AccessFileError, String(error));
        const actual = error.problems.map((p) => ({ line: p.line, col: p.col, code: error.code, message: p.message }));
        assert.equal(actual.length, expected.length, `problems:\n${actual.map((p) => `${p.line}:${p.col} ${p.message}`).join('\n')}`);
        expected.forEach((want, i) => {
          const got = actual[i]!;
          assert.deepEqual({ line: got.line, col: got.col, code: got.code }, { line: want.line, col: want.col, code: want.code }, `problem ${i}: ${got.message}`);
          assert.ok(got.message.includes(want.message), `problem ${i}: ${JSON.stringify(got.message)} lacks ${JSON.stringify(want.message)}`);
        });
        for (const problem of error.problems) {
          assert.equal(problem.file, path);
          // The generated validator carries no ajv messages: every keyword must be worded by checkSchema.
          assert.doesNotMatch(problem.message, /fails schema rule|undefined/);
        }
        return true;
      });
    });
  }
});
