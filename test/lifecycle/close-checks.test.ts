import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Policy } from '../../src/access-file/model.ts';
import { allowedLifetimeSeconds, approvalWindowEnd, checkIssuances, type Issuance } from '../../src/lifecycle/close-checks.ts';
import { accessFile, awsTrait, component } from '../helpers/model.ts';

const T0 = Date.parse('2026-11-29T10:00:00Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000);

describe('approvalWindowEnd', () => {
  const cases: { name: string; min: number; approvals: number[]; end: number | undefined }[] = [
    { name: 'one approval: validFor after it', min: 1, approvals: [0], end: 30 },
    { name: 'the newest of several counts for a quorum of one', min: 1, approvals: [0, 10], end: 40 },
    { name: 'a quorum of two ends with the older of the two newest', min: 2, approvals: [0, 5, 10], end: 35 },
    { name: 'short of the quorum: the window never opened', min: 2, approvals: [0], end: -T0 / 60_000 },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const end = approvalWindowEnd({ minApprovals: c.min, validForSeconds: 1800, approvedAt: c.approvals.map(at) });
      assert.equal(end?.getTime(), c.end === undefined ? undefined : at(c.end).getTime());
    });
  }
  it('no step: no window', () => assert.equal(approvalWindowEnd(undefined), undefined));
});

describe('allowedLifetimeSeconds', () => {
  const cap = (max: number): Policy => ({ type: 'credential-limits', name: 'cap', pointer: '/spec/policies/0', maxDurationSeconds: max });
  it('aws-sts: its durationSeconds, or a smaller credential-limits cap', () => {
    assert.equal(allowedLifetimeSeconds(accessFile(), component(), awsTrait({ durationSeconds: 1800 })), 1800);
    assert.equal(allowedLifetimeSeconds(accessFile({ policies: [cap(1000)] }), component(), awsTrait({ durationSeconds: 1800 })), 1000);
  });
  it('no bound in the file for a provider that sets its own lifetime: none', () => {
    const vault = { type: 'vault-jwt', address: 'https://vault.example.com', role: 'r', mount: 'jwt', exportPrefix: '' } as const;
    assert.equal(allowedLifetimeSeconds(accessFile(), component(), vault), undefined);
    assert.equal(allowedLifetimeSeconds(accessFile({ policies: [cap(600)] }), component(), vault), 600);
  });
});

describe('checkIssuances', () => {
  const issuance = (what: string, from: number, minutes: number): Issuance => ({ what, provider: 'aws-sts', identity: 'arn:r', at: at(from), expiresAt: at(from + minutes) });
  const allowed900 = () => 900;
  const cases: { name: string; issuances: Issuance[]; end: Date | undefined; expect: RegExp[] }[] = [
    { name: 'within the window and the duration', issuances: [issuance('the grant', 1, 15), issuance('a refresh', 29, 15)], end: at(30), expect: [] },
    { name: 'a refresh after the window', issuances: [issuance('a refresh', 32, 15)], end: at(30), expect: [/after the approval window ended at 2026-11-29T10:30:00.000Z/] },
    { name: 'within clock skew of the end', issuances: [issuance('a refresh', 30.5, 15)], end: at(30), expect: [] },
    { name: 'issued for longer than allowed', issuances: [issuance('the grant', 1, 60)], end: at(30), expect: [/issued for 3600 s, .*the file allows 900 s/] },
    { name: 'both at once', issuances: [issuance('a refresh', 40, 60)], end: at(30), expect: [/after the approval window/, /issued for 3600 s/] },
    { name: 'no approval step: the duration only', issuances: [issuance('a refresh', 500, 15)], end: undefined, expect: [] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const found = checkIssuances(c.issuances, c.end, allowed900).map((v) => v.message);
      assert.equal(found.length, c.expect.length, found.join('\n'));
      for (const [i, re] of c.expect.entries()) assert.match(found[i]!, re);
    });
  }
});
