/**
 * The reviewed access file is the root of trust (issue "Safe and working on
 * real GitLab", section 1): variables that whoever runs a pipeline may set
 * cannot choose the issuer, the API host or the STS endpoint.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type EmbeddedDefault, type GitlabApi, type Issuer, startEmbeddedDefault, startGitlabApi, startIssuer } from '../emulators/index.ts';
import { withInstance } from '../helpers/access-file.ts';
import { runCli, workspace } from '../helpers/cli.ts';

const ACCESS_FILE = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: payments-api
spec:
  components:
    - name: deploy-prod
      type: gitlab-job
      traits:
        - type: aws-sts
          properties:
            roleArn: arn:aws:iam::123456789012:role/ci-deploy
            region: eu-west-1
            stsEndpoint: STS_URL
  policies:
    - name: protected-main
      type: gitlab-conditions
      properties: {refProtected: true, refs: ["main"]}
  workflow:
    steps:
      - name: approve
        type: jit-approval
        properties:
          component: deploy-prod
          approvers: {users: [alice]}
          forbid: []
`;

const API_TOKEN = 'glpat-trust-root-0001';
const MAIN = { ref: 'main', ref_type: 'branch', ref_protected: 'true' };
const EVIDENCE_AUDIENCE = ['oam-grant', 'oam-grant:component:deploy-prod'];

describe('the access file is the root of trust (through the bundle)', () => {
  let world: EmbeddedDefault;
  // The attacker's own GitLab look-alike: an issuer with its own keys, serving an API that records what it is sent.
  let evilIssuer: Issuer;
  let evilApi: GitlabApi;
  let dir: string;

  before(async () => {
    world = await startEmbeddedDefault({ gitlab: { tokens: [API_TOKEN] } });
    evilIssuer = await startIssuer();
    evilApi = await startGitlabApi();
    evilIssuer.serveApiFrom(evilApi.url);
    dir = workspace(withInstance(ACCESS_FILE.replace('STS_URL', world.sts.url), world.issuer.url));
  });
  after(async () => {
    await Promise.all([world.close(), evilIssuer.close(), evilApi.close()]);
  });

  it('refuses a Run-form OAM_ISSUER + CI_API_V4_URL + self-signed token before the API token goes anywhere', async () => {
    const forged = await evilIssuer.mint({ ...MAIN, user_login: 'alice', user_id: '43' }, { aud: EVIDENCE_AUDIENCE });
    const result = await runCli(['approve', '--component', 'deploy-prod'], {
      cwd: dir,
      env: {
        CI_SERVER_URL: world.issuer.url,
        OAM_ISSUER: evilIssuer.url,
        CI_API_V4_URL: `${evilIssuer.url}/api/v4`,
        OAM_GITLAB_TOKEN: API_TOKEN,
        OAM_EVIDENCE_TOKEN: forged,
      },
    });
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /error\[ERR_USAGE\]: OAM_ISSUER "http:\/\/127\.0\.0\.1:[0-9]+" names another GitLab instance than \.gitlab\/oam\.yaml \(spec\.gitlab\.issuer: http:\/\/127\.0\.0\.1:[0-9]+\)/);
    assert.match(result.stderr, /hint: the instance is trusted only as the reviewed access file states it/);
    assert.equal(evilApi.calls.length, 0, 'the API token never reached the attacker');
    assert.deepEqual(evilIssuer.requests, [], 'not even a key fetch went to the host the variables name');
    assert.equal(world.gitlab.calls.length, 0);
    assert.equal(existsSync(join(dir, '.oam-grant')), false, 'no evidence written');
  });

  it('refuses CI_SERVER_URL or CI_API_V4_URL overridden alone, naming the variable', async () => {
    for (const [variable, value] of [
      ['CI_SERVER_URL', evilIssuer.url],
      ['CI_API_V4_URL', `${evilIssuer.url}/api/v4`],
    ] as const) {
      const result = await runCli(['plan', '--component', 'deploy-prod'], {
        cwd: dir,
        env: { CI_SERVER_URL: world.issuer.url, [variable]: value, OAM_GITLAB_TOKEN: API_TOKEN },
      });
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr, new RegExp(`error\\[ERR_USAGE\\]: ${variable} "`));
    }
    assert.equal(evilApi.calls.length, 0);
  });

  it('sends the exchange token to the file\'s stsEndpoint, not to a non-loopback AWS_ENDPOINT_URL_STS', async () => {
    const file = withInstance(ACCESS_FILE.replace('STS_URL', world.sts.url).replace(/ {2}workflow:[\s\S]*$/, ''), world.issuer.url);
    const cwd = workspace(file);
    const before = world.sts.calls.length;
    const result = await runCli(['grant', '--component', 'deploy-prod'], {
      cwd,
      env: {
        CI_SERVER_URL: world.issuer.url,
        OAM_ID_TOKEN: await world.issuer.mint(MAIN),
        OAM_GITLAB_TOKEN: API_TOKEN,
        AWS_ENDPOINT_URL_STS: 'https://sts.attacker.example',
      },
    });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /AWS_ENDPOINT_URL_STS is ignored: the STS endpoint comes from the access file \(stsEndpoint\)/);
    assert.equal(world.sts.calls.length, before + 1, 'the exchange went to the STS the file names');
  });

  it('refuses an evidence token that a cloud would also accept', async () => {
    const token = await world.issuer.mint(MAIN, { aud: [...EVIDENCE_AUDIENCE, 'sts.amazonaws.com'] });
    const result = await runCli(['request', '--component', 'deploy-prod'], { cwd: dir, env: { CI_SERVER_URL: world.issuer.url, OAM_EVIDENCE_TOKEN: token } });
    assert.equal(result.status, 3, result.stderr);
    assert.match(result.stderr, /error\[ERR_TOKEN_AUDIENCE\]: OAM_EVIDENCE_TOKEN: aud also holds "sts\.amazonaws\.com"; a token kept as evidence may carry only oam-grant/);
    assert.equal(existsSync(join(dir, '.oam-grant/request.json')), false, 'nothing written that would hold it');
  });
});
