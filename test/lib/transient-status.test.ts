import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpStatusError, isTransientHttpError, isTransientStatus } from '../../src/lib/http.ts';

describe('isTransientStatus', () => {
  const cases: [number, boolean][] = [
    [200, false],
    [400, false],
    [401, false],
    [403, false],
    [404, false],
    [407, false],
    [408, true],
    [409, false],
    [429, true],
    [499, false],
    [500, true],
    [502, true],
    [503, true],
    [504, true],
  ];
  for (const [status, want] of cases) it(`${status}: ${want ? 'retried' : 'not retried'}`, () => assert.equal(isTransientStatus(status), want));

  it('only an HTTP status error is transient by status', () => {
    assert.equal(isTransientHttpError(new HttpStatusError('x', 503)), true);
    assert.equal(isTransientHttpError(new HttpStatusError('x', 404)), false);
    assert.equal(isTransientHttpError(Object.assign(new Error('x'), { status: 503 })), false);
  });
});
