/**
 * The grant's re-verification from evidence alone, with real RS256 tokens
 * from the loopback issuer and real files: every refusal with its code and
 * message, and nothing trusted that is not signed.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { ApprovalStep } from '../../src/access-file/model.ts';
import { writeApprovalEvidence, writeRequestEvidence } from '../../src/approval/evidence.ts';
import type { ReasonSource } from '../../src/approval/reason-comment.ts';
import { partialOutcomeOf, verifyApprovalsForGrant, verifyVisibleApprovals } from '../../src/approval/verify-for-grant.ts';
import { verifyRequest } from '../../src/approval/verify-request.ts';
import { httpGet } from '../../src/lib/http.ts';
import { describeRequestedAccess } from '../../src/providers/requested-access.ts';
import type { TokenVerifier } from '../../src/token/types.ts';
import { IssuerTokenVerifier } from '../../src/token/verify.ts';
import { type Issuer, startIssuer } from '../emulators/index.ts';
import { accessFile, awsTrait, component } from '../helpers/model.ts';
import { lookups, step as makeStep } from './fixtures.ts';

const DEV = { user_id: '42', user_login: 'dev', user_email: 'dev@example.com' };
const ALICE = { user_id: '43', user_login: 'alice', user_email: 'alice@example.com' };
const BOB = { user_id: '44', user_login: 'bob', user_email: 'bob@example.com' };
const MALLORY = { user_id: '46', user_login: 'mallory', user_email: 'mallory@example.com' };

describe('verifyApprovalsForGrant', () => {
  let issuer: Issuer;
  let verifier: TokenVerifier;
  let outDir: string;
  const now = Math.floor(Date.now() / 1000);
  const comp = component('deploy-prod', { traits: [awsTrait()] });
  const trait = awsTrait();

  before(async () => {
    issuer = await startIssuer();
    verifier = new IssuerTokenVerifier({ issuer: issuer.url, get: httpGet });
  });
  after(() => issuer.close());
  beforeEach(() => {
    outDir = join(mkdtempSync(join(tmpdir(), 'oam-approval-')), '.oam-grant');
  });

  const evidenceToken = (claims: Record<string, unknown>, iat = now - 600) => issuer.mint(claims, { aud: 'oam-grant', iat, ttlSeconds: 300 });

  async function writeRequest(claims: Record<string, unknown> = {}, iat = now - 600, file = accessFile({ components: [comp] })) {
    await writeRequestEvidence(outDir, {
      version: 1,
      kind: 'request',
      component: 'deploy-prod',
      token: await evidenceToken({ ...DEV, job_id: '800', ...claims }, iat),
      requested: describeRequestedAccess(comp, [trait]),
      accessFileDigest: file.digest,
      createdAt: new Date(iat * 1000).toISOString(),
    }, dirname(outDir));
  }

  async function writeApproval(
    person: Record<string, unknown>,
    jobId: string,
    options: { iat?: number; reason?: string; reasonSource?: ReasonSource; claims?: Record<string, unknown> } = {},
  ) {
    const iat = options.iat ?? now - 300;
    const reason = options.reason ?? 'OPS-1 release';
    await writeApprovalEvidence(outDir, jobId, {
      version: 1,
      kind: 'approval',
      component: 'deploy-prod',
      step: 'approve-deploy-prod',
      token: await evidenceToken({ ...person, job_id: jobId, ...options.claims }, iat),
      reason,
      reasonSource: options.reasonSource ?? (reason === '' ? { kind: 'none' } : { kind: 'variable', variable: 'OAM_APPROVAL_REASON' }),
      createdAt: new Date(iat * 1000).toISOString(),
    }, dirname(outDir));
  }

  /** `null`: the access file has no approval step. */
  async function verify(given: ApprovalStep | null = makeStep(), l = lookups()) {
    const step = given ?? undefined;
    const file = accessFile({ components: [comp], steps: step ? [step] : [] });
    const own = await verifier.verify(await issuer.mint({ ...DEV, job_id: '1000' }), { audience: 'sts.amazonaws.com', purpose: 'exchange', source: 'OAM_ID_TOKEN' });
    return verifyApprovalsForGrant({ file, component: comp, traits: [trait], step, own, outDir, verifier, lookups: l, now: () => new Date() });
  }

  const approvalPath = (jobId: string) => join(outDir, 'approvals', `${jobId}.json`);
  const requestPath = () => join(outDir, 'request.json');

  it('needs nothing without an approval step', async () => {
    const outcome = await verify(null);
    assert.equal(outcome.required, false);
    assert.deepEqual(outcome.approvals, []);
  });

  it('counts a valid approval by a listed user', async () => {
    await writeRequest();
    await writeApproval(ALICE, '900');
    const outcome = await verify();
    assert.equal(outcome.required, true);
    assert.deepEqual(
      outcome.approvals.map((a) => [a.token.claims.user_login, a.match, a.reason, a.latencySeconds]),
      [['alice', { via: 'user', login: 'alice' }, 'OPS-1 release', 300]],
    );
  });

  it('refuses without request evidence', async () => {
    await assert.rejects(verify(), { code: 'ERR_APPROVAL_MISSING', message: `${requestPath()}: no request evidence; component deploy-prod needs approval` });
  });

  it('refuses without approvals', async () => {
    await writeRequest();
    await assert.rejects(verify(), { code: 'ERR_APPROVAL_MISSING', message: 'step approve-deploy-prod of deploy-prod: 0 of 1 approval from distinct people' });
  });

  it('refuses self-approval by the requester', async () => {
    await writeRequest();
    await writeApproval({ ...DEV, user_login: 'alice' }, '900');
    await assert.rejects(verify(), {
      code: 'ERR_APPROVAL_SELF',
      message: `${approvalPath('900')}: alice requested this access and may not approve it (forbid: requester)`,
    });
  });

  it('refuses the MR author', async () => {
    await writeRequest();
    await writeApproval(ALICE, '900');
    await assert.rejects(verify(makeStep(), lookups({ mrAuthor: { id: '43', username: 'alice' } })), {
      code: 'ERR_APPROVAL_SELF',
      message: `${approvalPath('900')}: alice wrote merge request !7 and may not approve it (forbid: mrAuthor)`,
    });
  });

  it('refuses an approver who is not listed', async () => {
    await writeRequest();
    await writeApproval(MALLORY, '900');
    await assert.rejects(verify(), {
      code: 'ERR_APPROVER_NOT_ALLOWED',
      message: `${approvalPath('900')}: mallory may not approve step approve-deploy-prod (approvers.users: alice, bob; approvers.groups: none)`,
    });
  });

  it('accepts a group member and refuses a non-member', async () => {
    const step = makeStep({ approvers: { users: [], groups: ['acme/sre'] } });
    await writeRequest();
    await writeApproval(ALICE, '900');
    const outcome = await verify(step, lookups({ members: { 'acme/sre': ['43'] } }));
    assert.deepEqual(outcome.approvals[0]?.match, { via: 'group', group: 'acme/sre' });
    await assert.rejects(verify(step, lookups({ members: { 'acme/sre': ['45'] } })), { code: 'ERR_APPROVER_NOT_ALLOWED' });
  });

  for (const [claim, value, noun] of [
    ['pipeline_id', '999', 'pipeline'],
    ['sha', 'f'.repeat(40), 'commit'],
    ['project_id', '4', 'project'],
  ] as const) {
    it(`refuses an approval from another ${noun}`, async () => {
      await writeRequest();
      await writeApproval(ALICE, '900', { claims: { [claim]: value } });
      const ours = claim === 'pipeline_id' ? '1000001' : claim === 'sha' ? '4b825dc642cb6eb9a060e54bf8d69288fbee4904' : '1217';
      await assert.rejects(verify(), { code: 'ERR_APPROVAL_INVALID', message: `${approvalPath('900')}: ${claim} ${value} differs from this ${noun}'s ${ours}` });
    });
  }

  it('refuses a request from another pipeline', async () => {
    await writeRequest({ pipeline_id: '5' });
    await writeApproval(ALICE, '900');
    await assert.rejects(verify(), { code: 'ERR_APPROVAL_INVALID', message: `${requestPath()}: pipeline_id 5 differs from this pipeline's 1000001` });
  });

  it('refuses a forged signature', async () => {
    await writeRequest();
    await writeApproval(ALICE, '900');
    const path = approvalPath('900');
    const evidence = JSON.parse(readFileSync(path, 'utf8'));
    evidence.token = await issuer.mintForged({ ...ALICE, job_id: '900' }, { aud: 'oam-grant' });
    writeFileSync(path, JSON.stringify(evidence));
    await assert.rejects(verify(), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'ERR_APPROVAL_INVALID');
      assert.ok(error.message.startsWith(`${path}: `), error.message);
      assert.match(error.message, /\(ERR_TOKEN_INVALID\)$/);
      return true;
    });
  });

  it('refuses an evidence token minted for a cloud audience', async () => {
    await writeRequest();
    await writeApproval(ALICE, '900');
    const path = approvalPath('900');
    const evidence = JSON.parse(readFileSync(path, 'utf8'));
    evidence.token = await issuer.mint({ ...ALICE, job_id: '900' });
    writeFileSync(path, JSON.stringify(evidence));
    await assert.rejects(verify(), (error: Error & { code?: string }) => error.code === 'ERR_APPROVAL_INVALID' && /\(ERR_TOKEN_AUDIENCE\)$/.test(error.message));
  });

  it('refuses a tampered request (role changed after approval)', async () => {
    await writeRequest();
    await writeApproval(ALICE, '900');
    const evidence = JSON.parse(readFileSync(requestPath(), 'utf8'));
    evidence.requested.credentials[0].identity = 'arn:aws:iam::123456789012:role/admin';
    writeFileSync(requestPath(), JSON.stringify(evidence));
    await assert.rejects(verify(), {
      code: 'ERR_APPROVAL_INVALID',
      message: `${requestPath()}: requested.roleArn differs from the access file at this commit (tampered, or made from another file)`,
    });
  });

  it('refuses an approval file renamed to another job id', async () => {
    await writeRequest();
    await writeApproval(ALICE, '900');
    mkdirSync(join(outDir, 'approvals'), { recursive: true });
    writeFileSync(approvalPath('901'), readFileSync(approvalPath('900')));
    rmSync(approvalPath('900'));
    await assert.rejects(verify(), { code: 'ERR_APPROVAL_INVALID', message: `${approvalPath('901')}: the token's job_id 900 does not match the file name` });
  });

  it('refuses evidence that is a symlink', async () => {
    await writeRequest();
    await writeApproval(ALICE, '900');
    const elsewhere = join(outDir, '..', 'elsewhere.json');
    writeFileSync(elsewhere, readFileSync(approvalPath('900')));
    rmSync(approvalPath('900'));
    symlinkSync(elsewhere, approvalPath('900'));
    await assert.rejects(verify(), { code: 'ERR_APPROVAL_INVALID', message: `${approvalPath('900')}: is a symbolic link` });
  });

  it('refuses a missing or malformed reason when one is required', async () => {
    const step = makeStep({ requireReason: true, reasonPattern: '^[A-Z]+-[0-9]+' });
    await writeRequest();
    await writeApproval(ALICE, '900', { reason: '' });
    await assert.rejects(verify(step), { code: 'ERR_APPROVAL_REASON', message: `${approvalPath('900')}: step approve-deploy-prod requires a reason and none was given` });
    await writeApproval(ALICE, '900', { reason: 'because' });
    await assert.rejects(verify(step), {
      code: 'ERR_APPROVAL_REASON',
      message: `${approvalPath('900')} (OAM_APPROVAL_REASON): the reason does not match reasonPattern "^[A-Z]+-[0-9]+" of step approve-deploy-prod`,
    });
  });

  it("re-reads a comment's reason by id: counts it while it still says so, refuses it once edited", async () => {
    const step = makeStep({ requireReason: true, reasonPattern: '^[A-Z]+-[0-9]+' });
    await writeRequest({}, now - 600);
    const location = { kind: 'merge-request', projectId: '1217', iid: '7' } as const;
    const createdAt = new Date((now - 400) * 1000).toISOString();
    await writeApproval(ALICE, '900', { reason: 'OPS-7 go', reasonSource: { kind: 'comment', noteId: 321, location, createdAt } });
    const note = { id: 321, authorId: '43', authorUsername: 'alice', createdAt, updatedAt: createdAt, system: false, body: 'oam-grant approve deploy-prod: OPS-7 go' };
    const outcome = await verify(step, lookups({ comments: [note] }));
    assert.deepEqual(outcome.approvals.map((a) => [a.reason, a.reasonSource.kind]), [['OPS-7 go', 'comment']]);
    await assert.rejects(verify(step, lookups({ comments: [{ ...note, body: 'oam-grant approve deploy-prod: OPS-8 other' }] })), {
      code: 'ERR_APPROVAL_REASON',
      message: `${approvalPath('900')}: comment 321 on merge request !7 was edited after the approval: it no longer gives the reason that was approved`,
    });
  });

  it('refuses an approval given after the timeout', async () => {
    await writeRequest({}, now - 4000);
    await writeApproval(ALICE, '900', { iat: now - 10 });
    await assert.rejects(verify(makeStep({ timeoutSeconds: 3600 })), {
      code: 'ERR_APPROVAL_EXPIRED',
      message: `step approve-deploy-prod of deploy-prod: 0 of 1 approval from distinct people; ${approvalPath('900')}: approved 1h 6m 30s after the request, but step approve-deploy-prod allows 1h (timeout)`,
    });
  });

  it('refuses an approval older than validFor, but counts a fresh one next to it', async () => {
    await writeRequest({}, now - 4000);
    await writeApproval(ALICE, '900', { iat: now - 3900 });
    await assert.rejects(verify(makeStep({ validForSeconds: 1800 })), { code: 'ERR_APPROVAL_EXPIRED' });
    await writeApproval(BOB, '901', { iat: now - 60 });
    const outcome = await verify(makeStep({ validForSeconds: 1800 }));
    assert.deepEqual(outcome.approvals.map((a) => a.token.claims.user_login), ['bob']);
    assert.equal(outcome.expired.length, 1);
  });

  it('refuses an approval made before the request', async () => {
    await writeRequest({}, now - 100);
    await writeApproval(ALICE, '900', { iat: now - 200 });
    await assert.rejects(verify(), { code: 'ERR_APPROVAL_INVALID', message: `${approvalPath('900')}: the approval (iat ${now - 200}) precedes the request (iat ${now - 100})` });
  });

  it('counts one person once: two approvals by alice are not two approvals', async () => {
    await writeRequest();
    await writeApproval(ALICE, '900');
    await writeApproval({ ...ALICE, user_login: 'alice-renamed' }, '901');
    const step = makeStep({ minApprovals: 2, approvers: { users: ['alice', 'alice-renamed', 'bob'], groups: [] } });
    await assert.rejects(verify(step), { code: 'ERR_APPROVAL_MISSING', message: 'step approve-deploy-prod of deploy-prod: 1 of 2 approvals from distinct people' });
    await writeApproval(BOB, '902');
    assert.equal((await verify(step)).approvals.length, 2);
  });

  it('refuses the request job approving itself', async () => {
    await writeRequest();
    await writeApproval(ALICE, '800');
    await assert.rejects(verify(), { code: 'ERR_APPROVAL_INVALID', message: `${approvalPath('800')}: job 800 cannot both request (or grant) and approve` });
  });

  it('keeps what it verified before refusing, for the denial note and audit record', async () => {
    await writeRequest();
    await writeApproval(ALICE, '900');
    const step = makeStep({ minApprovals: 2 });
    const error = await verify(step).then(
      () => assert.fail('expected a refusal'),
      (e: unknown) => e,
    );
    assert.equal((error as { code?: string }).code, 'ERR_APPROVAL_MISSING');
    const partial = partialOutcomeOf(error);
    assert.equal(partial?.request?.token.claims.user_login, 'dev');
    assert.deepEqual(partial?.approvals.map((a) => a.token.claims.user_login), ['alice']);
    // A refusal on the request itself leaves no request and no approvals.
    rmSync(requestPath());
    const missing = await verify(step).then(
      () => assert.fail('expected a refusal'),
      (e: unknown) => e,
    );
    assert.deepEqual(partialOutcomeOf(missing), { step, request: undefined, approvals: [] });
    assert.equal(partialOutcomeOf(new Error('other')), undefined);
  });

  it('shows an approve job the other valid approvals of its out-dir, skipping its own file and bad ones', async () => {
    await writeRequest();
    await writeApproval(ALICE, '900');
    await writeApproval(MALLORY, '901');
    await writeApproval(BOB, '902');
    const step = makeStep({ minApprovals: 2 });
    const file = accessFile({ components: [comp], steps: [step] });
    const own = await verifier.verify(await evidenceToken({ ...BOB, job_id: '902' }, now - 60), { audience: 'oam-grant', purpose: 'exchange', source: 'OAM_EVIDENCE_TOKEN' });
    const request = await verifyRequest({ file, component: comp, traits: [trait] }, own, outDir, verifier);
    const visible = await verifyVisibleApprovals({ step, component: comp, own, request, outDir, verifier, lookups: lookups(), now: () => new Date() });
    assert.deepEqual(visible.approvals.map((a) => a.token.claims.user_login), ['alice']);
    assert.deepEqual(visible.skipped.map((x) => x.path), [approvalPath('901')]);
    assert.match(visible.skipped[0]?.message ?? '', /mallory may not approve step/);
  });

  it('returns an empty outcome without reading anything when there is no approval step', async () => {
    assert.deepEqual(await verify(null), { required: false, step: undefined, request: undefined, approvals: [], expired: [] });
  });

  // An approval is for one step of one component; its unsigned fields must still name ours (tokens carry no step).
  for (const [what, field, value] of [
    ['another step', 'step', 'approve-deploy-dev'],
    ['another component', 'component', 'deploy-dev'],
  ] as const) {
    it(`refuses an approval of ${what}, even one by an eligible approver of this pipeline`, async () => {
      await writeRequest();
      await writeApproval(ALICE, '900');
      const evidence = JSON.parse(readFileSync(approvalPath('900'), 'utf8'));
      evidence[field] = value;
      writeFileSync(approvalPath('900'), JSON.stringify(evidence));
      const [stepName, componentName] = field === 'step' ? [value, 'deploy-prod'] : ['approve-deploy-prod', value];
      await assert.rejects(verify(), {
        code: 'ERR_APPROVAL_INVALID',
        message: `${approvalPath('900')}: approves step ${stepName} of component ${componentName}, not step approve-deploy-prod of deploy-prod`,
        hint: 'give each component its own --out-dir',
      });
    });
  }

  it('refuses an approval token without job_id', async () => {
    await writeRequest();
    await writeApproval(ALICE, '900', { claims: { job_id: undefined } });
    await assert.rejects(verify(), {
      code: 'ERR_APPROVAL_INVALID',
      message: `${approvalPath('900')}: the token's job_id is absent and does not match the file name`,
      hint: 'evidence files are written by the approve job only; rerun it instead of copying files',
    });
  });

  it('refuses the grant job approving itself', async () => {
    await writeRequest();
    await writeApproval(ALICE, '1000');
    await assert.rejects(verify(), {
      code: 'ERR_APPROVAL_INVALID',
      message: `${approvalPath('1000')}: job 1000 cannot both request (or grant) and approve`,
      hint: 'approvals come from the manual approve job',
    });
  });

  it('counts an approval made in the same second as the request', async () => {
    await writeRequest({}, now - 100);
    await writeApproval(ALICE, '900', { iat: now - 100 });
    assert.deepEqual((await verify()).approvals.map((a) => [a.token.claims.user_login, a.latencySeconds]), [['alice', 0]]);
  });

  it('tells apart people without user_id by their login, whatever its case', async () => {
    await writeRequest();
    await writeApproval({ user_login: 'alice' }, '900', { claims: { user_id: undefined } });
    await writeApproval({ user_login: 'ALICE' }, '901', { claims: { user_id: undefined } });
    const step = makeStep({ minApprovals: 2 });
    await assert.rejects(verify(step), { code: 'ERR_APPROVAL_MISSING', message: 'step approve-deploy-prod of deploy-prod: 1 of 2 approvals from distinct people' });
    await writeApproval({ user_login: 'bob' }, '902', { claims: { user_id: undefined } });
    assert.deepEqual((await verify(step)).approvals.map((a) => a.token.claims.user_login), ['alice', 'bob']);
  });

  it('says what to do next: no approval yet, another person needed, or approvals that ran out', async () => {
    await writeRequest({}, now - 4000);
    await assert.rejects(verify(makeStep({ minApprovals: 2 })), {
      code: 'ERR_APPROVAL_MISSING',
      hint: 'an approver must press Run on the approve job of this pipeline before the grant job runs',
    });
    await writeApproval(ALICE, '900', { iat: now - 60 });
    await assert.rejects(verify(makeStep({ minApprovals: 2 })), {
      code: 'ERR_APPROVAL_MISSING',
      hint: 'another eligible person must press Run on the approve job (the same person counts once)',
    });
    await writeApproval(BOB, '901', { iat: now - 3900 });
    await assert.rejects(verify(makeStep({ minApprovals: 2, validForSeconds: 1800, timeoutSeconds: 7200 })), {
      code: 'ERR_APPROVAL_EXPIRED',
      // The age is counted from the clock: 1h 5m, or a second more on a slow run.
      message: new RegExp(`^step approve-deploy-prod of deploy-prod: 1 of 2 approvals from distinct people; ${approvalPath('901')}: approved 1h 5m( [0-9]s)? ago, but step approve-deploy-prod accepts approvals for 30m \\(validFor\\)$`),
      hint: 'approvals are valid for 30m and must come within 2h of the request: run the approve job again, then the grant job',
    });
  });

  for (const thrown of ['socket hang up', null]) {
    it(`lets a failure that is not an Error (${thrown}) through unchanged`, async () => {
      await writeRequest();
      await writeApproval(ALICE, '900');
      const failing = { ...lookups(), mergeRequestAuthors: () => Promise.reject(thrown) };
      await assert.rejects(verify(makeStep(), failing), (error: unknown) => error === thrown);
    });
  }

  it('refuses an approval older than the request first, from its signed iat, before asking GitLab anything', async () => {
    await writeRequest({}, now - 100);
    // Mallory is no approver either: the replayed approval is refused as such, not for that.
    await writeApproval(MALLORY, '900', { iat: now - 200 });
    const l = lookups();
    await assert.rejects(verify(makeStep(), l), {
      code: 'ERR_APPROVAL_INVALID',
      message: `${approvalPath('900')}: the approval (iat ${now - 200}) precedes the request (iat ${now - 100})`,
      hint: 'an approval counts only for a request made before it: run the approve job again',
    });
    assert.deepEqual(l.asked, []);
  });

  describe('verifyVisibleApprovals', () => {
    const step = makeStep({ minApprovals: 2 });
    async function visibleTo(person: Record<string, unknown>, jobId: string, l = lookups()) {
      const file = accessFile({ components: [comp], steps: [step] });
      const own = await verifier.verify(await evidenceToken({ ...person, job_id: jobId }, now - 60), { audience: 'oam-grant', purpose: 'exchange', source: 'OAM_EVIDENCE_TOKEN' });
      const request = await verifyRequest({ file, component: comp, traits: [trait] }, own, outDir, verifier);
      return verifyVisibleApprovals({ step, component: comp, own, request, outDir, verifier, lookups: l, now: () => new Date() });
    }

    it("counts each other person once, and not the job's own person in another job", async () => {
      await writeRequest();
      await writeApproval(ALICE, '900');
      await writeApproval(ALICE, '901');
      await writeApproval(BOB, '903');
      const visible = await visibleTo(BOB, '902');
      assert.deepEqual(visible.approvals.map((a) => a.path), [approvalPath('900')]);
      assert.deepEqual(visible.skipped, []);
    });

    it('skips the whole directory, saying why, when it cannot be read', async () => {
      await writeRequest();
      await writeApproval(ALICE, '900');
      writeFileSync(join(outDir, 'approvals', 'notes.txt'), '');
      assert.deepEqual(await visibleTo(BOB, '902'), {
        approvals: [],
        skipped: [{ path: outDir, message: `${join(outDir, 'approvals', 'notes.txt')}: is not named <job_id>.json` }],
      });
    });

    it('fails on an error that is not a refusal', async () => {
      await writeRequest();
      await writeApproval(ALICE, '900');
      const failing = { ...lookups(), mergeRequestAuthors: () => Promise.reject(new TypeError('bug')) };
      await assert.rejects(visibleTo(BOB, '902', failing), { name: 'TypeError', message: 'bug' });
    });
  });
});
