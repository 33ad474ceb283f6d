/**
 * The approval reason from the approver's own comment: the syntax, how the
 * approve job finds it (author, window, newest), the labelled variable
 * fallback, failing closed without the API, and the grant's re-reading.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ApprovalLookups } from '../../src/approval/lookups.ts';
import { findApproverReason, verifyRecordedReason } from '../../src/approval/reason.ts';
import { type CommentLocation, type ReasonSource, reasonInComment } from '../../src/approval/reason-comment.ts';
import type { GitlabComment } from '../../src/lib/gitlab-api.ts';
import { claims, lookups, step } from './fixtures.ts';

describe('reasonInComment', () => {
  const cases: [string, string, string | undefined][] = [
    ['oam-grant approve deploy-prod: OPS-1 hotfix', 'plain', 'OPS-1 hotfix'],
    ['LGTM, thanks!\n\n  OAM-GRANT Approve Deploy-Prod :  OPS-2  ', 'any case, blanks around', 'OPS-2'],
    ['first\r\noam-grant approve deploy-prod: OPS-3\r\nlast', 'CRLF line ends', 'OPS-3'],
    ['oam-grant approve deploy-prod: OPS-4\noam-grant approve deploy-prod: OPS-5', 'the first line counts', 'OPS-4'],
    ['oam-grant approve deploy-prod:', 'no reason on the line', ''],
    ['> oam-grant approve deploy-prod: OPS-6', 'a quoted line', undefined],
    ['please oam-grant approve deploy-prod: OPS-7', 'not at the start of the line', undefined],
    ['oam-grant approve deploy-staging: OPS-8', 'another component', undefined],
    ['oam-grant approve deploy-prod OPS-9', 'no colon', undefined],
    ['oam-grant approved deploy-prod: OPS-10', 'another word', undefined],
    ['`oam-grant approve deploy-prod: OPS-11`', 'inside backticks', undefined],
  ];
  for (const [body, name, expected] of cases) {
    it(`${name}: ${expected === undefined ? 'no approval' : JSON.stringify(expected)}`, () => {
      assert.equal(reasonInComment(body, 'deploy-prod'), expected);
    });
  }
});

const REQUEST_IAT = 1_700_000_000;
const APPROVAL_IAT = REQUEST_IAT + 600;
const at = (seconds: number) => new Date(seconds * 1000).toISOString();
const ALICE = { user_id: '43', user_login: 'alice', iat: APPROVAL_IAT };

const REASON_API_HINT = "set OAM_GITLAB_TOKEN (a project or group access token with scope api, Reporter or higher) so oam-grant can read the approver's comment";

function note(id: number, body: string, overrides: Partial<GitlabComment> = {}): GitlabComment {
  const createdAt = at(REQUEST_IAT + 100 + id);
  return { id, body, authorId: '43', authorUsername: 'alice', createdAt, updatedAt: createdAt, system: false, ...overrides };
}

describe('findApproverReason (approve job)', () => {
  const SRC = 'OAM_EVIDENCE_TOKEN';
  const required = step({ requireReason: true, reasonPattern: '^[A-Z]+-[0-9]+' });
  const find = (s = required, facts: Parameters<typeof lookups>[0] = {}, variable?: string, approver: Record<string, unknown> = ALICE) => {
    const warnings: string[] = [];
    const result = findApproverReason({ step: s, approver: claims(approver), requestIat: REQUEST_IAT, lookups: lookups(facts), variable, source: SRC, warn: (m) => warnings.push(m) });
    return { result, warnings };
  };
  const onMr7: CommentLocation = { kind: 'merge-request', projectId: '1217', iid: '7' };

  it("takes the reason from the approver's own comment, and records where it is", async () => {
    const mine = note(5, 'Checked the plan.\noam-grant approve deploy-prod: OPS-42 release');
    assert.deepEqual(await find(required, { comments: [mine] }).result, {
      reason: 'OPS-42 release',
      source: { kind: 'comment', noteId: 5, location: onMr7, createdAt: mine.createdAt },
    });
  });

  it('takes the newest of the approver\'s matching comments', async () => {
    const comments = [note(3, 'oam-grant approve deploy-prod: OPS-3'), note(9, 'oam-grant approve deploy-prod: OPS-9'), note(7, 'oam-grant approve deploy-prod: OPS-7')];
    assert.equal((await find(required, { comments }).result).reason, 'OPS-9');
    // Written in the same millisecond: the later note (higher id) wins.
    const same = at(REQUEST_IAT + 200);
    const tied = [note(11, 'oam-grant approve deploy-prod: OPS-11', { createdAt: same }), note(12, 'oam-grant approve deploy-prod: OPS-12', { createdAt: same })];
    assert.equal((await find(required, { comments: tied }).result).reason, 'OPS-12');
  });

  const missing = `${SRC}: step approve-deploy-prod requires a reason, and alice wrote no comment "oam-grant approve deploy-prod: <reason>" on merge request !7 between the request and pressing Run`;
  const ignored: [string, GitlabComment][] = [
    ['by someone else, with the right text', note(5, 'oam-grant approve deploy-prod: OPS-1', { authorId: '42', authorUsername: 'dev' })],
    ['older than the request', note(5, 'oam-grant approve deploy-prod: OPS-1', { createdAt: at(REQUEST_IAT - 1) })],
    ["written after the approve token's iat (beyond the 30 s skew)", note(5, 'oam-grant approve deploy-prod: OPS-1', { createdAt: at(APPROVAL_IAT + 31) })],
    ['a GitLab system note', note(5, 'oam-grant approve deploy-prod: OPS-1', { system: true })],
    ['for another component', note(5, 'oam-grant approve deploy-staging: OPS-1')],
    ['undated', note(5, 'oam-grant approve deploy-prod: OPS-1', { createdAt: 'yesterday' })],
  ];
  for (const [name, comment] of ignored) {
    it(`ignores a comment ${name}`, async () => {
      await assert.rejects(find(required, { comments: [comment] }).result, { code: 'ERR_APPROVAL_REASON', message: missing });
    });
  }

  it('accepts a comment dated within the skew after the iat', async () => {
    const late = note(5, 'oam-grant approve deploy-prod: OPS-1', { createdAt: at(APPROVAL_IAT + 30) });
    assert.equal((await find(required, { comments: [late] }).result).reason, 'OPS-1');
  });

  it('holds the comment to reasonPattern, naming the comment', async () => {
    await assert.rejects(find(required, { comments: [note(5, 'oam-grant approve deploy-prod: looks fine')] }).result, {
      code: 'ERR_APPROVAL_REASON',
      message: 'comment 5 on merge request !7: the reason does not match reasonPattern "^[A-Z]+-[0-9]+" of step approve-deploy-prod',
    });
    await assert.rejects(find(required, { comments: [note(5, 'oam-grant approve deploy-prod:')] }).result, {
      code: 'ERR_APPROVAL_REASON',
      message: 'comment 5 on merge request !7: step approve-deploy-prod requires a reason and none was given',
    });
  });

  it('a comment wins over the variable, which is then ignored with a warning', async () => {
    const { result, warnings } = find(required, { comments: [note(5, 'oam-grant approve deploy-prod: OPS-5')] }, 'OPS-99');
    assert.equal((await result).reason, 'OPS-5');
    assert.deepEqual(warnings, ["OAM_APPROVAL_REASON is ignored: the approver's comment 5 on merge request !7 gives the reason"]);
  });

  it('falls back to the variable where no comment is found, labelled unsigned', async () => {
    assert.deepEqual(await find(required, { comments: [] }, ' OPS-77 ').result, { reason: 'OPS-77', source: { kind: 'variable', variable: 'OAM_APPROVAL_REASON' } });
    await assert.rejects(find(required, { comments: [] }, 'because').result, {
      code: 'ERR_APPROVAL_REASON',
      message: 'OAM_APPROVAL_REASON: the reason does not match reasonPattern "^[A-Z]+-[0-9]+" of step approve-deploy-prod',
    });
  });

  it('refuses the variable when the step accepts only comments', async () => {
    await assert.rejects(find(step({ requireReason: true, acceptReasonVariable: false }), { comments: [] }, 'OPS-77').result, {
      code: 'ERR_APPROVAL_REASON',
      message: "OAM_APPROVAL_REASON: step approve-deploy-prod accepts a reason only from the approver's own comment (acceptReasonVariable: false), and there is none by alice on merge request !7 since the request",
    });
    // ... also for an optional reason: a given reason must come from the comment.
    await assert.rejects(find(step({ acceptReasonVariable: false }), { comments: [] }, 'OPS-77').result, { code: 'ERR_APPROVAL_REASON' });
  });

  it('fails closed without the API when a reason is required, even with the variable set', async () => {
    for (const variable of [undefined, 'OPS-1']) {
      await assert.rejects(find(required, { unavailable: true }, variable).result, (error: Error & { code?: string; hint?: string }) => {
        assert.equal(error.code, 'ERR_APPROVAL_REASON');
        assert.equal(error.message, `${SRC}: step approve-deploy-prod requires a reason in the approver's comment, which cannot be read: no OAM_GITLAB_TOKEN, so the GitLab API cannot be asked`);
        assert.match(error.hint ?? '', /^set OAM_GITLAB_TOKEN .* so oam-grant can read the approver's comment$/);
        return true;
      });
    }
    await assert.rejects(find(required, { failing: 'HTTP 403' }).result, { code: 'ERR_APPROVAL_REASON', message: /which cannot be read: HTTP 403$/ });
  });

  it('goes on without the API when the reason is optional, with a warning', async () => {
    const { result, warnings } = find(step(), { unavailable: true }, 'hotfix');
    assert.deepEqual(await result, { reason: 'hotfix', source: { kind: 'variable', variable: 'OAM_APPROVAL_REASON' } });
    assert.match(warnings[0] ?? '', /the approver's comments cannot be read \(no OAM_GITLAB_TOKEN/);
    assert.deepEqual(await find(step(), { comments: [] }).result, { reason: '', source: { kind: 'none' } });
  });

  it('refuses a required reason when the token names no user', async () => {
    await assert.rejects(find(required, { comments: [note(5, 'oam-grant approve deploy-prod: OPS-1')] }, undefined, { user_id: undefined, iat: APPROVAL_IAT }).result, {
      code: 'ERR_APPROVAL_REASON',
      message: `${SRC}: step approve-deploy-prod requires a reason, but the token has no user_id claim to find the approver's comment by`,
    });
  });

  it('on a commit, records the discussion that holds the note', async () => {
    const place = { kind: 'commit', projectId: '1217', sha: 'a'.repeat(40) } as const;
    const mine = note(5, 'oam-grant approve deploy-prod: OPS-5', { discussionId: 'd'.repeat(40) });
    const { source } = await find(required, { commentPlace: place, comments: [mine] }).result;
    assert.deepEqual(source, { kind: 'comment', noteId: 5, location: { ...place, discussionId: 'd'.repeat(40) }, createdAt: mine.createdAt });
  });
});

describe('findApproverReason: where, when, who, and the hints', () => {
  const SRC = 'OAM_EVIDENCE_TOKEN';
  const required = step({ requireReason: true, reasonPattern: '^[A-Z]+-[0-9]+' });
  const HINT_MR7 = 'comment "oam-grant approve deploy-prod: <reason matching ^[A-Z]+-[0-9]+>" on merge request !7 yourself, then run the approve job again';
  const findWith = (s: typeof required, l: ApprovalLookups, variable?: string, approver: Record<string, unknown> = ALICE, warn?: (m: string) => void) =>
    findApproverReason({ step: s, approver: claims(approver), requestIat: REQUEST_IAT, lookups: l, variable, source: SRC, ...(warn ? { warn } : {}) });
  const nowhere = (facts: Parameters<typeof lookups>[0] = {}): ApprovalLookups => ({ ...lookups(facts), commentPlace: undefined });

  it('tells the approver exactly what to comment, and where', async () => {
    await assert.rejects(findWith(required, lookups({ comments: [] })), { code: 'ERR_APPROVAL_REASON', hint: HINT_MR7 });
    await assert.rejects(findWith(step({ requireReason: true }), lookups({ comments: [] })), {
      hint: 'comment "oam-grant approve deploy-prod: <reason>" on merge request !7 yourself, then run the approve job again',
    });
    await assert.rejects(findWith(step({ requireReason: true }), nowhere({ comments: [] })), {
      code: 'ERR_APPROVAL_REASON',
      message: `${SRC}: step approve-deploy-prod requires a reason, and alice wrote no comment "oam-grant approve deploy-prod: <reason>" between the request and pressing Run`,
      hint: 'comment "oam-grant approve deploy-prod: <reason>" on the merge request (or the commit) yourself, then run the approve job again',
    });
    await assert.rejects(findWith(step({ acceptReasonVariable: false }), nowhere({ comments: [] }), 'OPS-1'), {
      code: 'ERR_APPROVAL_REASON',
      message: "OAM_APPROVAL_REASON: step approve-deploy-prod accepts a reason only from the approver's own comment (acceptReasonVariable: false)",
    });
  });

  it('names the approver by user id when the token has no login', async () => {
    await assert.rejects(findWith(required, lookups({ comments: [] }), undefined, { user_id: '43', user_login: undefined, iat: APPROVAL_IAT }), {
      message: `${SRC}: step approve-deploy-prod requires a reason, and user 43 wrote no comment "oam-grant approve deploy-prod: <reason>" on merge request !7 between the request and pressing Run`,
    });
    await assert.rejects(findWith(step({ acceptReasonVariable: false }), lookups({ comments: [] }), 'OPS-1', { user_id: '43', user_login: undefined, iat: APPROVAL_IAT }), {
      message: "OAM_APPROVAL_REASON: step approve-deploy-prod accepts a reason only from the approver's own comment (acceptReasonVariable: false), and there is none by user 43 on merge request !7 since the request",
    });
  });

  it('accepts a comment written in the second of the request', async () => {
    const first = note(5, 'oam-grant approve deploy-prod: OPS-1', { createdAt: at(REQUEST_IAT) });
    assert.equal((await findWith(required, lookups({ comments: [first] }))).reason, 'OPS-1');
  });

  it('the newest comment is the one written last, whatever the ids and the order listed', async () => {
    const comments = [note(20, 'oam-grant approve deploy-prod: OPS-20', { createdAt: at(REQUEST_IAT + 50) }), note(10, 'oam-grant approve deploy-prod: OPS-10', { createdAt: at(REQUEST_IAT + 150) })];
    assert.equal((await findWith(required, lookups({ comments }))).reason, 'OPS-10');
    assert.equal((await findWith(required, lookups({ comments: [...comments].reverse() }))).reason, 'OPS-10');
    const same = at(REQUEST_IAT + 200);
    const tied = [note(12, 'oam-grant approve deploy-prod: OPS-12', { createdAt: same }), note(11, 'oam-grant approve deploy-prod: OPS-11', { createdAt: same })];
    assert.equal((await findWith(required, lookups({ comments: tied }))).reason, 'OPS-12');
  });

  it('ignores a commit comment whose discussion is unknown (the grant could not read it again)', async () => {
    const place = { kind: 'commit', projectId: '1217', sha: 'a'.repeat(40) } as const;
    await assert.rejects(findWith(required, lookups({ commentPlace: place, comments: [note(5, 'oam-grant approve deploy-prod: OPS-5')] })), {
      code: 'ERR_APPROVAL_REASON',
      message: `${SRC}: step approve-deploy-prod requires a reason, and alice wrote no comment "oam-grant approve deploy-prod: <reason>" on commit aaaaaaaaaaaa between the request and pressing Run`,
    });
  });

  it('takes a blank variable as no variable', async () => {
    await assert.rejects(findWith(required, lookups({ comments: [] }), '   '), {
      message: `${SRC}: step approve-deploy-prod requires a reason, and alice wrote no comment "oam-grant approve deploy-prod: <reason>" on merge request !7 between the request and pressing Run`,
    });
    assert.deepEqual(await findWith(step(), lookups({ comments: [] }), ' \t '), { reason: '', source: { kind: 'none' } });
  });

  it('warns about nothing when a comment gives the reason and no variable is set; works without a warn callback', async () => {
    const warnings: string[] = [];
    const mine = note(5, 'oam-grant approve deploy-prod: OPS-5');
    assert.equal((await findWith(required, lookups({ comments: [mine] }), undefined, ALICE, (m) => warnings.push(m))).reason, 'OPS-5');
    assert.deepEqual(warnings, []);
    assert.equal((await findWith(required, lookups({ comments: [mine] }), 'OPS-99')).reason, 'OPS-5');
    assert.deepEqual(await findWith(step(), lookups({ unavailable: true })), { reason: '', source: { kind: 'none' } });
  });

  it('an optional reason without user_id: reads no comments, and goes on without a reason', async () => {
    const l = lookups({ comments: [note(5, 'oam-grant approve deploy-prod: OPS-5')] });
    const warnings: string[] = [];
    assert.deepEqual(await findWith(step(), l, undefined, { user_id: undefined, iat: APPROVAL_IAT }, (m) => warnings.push(m)), { reason: '', source: { kind: 'none' } });
    assert.deepEqual(l.asked, []);
    assert.deepEqual(warnings, []);
  });

  it('an optional reason with readable comments and none of the approver: no reason, and no warning', async () => {
    const warnings: string[] = [];
    const others = lookups({ comments: [note(5, 'oam-grant approve deploy-prod: OPS-5', { authorId: '42', authorUsername: 'dev' })] });
    assert.deepEqual(await findWith(step(), others, undefined, ALICE, (m) => warnings.push(m)), { reason: '', source: { kind: 'none' } });
    assert.deepEqual(warnings, []);
  });

  it('hints at the fix for a required reason that cannot be found', async () => {
    await assert.rejects(findWith(required, lookups({ comments: [] }), undefined, { user_id: undefined, iat: APPROVAL_IAT }), {
      hint: 'run the approve job in GitLab, whose ID tokens name the user',
    });
    const failing = (hint: string | undefined): ApprovalLookups => ({
      ...lookups(),
      comments: async () => (hint === undefined ? { ok: false, why: 'HTTP 500' } : { ok: false, why: 'HTTP 403', hint }),
    });
    await assert.rejects(findWith(required, failing('give the token Reporter access')), {
      message: `${SRC}: step approve-deploy-prod requires a reason in the approver's comment, which cannot be read: HTTP 403`,
      hint: 'give the token Reporter access',
    });
    await assert.rejects(findWith(required, failing(undefined)), { hint: REASON_API_HINT });
  });
});

describe('verifyRecordedReason (grant job)', () => {
  const PATH = '.oam-grant/approvals/901.json';
  const required = step({ requireReason: true, reasonPattern: '^[A-Z]+-[0-9]+' });
  const location: CommentLocation = { kind: 'merge-request', projectId: '1217', iid: '7' };
  const mine = note(5, 'oam-grant approve deploy-prod: OPS-5 go');
  const fromComment: ReasonSource = { kind: 'comment', noteId: 5, location, createdAt: mine.createdAt };
  const verify = (facts: Parameters<typeof lookups>[0], source: ReasonSource = fromComment, reason = 'OPS-5 go', s = required) =>
    verifyRecordedReason({ step: s, approver: claims(ALICE), requestIat: REQUEST_IAT, reason, source, lookups: lookups(facts), path: PATH });
  const where = `${PATH}: comment 5 on merge request !7`;

  it('accepts the comment while it is the approver\'s and still says the reason', async () => {
    assert.equal(await verify({ comments: [mine] }), 'OPS-5 go');
  });

  it('judges edits by the text: other lines or a later updated_at (an emoji reaction) do not matter', async () => {
    const touched = { ...mine, body: `${mine.body}\n\nedit: typo fixed above`, updatedAt: at(APPROVAL_IAT + 3600) };
    assert.equal(await verify({ comments: [touched] }), 'OPS-5 go');
  });

  const RECOMMENT = 'the approver must comment again (their reason as a new comment) and run the approve job again, then the grant job';
  const NOT_OWN = "the reason must be the approver's own comment; evidence files are written by the approve job only";
  const RE_WINDOW = 'a reason counts only when written for this request, before pressing Run: comment again and run the approve job again';
  const hints: Record<string, string> = {
    'edited to another reason': RECOMMENT,
    'edited to approve nothing': RECOMMENT,
    deleted: RECOMMENT,
    "someone else's note": NOT_OWN,
    'a system note': NOT_OWN,
    'older than the request': RE_WINDOW,
    'newer than the approval': RE_WINDOW,
    'not readable without the API': REASON_API_HINT,
  };
  const refusals: [string, Parameters<typeof lookups>[0], string, string][] = [
    ['edited to another reason', { comments: [{ ...mine, body: 'oam-grant approve deploy-prod: OPS-6 other' }] }, 'ERR_APPROVAL_REASON', `${where} was edited after the approval: it no longer gives the reason that was approved`],
    ['edited to approve nothing', { comments: [{ ...mine, body: 'never mind' }] }, 'ERR_APPROVAL_REASON', `${where} was edited after the approval: it no longer gives the reason that was approved`],
    ['deleted', { comments: [] }, 'ERR_APPROVAL_REASON', `${where} no longer exists (deleted after the approval)`],
    ["someone else's note", { comments: [{ ...mine, authorId: '42', authorUsername: 'dev' }] }, 'ERR_APPROVAL_INVALID', `${where} was written by dev (user 42), not by the approver alice (user 43)`],
    ['a system note', { comments: [{ ...mine, system: true }] }, 'ERR_APPROVAL_INVALID', `${where} was written by GitLab (a system note), not by the approver alice (user 43)`],
    ['older than the request', { comments: [{ ...mine, createdAt: at(REQUEST_IAT - 60) }] }, 'ERR_APPROVAL_INVALID', `${where} was written at ${at(REQUEST_IAT - 60)}, not between the request (${at(REQUEST_IAT)}) and the approval (${at(APPROVAL_IAT)})`],
    ['newer than the approval', { comments: [{ ...mine, createdAt: at(APPROVAL_IAT + 120) }] }, 'ERR_APPROVAL_INVALID', `${where} was written at ${at(APPROVAL_IAT + 120)}, not between the request (${at(REQUEST_IAT)}) and the approval (${at(APPROVAL_IAT)})`],
    ['not readable without the API', { unavailable: true }, 'ERR_APPROVAL_REASON', `${where} cannot be read again: no OAM_GITLAB_TOKEN, so the GitLab API cannot be asked`],
  ];
  for (const [name, facts, code, message] of refusals) {
    it(`refuses a comment ${name}`, async () => {
      await assert.rejects(verify(facts), { code, message, hint: hints[name] });
    });
  }

  it("holds a re-read comment to reasonPattern (evidence pointed at the approver's earlier, refused comment)", async () => {
    const earlier = { ...mine, body: 'oam-grant approve deploy-prod: looks fine' };
    await assert.rejects(verify({ comments: [earlier] }, fromComment, 'looks fine'), {
      code: 'ERR_APPROVAL_REASON',
      message: `${where}: the reason does not match reasonPattern "^[A-Z]+-[0-9]+" of step approve-deploy-prod`,
    });
  });

  it('names who wrote a note, even without a username, and an approver without login or user id', async () => {
    await assert.rejects(verify({ comments: [{ ...mine, authorId: '42', authorUsername: '' }] }), {
      code: 'ERR_APPROVAL_INVALID',
      message: `${where} was written by ? (user 42), not by the approver alice (user 43)`,
    });
    await assert.rejects(
      verifyRecordedReason({ step: required, approver: claims({ user_id: undefined, user_login: undefined, iat: APPROVAL_IAT }), requestIat: REQUEST_IAT, reason: 'OPS-5 go', source: fromComment, lookups: lookups({ comments: [mine] }), path: PATH }),
      { code: 'ERR_APPROVAL_INVALID', message: `${where} was written by alice (user 43), not by the approver ? (user ?)` },
    );
  });

  it('accepts a comment written in the second of the request, or within the skew after the approval', async () => {
    assert.equal(await verify({ comments: [{ ...mine, createdAt: at(REQUEST_IAT) }] }), 'OPS-5 go');
    assert.equal(await verify({ comments: [{ ...mine, createdAt: at(APPROVAL_IAT + 30) }] }), 'OPS-5 go');
    await assert.rejects(verify({ comments: [{ ...mine, createdAt: 'yesterday' }] }), { code: 'ERR_APPROVAL_INVALID', message: /was written at yesterday, not between/ });
  });

  it('compares the recorded reason trimmed', async () => {
    assert.equal(await verify({ comments: [mine] }, fromComment, '  OPS-5 go '), 'OPS-5 go');
  });

  it("passes the look-up's own hint on when the note cannot be read again", async () => {
    for (const [hint, expected] of [['give the token Reporter access', 'give the token Reporter access'], [undefined, REASON_API_HINT]] as const) {
      const l: ApprovalLookups = { ...lookups({ comments: [mine] }), comment: async () => (hint === undefined ? { ok: false, why: 'HTTP 500' } : { ok: false, why: 'HTTP 403', hint }) };
      await assert.rejects(verifyRecordedReason({ step: required, approver: claims(ALICE), requestIat: REQUEST_IAT, reason: 'OPS-5 go', source: fromComment, lookups: l, path: PATH }), {
        code: 'ERR_APPROVAL_REASON',
        message: `${where} cannot be read again: ${hint === undefined ? 'HTTP 500' : 'HTTP 403'}`,
        hint: expected,
      });
    }
  });

  it('refuses a comment elsewhere than on this change', async () => {
    const elsewhere: ReasonSource = { ...fromComment, location: { kind: 'merge-request', projectId: '1217', iid: '8' } };
    await assert.rejects(verify({ comments: [mine] }, elsewhere), {
      code: 'ERR_APPROVAL_INVALID',
      message: `${PATH}: comment 5 on merge request !8 is not on a merge request of this change or on its commit`,
      hint: 'a reason counts only where the request note asks for it: the approver comments there and runs the approve job again',
    });
  });

  it('re-checks a variable reason, and refuses it where the step accepts only comments', async () => {
    const variable: ReasonSource = { kind: 'variable', variable: 'OAM_APPROVAL_REASON' };
    assert.equal(await verify({}, variable, 'OPS-1'), 'OPS-1');
    await assert.rejects(verify({}, variable, 'OPS-1', step({ requireReason: true, acceptReasonVariable: false })), {
      code: 'ERR_APPROVAL_REASON',
      message: `${PATH}: the reason comes from OAM_APPROVAL_REASON, but step approve-deploy-prod accepts only the approver's own comment (acceptReasonVariable: false)`,
      hint: 'comment "oam-grant approve deploy-prod: <reason>" on merge request !7 yourself, then run the approve job again',
    });
    await assert.rejects(verify({}, { kind: 'variable', variable: 'OTHER' }, 'OPS-1'), {
      code: 'ERR_APPROVAL_INVALID',
      message: `${PATH}: reason source variable "OTHER" is not OAM_APPROVAL_REASON`,
      hint: 'evidence files are written by the approve job only',
    });
  });

  it('refuses a reason without a source, and no reason where one is required', async () => {
    await assert.rejects(verify({}, { kind: 'none' }, 'OPS-1'), {
      code: 'ERR_APPROVAL_INVALID',
      message: `${PATH}: a reason without a source`,
      hint: 'evidence files are written by the approve job only; rerun it instead of editing them',
    });
    await assert.rejects(verify({}, { kind: 'none' }, ''), { code: 'ERR_APPROVAL_REASON', message: `${PATH}: step approve-deploy-prod requires a reason and none was given` });
  });
});
