/**
 * Cases through the product's evaluation: every outcome the conditions and
 * the approval rules can give, the documented defaults, and every way an
 * outcome can miss its expectation.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAccessFile } from '../../src/access-file/load.ts';
import { parsePolicyTests } from '../../src/policy-test/load.ts';
import { denyingPolicies, evaluateCase, meetsExpectation, runCase } from '../../src/policy-test/run.ts';
import { buildScenario, defaultProjectPath, FALLBACK_PROJECT_PATH, REQUEST_IAT } from '../../src/policy-test/scenario.ts';
import { ACCESS_FILE, ALICE, file, PROD, testCase } from './helpers.ts';

describe('evaluateCase', () => {
  // [what, case YAML, outcome: 'granted' or the code, a part of the message]
  const table: [string, string, string, RegExp?][] = [
    ['main with a listed approver', `${PROD}\n    approvals:\n${ALICE}`, 'granted'],
    ['a component without conditions or step', '    component: deploy-dev', 'granted'],
    ['an unprotected branch', `${PROD}\n    claims: {ref_protected: "false"}\n    approvals:\n${ALICE}`, 'ERR_POLICY_DENIED', /policy "protected-only" denies: ref_protected is "false", refProtected expects "true"/],
    ['a ref outside refs', `${PROD}\n    claims: {ref: feature/x}`, 'ERR_POLICY_DENIED', /ref is "feature\/x", refs expects matching "main" or "release\/\*"/],
    ['a fork (another project_path)', `${PROD}\n    claims: {project_path: mallory/payments}`, 'ERR_POLICY_DENIED', /project_path is "mallory\/payments"/],
    ['the grant in another environment', `${PROD}\n    claims: {environment: staging}`, 'ERR_POLICY_DENIED', /component deploy-prod denies: environment is "staging"/],
    ['the grant with no environment', `${PROD}\n    claims: {environment: null}`, 'ERR_POLICY_DENIED', /environment is absent/],
    ['the request in another environment', `${PROD}\n    stage: request\n    claims: {environment: oam-grant}`, 'granted'],
    ['the request from a branch', `${PROD}\n    stage: request\n    claims: {ref: feature/x}`, 'ERR_POLICY_DENIED'],
    ['no approval', PROD, 'ERR_APPROVAL_MISSING', /step approve-deploy-prod of deploy-prod: 0 of 1 approval from distinct people/],
    ['the requester approves', `${PROD}\n    approvals:\n      - {user_login: developer, reason: OPS-1}`, 'ERR_APPROVAL_SELF', /approval 1 \(developer\): developer requested this access/],
    ['the requester approves under another case of login', `${PROD}\n    approvals:\n      - {user_login: Developer, reason: OPS-1}`, 'ERR_APPROVAL_SELF'],
    ['a renamed requester (same id)', `${PROD}\n    claims: {user_login: dev, user_id: "42"}\n    approvals:\n      - {user_login: alice, user_id: "42", reason: OPS-1}`, 'ERR_APPROVAL_SELF'],
    ['the requester, their id given once', `${PROD}\n    claims: {user_login: dev, user_id: "42"}\n    approvals:\n      - {user_login: dev, reason: OPS-1}`, 'ERR_APPROVAL_SELF', /dev requested this access/],
    ['the default requester with an id, approving', `${PROD}\n    claims: {user_id: "42"}\n    approvals:\n      - {user_login: developer, reason: OPS-1}`, 'ERR_APPROVAL_SELF'],
    ['an explicit requester', `${PROD}\n    requester: {user_login: alice}\n    approvals:\n${ALICE}`, 'ERR_APPROVAL_SELF', /alice requested this access/],
    ['the MR author approves', `${PROD}\n    mrAuthor: {user_login: alice}\n    approvals:\n${ALICE}`, 'ERR_APPROVAL_SELF', /alice wrote merge request !1/],
    ['a commit author approves', `${PROD}\n    commitAuthors: [ALICE@example.com]\n    approvals:\n${ALICE}`, 'ERR_APPROVAL_SELF', /forbid: commitAuthor/],
    ['a commit author with another email', `${PROD}\n    commitAuthors: [alice@example.com]\n    approvals:\n      - {user_login: alice, user_email: a@corp.example, reason: OPS-1}`, 'granted'],
    ['a commit author under an email the API shows', `${PROD}\n    commitAuthors: [alice@home.example]\n    approvals:\n      - {user_login: alice, emails: [Alice@Home.example], reason: OPS-1}`, 'ERR_APPROVAL_SELF'],
    ['a commit author under their private commit email', `${PROD}\n    commitAuthors: [45-carol@users.noreply.gitlab.com]\n    approvals:\n      - {user_login: carol, user_id: "45", groups: [acme/sre], reason: OPS-1}`, 'ERR_APPROVAL_SELF'],
    ['someone not listed', `${PROD}\n    approvals:\n      - {user_login: mallory, reason: OPS-1}`, 'ERR_APPROVER_NOT_ALLOWED', /mallory may not approve step approve-deploy-prod/],
    ['a member of a listed group', `${PROD}\n    approvals:\n      - {user_login: carol, groups: [ACME/sre], reason: OPS-1}`, 'granted'],
    ['a member of another group', `${PROD}\n    approvals:\n      - {user_login: carol, groups: [acme], reason: OPS-1}`, 'ERR_APPROVER_NOT_ALLOWED'],
    ['no reason', `${PROD}\n    approvals:\n      - {user_login: alice}`, 'ERR_APPROVAL_REASON', /requires a reason and none was given/],
    ['a reason off the pattern', `${PROD}\n    approvals:\n      - {user_login: alice, reason: please}`, 'ERR_APPROVAL_REASON', /does not match reasonPattern/],
    ['an approval after the timeout', `${PROD}\n    approvals:\n      - {user_login: alice, after: 3h, reason: OPS-1}`, 'ERR_APPROVAL_EXPIRED', /approved 3h after the request, but step approve-deploy-prod allows 2h \(timeout\)/],
    ['an approval past validFor', `${PROD}\n    approvals:\n${ALICE}\n    now: 41m`, 'ERR_APPROVAL_EXPIRED', /approved 31m ago, but step approve-deploy-prod accepts approvals for 30m \(validFor\)/],
    ['an approval just within validFor', `${PROD}\n    approvals:\n${ALICE}\n    now: 40m`, 'granted'],
    ['an expired approval and a fresh one', `${PROD}\n    approvals:\n      - {user_login: alice, after: 1m, reason: OPS-1}\n      - {user_login: bob, after: 40m, reason: OPS-2}\n    now: 45m`, 'granted'],
    ['a valid approval, then an ineligible one (every approval must pass)', `${PROD}\n    approvals:\n${ALICE}\n      - {user_login: mallory, reason: OPS-1}`, 'ERR_APPROVER_NOT_ALLOWED'],
  ];
  for (const [what, yaml, want, message] of table) {
    it(`${want === 'granted' ? 'grants' : `denies (${want})`}: ${what}`, async () => {
      const outcome = await evaluateCase(file, testCase(yaml));
      assert.equal(outcome.kind === 'granted' ? 'granted' : outcome.code, want, outcome.kind === 'denied' ? outcome.message : '');
      if (message) assert.match(outcome.kind === 'denied' ? outcome.message : '', message);
    });
  }

  it('counts a person once, however often they approve', async () => {
    const twoOfTwo = parseAccessFile(ACCESS_FILE.replace('requireReason: true', 'requireReason: true\n          minApprovals: 2'), '.gitlab/oam.yaml');
    const same = await evaluateCase(twoOfTwo, testCase(`${PROD}\n    approvals:\n${ALICE}\n${ALICE}`, twoOfTwo));
    assert.equal(same.kind === 'denied' && same.code, 'ERR_APPROVAL_MISSING');
    assert.match(same.kind === 'denied' ? same.message : '', /1 of 2 approvals from distinct people/);
    const two = await evaluateCase(twoOfTwo, testCase(`${PROD}\n    approvals:\n${ALICE}\n      - {user_login: bob, reason: OPS-2}`, twoOfTwo));
    assert.equal(two.kind, 'granted');
    assert.deepEqual(two.kind === 'granted' && two.approvals?.counted, ['alice', 'bob']);
  });
});

describe('the defaults of a case', () => {
  it('is a protected main branch push pipeline of the first projectPaths entry, by developer', () => {
    const prod = file.components[0]!;
    const { claims, requester, nowSeconds } = buildScenario(file, prod, testCase(`${PROD}\n    approvals:\n${ALICE}`));
    assert.deepEqual(
      Object.fromEntries(['project_path', 'namespace_path', 'ref', 'ref_type', 'ref_protected', 'pipeline_source', 'environment', 'user_login', 'user_email'].map((c) => [c, claims.raw[c]])),
      {
        project_path: 'acme/payments',
        namespace_path: 'acme',
        ref: 'main',
        ref_type: 'branch',
        ref_protected: 'true',
        pipeline_source: 'push',
        environment: 'production',
        user_login: 'developer',
        user_email: 'developer@example.com',
      },
    );
    assert.equal(requester.user_id, claims.user_id);
    assert.equal(nowSeconds, REQUEST_IAT + 11 * 60, '1m after the last approval');
  });

  it('binds no environment at the request stage, and none for a component without one', () => {
    const [prod, dev] = file.components;
    assert.equal(buildScenario(file, prod!, testCase(`${PROD}\n    stage: request`)).claims.environment, undefined);
    assert.equal(buildScenario(file, dev!, testCase('    component: deploy-dev')).claims.environment, undefined);
  });

  it('lets defaults.claims and the case override, and null remove', () => {
    const tests = parsePolicyTests(
      Buffer.from('defaults:\n  claims: {ref: release/1, pipeline_source: web}\ncases:\n  - {name: a, component: deploy-dev, claims: {pipeline_source: null, user_login: null}, expect: granted}\n'),
      't.yaml',
      file,
    );
    const { claims } = buildScenario(file, file.components[1]!, tests.cases[0]!);
    assert.equal(claims.ref, 'release/1');
    assert.equal(claims.pipeline_source, undefined);
    assert.equal(claims.user_login, undefined);
    assert.equal(claims.user_id, undefined, 'no login, no derived id');
  });

  it('falls back to group/project without projectPaths', () => {
    assert.equal(defaultProjectPath(parseAccessFile(ACCESS_FILE.replace(/\s+projectPaths: .*/, ''), 'x.yaml')), FALLBACK_PROJECT_PATH);
  });
});

