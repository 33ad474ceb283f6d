import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkReasonPattern, compileReasonPattern } from '../../src/access-file/reason-pattern.ts';

describe('checkReasonPattern', () => {
  const accepted = ['^[A-Z]+-[0-9]+', '^(OPS|SEC)-[0-9]+$', '^(ab)+$', '(a|b)*c', '[(]+', '\\(a+\\)+', '(a+)?', 'x{2,5}'];
  for (const pattern of accepted) {
    it(`accepts ${pattern}`, () => assert.equal(checkReasonPattern(pattern), undefined));
  }

  const nested = ['(a+)+', '(a*)*b', '(\\w+\\s?)*$', '((a+))*', '(?:x+){2,}', '(x+){3}', '(.*a){20}', '^([a-z]+[0-9]*)+$'];
  for (const pattern of nested) {
    it(`refuses nested repetition ${pattern}`, () => {
      assert.match(checkReasonPattern(pattern) ?? '', /^nests a repeated group inside a repetition/);
    });
  }

  it('refuses an invalid expression with the engine reason', () => {
    assert.equal(checkReasonPattern('^([A-Z]+'), 'is not a valid regular expression (unterminated group)');
  });

  it('bounds the length', () => {
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
      () => compileReasonPattern('(a+)+'),
      (error: unknown) => {
        const { code, message } = error as { code: string; message: string };
        assert.equal(code, 'ERR_METADATA_INVALID');
        assert.match(message, /^reasonPattern nests a repeated group/);
        return true;
      },
    );
  });
});
