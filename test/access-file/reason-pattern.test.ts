import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkReasonPattern, compileReasonPattern } from '../../src/access-file/reason-pattern.ts';

/** A generous bound: RE2 takes about a millisecond on these; a backtracking engine took seconds to minutes. */
const FAST_MS = 250;

describe('checkReasonPattern', () => {
  // Nested repetitions included: RE2 matches them in linear time, so they need no refusal.
  const accepted = ['^[A-Z]+-[0-9]+', '^(OPS|SEC)-[0-9]+$', '^(ab)+$', '(a|b)*c', '[(]+', '\\(a+\\)+', '(a+)?', 'x{2,5}', '(a+)+', '^(\\w+\\s?)*$', '\\p{L}+', '(?i)^ops-'];
  for (const pattern of accepted) {
    it(`accepts ${pattern}`, () => assert.equal(checkReasonPattern(pattern), undefined));
  }

  const unsupported = 'RE2 has no lookahead, lookbehind or backreferences';
  const refused = [
    { pattern: '^([A-Z]+', problem: 'is not a valid RE2 regular expression: missing closing ): `^([A-Z]+`' },
    { pattern: '[z-a]', problem: 'is not a valid RE2 regular expression: invalid character class range: `z-a`' },
    { pattern: 'x{1001}', problem: 'is not a valid RE2 regular expression: invalid repeat count: `{1001}`' },
    { pattern: '^(?!WIP)', problem: `is not a valid RE2 regular expression: invalid or unsupported Perl syntax: \`(?!\`; ${unsupported}` },
    { pattern: '(?=OPS)', problem: `is not a valid RE2 regular expression: invalid or unsupported Perl syntax: \`(?=\`; ${unsupported}` },
    { pattern: '(?<!x)y', problem: `is not a valid RE2 regular expression: invalid named capture: \`(?<!x)y\`; ${unsupported}` },
    { pattern: '(a)\\1', problem: `is not a valid RE2 regular expression: invalid escape sequence: \`\\1\`; ${unsupported}` },
    { pattern: '(?<t>a)\\k<t>', problem: `is not a valid RE2 regular expression: invalid escape sequence: \`\\k\`; ${unsupported}` },
  ];
  for (const { pattern, problem } of refused) {
    it(`refuses ${pattern} with RE2's reason`, () => assert.equal(checkReasonPattern(pattern), problem));
  }

  it('bounds the length', () => {
    assert.equal(checkReasonPattern(''), 'must not be empty');
    assert.equal(checkReasonPattern('a'.repeat(201)), 'must be at most 200 characters');
    assert.equal(checkReasonPattern('a'.repeat(200)), undefined);
  });
});

describe('compileReasonPattern', () => {
  it('compiles what validates', () => {
    const re = compileReasonPattern('^[A-Z]+-[0-9]+');
    assert.equal(re.test('OPS-12 rotate keys'), true);
    assert.equal(re.test('ops-12'), false);
  });

  it('throws ERR_METADATA_INVALID for what does not', () => {
    assert.throws(
      () => compileReasonPattern('(?=a)'),
      (error: unknown) => {
        const { code, message } = error as { code: string; message: string };
        assert.equal(code, 'ERR_METADATA_INVALID');
        assert.match(message, /^reasonPattern is not a valid RE2 regular expression: /);
        return true;
      },
    );
  });

  // test() searches, like RegExp.test: the pattern may match anywhere unless anchored.
  const semantics = [
    { pattern: '[A-Z]+-[0-9]+', reason: 'see OPS-12', matches: true },
    { pattern: '^[A-Z]+-[0-9]+', reason: 'see OPS-12', matches: false },
    { pattern: '^[A-Z]+-[0-9]+$', reason: 'OPS-12 and more', matches: false },
    { pattern: '^[A-Z]+-[0-9]+$', reason: 'OPS-12', matches: true },
    { pattern: 'ops', reason: 'OPS-12', matches: false },
    { pattern: '^\\w+$', reason: 'deploy_2', matches: true },
    { pattern: '^\\w+$', reason: 'déploiement', matches: false }, // \w is ASCII, as in RegExp
    { pattern: '^\\d+$', reason: '٣', matches: false }, // \d too
    { pattern: '^[^-]+$', reason: 'Änderung ünd ça', matches: true },
    { pattern: '^Prüfung .+$', reason: 'Prüfung für Ölwechsel', matches: true },
    { pattern: '^.$', reason: 'é', matches: true },
    { pattern: '\\bOPS\\b', reason: 'fix OPS now', matches: true },
    { pattern: '\\bOPS\\b', reason: 'DEVOPS', matches: false },
    { pattern: '^(CHG|INC)[0-9]{7}$', reason: 'CHG0012345', matches: true },
    { pattern: '^(CHG|INC)[0-9]{7}$', reason: 'CHG001234', matches: false },
  ];
  for (const { pattern, reason, matches } of semantics) {
    it(`${pattern} ${matches ? 'matches' : 'does not match'} ${JSON.stringify(reason)}`, () => {
      assert.equal(compileReasonPattern(pattern).test(reason), matches);
      // The same answer as the RegExp it replaces, for these everyday patterns.
      assert.equal(new RegExp(pattern).test(reason), matches);
    });
  }

  // Each took seconds to minutes with the JavaScript RegExp this replaced.
  const catastrophic = [
    { pattern: '^([A-Z]|[A-Z0-9])+-[0-9]+$', near: (n: number) => `${'A'.repeat(n - 1)}!`, hit: (n: number) => `${'A'.repeat(n - 3)}-12` },
    { pattern: '^\\w*\\w*\\w*\\w*\\w*\\w*:$', near: (n: number) => 'a'.repeat(n), hit: (n: number) => `${'a'.repeat(n - 1)}:` },
    { pattern: '^(a+)+$', near: (n: number) => `${'a'.repeat(n - 1)}b`, hit: (n: number) => 'a'.repeat(n) },
    { pattern: '^(\\w+\\s?)*$', near: (n: number) => `${'word '.repeat(Math.floor(n / 5) - 1)}word!`, hit: (n: number) => `${'word '.repeat(Math.floor(n / 5) - 1)}word` },
  ];
  for (const { pattern, near, hit } of catastrophic) {
    for (const length of [27, 120, 500, 5000]) {
      it(`${pattern} answers a ${length}-character reason in linear time`, () => {
        const re = compileReasonPattern(pattern);
        const started = performance.now();
        assert.equal(re.test(near(length)), false);
        assert.equal(re.test(hit(length)), true);
        const elapsed = performance.now() - started;
        assert.ok(elapsed < FAST_MS, `took ${elapsed.toFixed(0)} ms`);
      });
    }
  }
});
