/**
 * The human gate end to end through the built bundle: request as the
 * pipeline user, approve as someone else, grant — three runs in one
 * workspace against the loopback issuer, STS and GitLab API — and every way
 * the gate refuses. A refusal exchanges nothing and writes no dotenv.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_SHA, DEFAULT_USERS, type EmbeddedDefault, startEmbeddedDefault } from '../emulators/index.ts';
import { CLI, type CliResult, capturedOutputs, workspace as makeWorkspace, readTree, runCli } from '../helpers/cli.ts';
import { withInstance } from '../helpers/access-file.ts';

const API_TOKEN = 'glpat-approval-flow-secret-0001';
/** MR !9 was merged: carol wrote its commit, dev opened it; the protected-branch pipeline runs at its merge commit. */
const FEATURE_SHA = 'f'.repeat(40);
const MERGE_SHA = 'e'.repeat(40);

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
            sessionPolicy:
              Version: "2012-10-17"
              Statement: [{Effect: Allow, Action: ["s3:PutObject"], Resource: ["arn:aws:s3:::releases/*"]}]
        - type: mr-audit
          properties: {required: true}
    - name: pair
      type: gitlab-job
      traits:
        - type: aws-sts
          properties: {roleArn: "arn:aws:iam::123456789012:role/ci-deploy"}
    - name: by-group
      type: gitlab-job
      traits:
        - type: aws-sts
          properties: {roleArn: "arn:aws:iam::123456789012:role/ci-deploy"}
    - name: release
      type: gitlab-job
      traits:
        - type: aws-sts
          properties: {roleArn: "arn:aws:iam::123456789012:role/ci-deploy"}
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
          approvers: {users: [alice, bob]}
          forbid: [requester, mrAuthor]
          requireReason: true
          reasonPattern: "^[A-Z]+-[0-9]+"
          validFor: 30m
      - name: approve-pair
        type: jit-approval
        properties:
          component: pair
          approvers: {users: [alice, bob]}
          minApprovals: 2
          forbid: [requester]
      - name: approve-by-group
        type: jit-approval
        properties:
          component: by-group
          approvers: {groups: [acme/sre]}
          forbid: [requester]
      - name: approve-release
        type: jit-approval
        properties:
          component: release
          approvers: {users: [alice, carol, dev]}
          forbid: [requester, mrAuthor, commitAuthor]
