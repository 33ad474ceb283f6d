import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asJsonObject, isJsonObject } from '../../src/lib/json.ts';

describe('isJsonObject / asJsonObject', () => {
  const cases: [string, unknown, boolean][] = [
    ['an object', { a: 1 }, true],
    ['an empty object', {}, true],
    ['null', null, false],
    ['an array', [1], false],
    ['a string', 'x', false],
    ['a number', 1, false],
    ['undefined', undefined, false],
  ];
  for (const [name, value, want] of cases) {
    it(`${name}: ${want ? 'an object' : 'not one'}`, () => {
      assert.equal(isJsonObject(value), want);
      assert.equal(asJsonObject(value), want ? value : undefined);
    });
  }
});
