/**
 * The runner walks the approval rules itself (the grant's loop reads evidence
 * files, which a test case has none of). So that the two can never drift,
 * every case below also goes through the real grant gate,
 * verifyApprovalsForGrant, with RS256 evidence tokens from the loopback
 * issuer carrying the same claims and times, and evidence files on disk: both
 * must reach the same outcome.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { approvalStepFor, credentialTraitOf } from '../../src/access-file/lookup.ts';
import { parseAccessFile } from '../../src/access-file/load.ts';
import type { AccessFile } from '../../src/access-file/model.ts';
import { writeApprovalEvidence, writeRequestEvidence } from '../../src/approval/evidence.ts';
import type { ApprovalLookups } from '../../src/approval/lookups.ts';
import { verifyApprovalsForGrant } from '../../src/approval/verify-for-grant.ts';
import { OamError } from '../../src/errors.ts';
import { httpGet } from '../../src/lib/http.ts';
import { createOfflineLookups } from '../../src/policy-test/offline-lookups.ts';
import { evaluateCase } from '../../src/policy-test/run.ts';
import { buildScenario } from '../../src/policy-test/scenario.ts';
import { describeRequestedAccess } from '../../src/providers/requested-access.ts';
import type { GitlabClaims } from '../../src/token/claims.ts';
import { IssuerTokenVerifier } from '../../src/token/verify.ts';
import { type Issuer, startIssuer } from '../emulators/index.ts';
import { withInstance } from '../helpers/access-file.ts';
import { ACCESS_FILE, ALICE, PROD, testCase } from './helpers.ts';

const COMMENT_ON = { kind: 'merge-request', projectId: '1217', iid: '1' } as const;

const twoOfTwo = ACCESS_FILE.replace('requireReason: true', 'requireReason: true\n          minApprovals: 2');

// [what, case YAML, access file]
const CASES: [string, string, string?][] = [
  ['one listed approver', `${PROD}\n    approvals:\n${ALICE}`],
  ['no approval', PROD],
  ['the requester', `${PROD}\n    approvals:\n      - {user_login: developer, reason: OPS-1}`],
  ['the requester, renamed', `${PROD}\n    claims: {user_login: dev, user_id: "42"}\n    approvals:\n      - {user_login: dev2, user_id: "42", groups: [acme/sre], reason: OPS-1}`],
  ['the requester, their id given once', `${PROD}\n    claims: {user_login: dev, user_id: "42"}\n    approvals:\n      - {user_login: dev, reason: OPS-1}`],
  ['the MR author', `${PROD}\n    mrAuthor: {user_login: alice}\n    approvals:\n${ALICE}`],
  ['a commit author', `${PROD}\n    commitAuthors: [alice@example.com]\n    approvals:\n${ALICE}`],
  ['a commit author under an email the API shows', `${PROD}\n    commitAuthors: [alice@home.example]\n    approvals:\n      - {user_login: alice, emails: [alice@home.example], reason: OPS-1}`],
  ['a commit author under their private commit email', `${PROD}\n    commitAuthors: [45-carol@users.noreply.127.0.0.1]\n    approvals:\n      - {user_login: carol, user_id: "45", groups: [acme/sre], reason: OPS-1}`],
  ['someone not listed', `${PROD}\n    approvals:\n      - {user_login: mallory, reason: OPS-1}`],
  ['a group member', `${PROD}\n    approvals:\n      - {user_login: carol, groups: [acme/sre], reason: OPS-1}`],
  ['no reason', `${PROD}\n    approvals:\n      - {user_login: alice}`],
  ['a reason off the pattern', `${PROD}\n    approvals:\n      - {user_login: alice, reason: soon}`],
  ['past the timeout', `${PROD}\n    approvals:\n      - {user_login: alice, after: 7201s, reason: OPS-1}`],
  ['at the timeout', `${PROD}\n    approvals:\n      - {user_login: alice, after: 2h, reason: OPS-1}`],
  ['past validFor', `${PROD}\n    approvals:\n${ALICE}\n    now: 41m`],
  ['an expired and a fresh approval', `${PROD}\n    approvals:\n      - {user_login: alice, after: 1m, reason: OPS-1}\n      - {user_login: bob, after: 40m, reason: OPS-2}\n    now: 45m`],
  ['a fresh approval, then an ineligible one', `${PROD}\n    approvals:\n${ALICE}\n      - {user_login: mallory, reason: OPS-1}`],
  ['two of two from one person', `${PROD}\n    approvals:\n${ALICE}\n${ALICE}`, twoOfTwo],
  ['two of two', `${PROD}\n    approvals:\n${ALICE}\n      - {user_login: bob, reason: OPS-2}`, twoOfTwo],
  ['two of two, one expired', `${PROD}\n    approvals:\n      - {user_login: alice, after: 1m, reason: OPS-1}\n      - {user_login: bob, after: 40m, reason: OPS-2}\n    now: 45m`, twoOfTwo],
];

describe('the runner agrees with the grant gate', () => {
  let issuer: Issuer;
  let verifier: IssuerTokenVerifier;
  before(async () => {
    issuer = await startIssuer();
    verifier = new IssuerTokenVerifier({ issuer: issuer.url, get: httpGet });
  });
  after(() => issuer.close());

  /** The claims a GitLab job token of the scenario carries, for the emulator to sign. */
  const signable = (claims: GitlabClaims): Record<string, unknown> => {
    const { iss: _iss, sub: _sub, aud: _aud, iat: _iat, exp: _exp, ...rest } = claims.raw;
    return rest;
  };

  async function throughTheGrant(file: AccessFile, yaml: string): Promise<string> {
    const component = file.components[0]!;
    const trait = credentialTraitOf(component);
    const step = approvalStepFor(file, component);
    const scenario = buildScenario(file, component, testCase(yaml, file));
    const workspaceRoot = mkdtempSync(join(tmpdir(), 'oam-agree-'));
    const outDir = join(workspaceRoot, '.oam-grant');
    const evidence = (claims: GitlabClaims) => issuer.mint(signable(claims), { aud: 'oam-grant', iat: claims.iat, ttlSeconds: 300 });
    await writeRequestEvidence(outDir, {
      version: 1,
      kind: 'request',
      component: component.name,
      token: await evidence(scenario.requester),
      requested: describeRequestedAccess(component, [trait]),
      accessFileDigest: file.digest,
      createdAt: new Date(scenario.requester.iat * 1000).toISOString(),
    }, workspaceRoot);
    for (const { approval, claims } of scenario.approvals) {
      await writeApprovalEvidence(outDir, claims.job_id ?? '', {
        version: 1,
        kind: 'approval',
        component: component.name,
        step: step?.name ?? '',
        token: await evidence(claims),
        reason: approval.reason ?? '',
        // The reason a case states is the approver's comment: the grant reads it again below.
        reasonSource:
          approval.reason === undefined
            ? { kind: 'none' }
            : { kind: 'comment', noteId: Number(claims.job_id), location: COMMENT_ON, createdAt: new Date(claims.iat * 1000).toISOString() },
        createdAt: new Date(claims.iat * 1000).toISOString(),
      }, workspaceRoot);
    }
    // The approvers' comments, as the API would answer them: one per approval job, by its approver, written when Run was pressed.
    const offline = createOfflineLookups(scenario.people);
    const lookups: ApprovalLookups = {
      ...offline,
      isOfThisChange: (location) => location.kind === 'merge-request' && location.iid === COMMENT_ON.iid,
      async comment(_location, noteId) {
        const found = scenario.approvals.find(({ claims }) => Number(claims.job_id) === noteId);
        if (!found) return { ok: true, value: undefined };
        const at = new Date(found.claims.iat * 1000).toISOString();
        const body = `oam-grant approve ${component.name}: ${found.approval.reason ?? ''}`;
        return { ok: true, value: { id: noteId, body, authorId: found.claims.user_id ?? '', authorUsername: found.approval.login, createdAt: at, updatedAt: at, system: false } };
      },
    };
    const own = await verifier.verify(await issuer.mint(signable(scenario.claims)), { audience: 'sts.amazonaws.com', purpose: 'exchange', source: 'OAM_ID_TOKEN' });
    try {
      await verifyApprovalsForGrant({
        file,
        component,
        traits: [trait],
        step,
        own,
        outDir,
        verifier,
        lookups,
        now: () => new Date(scenario.nowSeconds * 1000),
      });
      return 'granted';
    } catch (error) {
      if (error instanceof OamError) return error.code;
      throw error;
    }
  }

  for (const [what, yaml, text] of CASES) {
    it(what, async () => {
      const file = parseAccessFile(withInstance(text ?? ACCESS_FILE, issuer.url), '.gitlab/oam.yaml');
      const ours = await evaluateCase(file, testCase(yaml, file));
      const theirs = await throughTheGrant(file, yaml);
      assert.equal(ours.kind === 'granted' ? 'granted' : ours.code, theirs, ours.kind === 'denied' ? ours.message : '');
    });
  }

  it('covers every approval outcome', async () => {
    const seen = new Set<string>();
    for (const [, yaml, text] of CASES) {
      const file = parseAccessFile(text ?? ACCESS_FILE, '.gitlab/oam.yaml');
      const outcome = await evaluateCase(file, testCase(yaml, file));
      seen.add(outcome.kind === 'granted' ? 'granted' : outcome.code);
    }
    assert.deepEqual([...seen].sort(), ['ERR_APPROVAL_EXPIRED', 'ERR_APPROVAL_MISSING', 'ERR_APPROVAL_REASON', 'ERR_APPROVAL_SELF', 'ERR_APPROVER_NOT_ALLOWED', 'granted']);
  });
});
