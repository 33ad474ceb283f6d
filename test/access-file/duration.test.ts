import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkDuration, formatDuration, parseDuration } from '../../src/access-file/duration.ts';

describe('parseDuration', () => {
  const good: [string, number][] = [
    ['1s', 1],
    ['90s', 90],
    ['30m', 1800],
    ['2h', 7200],
    ['1d', 86400],
    ['30d', 2592000],
    ['0900s', 900],
  ];
  for (const [text, seconds] of good) {
    it(`${text} = ${seconds}s`, () => assert.equal(parseDuration(text), seconds));
  }

  const bad: [string, string][] = [
    ['', 'expected a whole number and a unit'],
    ['2', 'expected a whole number and a unit'],
    ['h', 'expected a whole number and a unit'],
    ['1.5h', 'expected a whole number and a unit'],
    ['-1h', 'expected a whole number and a unit'],
    ['2H', 'expected a whole number and a unit'],
    ['1w', 'expected a whole number and a unit'],
    [' 2h', 'expected a whole number and a unit'],
    ['2h30m', 'expected a whole number and a unit'],
    ['0s', 'must be greater than zero'],
    ['31d', 'must be at most 30d'],
    ['99999999999999999999d', 'must be at most 30d'],
  ];
  for (const [text, reason] of bad) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      assert.equal(checkDuration(text), checkDuration(text));
      assert.ok(checkDuration(text)?.startsWith(reason), checkDuration(text));
      assert.throws(
        () => parseDuration(text),
        (error: unknown) => {
          const { code, message } = error as { code: string; message: string };
          assert.deepEqual({ code, message }, { code: 'ERR_METADATA_INVALID', message: `invalid duration ${JSON.stringify(text)}: ${checkDuration(text)}` });
          return true;
        },
      );
    });
  }
});

describe('formatDuration', () => {
  for (const [seconds, text] of [
    [45, '45s'],
    [90, '90s'],
    [1800, '30m'],
    [5400, '90m'],
    [7200, '2h'],
    [86400, '1d'],
    [90000, '25h'],
  ] as const) {
    it(`${seconds}s = ${text}`, () => {
      assert.equal(formatDuration(seconds), text);
      assert.equal(parseDuration(text), seconds);
    });
  }
});
