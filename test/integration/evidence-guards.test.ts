/**
 * Regression for issue #11: each evidence check of the hand-written-job path
 * (evidence tokens minted for `oam-grant` only, no component audience, one
 * shared out-dir) has a test through the bundle that fails without it.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_SHA, type EmbeddedDefault, startEmbeddedDefault } from '../emulators/index.ts';
import { withInstance } from '../helpers/access-file.ts';
import { type CliResult, runCli, workspace } from '../helpers/cli.ts';

const ACCESS_FILE = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: guards
spec:
  components:
    - name: alpha
      type: gitlab-job
      traits:
        - type: aws-sts
          properties: {roleArn: "arn:aws:iam::123456789012:role/ci-deploy", region: eu-west-1}
    - name: beta
      type: gitlab-job
      traits:
        - type: aws-sts
          properties:
            roleArn: arn:aws:iam::123456789012:role/ci-deploy
            sessionPolicy:
              Version: "2012-10-17"
              Statement: [{Effect: Allow, Action: ["s3:GetObject"], Resource: ["*"]}]
  policies:
    - name: protected-main
      type: gitlab-conditions
      properties: {refProtected: true, refs: ["main"], projectPaths: ["acme/payments"]}
  workflow:
    steps:
      - name: approve-alpha
        type: jit-approval
        properties: {component: alpha, approvers: {users: [alice, bob]}, forbid: []}
      - name: approve-beta
        type: jit-approval
        properties: {component: beta, approvers: {users: [alice, bob]}, forbid: []}
`;

const DEV = { user_id: '42', user_login: 'dev', user_email: 'dev@example.com' };
const ALICE = { user_id: '43', user_login: 'alice', user_email: 'alice@example.com' };
const GRANT_JOB = '1000';

describe('evidence checks of the hand-written-job path (through the bundle)', () => {
  let world: EmbeddedDefault;
  let pipeline = 7_000_000;

  before(async () => {
    world = await startEmbeddedDefault();
  });
  after(() => world.close());

  function newPipeline() {
    const id = String(++pipeline);
    const dir = workspace(withInstance(ACCESS_FILE, world.issuer.url));
    const env = (jobId: string, extra: Record<string, string>): Record<string, string> => ({
      CI_SERVER_URL: world.issuer.url,
      CI_PROJECT_ID: '1217',
      CI_PIPELINE_ID: id,
      CI_JOB_ID: jobId,
      CI_COMMIT_SHA: DEFAULT_SHA,
      AWS_ENDPOINT_URL_STS: world.sts.url,
      // The narrowing guard asks the API which branch is the default one.
      OAM_GITLAB_TOKEN: 'glpat-evidence-test-0001',
      ...extra,
    });
    const claims = (person: object, jobId: string) => ({ ...person, ref: 'main', ref_protected: 'true', sha: DEFAULT_SHA, pipeline_id: id, job_id: jobId });
    // `oam-grant` only: the audience design.md asks of a hand-written job.
    const evidence = (person: object, jobId: string) => world.issuer.mint(claims(person, jobId), { aud: 'oam-grant', ttlSeconds: 3600 });
    return {
      dir,
      outDir: (component: string) => join(dir, '.oam-grant', component),
      async request(component: string, outDir = `.oam-grant/${component}`): Promise<CliResult> {
        return runCli(['request', '--component', component, '--out-dir', outDir], { cwd: dir, env: env('800', { OAM_EVIDENCE_TOKEN: await evidence(DEV, '800') }) });
      },
      async approve(component: string, jobId: string, outDir = `.oam-grant/${component}`): Promise<CliResult> {
        return runCli(['approve', '--component', component, '--out-dir', outDir], { cwd: dir, env: env(jobId, { OAM_EVIDENCE_TOKEN: await evidence(ALICE, jobId) }) });
      },
      async grant(component: string, outDir = `.oam-grant/${component}`): Promise<CliResult> {
        const token = await world.issuer.mint(claims(DEV, GRANT_JOB));
        return runCli(['grant', '--component', component, '--out-dir', outDir, '--dotenv', `${component}.env`], { cwd: dir, env: env(GRANT_JOB, { OAM_ID_TOKEN: token }) });
      },
      evidence,
    };
  }

  const ok = (r: CliResult) => assert.equal(r.status, 0, r.stderr);
  const refused = (r: CliResult, message: RegExp) => {
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, message);
  };

  it('refuses a request made for another component (request.json copied across out-dirs)', async () => {
    const p = newPipeline();
    ok(await p.request('alpha'));
    mkdirSync(p.outDir('beta'), { recursive: true });
    cpSync(join(p.outDir('alpha'), 'request.json'), join(p.outDir('beta'), 'request.json'));
    refused(await p.approve('beta', '901'), /error\[ERR_APPROVAL_INVALID\]: \.oam-grant\/beta\/request\.json: the request is for component alpha, not beta/);
    refused(await p.grant('beta'), /error\[ERR_APPROVAL_INVALID\]: \.oam-grant\/beta\/request\.json: the request is for component alpha, not beta/);
  });

  it('refuses an approval given for another component and step, however eligible its approver', async () => {
    const p = newPipeline();
    ok(await p.request('alpha'));
    ok(await p.request('beta'));
    ok(await p.approve('alpha', '901'));
    mkdirSync(join(p.outDir('beta'), 'approvals'), { recursive: true });
    cpSync(join(p.outDir('alpha'), 'approvals/901.json'), join(p.outDir('beta'), 'approvals/901.json'));
    refused(await p.grant('beta'), /error\[ERR_APPROVAL_INVALID\]: \.oam-grant\/beta\/approvals\/901\.json: approves step approve-alpha of component alpha, not step approve-beta of beta/);
    assert.equal(existsSync(join(p.dir, 'beta.env')), false);
  });

  it('refuses an approval of another step of the same component (a renamed or stale step)', async () => {
    const p = newPipeline();
    ok(await p.request('alpha'));
    ok(await p.approve('alpha', '901'));
    const path = join(p.outDir('alpha'), 'approvals/901.json');
    writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, 'utf8')), step: 'approve-alpha-old' }));
    refused(await p.grant('alpha'), /approvals\/901\.json: approves step approve-alpha-old of component alpha, not step approve-alpha of alpha/);
  });

  it("refuses the grant job's own job as an approver", async () => {
    const p = newPipeline();
    ok(await p.request('alpha'));
    // A grant job that also declares an oam-grant token could write itself an "approval".
    const token = await p.evidence(ALICE, GRANT_JOB);
    const approvals = join(p.outDir('alpha'), 'approvals');
    mkdirSync(approvals, { recursive: true });
    writeFileSync(
      join(approvals, `${GRANT_JOB}.json`),
      JSON.stringify({ version: 1, kind: 'approval', component: 'alpha', step: 'approve-alpha', token, reason: '', reasonSource: { kind: 'none' }, createdAt: new Date().toISOString() }),
    );
    refused(await p.grant('alpha'), /error\[ERR_APPROVAL_INVALID\]: \.oam-grant\/alpha\/approvals\/1000\.json: job 1000 cannot both request \(or grant\) and approve/);
  });

  it('refuses a grant when the access file changed after the request, even where this component did not', async () => {
    const p = newPipeline();
    ok(await p.request('alpha'));
    ok(await p.approve('alpha', '901'));
    const path = join(p.dir, '.gitlab/oam.yaml');
    writeFileSync(path, `${readFileSync(path, 'utf8')}# an edit in the workspace between jobs\n`);
    refused(await p.grant('alpha'), /error\[ERR_APPROVAL_INVALID\]: \.oam-grant\/alpha\/request\.json: accessFileDigest differs from the access file at this commit/);
  });

  for (const [field, value, component, message] of [
    ['region', 'us-east-1', 'alpha', 'region'],
    ['scopeDigest', '0'.repeat(64), 'beta', 'scopeDigest'],
    ['identity', 'arn:aws:iam::123456789012:role/other', 'alpha', 'roleArn'],
  ] as const) {
    it(`refuses request.json whose requested ${field} was edited`, async () => {
      const p = newPipeline();
      ok(await p.request(component));
      ok(await p.approve(component, '901'));
      const path = join(p.outDir(component), 'request.json');
      const request = JSON.parse(readFileSync(path, 'utf8'));
      request.requested.credentials[0][field] = value;
      writeFileSync(path, JSON.stringify(request));
      refused(await p.grant(component), new RegExp(`request\\.json: requested\\.${message} differs from the access file at this commit`));
      assert.deepEqual(readdirSync(p.dir).filter((f) => f.endsWith('.env')), []);
    });
  }
});
