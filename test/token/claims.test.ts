/**
 * Claim narrowing: a verified payload (or a policy-test scenario's claims,
 * which are not signed) becomes typed claims. Absent or mistyped claims must
 * read as absent, never as a string a policy pattern could match ("undefined",
 * "[object Object]").
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jobProjectOf, toGitlabClaims } from '../../src/token/claims.ts';

const BASE = { iss: 'https://gitlab.example.com', sub: 'project_path:acme/payments:ref_type:branch:ref:main', aud: 'sts.amazonaws.com', iat: 1_700_000_000, exp: 1_700_000_300 };

describe('toGitlabClaims', () => {
  it('keeps the registered claims as GitLab sends them, aud as a list', () => {
    const claims = toGitlabClaims({ ...BASE, nbf: 1_699_999_995 });
    assert.equal(claims.iss, BASE.iss);
    assert.equal(claims.sub, BASE.sub);
    assert.deepEqual(claims.aud, ['sts.amazonaws.com']);
    assert.equal(claims.iat, 1_700_000_000);
    assert.equal(claims.exp, 1_700_000_300);
    assert.equal(claims.nbf, 1_699_999_995);
  });

  const absent: [string, Record<string, unknown>, Partial<Record<'iss' | 'sub' | 'aud' | 'iat' | 'exp' | 'nbf', unknown>>][] = [
    ['no iss, sub or aud', { iat: 1, exp: 2 }, { iss: '', sub: '', aud: [] }],
    ['aud neither a string nor a list', { ...BASE, aud: 42 }, { aud: [] }],
    ['aud a list with a number', { ...BASE, aud: ['oam-grant', 7] }, { aud: ['oam-grant', '7'] }],
    ['times as strings', { ...BASE, iat: '1700000000', exp: '1700000300', nbf: '1699999995' }, { iat: 0, exp: 0, nbf: undefined }],
    ['no times', { iss: BASE.iss, sub: BASE.sub, aud: BASE.aud }, { iat: 0, exp: 0, nbf: undefined }],
  ];
  for (const [name, payload, expected] of absent) {
    it(`reads ${name} as absent, not as text`, () => {
      const claims = toGitlabClaims(payload);
      for (const [claim, value] of Object.entries(expected)) assert.deepEqual(claims[claim as keyof typeof expected], value, claim);
      if (expected.nbf === undefined && 'nbf' in expected) assert.equal('nbf' in claims, false, 'nbf stays absent');
    });
  }

  it('reads string claims as strings, numbers as their text, anything else as absent', () => {
    const claims = toGitlabClaims({ ...BASE, project_id: 1217, ref: 'main', ref_protected: true, job_id: null, pipeline_id: { id: 1 }, sha: ['4b82'] });
    assert.equal(claims.project_id, '1217');
    assert.equal(claims.ref, 'main');
    for (const name of ['ref_protected', 'job_id', 'pipeline_id', 'sha'] as const) assert.equal(name in claims, false, name);
    assert.equal(claims.raw.ref_protected, true, 'raw keeps the payload as signed');
  });
});

describe('jobProjectOf', () => {
  const cases: [string, Record<string, unknown>, string | undefined][] = [
    ['job_project_id as GitLab sends it', { project_id: '2001', job_project_id: '1217' }, '1217'],
    ['a numeric job_project_id', { project_id: '2001', job_project_id: 1217 }, '1217'],
    ['no job_project_id: the project', { project_id: '2001' }, '2001'],
    ['a job_project_id that is neither: the project', { project_id: '2001', job_project_id: { id: 1217 } }, '2001'],
    ['neither', {}, undefined],
  ];
  for (const [name, extra, expected] of cases) {
    it(name, () => {
      assert.equal(jobProjectOf(toGitlabClaims({ ...BASE, ...extra })), expected);
    });
  }
});