`;

const DEV = { user_id: '42', user_login: 'dev', user_email: 'dev@example.com' };
const ALICE = { user_id: '43', user_login: 'alice', user_email: 'alice@example.com' };
const BOB = { user_id: '44', user_login: 'bob', user_email: 'bob@example.com' };
const CAROL = { user_id: '45', user_login: 'carol', user_email: 'carol@example.com' };
const MALLORY = { user_id: '46', user_login: 'mallory', user_email: 'mallory@example.com' };
const BLOCKED = { user_id: '47', user_login: 'erin', user_email: 'erin@example.com' };

type Run = CliResult;

const run = (args: string[], cwd: string, env: Record<string, string | undefined>): Promise<Run> => runCli(args, { cwd, env });
let instanceUrl = '';
const workspace = (): string => makeWorkspace(withInstance(ACCESS_FILE, instanceUrl));
const files = readTree;
const outputs = capturedOutputs;

describe('approval flow through the bundle', () => {
  type Files = { files?: Record<string, Record<string, string>> };
  const payments: { id: string; path: string; members: Record<number, number> } & Files = { id: '1217', path: 'acme/payments', members: { 9001: 40, 42: 30 } };
  const upstream: { id: string; path: string; pipelineVariablesMinimumOverrideRole: 'developer' } & Files = {
    id: '1218',
    path: 'acme/payments-upstream',
    pipelineVariablesMinimumOverrideRole: 'developer',
  };
  let world: EmbeddedDefault;
  let pipeline = 3_000_000;
  const now = () => Math.floor(Date.now() / 1000);

  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build`);
    world = await startEmbeddedDefault({
      gitlab: {
        tokens: [API_TOKEN],
        users: [...DEFAULT_USERS.map((u) => ({ ...u })), { ...BLOCKED, id: 47, username: BLOCKED.user_login, email: BLOCKED.user_email, state: 'blocked' }],
        groups: [
          // mallory is an Owner of the parent group only (inherited); bob is a Guest of acme/sre; carol a Developer; erin, blocked.
          { path: 'acme', memberUserIds: [46], accessLevel: 50 },
          { path: 'acme/sre', memberUserIds: [45, 44, 47], accessLevel: 30, accessLevels: { 44: 10 } },
        ],
        projects: [
          payments,
          // Where a fork MR pipeline's jobs run (job_project_id): a project that lets Developers set pipeline variables.
          upstream,
        ],
        mergeRequests: [
          { projectId: '1217', iid: 7, authorUsername: 'dev', commits: [{ sha: DEFAULT_SHA, authorEmail: 'dev@example.com', authorName: 'Dev Eloper' }] },
          {
            projectId: '1217',
            iid: 9,
            authorUsername: 'dev',
            state: 'merged',
            commits: [{ sha: FEATURE_SHA, authorEmail: 'carol@example.com' }],
            mergeCommit: { sha: MERGE_SHA, authorEmail: 'bob@example.com' },
          },
          // An unrelated MR by someone else, for a pipeline variable to name.
          { projectId: '1217', iid: 11, authorUsername: 'alice', commits: [{ sha: 'a'.repeat(40), authorEmail: 'alice@example.com' }] },
        ],
      },
    });
    instanceUrl = world.issuer.url;
    // A fork's pipeline is held to the job project's default branch file (the narrowing guard): the same file there.
    for (const project of [payments, upstream]) project.files = { main: { '.gitlab/oam.yaml': withInstance(ACCESS_FILE, instanceUrl) } };
  });
  after(async () => {
    // No secret — issued AWS credentials, the API token — in any output, any API request body, or any file but the dotenv.
    const secrets = [API_TOKEN, ...world.sts.issued.flatMap((c) => [c.secretAccessKey, c.sessionToken])];
    for (const output of outputs) for (const s of secrets) assert.ok(!output.includes(s), 'a secret reached stdout or stderr');
    for (const call of world.gitlab.calls) {
      for (const s of secrets) assert.ok(!call.body.includes(s), `a secret reached ${call.method} ${call.path}`);
      assert.doesNotMatch(call.body, /eyJ[A-Za-z0-9_-]+\.eyJ/, `a JWT reached ${call.method} ${call.path}`);
    }
    await world.close();
  });

  /** One pipeline: its id, and the jobs' environment. */
  /**
   * `sha`: the pipeline's commit (e.g. a merge commit); `claims`: more claims on every token of the
   * pipeline (e.g. a fork's project_id); `env`: more variables for every job.
   */
  function newPipeline(
    options: { mr?: boolean; apiToken?: boolean; sha?: string; claims?: Record<string, unknown>; env?: Record<string, string> } = {},
  ) {
    const id = String(++pipeline);
    const dir = workspace();
    const sha = options.sha ?? DEFAULT_SHA;
    // apiToken: false takes the token from approve and grant; request keeps it, as the narrowing guard needs the API.
    const base = (jobId: string, api = options.apiToken !== false): Record<string, string | undefined> => ({
      CI_SERVER_URL: world.issuer.url,
      CI_API_V4_URL: `${world.issuer.url}/api/v4`,
      CI_PROJECT_ID: '1217',
      CI_PROJECT_PATH: 'acme/payments',
      CI_PIPELINE_ID: id,
      CI_JOB_ID: jobId,
      CI_COMMIT_SHA: sha,
      CI_MERGE_REQUEST_IID: options.mr === false ? undefined : '7',
      OAM_GITLAB_TOKEN: api ? API_TOKEN : undefined,
      AWS_ENDPOINT_URL_STS: world.sts.url,
      ...options.env,
    });
    const common = { sha, ...options.claims };
    const evidence = (person: object, jobId: string, extra: Record<string, unknown> = {}, iat?: number) =>
      world.issuer.mint({ ...person, ...common, pipeline_id: id, job_id: jobId, ...extra }, { aud: 'oam-grant', ttlSeconds: 3600, ...(iat ? { iat } : {}) });
    return {
      id,
      dir,
      async request(component: string, person: object = DEV, extra: Record<string, unknown> = {}, iat?: number) {
        return run(['request', '--component', component], dir, { ...base('800', true), OAM_EVIDENCE_TOKEN: await evidence(person, '800', extra, iat) });
      },
      async approve(component: string, person: object, jobId: string, reason: string | undefined, extra: Record<string, unknown> = {}, iat?: number) {
        return run(['approve', '--component', component], dir, {
          ...base(jobId),
          OAM_EVIDENCE_TOKEN: await evidence(person, jobId, extra, iat),
          OAM_APPROVAL_REASON: reason,
        });
      },
      async grant(component: string, person: object = DEV, extra: Record<string, unknown> = {}) {
        const token = await world.issuer.mint({ ...person, ...common, pipeline_id: id, job_id: '1000', ...extra });
        return run(['grant', '--component', component], dir, { ...base('1000'), OAM_ID_TOKEN: token });
      },
      note: () => world.gitlab.notes('1217', 7).filter((n) => n.body.startsWith(`<!-- oam-grant:v1 pipeline=${id} `)),
      discussions: () => world.gitlab.commitDiscussions('1217', sha).filter((d) => d.notes[0]!.body.startsWith(`<!-- oam-grant:v1 pipeline=${id} `)),
      dotenv: () => existsSync(join(dir, 'oam-grant.env')),
      audit: () => JSON.parse(readFileSync(join(dir, '.oam-grant/audit.json'), 'utf8')),
    };
  }

  const refused = (r: Run, code: string, message?: string | RegExp) => {
    assert.equal(r.status, 3, r.stderr);
    const line = r.stderr.split('\n').find((l) => l.startsWith('error['));
    assert.ok(line?.startsWith(`error[${code}]: `), r.stderr);
    if (typeof message === 'string') assert.equal(line, `error[${code}]: ${message}`);
    else if (message) assert.match(line ?? '', message);
  };

  it('request as dev, approve as alice, grant: credentials, one note edited at each event, an audit record', async () => {
    const p = newPipeline();
    const stsBefore = world.sts.issued.length;
    const request = await p.request('deploy-prod');
    assert.equal(request.status, 0, request.stderr);
    assert.match(request.stderr, /ok: requested deploy-prod as dev: .*request\.json; waiting for 1 approval \(step approve-deploy-prod, within 2h\)/);
    assert.equal(p.note().length, 1);
    assert.match(p.note()[0]!.body, /waiting for approval \(0 of 1\)/);

    const approve = await p.approve('deploy-prod', ALICE, '901', 'OPS-42 release 1.2');
    assert.equal(approve.status, 0, approve.stderr);
    assert.match(approve.stderr, /ok: approved deploy-prod as alice \(listed in approvers\.users\)/);
    assert.ok(existsSync(join(p.dir, '.oam-grant/approvals/901.json')));
    assert.match(p.note()[0]!.body, /approved \(1 of 1\), waiting for the grant job/);

    const callsBefore = world.gitlab.calls.length;
    const grant = await p.grant('deploy-prod');
    assert.equal(grant.status, 0, grant.stderr);
    assert.ok(p.dotenv());
    assert.equal(world.sts.issued.length, stsBefore + 1);
    // One API client serves the whole job: the token's user and the project are each asked for once.
    const asked = (path: string) => world.gitlab.calls.slice(callsBefore).filter((c) => c.method === 'GET' && c.path === path).length;
    assert.deepEqual([asked('/api/v4/user'), asked('/api/v4/projects/1217')], [1, 1]);
    const notes = p.note();
    assert.equal(notes.length, 1, 'one note for the pipeline and component');
    assert.match(notes[0]!.body, /🔑 \*\*deploy\\-prod\*\*: granted until/);
    assert.match(notes[0]!.body, /\| alice \| listed in approvers\.users \| OPS\\-42 release 1\.2 · reason from a pipeline variable \(unsigned\) \|/);
    const methods = world.gitlab.calls.filter((c) => c.path.includes('/merge_requests/7/notes') && c.method !== 'GET').map((c) => c.method);
    assert.ok(methods.includes('PUT'));

    const audit = p.audit();
    assert.deepEqual(audit.events.map((e: { event: string; actor: { login: string } }) => [e.event, e.actor.login]), [
      ['requested', 'dev'],
      ['approved', 'alice'],
      ['granted', 'dev'],
    ]);
    assert.equal(audit.events[1].reason, 'OPS-42 release 1.2');
    assert.deepEqual(audit.matchedPolicies, ['protected-main']);
    assert.equal(typeof audit.timings.approvalLatencySeconds, 'number');
    assert.equal(typeof audit.timings.exchangeDurationMs, 'number');
    const metrics = readFileSync(join(p.dir, '.oam-grant/metrics.txt'), 'utf8');
    assert.match(metrics, /^oam_grant_approval_latency_seconds\{component="deploy-prod",providers="aws-sts"\} \d+$/m);
    assert.match(metrics, /# EOF\n$/);
    // Evidence tokens stay in the evidence files; the audit record and the note never carry them.
    assert.doesNotMatch(JSON.stringify(audit), /eyJ/);
    for (const f of files(p.dir)) if (!f.path.endsWith('.env')) for (const c of world.sts.issued) assert.ok(!f.text.includes(c.secretAccessKey), f.path);
  });

  it('refuses a grant without evidence', async () => {
    const p = newPipeline();
    const stsBefore = world.sts.calls.length;
    refused(await p.grant('deploy-prod'), 'ERR_APPROVAL_MISSING', /request\.json: no request evidence; component deploy-prod needs approval$/);
    assert.equal(p.dotenv(), false);
    assert.equal(world.sts.calls.length, stsBefore, 'nothing exchanged');
    assert.match(p.note()[0]?.body ?? '', /⛔ \*\*deploy\\-prod\*\*: denied at grant \(ERR\\_APPROVAL\\_MISSING\)/);
  });

  it('refuses a grant without approvals', async () => {
    const p = newPipeline();
    assert.equal((await p.request('deploy-prod')).status, 0);
    refused(await p.grant('deploy-prod'), 'ERR_APPROVAL_MISSING', 'step approve-deploy-prod of deploy-prod: 0 of 1 approval from distinct people');
    assert.equal(p.dotenv(), false);
  });

  it('refuses self-approval early, writing no approval', async () => {
    const p = newPipeline();
    assert.equal((await p.request('deploy-prod')).status, 0);
    const r = await p.approve('deploy-prod', DEV, '901', 'OPS-1');
    refused(r, 'ERR_APPROVAL_SELF', 'OAM_EVIDENCE_TOKEN: dev requested this access and may not approve it (forbid: requester)');
    assert.equal(existsSync(join(p.dir, '.oam-grant/approvals/901.json')), false);
    assert.match(p.note()[0]!.body, /denied at approve \(ERR\\_APPROVAL\\_SELF\)/);
  });

  it('refuses the merge request author', async () => {
    const p = newPipeline();
    assert.equal((await p.request('deploy-prod', BOB)).status, 0);
    refused(await p.approve('deploy-prod', DEV, '901', 'OPS-1'), 'ERR_APPROVAL_SELF', 'OAM_EVIDENCE_TOKEN: dev wrote merge request !7 and may not approve it (forbid: mrAuthor)');
  });

  it('refuses an approver who is not listed', async () => {
    const p = newPipeline();
    assert.equal((await p.request('deploy-prod')).status, 0);
    refused(await p.approve('deploy-prod', MALLORY, '901', 'OPS-1'), 'ERR_APPROVER_NOT_ALLOWED', 'OAM_EVIDENCE_TOKEN: mallory may not approve step approve-deploy-prod (approvers.users: alice, bob; approvers.groups: none)');
  });

  it('accepts a direct Developer of an approver group; refuses a non-member, an inherited member and a Guest', async () => {
    const p = newPipeline();
    assert.equal((await p.request('by-group')).status, 0);
    const groups = 'approvers.groups: acme/sre (direct members, Developer (30) or higher)';
    refused(await p.approve('by-group', ALICE, '901', undefined), 'ERR_APPROVER_NOT_ALLOWED', `OAM_EVIDENCE_TOKEN: alice may not approve step approve-by-group (approvers.users: none; ${groups})`);
    // An Owner of the parent group `acme` is only an inherited member of acme/sre.
    refused(await p.approve('by-group', MALLORY, '903', undefined), 'ERR_APPROVER_NOT_ALLOWED', `OAM_EVIDENCE_TOKEN: mallory may not approve step approve-by-group (approvers.users: none; ${groups})`);
    refused(await p.approve('by-group', BOB, '904', undefined), 'ERR_APPROVER_NOT_ALLOWED', `OAM_EVIDENCE_TOKEN: bob may not approve step approve-by-group (approvers.users: none; ${groups}); Guest (10) of acme/sre, below Developer (30)`);
    assert.ok(world.gitlab.calls.some((c) => c.path === '/api/v4/groups/acme%2Fsre/members/46'));
    const ok = await p.approve('by-group', CAROL, '902', undefined);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stderr, /approved by-group as carol \(member of acme\/sre\)/);
    const grant = await p.grant('by-group');
    assert.equal(grant.status, 0, grant.stderr);
  });

  it('fails closed on group membership without OAM_GITLAB_TOKEN, and says why', async () => {
    const p = newPipeline({ mr: false, apiToken: false });
    assert.equal((await p.request('by-group')).status, 0);
    const r = await p.approve('by-group', CAROL, '901', undefined);
    refused(r, 'ERR_APPROVER_NOT_ALLOWED', /cannot check membership of acme\/sre: no OAM_GITLAB_TOKEN/);
    assert.match(r.stderr, /hint: set OAM_GITLAB_TOKEN/);
  });

  it('refuses evidence from another pipeline or commit', async () => {
    const p = newPipeline();
    assert.equal((await p.request('deploy-prod')).status, 0);
    refused(await p.approve('deploy-prod', ALICE, '901', 'OPS-1', { pipeline_id: '77' }), 'ERR_APPROVAL_INVALID', /^error\[ERR_APPROVAL_INVALID\]: \.oam-grant\/request\.json: pipeline_id \d+ differs from this pipeline's 77$/);
    // An approval carried over from another pipeline into this one's evidence.
    const other = newPipeline();
    assert.equal((await other.request('deploy-prod')).status, 0);
    assert.equal((await other.approve('deploy-prod', ALICE, '905', 'OPS-1')).status, 0);
    assert.equal((await p.approve('deploy-prod', BOB, '906', 'OPS-2', { sha: 'c'.repeat(40) })).status, 3);
    mkdirSync(join(p.dir, '.oam-grant/approvals'), { recursive: true });
    cpSync(join(other.dir, '.oam-grant/approvals/905.json'), join(p.dir, '.oam-grant/approvals/905.json'));
    refused(await p.grant('deploy-prod'), 'ERR_APPROVAL_INVALID', `.oam-grant/approvals/905.json: pipeline_id ${other.id} differs from this pipeline's ${p.id}`);
    assert.equal(p.dotenv(), false);
  });

  it('refuses tampered evidence: a changed request, a changed token', async () => {
    const p = newPipeline();
    assert.equal((await p.request('deploy-prod')).status, 0);
    assert.equal((await p.approve('deploy-prod', ALICE, '901', 'OPS-1')).status, 0);
    const requestPath = join(p.dir, '.oam-grant/request.json');
    const original = readFileSync(requestPath, 'utf8');
    const request = JSON.parse(original);
    request.requested.durationSeconds = 43200;
    writeFileSync(requestPath, JSON.stringify(request));
    refused(await p.grant('deploy-prod'), 'ERR_APPROVAL_INVALID', '.oam-grant/request.json: requested.durationSeconds differs from the access file at this commit (tampered, or made from another file)');
    writeFileSync(requestPath, original);
    const approvalPath = join(p.dir, '.oam-grant/approvals/901.json');
    const approval = JSON.parse(readFileSync(approvalPath, 'utf8'));
    const [h, payload, s] = approval.token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    approval.token = [h, Buffer.from(JSON.stringify({ ...claims, user_login: 'bob', user_id: '44' })).toString('base64url'), s].join('.');
    writeFileSync(approvalPath, JSON.stringify(approval));
    refused(await p.grant('deploy-prod'), 'ERR_APPROVAL_INVALID', /^error\[ERR_APPROVAL_INVALID\]: \.oam-grant\/approvals\/901\.json: .*\(ERR_TOKEN_INVALID\)$/);
    assert.equal(p.dotenv(), false);
  });

  it('refuses evidence whose signed audience names another component', async () => {
    const p = newPipeline();
    assert.equal((await p.request('deploy-prod')).status, 0);
    // The approve job itself refuses a token minted for another component's approve job ...
    const scopedToPair = (jobId: string) =>
      world.issuer.mint({ ...ALICE, sha: DEFAULT_SHA, pipeline_id: p.id, job_id: jobId }, { aud: ['oam-grant', 'oam-grant:component:pair'], ttlSeconds: 3600 });
    const early = await runCli(['approve', '--component', 'deploy-prod'], {
      cwd: p.dir,
      env: { CI_SERVER_URL: world.issuer.url, CI_API_V4_URL: `${world.issuer.url}/api/v4`, CI_PROJECT_ID: '1217', CI_PIPELINE_ID: p.id, CI_JOB_ID: '905', CI_COMMIT_SHA: DEFAULT_SHA, CI_MERGE_REQUEST_IID: '7', OAM_GITLAB_TOKEN: API_TOKEN, OAM_APPROVAL_REASON: 'OPS-1', OAM_EVIDENCE_TOKEN: await scopedToPair('905') },
    });
    refused(early, 'ERR_APPROVAL_INVALID', 'OAM_EVIDENCE_TOKEN: the token was minted for oam-grant:component:pair, not for component deploy-prod');
    // ... and the grant refuses such a token relabelled into this component's approvals.
    assert.equal((await p.approve('deploy-prod', ALICE, '901', 'OPS-1')).status, 0);
    const approvalPath = join(p.dir, '.oam-grant/approvals/901.json');
    const approval = JSON.parse(readFileSync(approvalPath, 'utf8'));
    approval.token = await scopedToPair('901');
    writeFileSync(approvalPath, JSON.stringify(approval));
    refused(await p.grant('deploy-prod'), 'ERR_APPROVAL_INVALID', /approvals\/901\.json: the token was minted for oam-grant:component:pair, not for component deploy-prod$/);
    assert.equal(p.dotenv(), false);
  });

  it('refuses a missing or malformed reason', async () => {
    const p = newPipeline();
    assert.equal((await p.request('deploy-prod')).status, 0);
    refused(await p.approve('deploy-prod', ALICE, '901', undefined), 'ERR_APPROVAL_REASON', 'OAM_EVIDENCE_TOKEN: step approve-deploy-prod requires a reason, and alice wrote no comment "oam-grant approve deploy-prod: <reason>" on merge request !7 between the request and pressing Run');
    refused(await p.approve('deploy-prod', ALICE, '902', 'because'), 'ERR_APPROVAL_REASON', 'OAM_APPROVAL_REASON: the reason does not match reasonPattern "^[A-Z]+-[0-9]+" of step approve-deploy-prod');
    refused(await p.approve('deploy-prod', ALICE, '903', 'OPS-1\n@all'), 'ERR_APPROVAL_REASON', 'OAM_APPROVAL_REASON: the reason contains control characters or line breaks');
  });

  it('shows a hostile reason escaped in the note', async () => {
    const p = newPipeline();
    assert.equal((await p.request('deploy-prod')).status, 0);
    const r = await p.approve('deploy-prod', ALICE, '901', 'OPS-1 @all <img src=x onerror=alert(1)> [x](https://evil.example) #1');
    assert.equal(r.status, 0, r.stderr);
    const body = p.note()[0]!.body;
    assert.doesNotMatch(body, /<img|\]\(https:\/\/evil|@all|#1 /);
    assert.match(body, /OPS\\-1 @\u200ball &lt;img/);
  });

  it('refuses when the timeout ran out before the approval', async () => {
    const p = newPipeline();
    assert.equal((await p.request('deploy-prod')).status, 0);
    // The request job ran three hours ago: its evidence carries the token GitLab gave it then.
    const path = join(p.dir, '.oam-grant/request.json');
    const request = JSON.parse(readFileSync(path, 'utf8'));
    request.token = await world.issuer.mint({ ...DEV, pipeline_id: p.id, job_id: '800' }, { aud: 'oam-grant', iat: now() - 3 * 3600 });
    writeFileSync(path, JSON.stringify(request));
    refused(await p.approve('deploy-prod', ALICE, '901', 'OPS-1'), 'ERR_APPROVAL_EXPIRED', /OAM_EVIDENCE_TOKEN: approved 3h( \d+s)? after the request, but step approve-deploy-prod allows 2h \(timeout\)/);
  });

  it('refuses when validFor ran out before the grant', async () => {
    const p = newPipeline();
    assert.equal((await p.request('deploy-prod', DEV, {}, now() - 50 * 60)).status, 0);
    assert.equal((await p.approve('deploy-prod', ALICE, '901', 'OPS-1', {}, now() - 45 * 60)).status, 0);
    refused(await p.grant('deploy-prod'), 'ERR_APPROVAL_EXPIRED', /approvals\/901\.json: approved 45m( \d+s)? ago, but step approve-deploy-prod accepts approvals for 30m \(validFor\)/);
    assert.equal(p.dotenv(), false);
  });

  it('refuses too few distinct approvers', async () => {
    const p = newPipeline();
    assert.equal((await p.request('pair')).status, 0);
    assert.equal((await p.approve('pair', ALICE, '901', undefined)).status, 0);
    assert.equal((await p.approve('pair', ALICE, '902', undefined)).status, 0);
    refused(await p.grant('pair'), 'ERR_APPROVAL_MISSING', 'step approve-pair of pair: 1 of 2 approvals from distinct people');
    assert.equal((await p.approve('pair', BOB, '903', undefined)).status, 0);
    const grant = await p.grant('pair');
    assert.equal(grant.status, 0, grant.stderr);
  });

  it('with mr-audit required, a note that cannot be posted stops the grant before the dotenv', async () => {
    const p = newPipeline();
    assert.equal((await p.request('deploy-prod')).status, 0);
    assert.equal((await p.approve('deploy-prod', ALICE, '901', 'OPS-1')).status, 0);
    world.gitlab.injectFaults({ status: 500, times: 4, match: { pathIncludes: '/notes' } });
    const r = await p.grant('deploy-prod');
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /error\[ERR_REPORT_FAILED\]: the audit note for deploy-prod could not be posted: GitLab API (list|create) merge request notes?: HTTP 500/);
    assert.equal(p.dotenv(), false);
  });

  it('without mr-audit required, a note that cannot be posted is a warning', async () => {
    const p = newPipeline({ mr: false });
    assert.equal((await p.request('pair')).status, 0);
    assert.equal((await p.approve('pair', ALICE, '901', undefined)).status, 0);
    assert.equal((await p.approve('pair', BOB, '902', undefined)).status, 0);
    // The grant needs the API (narrowing guard); only the note's calls fail.
    world.gitlab.injectFaults({ status: 403, times: 5, match: { pathIncludes: `/repository/commits/${DEFAULT_SHA}/discussions` } });
    const r = await p.grant('pair');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /warning: audit note not posted: .*HTTP 403/);
    assert.ok(p.dotenv());
  });

  it('after the merge, on the protected branch: mrAuthor and commitAuthor apply to the merged MR', async () => {
    // No CI_MERGE_REQUEST_IID: a push pipeline at the merge commit of !9, started by bob who merged it.
    const p = newPipeline({ mr: false, sha: MERGE_SHA });
    assert.equal((await p.request('release', BOB)).status, 0);
    refused(await p.approve('release', DEV, '901', undefined), 'ERR_APPROVAL_SELF', 'OAM_EVIDENCE_TOKEN: dev wrote merge request !9 and may not approve it (forbid: mrAuthor)');
    refused(await p.approve('release', CAROL, '902', undefined), 'ERR_APPROVAL_SELF', 'OAM_EVIDENCE_TOKEN: carol authored or committed a commit of this change and may not approve it (forbid: commitAuthor)');
    assert.ok(world.gitlab.calls.some((c) => c.path === `/api/v4/projects/1217/repository/commits/${MERGE_SHA}/merge_requests`));
    assert.equal((await p.approve('release', ALICE, '903', undefined)).status, 0);
    const grant = await p.grant('release', BOB);
    assert.equal(grant.status, 0, grant.stderr);
    assert.ok(p.dotenv());
    // Without an MR variable the note is one commit discussion, edited at each event.
    const discussions = p.discussions();
    assert.equal(discussions.length, 1, 'one discussion for the pipeline and component');
    assert.equal(discussions[0]!.notes.length, 1);
    assert.match(discussions[0]!.notes[0]!.body, /granted until/);
    assert.equal(discussions[0]!.notes[0]!.author.username, 'project_1217_bot_oam');
  });

  it('after the merge: fails closed when the MRs of the commit cannot be looked up, or without OAM_GITLAB_TOKEN', async () => {
    const p = newPipeline({ mr: false, sha: MERGE_SHA });
    assert.equal((await p.request('release', BOB)).status, 0);
    world.gitlab.injectFaults({ status: 403, match: { pathIncludes: `/repository/commits/${MERGE_SHA}/merge_requests` } });
    const r = await p.approve('release', ALICE, '901', undefined);
    refused(r, 'ERR_APPROVAL_SELF', `OAM_EVIDENCE_TOKEN: cannot check that alice is not the merge request author: cannot find the merge requests of commit ${MERGE_SHA.slice(0, 12)}: GitLab API commit merge requests: HTTP 403`);
    assert.match(r.stderr, /hint: check that OAM_GITLAB_TOKEN may read this project and its merge requests/);

    const q = newPipeline({ mr: false, apiToken: false });
    assert.equal((await q.request('deploy-prod', BOB)).status, 0);
    const s = await q.approve('deploy-prod', ALICE, '901', 'OPS-1');
    refused(s, 'ERR_APPROVAL_SELF', 'OAM_EVIDENCE_TOKEN: cannot check that alice is not the merge request author: no OAM_GITLAB_TOKEN, so the GitLab API cannot be asked');
    assert.match(s.stderr, /hint: set OAM_GITLAB_TOKEN/);
  });

  it('a branch pipeline checks every open MR of CI_OPEN_MERGE_REQUESTS, not only the first', async () => {
    const p = newPipeline({ mr: false, sha: MERGE_SHA, env: { CI_OPEN_MERGE_REQUESTS: 'acme/payments!7,acme/payments!9' } });
    assert.equal((await p.request('deploy-prod', BOB)).status, 0);
    assert.equal(p.note().length, 1, 'the note goes to the first open MR');
    refused(await p.approve('deploy-prod', DEV, '901', 'OPS-1'), 'ERR_APPROVAL_SELF', 'OAM_EVIDENCE_TOKEN: dev wrote merge request !7 and may not approve it (forbid: mrAuthor)');
  });

  it('MR variables cannot hide the MR of the signed commit: naming an unrelated MR does not let its author approve', async () => {
    // The commit is !7's (by dev); whoever runs the pipeline sets CI_MERGE_REQUEST_IID (or CI_OPEN_MERGE_REQUESTS) to !11, by alice.
    for (const env of [{ CI_MERGE_REQUEST_IID: '11' }, { CI_OPEN_MERGE_REQUESTS: 'acme/payments!11' }] as Record<string, string>[]) {
      const p = newPipeline({ mr: !('CI_OPEN_MERGE_REQUESTS' in env), env });
      assert.equal((await p.request('deploy-prod', BOB)).status, 0);
      refused(await p.approve('deploy-prod', DEV, '901', 'OPS-1'), 'ERR_APPROVAL_SELF', 'OAM_EVIDENCE_TOKEN: dev wrote merge request !7 and may not approve it (forbid: mrAuthor)');
      assert.ok(world.gitlab.calls.some((c) => c.path === `/api/v4/projects/1217/repository/commits/${DEFAULT_SHA}/merge_requests`));
    }
  });

  it("a fork MR pipeline: the MR author and the note are looked up in CI_MERGE_REQUEST_PROJECT_ID, not the fork's project", async () => {
    // The tokens name the fork's project id; the MR lives in 1217.
    const p = newPipeline({ claims: { project_id: '5555', job_project_id: '1217' }, env: { CI_MERGE_REQUEST_PROJECT_ID: '1217' } });
    assert.equal((await p.request('deploy-prod', BOB)).status, 0);
    assert.equal(p.note().length, 1);
    refused(await p.approve('deploy-prod', DEV, '901', 'OPS-1'), 'ERR_APPROVAL_SELF', 'OAM_EVIDENCE_TOKEN: dev wrote merge request !7 and may not approve it (forbid: mrAuthor)');
    assert.ok(!world.gitlab.calls.some((c) => c.path.startsWith('/api/v4/projects/5555/merge_requests')));
  });

  it("the approve job's note shows every valid approval in its out-dir", async () => {
    const p = newPipeline();
    assert.equal((await p.request('pair')).status, 0);
    assert.equal((await p.approve('pair', ALICE, '901', undefined)).status, 0);
    assert.match(p.note()[0]!.body, /approved 1 of 2, waiting for more approvals/);
    const r = await p.approve('pair', BOB, '902', undefined);
    assert.equal(r.status, 0, r.stderr);
    const body = p.note()[0]!.body;
    assert.match(body, /approved \(2 of 2\), waiting for the grant job/);
    assert.match(body, /\| alice \| listed in approvers\.users \|/);
    assert.match(body, /\| bob \| listed in approvers\.users \|/);
  });

  it('a denied grant records the request and the approvals it verified', async () => {
    const p = newPipeline();
    assert.equal((await p.request('pair')).status, 0);
    assert.equal((await p.approve('pair', ALICE, '901', undefined)).status, 0);
    refused(await p.grant('pair'), 'ERR_APPROVAL_MISSING', 'step approve-pair of pair: 1 of 2 approvals from distinct people');
    const body = p.note()[0]!.body;
    assert.match(body, /denied at grant \(ERR\\_APPROVAL\\_MISSING\)/);
    assert.match(body, /\| Requested by \| dev in \[job 800\]/);
    assert.match(body, /\| alice \| listed in approvers\.users \|/);
    assert.deepEqual(p.audit().events.map((e: { event: string; actor: { login: string } }) => [e.event, e.actor.login]), [
      ['requested', 'dev'],
      ['approved', 'alice'],
      ['denied', 'dev'],
    ]);
  });

  it("edits the bot's own note through every event and never a stranger's copy of the marker", async () => {
    const p = newPipeline();
    // dev pastes the hidden marker into a note of their own before the pipeline's first job posts.
    const copy = world.gitlab.addNote('1217', 7, `<!-- oam-grant:v1 pipeline=${p.id} component=deploy-prod -->\n🔑 granted (fake)`, 42);
    const before = world.gitlab.calls.length;
    assert.equal((await p.request('deploy-prod')).status, 0);
    assert.equal((await p.approve('deploy-prod', ALICE, '901', 'OPS-7')).status, 0);
    const grant = await p.grant('deploy-prod');
    assert.equal(grant.status, 0, grant.stderr);
    const notes = p.note();
    assert.deepEqual(notes.map((n) => n.author.username), ['dev', 'project_1217_bot_oam']);
    assert.equal(notes[0]!.body, copy.body, "the stranger's copy is untouched");
    assert.match(notes[1]!.body, /granted until/);
    const writes = world.gitlab.calls.slice(before).filter((c) => c.method !== 'GET' && c.path.includes('/merge_requests/7/notes'));
    assert.deepEqual(writes.map((c) => [c.method, c.path.split('/').at(-1)]), [
      ['POST', 'notes'],
      ['PUT', String(notes[1]!.id)],
      ['PUT', String(notes[1]!.id)],
    ]);
  });

  it('refuses a blocked member of an approver group', async () => {
    const p = newPipeline();
    assert.equal((await p.request('by-group')).status, 0);
    const groups = 'approvers.groups: acme/sre (direct members, Developer (30) or higher)';
    refused(
      await p.approve('by-group', BLOCKED, '901', undefined),
      'ERR_APPROVER_NOT_ALLOWED',
      `OAM_EVIDENCE_TOKEN: erin may not approve step approve-by-group (approvers.users: none; ${groups}); the membership of acme/sre is not active (blocked/active)`,
    );
    assert.equal(existsSync(join(p.dir, '.oam-grant/approvals/901.json')), false);
  });

  it('request warns in its log and its note when the project lets Developers set pipeline variables', async () => {
    const p = newPipeline();
    const quiet = await p.request('pair');
    assert.equal(quiet.status, 0, quiet.stderr);
    assert.doesNotMatch(quiet.stderr, /pipeline variables/, 'acme/payments allows no one: nothing to say');
    const q = newPipeline();
    const r = await q.request('pair', DEV, { job_project_id: '1218' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /warning: project 1218 lets Developers set pipeline variables \(the minimum role to use pipeline variables is Developer\): whoever may set them can override this job's variables, OAM_\* and GitLab's predefined ones included/);
    assert.match(r.stderr, /Settings > CI\/CD > Variables > "Minimum role to use pipeline variables"/);
    assert.match(q.note()[0]!.body, /^> ⚠️ \*\*Warning\*\*: project 1218 lets Developers set pipeline variables/m);
    // The note is rewritten at each event; the warning stays through approve and grant.
    const inFork = { job_project_id: '1218' };
    assert.equal((await q.approve('pair', ALICE, '901', undefined, inFork)).status, 0);
    assert.match(q.note()[0]!.body, /^> ⚠️ \*\*Warning\*\*: project 1218 lets Developers set pipeline variables/m);
    assert.equal((await q.approve('pair', BOB, '902', undefined, inFork)).status, 0);
    const granted = await q.grant('pair', DEV, inFork);
    assert.equal(granted.status, 0, granted.stderr);
    assert.match(q.note()[0]!.body, /granted until/);
    assert.match(q.note()[0]!.body, /^> ⚠️ \*\*Warning\*\*: project 1218 lets Developers set pipeline variables/m);
  });

  it('a symlinked out-dir is a named refusal, not an internal error', async () => {
    const p = newPipeline();
    assert.equal((await p.request('pair')).status, 0);
    const elsewhere = mkdtempSync(join(tmpdir(), 'oam-approval-elsewhere-'));
    cpSync(join(p.dir, '.oam-grant'), elsewhere, { recursive: true });
    rmSync(join(p.dir, '.oam-grant'), { recursive: true });
    symlinkSync(elsewhere, join(p.dir, '.oam-grant'));
    refused(await p.grant('pair'), 'ERR_APPROVAL_INVALID', '.oam-grant: is a symbolic link');
    const r = await p.request('pair');
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^error\[ERR_EXPORT_FAILED\]: cannot write the request evidence \.oam-grant\/request\.json: \.oam-grant: is a symbolic link$/m);
    assert.doesNotMatch(r.stderr, /INTERNAL/);
  });
});
