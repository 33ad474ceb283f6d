/**
 * Walks test/fixtures/access-files: every valid file loads, and every invalid
 * file fails with exactly the problems its `# expect: LINE:COL CODE message`
 * lines declare, in position order.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { loadAccessFile } from '../../src/access-file/load.ts';
import { AccessFileError } from '../../src/errors.ts';

const root = new URL('../fixtures/access-files/', import.meta.url);
const list = (dir: string): string[] =>
  readdirSync(new URL(dir, root))
    .filter((f) => f.endsWith('.yaml'))
    .sort();

interface Expectation {
  line: number;
  col: number;
  code: string;
  message: string;
}

function expectationsOf(text: string): Expectation[] {
  const found: Expectation[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('#')) break;
    const match = /^# expect: (\d+):(\d+) (ERR_[A-Z_]+) (.+)$/.exec(line);
    if (match) found.push({ line: Number(match[1]), col: Number(match[2]), code: match[3]!, message: match[4]! });
  }
  return found;
}

describe('valid access files', () => {
  for (const name of list('valid/')) {
    it(`loads ${name}`, async () => {
      const path = new URL(`valid/${name}`, root).pathname;
      const file = await loadAccessFile(path);
      assert.equal(file.path, path);
      assert.ok(file.components.length > 0);
    });
  }
});

describe('invalid access files', () => {
  const names = list('invalid/');
  it('exist', () => assert.ok(names.length >= 20));
  for (const name of names) {
    it(`refuses ${name}`, async () => {
      const path = new URL(`invalid/${name}`, root).pathname;
      const expected = expectationsOf(readFileSync(path, 'utf8'));
      assert.ok(expected.length > 0, `${name} declares no "# expect:" lines`);
      await assert.rejects(loadAccessFile(path), (error: unknown) => {
        assert.ok(error instanceof AccessFileError, String(error));
        const actual = error.problems.map((p) => ({ line: p.line, col: p.col, code: error.code, message: p.message }));
        // Substring match per the fixture convention, but the count and order must be exact.
        assert.equal(actual.length, expected.length, `problems:\n${actual.map((p) => `${p.line}:${p.col} ${p.message}`).join('\n')}`);
        expected.forEach((want, i) => {
          const got = actual[i]!;
          assert.deepEqual({ line: got.line, col: got.col, code: got.code }, { line: want.line, col: want.col, code: want.code }, `problem ${i}: ${got.message}`);
          assert.ok(got.message.includes(want.message), `problem ${i}: ${JSON.stringify(got.message)} lacks ${JSON.stringify(want.message)}`);
        });
        for (const problem of error.problems) assert.equal(problem.file, path);
        const first = error.problems[0]!;
        const more = error.problems.length > 1 ? ` (and ${error.problems.length - 1} more)` : '';
        assert.equal(error.message, `${path}:${first.line}:${first.col}: ${first.message}${more}`);
        return true;
      });
    });
  }
});
