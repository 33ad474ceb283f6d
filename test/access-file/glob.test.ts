import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkRefGlob, compileRefGlob, matchesRefGlob } from '../../src/access-file/glob.ts';

const CASES: [pattern: string, ref: string, expected: boolean][] = [
  ['main', 'main', true],
  ['main', 'main2', false],
  ['main', 'xmain', false],
  ['release/*', 'release/1.2', true],
  ['release/*', 'release/', true],
  ['release/*', 'release/1.2/hotfix', false],
  ['release/*', 'release', false],
  ['release/**', 'release/1.2/hotfix', true],
  ['**', 'any/thing/at/all', true],
  ['*', 'feature/x', false],
  ['*', 'main', true],
  ['feature-*-done', 'feature-abc-done', true],
  ['feature-*-done', 'feature-a/b-done', false],
  ['v?.?', 'v1.2', true],
  ['v?.?', 'v1.23', false],
  ['v?', 'v/', false],
  ['a.b', 'axb', false],
  ['a+b', 'a+b', true],
  ['a+b', 'aab', false],
  ['(x)', '(x)', true],
  ['$x', '$x', true],
  ['ümlaut-?', 'ümlaut-ß', true],
  ['emoji-?', 'emoji-🚀', true],
  ['*/**/end', 'a/b/c/end', true],
  ['*/**/end', 'a/end', false],
  ['*/**end', 'a/end', true],
];

describe('matchesRefGlob', () => {
  for (const [pattern, ref, expected] of CASES) {
    it(`${pattern} ${expected ? 'matches' : 'does not match'} ${ref}`, () => {
      assert.equal(matchesRefGlob(pattern, ref), expected);
      // The RegExp form must agree with the linear matcher on every case.
      assert.equal(compileRefGlob(pattern).test(ref), expected);
    });
  }

  it('matches nothing for an invalid pattern (fail closed)', () => {
    assert.equal(matchesRefGlob('refs/heads/main', 'refs/heads/main'), false);
    assert.equal(matchesRefGlob('', ''), false);
  });

  it('stays linear on a pattern that would make a RegExp backtrack', () => {
    const pattern = `${'*a'.repeat(40)}b`;
    const ref = 'a'.repeat(250);
    const started = performance.now();
    assert.equal(matchesRefGlob(pattern, ref), false);
    assert.ok(performance.now() - started < 200, 'took too long');
  });
});

describe('checkRefGlob', () => {
  const bad: [string, string][] = [
    ['', 'must not be empty'],
    ['x'.repeat(256), 'must be at most 255 characters'],
    ['feature branch', 'contains " "'],
    ['a:b', 'contains ":"'],
    ['a^b', 'contains "^"'],
    ['a~1', 'contains "~"'],
    ['[abc]', 'contains "["'],
    ['a\\b', 'contains "\\\\"'],
    ['a\tb', 'contains "\\t"'],
    ['a..b', 'contains ".."'],
    ['a@{1}', 'contains "@{"'],
    ['a//b', 'contains "//"'],
    ['/main', 'must not start or end with "/"'],
    ['main/', 'must not start or end with "/"'],
    ['main.', 'must not end with "."'],
    ['***', 'three or more "*"'],
    ['refs/heads/main', 'names a full ref'],
  ];
  for (const [pattern, expected] of bad) {
    it(`refuses ${JSON.stringify(pattern).slice(0, 30)}`, () => {
      const problem = checkRefGlob(pattern);
      assert.ok(problem?.includes(expected), `got ${problem}`);
      assert.throws(() => compileRefGlob(pattern), (error: unknown) => {
        assert.equal((error as { code?: string }).code, 'ERR_METADATA_INVALID');
        assert.match((error as Error).message, /^invalid ref pattern /);
        return true;
      });
    });
  }

  it('accepts ordinary patterns', () => {
    for (const pattern of ['main', 'release/*', 'hotfix/**', 'v?.?.*', 'renovate/@scope-pkg-1.x']) {
      assert.equal(checkRefGlob(pattern), undefined, pattern);
    }
  });
});
