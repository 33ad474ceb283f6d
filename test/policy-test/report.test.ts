/** The runner's output, line by line: what a reviewer reads in the job log. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePolicyTests } from '../../src/policy-test/load.ts';
import { renderReport } from '../../src/policy-test/report.ts';
import { runCase } from '../../src/policy-test/run.ts';
import { file } from './helpers.ts';

async function report(yaml: string): Promise<string> {
  const tests = parsePolicyTests(Buffer.from(yaml), '.gitlab/oam.test.yaml', file);
  const results = [];
  for (const c of tests.cases) results.push(await runCase(file, c));
  return renderReport(file, tests, results);
}

describe('renderReport', () => {
  it('prints a plan, one line per case, and the summary', async () => {
    const text = await report(`cases:
  - name: main with an approval is granted
    component: deploy-prod
    approvals: [{user_login: alice, reason: OPS-1}]
    expect: granted
  - name: a branch is denied
    component: deploy-prod
    claims: {ref: feature/x}
    expect: {denied: ERR_POLICY_DENIED, policy: protected-only}
`);
    assert.equal(
      text,
      '1..2\nok 1 - deploy-prod: main with an approval is granted\nok 2 - deploy-prod: a branch is denied\n# 2 cases, 2 passed, 0 failed\n',
    );
  });

  it('explains a policy denial: policy, claim, value seen and expected, both positions', async () => {
    const text = await report(`cases:
  - name: an unprotected branch is granted
    component: deploy-prod
    claims: {ref: feature/x, ref_protected: "false"}
    expect: granted
`);
    assert.deepEqual(text.split('\n'), [
      '1..1',
      'not ok 1 - deploy-prod: an unprotected branch is granted',
      '#   case at .gitlab/oam.test.yaml:2:5',
      '#   expected: granted',
      '#   actual:   denied ERR_POLICY_DENIED by "protected-only"',
      '#   policy "protected-only" at .gitlab/oam.yaml:24:7: claim ref_protected: seen "false", refProtected expects "true"',
      '#   policy "protected-only" at .gitlab/oam.yaml:24:7: claim ref: seen "feature/x", refs expects matching "main" or "release/*"',
      '# 1 case, 0 passed, 1 failed',
      '',
    ]);
  });

  it('names an absent claim, and the environment binding of the component', async () => {
    const text = await report(`cases:
  - name: no environment
    component: deploy-prod
    claims: {environment: null}
    expect: {denied: ERR_APPROVAL_MISSING}
`);
    assert.match(text, /^# {3}expected: denied ERR_APPROVAL_MISSING$/m);
    assert.match(text, /^# {3}component deploy-prod at \.gitlab\/oam\.yaml:8:7: claim environment: seen absent, environment expects "production"$/m);
  });

  it('explains an approval denial with the rule that refused and the step', async () => {
    const text = await report(`cases:
  - name: self-approval is granted
    component: deploy-prod
    approvals: [{user_login: developer, reason: OPS-1}]
    expect: granted
`);
    assert.deepEqual(text.split('\n').slice(2, 7), [
      '#   case at .gitlab/oam.test.yaml:2:5',
      '#   expected: granted',
      '#   actual:   denied ERR_APPROVAL_SELF',
      '#   approval 1 (developer): developer requested this access and may not approve it (forbid: requester)',
      '#   step "approve-deploy-prod" at .gitlab/oam.yaml:36:9',
    ]);
  });

  it('says what held when a denial was expected', async () => {
    const text = await report(`cases:
  - name: an approved grant is denied by protected-only
    component: deploy-prod
    approvals: [{user_login: alice, reason: OPS-1}]
    expect: {denied: ERR_POLICY_DENIED, policy: protected-only}
  - name: deploy-dev is denied
    component: deploy-dev
    expect: {denied: ERR_POLICY_DENIED}
`);
    assert.deepEqual(text.split('\n').slice(1), [
      'not ok 1 - deploy-prod: an approved grant is denied by protected-only',
      '#   case at .gitlab/oam.test.yaml:2:5',
      '#   expected: denied ERR_POLICY_DENIED by "protected-only"',
      '#   actual:   granted',
      '#   conditions that held: component deploy-prod, protected-only, caps',
      '#   approvals: 1 of 1 counted (alice) for step "approve-deploy-prod" at .gitlab/oam.yaml:36:9',
      'not ok 2 - deploy-dev: deploy-dev is denied',
      '#   case at .gitlab/oam.test.yaml:6:5',
      '#   expected: denied ERR_POLICY_DENIED',
      '#   actual:   granted',
      '#   conditions that held: caps',
      '#   approvals: none required',
      '# 2 cases, 0 passed, 2 failed',
      '',
    ]);
  });

  it('keeps user text on its line', async () => {
    const text = await report('cases:\n  - name: "two\\nlines ok 9 - fake"\n    component: deploy-dev\n    expect: granted\n');
    assert.equal(text.split('\n')[1], 'ok 1 - deploy-dev: two lines ok 9 - fake');
  });
});