describe('meetsExpectation', () => {
  // [what, case YAML (its expect included), passes]
  const table: [string, string, boolean][] = [
    ['granted as expected', `${PROD}\n    approvals:\n${ALICE}\n    expect: granted`, true],
    ['denied, expected granted', `${PROD}\n    expect: granted`, false],
    ['granted, expected denied', `${PROD}\n    approvals:\n${ALICE}\n    expect: {denied: ERR_APPROVAL_MISSING}`, false],
    ['denied with another code', `${PROD}\n    expect: {denied: ERR_APPROVAL_SELF}`, false],
    ['denied with the code', `${PROD}\n    expect: {denied: ERR_APPROVAL_MISSING}`, true],
    ['denied by the named policy', `${PROD}\n    claims: {ref: x}\n    expect: {denied: ERR_POLICY_DENIED, policy: protected-only}`, true],
    ['denied, but by another policy', `${PROD}\n    claims: {environment: staging}\n    expect: {denied: ERR_POLICY_DENIED, policy: protected-only}`, false],
    ['denied by the environment binding, named', `${PROD}\n    claims: {environment: staging}\n    expect: {denied: ERR_POLICY_DENIED, policy: component deploy-prod}`, true],
    ['denied by two policies, naming the second', `${PROD}\n    claims: {environment: staging, ref: x}\n    expect: {denied: ERR_POLICY_DENIED, policy: protected-only}`, true],
  ];
  for (const [what, yaml, passes] of table) {
    it(`${passes ? 'passes' : 'fails'}: ${what}`, async () => {
      const result = await runCase(file, testCase(yaml));
      assert.equal(result.passed, passes);
      assert.equal(meetsExpectation(result.testCase.expect, result.outcome), passes);
    });
  }

  it('weighs every denying policy, not only the first that assertAllowed names', async () => {
    const outcome = await evaluateCase(file, testCase(`${PROD}\n    claims: {environment: staging, ref: x}`));
    assert.deepEqual(denyingPolicies(outcome.decision), ['component deploy-prod', 'protected-only']);
  });
});
