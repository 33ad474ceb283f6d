/**
 * The approval reason through the built bundle: the request note says what
 * to write; the approver writes it as their own comment on the merge request
 * (or the commit), presses Run, and the grant reads the comment again. Each
 * test has its own merge request (or commit), so no comment of one test lies
 * in another's window.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_SHA, DEFAULT_USERS, type EmbeddedDefault, startEmbeddedDefault } from '../emulators/index.ts';
import { withInstance } from '../helpers/access-file.ts';
import { CLI, type CliResult, capturedOutputs, workspace as makeWorkspace, runCli } from '../helpers/cli.ts';

const API_TOKEN = 'glpat-approval-reason-secret-01';

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
          properties: {roleArn: "arn:aws:iam::123456789012:role/ci-deploy"}
    - name: strict
      type: gitlab-job
      traits:
        - type: aws-sts
          properties: {roleArn: "arn:aws:iam::123456789012:role/ci-deploy"}
  workflow:
    steps:
      - name: approve-deploy-prod
        type: jit-approval
        properties:
          component: deploy-prod
          approvers: {users: [alice, bob]}
          forbid: [requester]
          requireReason: true
          reasonPattern: "^[A-Z]+-[0-9]+"
      - name: approve-strict
        type: jit-approval
        properties:
          component: strict
          approvers: {users: [alice, bob]}
          forbid: [requester]
          requireReason: true
          acceptReasonVariable: false
`;

const DEV = { user_id: '42', user_login: 'dev', user_email: 'dev@example.com' };
const ALICE = { user_id: '43', user_login: 'alice', user_email: 'alice@example.com' };
const BOB = { user_id: '44', user_login: 'bob', user_email: 'bob@example.com' };

/** One merge request per test (all at DEFAULT_SHA, opened by dev), and commits for branch pipelines. */
const MR_IIDS = Array.from({ length: 12 }, (_, i) => 11 + i);
const BRANCH_SHAS = ['1', '2', '3'].map((c) => c.repeat(40));

