/**
 * `oam-grant test` through the built bundle, as a CI job runs it: a project
 * folder with .gitlab/oam.yaml and .gitlab/oam.test.yaml, no token, no
 * network, and the exit status and output lines a pipeline relies on.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli, workspace } from '../helpers/cli.ts';

const ACCESS_FILE = readFileSync(new URL('../fixtures/policy-tests/oam.yaml', import.meta.url), 'utf8');

const PASSING = `cases:
  - name: main with an approval is granted
    component: deploy-prod
    approvals: [{user_login: alice, after: 10m, reason: OPS-1 release}]
    expect: granted
  - name: a feature branch is denied
    component: deploy-prod
    claims: {ref: feature/x, ref_protected: "false"}
    expect: {denied: ERR_POLICY_DENIED, policy: protected-only}
  - name: self-approval is refused
    component: deploy-prod
    approvals: [{user_login: developer, reason: OPS-1}]
    expect: {denied: ERR_APPROVAL_SELF}
`;

const FAILING = `${PASSING}  - name: a tag is granted
    component: deploy-prod
    claims: {ref: v1.0.0, ref_type: tag}
    approvals: [{user_login: bob, reason: OPS-2}]
    expect: granted
`;

// A job environment that would send any network call to a closed port: the command must need none.
const OFFLINE = { CI: 'true', GITLAB_CI: 'true', CI_SERVER_URL: 'http://127.0.0.1:9', CI_API_V4_URL: 'http://127.0.0.1:9/api/v4' };

function project(tests?: string): string {
  const dir = workspace(ACCESS_FILE);
  if (tests !== undefined) writeFileSync(join(dir, '.gitlab/oam.test.yaml'), tests);
  return dir;
}

describe('oam-grant test (bundle)', () => {
  it('exits 0 when every case passes, one ok line each and the summary', async () => {
    const result = await runCli(['test'], { cwd: project(PASSING), env: OFFLINE });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(
      result.stdout,
      [
        '1..3',
        'ok 1 - deploy-prod: main with an approval is granted',
        'ok 2 - deploy-prod: a feature branch is denied',
        'ok 3 - deploy-prod: self-approval is refused',
        '# 3 cases, 3 passed, 0 failed',
        '',
      ].join('\n'),
    );
  });

  it('exits 1 when a case fails, naming the policy, claim, values and positions', async () => {
    const result = await runCli(['test'], { cwd: project(FAILING), env: OFFLINE });
    assert.equal(result.status, 1, result.stderr);
    const lines = result.stdout.split('\n');
    assert.deepEqual(lines.slice(4), [
      'not ok 4 - deploy-prod: a tag is granted',
      '#   case at .gitlab/oam.test.yaml:14:5',
      '#   expected: granted',
      '#   actual:   denied ERR_POLICY_DENIED by "protected-only"',
      '#   policy "protected-only" at .gitlab/oam.yaml:24:7: claim ref: seen "v1.0.0", refs expects matching "main" or "release/*"',
      '# 4 cases, 3 passed, 1 failed',
      '',
    ]);
  });

  it('exits 2 for an invalid test file, every problem at its FILE:LINE:COL', async () => {
    const broken = 'cases:\n  - name: x\n    component: deploy-prd\n    claims: {ref_protected: true}\n    expect: granted\n';
    const result = await runCli(['test'], { cwd: project(broken), env: OFFLINE });
    assert.equal(result.status, 2, result.stderr);
    assert.equal(
      result.stdout,
      '.gitlab/oam.test.yaml:3:16 error[ERR_METADATA_INVALID]: cases[0].component: no component "deploy-prd" in .gitlab/oam.yaml (it has: deploy-prod, deploy-dev)\n' +
        '.gitlab/oam.test.yaml:4:29 error[ERR_METADATA_INVALID]: cases[0].claims.ref_protected: claims are strings, as GitLab sends them: write "true" in quotes\n',
    );
    assert.match(result.stderr, /2 problems in \.gitlab\/oam\.test\.yaml\nhint: fix the test file/);
  });

  it('exits 2 for an invalid access file, before reading the tests', async () => {
    const dir = workspace(ACCESS_FILE.replace('refProtected: true', 'refProtected: yes'));
    const result = await runCli(['test'], { cwd: dir, env: OFFLINE });
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stdout, /^\.gitlab\/oam\.yaml:\d+:\d+ error\[ERR_METADATA_INVALID\]: spec\.policies\[0\]\.properties\.refProtected: /);
  });

  it('refuses with ERR_USAGE when there are no tests, saying where it looked', async () => {
    const result = await runCli(['test'], { cwd: project(), env: OFFLINE });
    assert.equal(result.status, 2);
    assert.equal(result.stdout, '');
    assert.equal(
      result.stderr,
      'error[ERR_USAGE]: no policy tests at .gitlab/oam.test.yaml\nhint: write the test cases there (docs/policy-tests.md), or point --tests (OAM_TESTS) at them\n',
    );
  });

  it('finds the tests beside --file, or where --tests or OAM_TESTS say (the flag wins)', async () => {
    const dir = project();
    writeFileSync(join(dir, 'access.yml'), ACCESS_FILE);
    writeFileSync(join(dir, 'access.test.yml'), PASSING);
    writeFileSync(join(dir, 'failing.yaml'), FAILING);
    assert.equal((await runCli(['test', '--file', 'access.yml'], { cwd: dir, env: OFFLINE })).status, 0);
    assert.equal((await runCli(['test', '--tests', 'failing.yaml'], { cwd: dir, env: OFFLINE })).status, 1);
    assert.equal((await runCli(['test'], { cwd: dir, env: { ...OFFLINE, OAM_TESTS: 'failing.yaml' } })).status, 1);
    const both = await runCli(['test', '--file', 'access.yml', '--tests', 'access.test.yml'], { cwd: dir, env: { ...OFFLINE, OAM_TESTS: 'failing.yaml' } });
    assert.equal(both.status, 0, both.stdout);
  });

  it('is listed in --help', async () => {
    const result = await runCli(['--help'], { cwd: project(), env: {} });
    assert.match(result.stdout, /^ {2}test {2,}run the policy tests beside the access file/m);
    assert.match(result.stdout, /^ {2}--tests PATH {2,}OAM_TESTS/m);
  });
});
