/**
 * A grant's life after the grant job, through the built bundle: a long job's
 * AWS CLI refreshes through `credential_process = oam-grant credentials`
 * (against the STS emulator), a refresh after the approval's validFor is
 * refused, and the close job records the end — nothing revocable for AWS,
 * said so — and fails when an issuance broke the window or the duration.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_SHA, type EmbeddedDefault, startEmbeddedDefault } from '../emulators/index.ts';
import { CLI, capturedOutputs, readTree, runCli, runProgram, workspace } from '../helpers/cli.ts';
import { withInstance } from '../helpers/access-file.ts';
import { missingToolsReason } from '../helpers/tools.ts';

const API_TOKEN = 'glpat-refresh-close-secret-0001';

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
            sessionPolicy:
              Version: "2012-10-17"
              Statement: [{Effect: Allow, Action: ["s3:PutObject"], Resource: ["arn:aws:s3:::releases/*"]}]
  policies:
    - name: protected-main
      type: gitlab-conditions
      properties: {refProtected: true, refs: ["main"], projectPaths: ["acme/payments"]}
  workflow:
    steps:
      - name: approve-deploy-prod
        type: jit-approval
        timeout: 2h
        properties:
          component: deploy-prod
          approvers: {users: [alice]}
          forbid: [requester]
          validFor: 30m
`;

const DEV = { user_id: '42', user_login: 'dev', user_email: 'dev@example.com' };
const ALICE = { user_id: '43', user_login: 'alice', user_email: 'alice@example.com' };

describe('refresh and close through the bundle', () => {
  let world: EmbeddedDefault;
  let pipeline = 5_000_000;
  const now = () => Math.floor(Date.now() / 1000);

  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build`);
    world = await startEmbeddedDefault({ gitlab: { tokens: [API_TOKEN] } });
  });
  after(async () => {
    const secrets = [API_TOKEN, ...world.sts.issued.flatMap((c) => [c.secretAccessKey, c.sessionToken])];
    assert.ok(world.sts.issued.length > 0);
    // The credentials' only way out is the stdout of `credentials`, which the AWS CLI reads: never a log, a note or a file.
    for (const output of capturedOutputs) {
      if (output.startsWith('{"Version":1,')) continue;
      for (const s of secrets) assert.ok(!output.includes(s), 'a secret reached stdout or stderr');
    }
    for (const call of world.gitlab.calls) for (const s of secrets) assert.ok(!call.body.includes(s), `a secret reached ${call.method} ${call.path}`);
    await world.close();
  });

  /** One pipeline, approved `approvedAgo` seconds ago and granted; returns its helpers. */
  async function approvedPipeline(approvedAgo: number) {
    const id = String(++pipeline);
    const dir = workspace(withInstance(ACCESS_FILE, world.issuer.url));
    const base = (jobId: string): Record<string, string | undefined> => ({
      CI_SERVER_URL: world.issuer.url,
      CI_API_V4_URL: `${world.issuer.url}/api/v4`,
      CI_PROJECT_ID: '1217',
      CI_PROJECT_PATH: 'acme/payments',
      CI_PIPELINE_ID: id,
      CI_JOB_ID: jobId,
      CI_COMMIT_SHA: DEFAULT_SHA,
      CI_MERGE_REQUEST_IID: '7',
      OAM_GITLAB_TOKEN: API_TOKEN,
      AWS_ENDPOINT_URL_STS: world.sts.url,
    });
    const claims = (person: object, jobId: string) => ({ ...person, sha: DEFAULT_SHA, pipeline_id: id, job_id: jobId });
    const evidence = (person: object, jobId: string, iat?: number) =>
      world.issuer.mint(claims(person, jobId), { aud: 'oam-grant', ttlSeconds: 3600, ...(iat ? { iat } : {}) });
    const request = await runCli(['request', '--component', 'deploy-prod'], { cwd: dir, env: { ...base('800'), OAM_EVIDENCE_TOKEN: await evidence(DEV, '800', now() - approvedAgo - 60) } });
    assert.equal(request.status, 0, request.stderr);
    const approve = await runCli(['approve', '--component', 'deploy-prod'], { cwd: dir, env: { ...base('801'), OAM_EVIDENCE_TOKEN: await evidence(ALICE, '801', now() - approvedAgo) } });
    assert.equal(approve.status, 0, approve.stderr);
    return {
      id,
      dir,
      base,
      jobToken: (jobId: string) => world.issuer.mint(claims(DEV, jobId)),
      evidence,
      note: () => world.gitlab.notes('1217', 7).filter((n) => n.body.startsWith(`<!-- oam-grant:v1 pipeline=${id} `)),
      read: (name: string) => JSON.parse(readFileSync(join(dir, '.oam-grant', name), 'utf8')),
    };
  }

  it('a long job refreshes through credential_process: the real AWS CLI, the session policy, a counted refresh, no note', async (t) => {
    const p = await approvedPipeline(60);
    const grant = await runCli(['grant', '--component', 'deploy-prod'], { cwd: p.dir, env: { ...p.base('1000'), OAM_ID_TOKEN: await p.jobToken('1000') } });
    assert.equal(grant.status, 0, grant.stderr);
    const notePuts = () => world.gitlab.calls.filter((c) => c.method !== 'GET' && c.path.includes('/notes')).length;
    const putsBefore = notePuts();

    const env = { ...p.base('1001'), OAM_ID_TOKEN: await p.jobToken('1001') };
    const direct = await runCli(['credentials', '--component', 'deploy-prod'], { cwd: p.dir, env });
    assert.equal(direct.status, 0, direct.stderr);
    const json = JSON.parse(direct.stdout);
    assert.deepEqual(Object.keys(json), ['Version', 'AccessKeyId', 'SecretAccessKey', 'SessionToken', 'Expiration']);
    const issued = world.sts.issued.at(-1)!;
    assert.equal(json.SecretAccessKey, issued.secretAccessKey);
    assert.equal(json.Expiration, issued.expiration.toISOString());
    assert.ok(!direct.stderr.includes(issued.secretAccessKey) && !direct.stderr.includes(issued.accessKeyId), 'the log names no key');
    // The session policy of the file, as in the grant.
    assert.match(world.sts.calls.at(-1)!.params.Policy ?? '', /releases/);
    assert.equal(notePuts(), putsBefore, 'a refresh posts nothing');
    assert.equal(p.read('refreshes-1001.json').refreshes.length, 1);

    const missing = missingToolsReason('aws');
    if (missing) {
      t.skip(`${missing}: the AWS CLI check did not run`);
      return;
    }
    const config = join(p.dir, 'aws-config');
    writeFileSync(config, `[profile deploy]\ncredential_process = ${process.execPath} ${CLI} credentials --component deploy-prod\nregion = eu-west-1\n`);
    const aws = await runProgram('/usr/bin/aws', ['sts', 'get-caller-identity', '--profile', 'deploy', '--endpoint-url', world.sts.url, '--output', 'json'], {
      cwd: p.dir,
      env: { ...env, HOME: p.dir, AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: '/dev/null', AWS_EC2_METADATA_DISABLED: 'true' },
    });
    assert.equal(aws.status, 0, aws.stderr);
    assert.match(JSON.parse(aws.stdout).Arn, /^arn:aws:sts::123456789012:assumed-role\/ci-deploy\/acme\.payments@p\d+\.j1001$/);
    // The CLI may call the process more than once; every call is one exchange and one counted refresh.
    const byJob = world.sts.issued.filter((c) => c.sessionName.endsWith('.j1001')).length;
    assert.ok(byJob >= 2);
    assert.equal(p.read('refreshes-1001.json').refreshes.length, byJob);
  });

  it('refuses a refresh once the approval is past validFor, and records no denial over the note', async () => {
    const p = await approvedPipeline(31 * 60);
    const stsBefore = world.sts.calls.length;
    const notesBefore = p.note().map((n) => n.body);
    const result = await runCli(['credentials', '--component', 'deploy-prod'], { cwd: p.dir, env: { ...p.base('1001'), OAM_ID_TOKEN: await p.jobToken('1001') } });
    assert.equal(result.status, 3, result.stderr);
    assert.match(result.stderr, /^error\[ERR_APPROVAL_EXPIRED\]: /m);
    assert.equal(result.stdout, '');
    assert.equal(world.sts.calls.length, stsBefore, 'nothing exchanged');
    assert.deepEqual(p.note().map((n) => n.body), notesBefore);
    assert.equal(existsSync(join(p.dir, '.oam-grant/refreshes-1001.json')), false);
  });

  it('close: nothing revocable for AWS, said so; closed.json, metrics and the note record the end', async () => {
    const p = await approvedPipeline(60);
    assert.equal((await runCli(['grant', '--component', 'deploy-prod'], { cwd: p.dir, env: { ...p.base('1000'), OAM_ID_TOKEN: await p.jobToken('1000') } })).status, 0);
    assert.equal((await runCli(['credentials', '--component', 'deploy-prod'], { cwd: p.dir, env: { ...p.base('1001'), OAM_ID_TOKEN: await p.jobToken('1001') } })).status, 0);
    const close = await runCli(['close', '--component', 'deploy-prod'], { cwd: p.dir, env: { ...p.base('1002'), OAM_EVIDENCE_TOKEN: await p.evidence(DEV, '1002') } });
    assert.equal(close.status, 0, close.stderr);
    assert.match(close.stderr, /aws-sts arn:aws:sts::123456789012:assumed-role\/ci-deploy\/\S+: cannot be revoked \(an STS session cannot be revoked by its holder\); expires at \d{4}-/);
    assert.match(close.stderr, /refresh in job 1001: .* cannot be revoked; expires at/);
    const closed = p.read('closed.json');
    assert.equal(closed.outcome, 'closed');
    assert.equal(closed.refreshes, 1);
    assert.equal(closed.credentials[0].ended, 'expires');
    assert.deepEqual(closed.violations, []);
    const metrics = readFileSync(join(p.dir, '.oam-grant/metrics.txt'), 'utf8');
    assert.match(metrics, /^oam_grant_revoke_duration_seconds\{component="deploy-prod"\} [0-9.]+$/m);
    assert.match(metrics, /^oam_grant_approval_latency_seconds\{component="deploy-prod"\} \d+$/m);
    assert.match(metrics, /^oam_grant_refreshes\{component="deploy-prod"\} 1$/m);
    const body = p.note()[0]!.body;
    assert.match(body, /<!-- oam-grant:closed -->\n🔒 \*\*Closed\*\* at .*; refreshes: 1/);
    assert.match(body, /granted until/, 'the grant stays in the note');
    // Evidence files carry their tokens by design; the records of a grant's life never do.
    for (const f of readTree(join(p.dir, '.oam-grant')).filter((f) => /(closed|refreshes-\d+|metrics)\.(json|txt)$/.test(f.path))) {
      assert.doesNotMatch(f.text, /eyJ[A-Za-z0-9_-]+\.eyJ/, `${f.path}: a token in a record`);
    }
  });

  it('close fails with ERR_POLICY_DENIED when an issuance came after the window or lasted longer than the file allows', async () => {
    const p = await approvedPipeline(60);
    assert.equal((await runCli(['grant', '--component', 'deploy-prod'], { cwd: p.dir, env: { ...p.base('1000'), OAM_ID_TOKEN: await p.jobToken('1000') } })).status, 0);
    // What a job that bypassed the gate (or a forged record) would leave: a refresh two hours on, for two hours.
    const late = new Date(Date.now() + 2 * 3600_000);
    writeFileSync(
      join(p.dir, '.oam-grant/refreshes-1003.json'),
      JSON.stringify({ version: 1, component: 'deploy-prod', pipelineId: p.id, jobId: '1003', refreshes: [{ at: late.toISOString(), identity: 'arn:x', sessionName: 's', expiresAt: new Date(late.getTime() + 7200_000).toISOString() }] }),
    );
    // The window's rules come from the file: a rewritten audit record cannot stretch validFor over the late refresh.
    const audit = join(p.dir, '.oam-grant/audit.json');
    const stretched = readFileSync(audit, 'utf8').replace(/"validForSeconds": \d+/, '"validForSeconds": 86400');
    assert.match(stretched, /"validForSeconds": 86400/);
    writeFileSync(audit, stretched);
    const close = await runCli(['close', '--component', 'deploy-prod'], { cwd: p.dir, env: { ...p.base('1002'), OAM_EVIDENCE_TOKEN: await p.evidence(DEV, '1002') } });
    assert.equal(close.status, 3, close.stderr);
    assert.match(close.stderr, /^error\[ERR_POLICY_DENIED\]: 2 issuances of deploy-prod broke/m);
    const closed = p.read('closed.json');
    assert.equal(closed.outcome, 'violated');
    assert.equal(closed.violations.length, 2);
    assert.match(closed.violations[0], /after the approval window ended at/);
    assert.match(closed.violations[1], /issued for 7200 s, .* but the file allows 900 s/);
    assert.match(p.note()[0]!.body, /❌ \*\*Closed: a grant outlived/);
  });

  it('close after a grant that never happened: nothing to close, a record saying so', async () => {
    const p = await approvedPipeline(60);
    // The approve job's own audit record says "approved": nothing was issued.
    const approved = await runCli(['close', '--component', 'deploy-prod'], { cwd: p.dir, env: { ...p.base('1002'), OAM_EVIDENCE_TOKEN: await p.evidence(DEV, '1002') } });
    assert.equal(approved.status, 0, approved.stderr);
    assert.match(approved.stderr, /the grant of deploy-prod ended as approved: nothing was issued, nothing to close/);
    assert.equal(p.read('closed.json').outcome, 'approved');
    rmSync(join(p.dir, '.oam-grant/audit.json'));
    const close = await runCli(['close', '--component', 'deploy-prod'], { cwd: p.dir, env: { ...p.base('1002'), OAM_EVIDENCE_TOKEN: await p.evidence(DEV, '1002') } });
    assert.equal(close.status, 0, close.stderr);
    assert.match(close.stderr, /no \.oam-grant\/audit\.json: the grant job did not run, or its artifacts were not handed on; nothing to close/);
    assert.equal(p.read('closed.json').outcome, 'nothing-granted');
  });

  it('close will not run on a cloud token: its own token must carry the evidence audience', async () => {
    const p = await approvedPipeline(60);
    const close = await runCli(['close', '--component', 'deploy-prod'], { cwd: p.dir, env: { ...p.base('1002'), OAM_EVIDENCE_TOKEN: await p.jobToken('1002') } });
    assert.equal(close.status, 3, close.stderr);
    assert.match(close.stderr, /^error\[ERR_TOKEN_AUDIENCE\]/m);
  });

  it('close refuses an audit record of another pipeline', async () => {
    const p = await approvedPipeline(60);
    assert.equal((await runCli(['grant', '--component', 'deploy-prod'], { cwd: p.dir, env: { ...p.base('1000'), OAM_ID_TOKEN: await p.jobToken('1000') } })).status, 0);
    const path = join(p.dir, '.oam-grant/audit.json');
    writeFileSync(path, readFileSync(path, 'utf8').replace(`"pipelineId": "${p.id}"`, '"pipelineId": "1"'));
    const close = await runCli(['close', '--component', 'deploy-prod'], { cwd: p.dir, env: { ...p.base('1002'), OAM_EVIDENCE_TOKEN: await p.evidence(DEV, '1002') } });
    assert.equal(close.status, 3, close.stderr);
    assert.match(close.stderr, /^error\[ERR_APPROVAL_INVALID\]: audit\.json is from pipeline "1", not this pipeline/m);
  });

  it("close refuses a refresh record of another pipeline rather than count or ignore it", async () => {
    const p = await approvedPipeline(60);
    assert.equal((await runCli(['grant', '--component', 'deploy-prod'], { cwd: p.dir, env: { ...p.base('1000'), OAM_ID_TOKEN: await p.jobToken('1000') } })).status, 0);
    const now = new Date().toISOString();
    writeFileSync(
      join(p.dir, '.oam-grant/refreshes-1004.json'),
      JSON.stringify({ version: 1, component: 'deploy-prod', pipelineId: '1', jobId: '1004', refreshes: [{ at: now, identity: 'arn:x', sessionName: 's', expiresAt: now }] }),
    );
    const close = await runCli(['close', '--component', 'deploy-prod'], { cwd: p.dir, env: { ...p.base('1002'), OAM_EVIDENCE_TOKEN: await p.evidence(DEV, '1002') } });
    assert.equal(close.status, 3, close.stderr);
    assert.match(close.stderr, /^error\[ERR_APPROVAL_INVALID\]: refreshes-1004\.json is from another pipeline or component/m);
  });
});
