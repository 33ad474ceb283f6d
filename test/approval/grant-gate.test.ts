/**
 * The grant job's approval gate as the grant command calls it: nothing to do
 * without a step, otherwise the verified request and approvals, and the log
 * lines that are the job's account of who asked and who approved.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { ApprovalStep } from '../../src/access-file/model.ts';
import { writeApprovalEvidence, writeRequestEvidence } from '../../src/approval/evidence.ts';
import { checkApprovalsForGrant } from '../../src/approval/grant-gate.ts';
import { httpGet } from '../../src/lib/http.ts';
import { describeRequestedAccess } from '../../src/providers/requested-access.ts';
import type { TokenVerifier } from '../../src/token/types.ts';
import { IssuerTokenVerifier } from '../../src/token/verify.ts';
import { DEFAULT_SHA, type GitlabApi as GitlabEmulator, type Issuer, startGitlabApi, startIssuer } from '../emulators/index.ts';
import { accessFile, awsTrait, component } from '../helpers/model.ts';
import { commandDeps, step as makeStep } from './fixtures.ts';

describe('checkApprovalsForGrant', () => {
  let issuer: Issuer;
  let gitlab: GitlabEmulator;
  let verifier: TokenVerifier;
  let outDir: string;
  const now = Math.floor(Date.now() / 1000);
  const comp = component('deploy-prod', { traits: [awsTrait()] });

  before(async () => {
    issuer = await startIssuer();
    gitlab = await startGitlabApi({
      mergeRequests: [{ projectId: '1217', iid: 7, authorUsername: 'dev', commits: [{ sha: DEFAULT_SHA, authorEmail: 'dev@example.com' }] }],
    });
    verifier = new IssuerTokenVerifier({ issuer: issuer.url, get: httpGet });
  });
  after(async () => {
    await issuer.close();
    await gitlab.close();
  });
  beforeEach(() => {
    outDir = join(mkdtempSync(join(tmpdir(), 'oam-gate-')), '.oam-grant');
  });

  const token = (claims: Record<string, unknown>, iat: number) => issuer.mint(claims, { aud: 'oam-grant', iat, ttlSeconds: 300 });

  async function writeRequest(claims: Record<string, unknown> = { user_id: '42', user_login: 'dev', job_id: '800' }) {
    await writeRequestEvidence(outDir, {
      version: 1,
      kind: 'request',
      component: 'deploy-prod',
      token: await token(claims, now - 600),
      requested: describeRequestedAccess(comp, [awsTrait()]),
      accessFileDigest: accessFile().digest,
      createdAt: new Date((now - 600) * 1000).toISOString(),
    }, dirname(outDir));
  }

  async function writeApproval(person: { user_id: string; user_login: string }, jobId: string, iat = now - 300) {
    await writeApprovalEvidence(outDir, jobId, {
      version: 1,
      kind: 'approval',
      component: 'deploy-prod',
      step: 'approve-deploy-prod',
      token: await token({ ...person, job_id: jobId }, iat),
      reason: 'OPS-1',
      reasonSource: { kind: 'variable', variable: 'OAM_APPROVAL_REASON' },
      createdAt: new Date(iat * 1000).toISOString(),
    }, dirname(outDir));
  }

  async function gate(step: ApprovalStep | undefined) {
    // An MR pipeline with an API token: forbid mrAuthor is checked through the API of the access file's instance (MR !7 is by dev).
    const deps = commandDeps({ outDir, now: () => new Date(now * 1000), env: { OAM_GITLAB_TOKEN: 'glpat-secret', CI_MERGE_REQUEST_IID: '7' } });
    const file = { ...accessFile({ components: [comp], steps: step ? [step] : [] }), gitlab: { url: gitlab.url, issuer: issuer.url, apiUrl: `${gitlab.url}/api/v4`, stated: true } };
    const own = await verifier.verify(await issuer.mint({ user_id: '42', user_login: 'dev', job_id: '1000' }), { audience: 'sts.amazonaws.com', purpose: 'exchange', source: 'OAM_ID_TOKEN' });
    const outcome = await checkApprovalsForGrant(deps, { file, component: comp, traits: [awsTrait()], verifier }, own);
    return { outcome, log: deps.logged.join('') };
  }

  it('reads and logs nothing when the component has no approval step', async () => {
    await writeRequest();
    const { outcome, log } = await gate(undefined);
    assert.deepEqual(outcome, { required: false, step: undefined, request: undefined, approvals: [], expired: [] });
    assert.equal(log, '');
  });

  it('logs the request, each counted approval and the tally', async () => {
    await writeRequest();
    await writeApproval({ user_id: '43', user_login: 'alice' }, '900');
    await writeApproval({ user_id: '44', user_login: 'bob' }, '901', now - 120);
    const step = makeStep({ minApprovals: 2 });
    const { outcome, log } = await gate(step);
    assert.equal(outcome.required, true);
    assert.deepEqual(outcome.approvals.map((a) => a.token.claims.user_login), ['alice', 'bob']);
    assert.ok(gitlab.calls.some((c) => c.path === '/api/v4/projects/1217/merge_requests/7'), 'the MR author was asked of the API');
    assert.equal(
      log,
      [
        '== approvals (step approve-deploy-prod)',
        `request: ${join(outDir, 'request.json')} by dev in job 800`,
        `approval: ${join(outDir, 'approvals/900.json')} by alice (listed in approvers.users), 5m after the request`,
        `approval: ${join(outDir, 'approvals/901.json')} by bob (listed in approvers.users), 8m after the request`,
        'ok: 2 of 2 approvals from distinct people',
        '',
      ].join('\n'),
    );
  });

  it('warns about an approval that ran out but was not needed, and counts in the singular', async () => {
    await writeRequest({ user_id: '42', user_login: undefined, job_id: undefined });
    await writeApproval({ user_id: '43', user_login: 'alice' }, '900', now - 590);
    await writeApproval({ user_id: '44', user_login: 'bob' }, '901');
    const { outcome, log } = await gate(makeStep({ validForSeconds: 400 }));
    assert.deepEqual(outcome.expired.map((e) => e.path), [join(outDir, 'approvals/900.json')]);
    assert.equal(
      log,
      [
        '== approvals (step approve-deploy-prod)',
        // A request token without user_login or job_id is shown with "?".
        `request: ${join(outDir, 'request.json')} by ? in job ?`,
        `approval: ${join(outDir, 'approvals/901.json')} by bob (listed in approvers.users), 5m after the request`,
        `warning: not counted: ${join(outDir, 'approvals/900.json')}: approved 9m 50s ago, but step approve-deploy-prod accepts approvals for 6m 40s (validFor)`,
        'ok: 1 of 1 approval from distinct people',
        '',
      ].join('\n'),
    );
  });

  it('throws the refusal out of its log section', async () => {
    await writeRequest();
    await assert.rejects(gate(makeStep()), { code: 'ERR_APPROVAL_MISSING', message: 'step approve-deploy-prod of deploy-prod: 0 of 1 approval from distinct people' });
  });
});