describe('the approval reason, written as a comment, through the bundle', () => {
  let world: EmbeddedDefault;
  let pipeline = 5_000_000;
  let nextMr = 0;
  let nextCommit = 0;
  const now = () => Math.floor(Date.now() / 1000);

  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build`);
    world = await startEmbeddedDefault({
      gitlab: {
        tokens: [API_TOKEN],
        users: DEFAULT_USERS.map((u) => ({ ...u })),
        mergeRequests: MR_IIDS.map((iid) => ({ projectId: '1217', iid, authorUsername: 'dev', commits: [{ sha: DEFAULT_SHA, authorEmail: 'dev@example.com' }] })),
        commits: BRANCH_SHAS.map((sha) => ({ projectId: '1217', commit: { sha, authorEmail: 'dev@example.com' } })),
      },
    });
  });
  after(async () => {
    for (const output of capturedOutputs) assert.ok(!output.includes(API_TOKEN), 'the API token reached stdout or stderr');
    for (const call of world.gitlab.calls) assert.doesNotMatch(call.body, /eyJ[A-Za-z0-9_-]+\.eyJ/, `a JWT reached ${call.method} ${call.path}`);
    await world.close();
  });

  /** A pipeline on its own MR (or, `mr: false`, a branch pipeline on its own commit). */
  function newPipeline(options: { mr?: boolean; apiToken?: boolean } = {}) {
    const id = String(++pipeline);
    const dir = makeWorkspace(withInstance(ACCESS_FILE, world.issuer.url));
    const iid = options.mr === false ? undefined : MR_IIDS[nextMr++];
    const sha = iid === undefined ? (BRANCH_SHAS[nextCommit++] ?? '') : DEFAULT_SHA;
    // apiToken: false takes the token from approve and grant; request keeps it, as the narrowing guard needs the API.
    const env = (jobId: string, api = options.apiToken !== false): Record<string, string | undefined> => ({
      CI_SERVER_URL: world.issuer.url,
      CI_API_V4_URL: `${world.issuer.url}/api/v4`,
      CI_PROJECT_ID: '1217',
      CI_PROJECT_PATH: 'acme/payments',
      CI_PIPELINE_ID: id,
      CI_JOB_ID: jobId,
      CI_COMMIT_SHA: sha,
      CI_MERGE_REQUEST_IID: iid === undefined ? undefined : String(iid),
      OAM_GITLAB_TOKEN: api ? API_TOKEN : undefined,
      AWS_ENDPOINT_URL_STS: world.sts.url,
    });
    const evidenceToken = (person: object, jobId: string, iat?: number) =>
      world.issuer.mint({ ...person, sha, pipeline_id: id, job_id: jobId }, { aud: 'oam-grant', ttlSeconds: 3600, ...(iat ? { iat } : {}) });
    const marker = `<!-- oam-grant:v1 pipeline=${id} `;
    return {
      id,
      dir,
      iid,
      sha,
      async request(component: string, iat?: number) {
        return runCli(['request', '--component', component], { cwd: dir, env: { ...env('800', true), OAM_EVIDENCE_TOKEN: await evidenceToken(DEV, '800', iat) } });
      },
      async approve(component: string, person: object, jobId: string, options: { reason?: string; iat?: number } = {}) {
        return runCli(['approve', '--component', component], {
          cwd: dir,
          env: { ...env(jobId), OAM_EVIDENCE_TOKEN: await evidenceToken(person, jobId, options.iat), OAM_APPROVAL_REASON: options.reason },
        });
      },
      async grant(component: string) {
        const token = await world.issuer.mint({ ...DEV, sha, pipeline_id: id, job_id: '1000' });
        return runCli(['grant', '--component', component], { cwd: dir, env: { ...env('1000'), OAM_ID_TOKEN: token } });
      },
      /** A comment by `person` where the request note asks for it; returns its id. */
      comment(person: { user_id: string }, body: string, createdAt?: Date): number {
        const author = Number(person.user_id);
        const at = createdAt?.toISOString();
        return iid === undefined
          ? (world.gitlab.addCommitDiscussion('1217', sha, body, author, at).notes[0]?.id ?? 0)
          : world.gitlab.addNote('1217', iid, body, author, at).id;
      },
      /** The bodies of this pipeline's oam-grant notes (on the MR, or opening a commit discussion), oldest first. */
      posted(): string[] {
        return iid === undefined
          ? world.gitlab.commitDiscussions('1217', sha).map((d) => d.notes[0]?.body ?? '').filter((b) => b.startsWith(marker))
          : world.gitlab.notes('1217', iid).map((n) => n.body).filter((b) => b.startsWith(marker));
      },
      approvalPath: (jobId: string) => join(dir, '.oam-grant/approvals', `${jobId}.json`),
      dotenv: () => existsSync(join(dir, 'oam-grant.env')),
      audit: () => JSON.parse(readFileSync(join(dir, '.oam-grant/audit.json'), 'utf8')),
    };
  }

  /** As a Maintainer may (GitLab's admin_note): edit or delete anyone's note on the MR. */
  const asMaintainer = (method: 'PUT' | 'DELETE', iid: number, noteId: number, body?: string) =>
    fetch(`${world.gitlab.url}/api/v4/projects/1217/merge_requests/${iid}/notes/${noteId}`, {
      method,
      headers: { 'private-token': API_TOKEN, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify({ body }) }),
    });

  const refused = (r: CliResult, code: string, message: string | RegExp) => {
    assert.equal(r.status, 3, r.stderr);
    const line = r.stderr.split('\n').find((l) => l.startsWith('error['));
    if (typeof message === 'string') assert.equal(line, `error[${code}]: ${message}`);
    else assert.match(line ?? '', new RegExp(`^error\\[${code}\\]: ${message.source}`));
  };

  it('the request note says what to write; the approver comments, presses Run; the grant reads the comment again', async () => {
    const p = newPipeline();
    const request = await p.request('deploy-prod');
    assert.equal(request.status, 0, request.stderr);
    const url = `${world.issuer.url}/acme/payments/-/pipelines/${p.id}`;
    assert.ok(
      p.posted()[0]?.includes(
        `**To approve:** comment \`oam-grant approve deploy-prod: <reason matching ^[A-Z]+-[0-9]+>\` on this merge request yourself (as a line of its own), then press Run on the approve job of [pipeline ${p.id}](${url}). Only where you wrote no such comment does a Run-form variable \`OAM_APPROVAL_REASON\` count, marked unsigned.`,
      ),
      p.posted()[0],
    );

    const mine = p.comment(ALICE, 'Scope looks right.\noam-grant approve deploy-prod: OPS-42 release 1.2');
    // Newer, right text, wrong author: not alice's reason.
    p.comment(BOB, 'oam-grant approve deploy-prod: OPS-666 bob says so');
    const approve = await p.approve('deploy-prod', ALICE, '901');
    assert.equal(approve.status, 0, approve.stderr);
    assert.match(approve.stderr, new RegExp(`reason: "OPS-42 release 1\\.2", the approver's comment ${mine} on merge request !${p.iid}`));
    const evidence = JSON.parse(readFileSync(p.approvalPath('901'), 'utf8'));
    assert.equal(evidence.reason, 'OPS-42 release 1.2');
    assert.deepEqual({ ...evidence.reasonSource, createdAt: undefined }, {
      kind: 'comment',
      noteId: mine,
      location: { kind: 'merge-request', projectId: '1217', iid: String(p.iid) },
      createdAt: undefined,
    });
    const approved = p.posted()[0] ?? '';
    assert.match(approved, new RegExp(`\\| alice \\| listed in approvers\\.users \\| OPS\\\\-42 release 1\\.2 · comment ${mine} \\|`));
    assert.doesNotMatch(approved, /To approve:/, 'no instruction once the approvals are complete');

    const before = world.gitlab.calls.length;
    const grant = await p.grant('deploy-prod');
    assert.equal(grant.status, 0, grant.stderr);
    assert.ok(world.gitlab.calls.slice(before).some((c) => c.method === 'GET' && c.path === `/api/v4/projects/1217/merge_requests/${p.iid}/notes/${mine}`));
    const event = p.audit().events[1];
    assert.equal(event.reason, 'OPS-42 release 1.2');
    assert.equal(event.reasonFrom, `the approver's comment ${mine} on merge request !${p.iid}`);
    assert.equal(event.reasonSource.noteId, mine);
  });

  it("ignores a comment by someone else, one older than the request, and one written after Run", async () => {
    const p = newPipeline();
    const requestIat = now() - 300;
    const approveIat = now() - 120;
    assert.equal((await p.request('deploy-prod', requestIat)).status, 0);
    p.comment(BOB, 'oam-grant approve deploy-prod: OPS-1 by bob', new Date((requestIat + 60) * 1000));
    p.comment(ALICE, 'oam-grant approve deploy-prod: OPS-2 stale', new Date((requestIat - 60) * 1000));
    p.comment(ALICE, 'oam-grant approve deploy-prod: OPS-3 late'); // now: 120 s after the approve token's iat
    refused(
      await p.approve('deploy-prod', ALICE, '901', { iat: approveIat }),
      'ERR_APPROVAL_REASON',
      `OAM_EVIDENCE_TOKEN: step approve-deploy-prod requires a reason, and alice wrote no comment "oam-grant approve deploy-prod: <reason>" on merge request !${p.iid} between the request and pressing Run`,
    );
    const denied = p.posted()[0] ?? '';
    assert.match(denied, /denied at approve \(ERR\\_APPROVAL\\_REASON\)/);
    assert.match(denied, /\*\*To approve:\*\* comment `oam-grant approve deploy-prod: <reason matching/, 'the refusal repeats what to write');
    p.comment(ALICE, 'oam-grant approve deploy-prod: OPS-4 in time', new Date((approveIat - 10) * 1000));
    const ok = await p.approve('deploy-prod', ALICE, '902', { iat: approveIat });
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(JSON.parse(readFileSync(p.approvalPath('902'), 'utf8')).reason, 'OPS-4 in time');
  });

  it('holds the comment to reasonPattern', async () => {
    const p = newPipeline();
    assert.equal((await p.request('deploy-prod')).status, 0);
    const id = p.comment(ALICE, 'oam-grant approve deploy-prod: looks fine to me');
    refused(await p.approve('deploy-prod', ALICE, '901'), 'ERR_APPROVAL_REASON', `comment ${id} on merge request !${p.iid}: the reason does not match reasonPattern "^[A-Z]+-[0-9]+" of step approve-deploy-prod`);
    assert.equal(existsSync(p.approvalPath('901')), false);
  });

  it("the grant refuses the comment once edited, when the evidence points at someone else's, and once deleted", async () => {
    const p = newPipeline();
    const iid = p.iid ?? 0;
    assert.equal((await p.request('deploy-prod')).status, 0);
    const text = 'oam-grant approve deploy-prod: OPS-7 ship it';
    const mine = p.comment(ALICE, text);
    assert.equal((await p.approve('deploy-prod', ALICE, '901')).status, 0);
    const where = `.oam-grant/approvals/901.json: comment ${mine} on merge request !${iid}`;

    assert.equal((await asMaintainer('PUT', iid, mine, 'oam-grant approve deploy-prod: OPS-8 something else')).status, 200);
    refused(await p.grant('deploy-prod'), 'ERR_APPROVAL_REASON', `${where} was edited after the approval: it no longer gives the reason that was approved`);
    assert.equal((await asMaintainer('PUT', iid, mine, `${text}\n\n(edited: a typo elsewhere)`)).status, 200);

    // The evidence is unsigned: pointing it at bob's note with the same words does not make them alice's.
    const theirs = p.comment(BOB, text);
    const path = p.approvalPath('901');
    const original = readFileSync(path, 'utf8');
    const forged = JSON.parse(original);
    forged.reasonSource.noteId = theirs;
    writeFileSync(path, JSON.stringify(forged));
    refused(
      await p.grant('deploy-prod'),
      'ERR_APPROVAL_INVALID',
      `.oam-grant/approvals/901.json: comment ${theirs} on merge request !${iid} was written by bob (user 44), not by the approver alice (user 43)`,
    );
    writeFileSync(path, original);

    assert.equal((await asMaintainer('DELETE', iid, mine)).status, 204);
    refused(await p.grant('deploy-prod'), 'ERR_APPROVAL_REASON', `${where} no longer exists (deleted after the approval)`);
    assert.equal(p.dotenv(), false);
  });

  it('a Run-form variable is a fallback labelled unsigned; a step can refuse it', async () => {
    const p = newPipeline();
    assert.equal((await p.request('deploy-prod')).status, 0);
    const approve = await p.approve('deploy-prod', ALICE, '901', { reason: 'OPS-5 from the form' });
    assert.equal(approve.status, 0, approve.stderr);
    assert.match(approve.stderr, /reason: "OPS-5 from the form", reason from a pipeline variable \(unsigned\)/);
    assert.match(p.posted()[0] ?? '', /\| alice \| listed in approvers\.users \| OPS\\-5 from the form · reason from a pipeline variable \(unsigned\) \|/);
    const grant = await p.grant('deploy-prod');
    assert.equal(grant.status, 0, grant.stderr);
    assert.equal(p.audit().events[1].reasonFrom, 'reason from a pipeline variable (unsigned)');
    assert.deepEqual(p.audit().events[1].reasonSource, { kind: 'variable', variable: 'OAM_APPROVAL_REASON' });

    const q = newPipeline();
    assert.equal((await q.request('strict')).status, 0);
    assert.doesNotMatch(q.posted()[0] ?? '', /OAM\\?_APPROVAL\\?_REASON/, 'no fallback offered where the step refuses it');
    refused(
      await q.approve('strict', ALICE, '901', { reason: 'OPS-5 from the form' }),
      'ERR_APPROVAL_REASON',
      `OAM_APPROVAL_REASON: step approve-strict accepts a reason only from the approver's own comment (acceptReasonVariable: false), and there is none by alice on merge request !${q.iid} since the request`,
    );
    q.comment(ALICE, 'oam-grant approve strict: CHG-1');
    assert.equal((await q.approve('strict', ALICE, '902', { reason: 'OPS-5 from the form' })).status, 0);
  });

  it('without OAM_GITLAB_TOKEN, a required reason fails closed with a hint, variable or not', async () => {
    const p = newPipeline({ apiToken: false });
    assert.equal((await p.request('deploy-prod')).status, 0);
    const r = await p.approve('deploy-prod', ALICE, '901', { reason: 'OPS-1' });
    refused(r, 'ERR_APPROVAL_REASON', "OAM_EVIDENCE_TOKEN: step approve-deploy-prod requires a reason in the approver's comment, which cannot be read: no OAM_GITLAB_TOKEN, so the GitLab API cannot be asked");
    assert.match(r.stderr, /^hint: set OAM_GITLAB_TOKEN \(a project or group access token with scope api, Reporter or higher\) so oam-grant can read the approver's comment$/m);
  });

  it('without a merge request, the approver comments on the commit, and the grant reads it through the discussion', async () => {
    const p = newPipeline({ mr: false });
    assert.equal((await p.request('deploy-prod')).status, 0);
    assert.match(p.posted()[0] ?? '', /\*\*To approve:\*\* comment `oam-grant approve deploy-prod: <reason matching \^\[A-Z\]\+-\[0-9\]\+>` on this commit yourself/);
    const mine = p.comment(ALICE, 'oam-grant approve deploy-prod: OPS-9 from the commit');
    assert.equal((await p.approve('deploy-prod', ALICE, '901')).status, 0);
    const source = JSON.parse(readFileSync(p.approvalPath('901'), 'utf8')).reasonSource;
    assert.equal(source.location.kind, 'commit');
    assert.equal(source.location.sha, p.sha);
    const before = world.gitlab.calls.length;
    const grant = await p.grant('deploy-prod');
    assert.equal(grant.status, 0, grant.stderr);
    assert.ok(world.gitlab.calls.slice(before).some((c) => c.path === `/api/v4/projects/1217/repository/commits/${p.sha}/discussions/${source.location.discussionId}`));
    assert.equal(p.audit().events[1].reasonFrom, `the approver's comment ${mine} on commit ${p.sha.slice(0, 12)}`);
  });
});
