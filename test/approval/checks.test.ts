import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  checkBinding,
  checkComponentAudience,
  checkEligibility,
  checkReason,
  checkSeparation,
  checkTimeout,
  checkValidFor,
  describeAccessLevel,
  describeMatch,
  isPrivateCommitEmailOf,
  verifyEvidenceToken,
} from '../../src/approval/checks.ts';
import { type ApprovalLookups, NO_API_HINT } from '../../src/approval/lookups.ts';
import { OamError } from '../../src/errors.ts';
import { httpGet } from '../../src/lib/http.ts';
import type { TokenExpectation, TokenVerifier, VerifiedToken } from '../../src/token/types.ts';
import { IssuerTokenVerifier } from '../../src/token/verify.ts';
import { type Issuer, startIssuer } from '../emulators/index.ts';
import { claims, lookups, step } from './fixtures.ts';

const SRC = '.oam-grant/approvals/831.json';
const OTHER_PERSON_HINT = 'separation of duties: someone else from the approvers must run the approve job';
const NOT_ALLOWED_HINT =
  'ask one of the listed approvers to run the approve job, or add the person to the step (or directly to a listed group) in a reviewed merge request';

describe('verifyEvidenceToken', () => {
  let issuer: Issuer;
  let verifier: TokenVerifier;
  before(async () => {
    issuer = await startIssuer();
    verifier = new IssuerTokenVerifier({ issuer: issuer.url, get: httpGet });
  });
  after(() => issuer.close());

  it('verifies the token for the audience oam-grant, as evidence', async () => {
    const token = await issuer.mint({ user_login: 'alice' }, { aud: 'oam-grant' });
    const verified = await verifyEvidenceToken(verifier, token, SRC);
    assert.equal(verified.claims.user_login, 'alice');
    assert.deepEqual(verified.claims.aud, ['oam-grant']);
  });
  it('turns a token error into ERR_APPROVAL_INVALID: on evidence it means forged, tampered or from elsewhere', async () => {
    const token = await issuer.mint({ user_login: 'alice' }, { aud: 'sts.amazonaws.com' });
    await assert.rejects(verifyEvidenceToken(verifier, token, SRC), (error: OamError) => {
      assert.equal(error.code, 'ERR_APPROVAL_INVALID');
      assert.ok(error.cause instanceof OamError && error.cause.code === 'ERR_TOKEN_AUDIENCE');
      assert.equal(error.message, `${error.cause.message} (ERR_TOKEN_AUDIENCE)`);
      assert.match(error.message, new RegExp(`^${SRC.replaceAll('.', '\\.')}: `));
      assert.equal(error.hint, 'evidence must carry the ID token GitLab issued to the request or approve job of this pipeline; rerun those jobs');
      return true;
    });
  });
  it('lets any other error through unchanged', async () => {
    for (const thrown of [new OamError('ERR_USAGE', 'not a token problem'), new Error('socket hang up')]) {
      const failing: TokenVerifier = {
        verify: async (_token: string, _expect: TokenExpectation): Promise<VerifiedToken> => {
          throw thrown;
        },
      };
      await assert.rejects(verifyEvidenceToken(failing, 'x.y.z', SRC), (error) => error === thrown);
    }
  });
});

describe('checkBinding', () => {
  const own = claims();
  const cases = [
    { claim: 'pipeline_id', value: '1001', message: `${SRC}: pipeline_id 1001 differs from this pipeline's 1002` },
    { claim: 'project_id', value: '9', message: `${SRC}: project_id 9 differs from this project's 1217` },
    { claim: 'sha', value: 'b'.repeat(40), message: `${SRC}: sha ${'b'.repeat(40)} differs from this commit's ${'a'.repeat(40)}` },
    { claim: 'pipeline_id', value: undefined, message: `${SRC}: has no pipeline_id claim (this pipeline's is 1002)` },
  ];
  for (const { claim, value, message } of cases) {
    it(`refuses evidence whose ${claim} is ${value ?? 'absent'}`, () => {
      assert.throws(() => checkBinding(claims({ [claim]: value }), own, SRC), {
        code: 'ERR_APPROVAL_INVALID',
        message,
        hint: 'approvals count only in the pipeline and at the commit they were given for: run the request and approve jobs in this pipeline',
      });
    });
  }
  it("refuses to bind when this job's own token lacks the claim (evidence lacking it too is no match)", () => {
    for (const claim of ['project_id', 'pipeline_id', 'sha']) {
      assert.throws(() => checkBinding(claims({ [claim]: undefined }), claims({ [claim]: undefined }), SRC), {
        code: 'ERR_APPROVAL_INVALID',
        message: `this job's token has no ${claim} claim to bind ${SRC} to`,
      });
    }
  });
  it('accepts evidence from this project, pipeline and commit', () => {
    assert.doesNotThrow(() => checkBinding(claims({ job_id: '777', user_login: 'alice' }), own, SRC));
  });
});

describe('checkComponentAudience', () => {
  const withAud = (aud: string[]) => ({ ...claims(), aud });
  it('accepts a token minted for this component, and one that names no component', () => {
    assert.doesNotThrow(() => checkComponentAudience(withAud(['oam-grant', 'oam-grant:component:deploy-prod']), 'deploy-prod', SRC));
    assert.doesNotThrow(() => checkComponentAudience(withAud(['oam-grant']), 'deploy-prod', SRC));
  });
  it('refuses a token minted for another component', () => {
    assert.throws(() => checkComponentAudience(withAud(['oam-grant', 'oam-grant:component:deploy-staging']), 'deploy-prod', SRC), {
      code: 'ERR_APPROVAL_INVALID',
      message: `${SRC}: the token was minted for oam-grant:component:deploy-staging, not for component deploy-prod`,
      hint: "evidence counts only for the component its job was for: run this component's request and approve jobs",
    });
    assert.throws(() => checkComponentAudience(withAud(['oam-grant:component:a', 'oam-grant', 'oam-grant:component:b']), 'deploy-prod', SRC), {
      message: `${SRC}: the token was minted for oam-grant:component:a, oam-grant:component:b, not for component deploy-prod`,
    });
  });
  it('accepts a token minted for several components, this one among them', () => {
    assert.doesNotThrow(() => checkComponentAudience(withAud(['oam-grant', 'oam-grant:component:a', 'oam-grant:component:deploy-prod']), 'deploy-prod', SRC));
  });
});

describe('checkReason', () => {
  const V = 'OAM_APPROVAL_REASON';
  const ASK = 'comment "oam-grant approve deploy-prod: <reason>" (e.g. the ticket id) on the merge request yourself, then run the approve job again';
  const AGAIN = 'comment "oam-grant approve deploy-prod: <reason>" again with a reason in the expected form (e.g. a ticket id), then run the approve job again';
  const cases: { name: string; step: Parameters<typeof step>[0]; reason: string | undefined; code?: string; message?: string; hint?: string; result?: string }[] = [
    { name: 'optional and absent', step: {}, reason: undefined, result: '' },
    { name: 'optional and given', step: {}, reason: '  hotfix  ', result: 'hotfix' },
    { name: 'required and absent', step: { requireReason: true }, reason: undefined, code: 'ERR_APPROVAL_REASON', message: `${V}: step approve-deploy-prod requires a reason and none was given`, hint: ASK },
    { name: 'required and blank', step: { requireReason: true }, reason: '   ', code: 'ERR_APPROVAL_REASON', message: `${V}: step approve-deploy-prod requires a reason and none was given`, hint: ASK },
    { name: 'matching the pattern', step: { requireReason: true, reasonPattern: '^[A-Z]+-[0-9]+' }, reason: 'OPS-12 rollout', result: 'OPS-12 rollout' },
    { name: 'not matching the pattern', step: { reasonPattern: '^[A-Z]+-[0-9]+' }, reason: 'because', code: 'ERR_APPROVAL_REASON', message: `${V}: the reason does not match reasonPattern "^[A-Z]+-[0-9]+" of step approve-deploy-prod`, hint: AGAIN },
    // A near-miss that kept a backtracking RegExp busy for hours; RE2 answers at once.
    { name: 'a near-miss of a pattern with nested repetition', step: { reasonPattern: '^([A-Z]|[A-Z0-9])+-[0-9]+$' }, reason: `${'A'.repeat(499)}!`, code: 'ERR_APPROVAL_REASON', message: `${V}: the reason does not match reasonPattern "^([A-Z]|[A-Z0-9])+-[0-9]+$" of step approve-deploy-prod` },
    { name: 'multi-line', step: {}, reason: 'OPS-1\n@all', code: 'ERR_APPROVAL_REASON', message: `${V}: the reason contains control characters or line breaks`, hint: 'give the reason on one line of plain text' },
    { name: 'a Unicode line separator', step: {}, reason: 'OPS-1\u2028@all', code: 'ERR_APPROVAL_REASON', message: `${V}: the reason contains control characters or line breaks` },
    { name: 'too long', step: {}, reason: 'x'.repeat(501), code: 'ERR_APPROVAL_REASON', message: `${V}: the reason is 501 characters long, more than 500`, hint: 'give a short reason, e.g. a ticket id and a few words' },
    { name: 'exactly 500 characters', step: {}, reason: 'x'.repeat(500), result: 'x'.repeat(500) },
  ];
  for (const c of cases) {
    it(c.name, () => {
      if (c.code) assert.throws(() => checkReason(step(c.step), c.reason, V), { code: c.code, message: c.message, ...(c.hint ? { hint: c.hint } : {}) });
      else assert.equal(checkReason(step(c.step), c.reason, V), c.result);
    });
  }
});

describe('checkEligibility', () => {
  it('accepts a listed user, case-insensitively, without asking the API', async () => {
    const l = lookups({ unavailable: true });
    assert.deepEqual(await checkEligibility(step(), claims({ user_login: 'Alice' }), l, SRC), { via: 'user', login: 'Alice' });
    assert.deepEqual(l.asked, []);
  });
  it('accepts an active member of a listed group, by user_id', async () => {
    const s = step({ approvers: { users: [], groups: ['acme/sre'] } });
    const match = await checkEligibility(s, claims({ user_login: 'carol', user_id: '77' }), lookups({ members: { 'acme/sre': ['77'] } }), SRC);
    assert.deepEqual(match, { via: 'group', group: 'acme/sre' });
  });
  it('refuses someone neither listed nor a member', async () => {
    const s = step({ approvers: { users: ['alice'], groups: ['acme/sre'] } });
    await assert.rejects(checkEligibility(s, claims({ user_login: 'mallory', user_id: '66' }), lookups({ members: { 'acme/sre': ['77'] } }), SRC), {
      code: 'ERR_APPROVER_NOT_ALLOWED',
      message: `${SRC}: mallory may not approve step approve-deploy-prod (approvers.users: alice; approvers.groups: acme/sre (direct members, Developer (30) or higher))`,
    });
  });
  it('refuses a Guest or Reporter of a listed group, and says so', async () => {
    const s = step({ approvers: { users: [], groups: ['acme/sre'] } });
    for (const [level, name] of [[10, 'Guest (10)'], [20, 'Reporter (20)']] as const) {
      const l = lookups({ members: { 'acme/sre': ['77'] }, levels: { 'acme/sre': { '77': level } } });
      await assert.rejects(checkEligibility(s, claims({ user_login: 'carol', user_id: '77' }), l, SRC), {
        code: 'ERR_APPROVER_NOT_ALLOWED',
        message: `${SRC}: carol may not approve step approve-deploy-prod (approvers.users: none; approvers.groups: acme/sre (direct members, Developer (30) or higher)); ${name} of acme/sre, below Developer (30)`,
      });
    }
  });
  it('accepts a direct Developer and anyone above', async () => {
    const s = step({ approvers: { users: [], groups: ['acme/sre'] } });
    for (const level of [30, 40, 50]) {
      const l = lookups({ members: { 'acme/sre': ['77'] }, levels: { 'acme/sre': { '77': level } } });
      assert.deepEqual(await checkEligibility(s, claims({ user_login: 'carol', user_id: '77' }), l, SRC), { via: 'group', group: 'acme/sre' });
    }
  });
  it('fails closed when group membership cannot be checked', async () => {
    const s = step({ approvers: { users: [], groups: ['acme/sre'] } });
    await assert.rejects(checkEligibility(s, claims({ user_login: 'carol' }), lookups({ unavailable: true }), SRC), (error: Error & { code?: string; hint?: string }) => {
      assert.equal(error.code, 'ERR_APPROVER_NOT_ALLOWED');
      assert.equal(
        error.message,
        `${SRC}: carol may not approve step approve-deploy-prod (approvers.users: none; approvers.groups: acme/sre (direct members, Developer (30) or higher)); cannot check membership of acme/sre: no OAM_GITLAB_TOKEN, so the GitLab API cannot be asked`,
      );
      assert.match(error.hint ?? '', /OAM_GITLAB_TOKEN/);
      return true;
    });
  });
});

describe('checkEligibility: what it cannot check, and what it says', () => {
  it('refuses a token without user_login before anything else', async () => {
    const l = lookups({ members: { 'acme/sre': ['42'] } });
    await assert.rejects(checkEligibility(step({ approvers: { users: [], groups: ['acme/sre'] } }), claims({ user_login: undefined }), l, SRC), {
      code: 'ERR_APPROVER_NOT_ALLOWED',
      message: `${SRC}: the token has no user_login claim`,
    });
    assert.deepEqual(l.asked, []);
  });
  it('cannot check a group without user_id, and asks no API with an undefined id', async () => {
    const l = lookups({ members: { 'acme/sre': ['42'] } });
    await assert.rejects(checkEligibility(step({ approvers: { users: ['alice'], groups: ['acme/sre'] } }), claims({ user_id: undefined, user_login: 'carol' }), l, SRC), {
      code: 'ERR_APPROVER_NOT_ALLOWED',
      message: `${SRC}: carol may not approve step approve-deploy-prod (approvers.users: alice; approvers.groups: acme/sre (direct members, Developer (30) or higher)); cannot check acme/sre: the token has no user_id claim`,
      hint: NOT_ALLOWED_HINT,
    });
    assert.deepEqual(l.asked, []);
  });
  it('lists every group and every problem, and goes on to the next group after a non-member', async () => {
    const s = step({ approvers: { users: ['alice', 'bob'], groups: ['acme/ops', 'acme/sre', 'acme/dba'] } });
    const l = lookups({ members: { 'acme/sre': ['77'], 'acme/dba': ['77'] }, levels: { 'acme/sre': { '77': 20 }, 'acme/dba': { '77': 40 } } });
    assert.deepEqual(await checkEligibility(s, claims({ user_login: 'carol', user_id: '77' }), l, SRC), { via: 'group', group: 'acme/dba' });
    const guest = lookups({ members: { 'acme/sre': ['77'], 'acme/dba': ['77'] }, levels: { 'acme/sre': { '77': 20 }, 'acme/dba': { '77': 10 } } });
    await assert.rejects(checkEligibility(s, claims({ user_login: 'carol', user_id: '77' }), guest, SRC), {
      code: 'ERR_APPROVER_NOT_ALLOWED',
      message:
        `${SRC}: carol may not approve step approve-deploy-prod (approvers.users: alice, bob; approvers.groups: acme/ops, acme/sre, acme/dba (direct members, Developer (30) or higher)); ` +
        'Reporter (20) of acme/sre, below Developer (30); Guest (10) of acme/dba, below Developer (30)',
      hint: NOT_ALLOWED_HINT,
    });
  });
  it('with no groups, says none and asks nothing', async () => {
    await assert.rejects(checkEligibility(step(), claims({ user_login: 'mallory' }), lookups(), SRC), {
      message: `${SRC}: mallory may not approve step approve-deploy-prod (approvers.users: alice, bob; approvers.groups: none)`,
      hint: NOT_ALLOWED_HINT,
    });
  });
});

describe('describeAccessLevel and describeMatch', () => {
  const levels: [number, string][] = [
    [0, 'No access (0)'],
    [5, 'Minimal access (5)'],
    [10, 'Guest (10)'],
    [15, 'Planner (15)'],
    [20, 'Reporter (20)'],
    [30, 'Developer (30)'],
    [40, 'Maintainer (40)'],
    [50, 'Owner (50)'],
    [60, 'access level 60'],
  ];
  for (const [level, text] of levels) it(`${level}: ${text}`, () => assert.equal(describeAccessLevel(level), text));
  it('names how the approver qualified', () => {
    assert.equal(describeMatch({ via: 'user', login: 'alice' }), 'listed in approvers.users');
    assert.equal(describeMatch({ via: 'group', group: 'acme/sre' }), 'member of acme/sre');
  });
});

describe('checkSeparation', () => {
  const requester = claims({ user_id: '42', user_login: 'dev' });
  it('refuses the requester (same user_id, even renamed)', async () => {
    await assert.rejects(checkSeparation(step(), claims({ user_id: '42', user_login: 'dev-renamed' }), { requester }, lookups(), SRC), {
      code: 'ERR_APPROVAL_SELF',
      message: `${SRC}: dev-renamed requested this access and may not approve it (forbid: requester)`,
      hint: OTHER_PERSON_HINT,
    });
  });
  it('refuses the merge request author', async () => {
    await assert.rejects(
      checkSeparation(step(), claims({ user_id: '7', user_login: 'alice' }), { requester }, lookups({ mrAuthor: { id: '7', username: 'alice' } }), SRC),
      { code: 'ERR_APPROVAL_SELF', message: `${SRC}: alice wrote merge request !7 and may not approve it (forbid: mrAuthor)` },
    );
  });
  it('refuses the author of any of the merge requests of the change (e.g. after the merge)', async () => {
    const l = lookups({ mrAuthors: [{ iid: '3', id: '8', username: 'erin' }, { iid: '9', id: '7', username: 'alice' }] });
    await assert.rejects(checkSeparation(step(), claims({ user_id: '7', user_login: 'alice' }), { requester }, l, SRC), {
      code: 'ERR_APPROVAL_SELF',
      message: `${SRC}: alice wrote merge request !9 and may not approve it (forbid: mrAuthor)`,
    });
  });
  it('has nothing to check for mrAuthor when the change has no merge request', async () => {
    await checkSeparation(step(), claims({ user_id: '7', user_login: 'alice' }), { requester }, lookups(), SRC);
  });
  it('fails closed with a hint when the merge requests cannot be looked up', async () => {
    const l = lookups({ failing: 'cannot find the merge requests of commit aaaaaaaaaaaa: GitLab API commit merge requests: HTTP 403' });
    await assert.rejects(checkSeparation(step(), claims({ user_id: '7', user_login: 'alice' }), { requester }, l, SRC), {
      code: 'ERR_APPROVAL_SELF',
      message: `${SRC}: cannot check that alice is not the merge request author: cannot find the merge requests of commit aaaaaaaaaaaa: GitLab API commit merge requests: HTTP 403`,
      hint: 'check that OAM_GITLAB_TOKEN may read this project',
    });
    await assert.rejects(checkSeparation(step({ forbid: ['commitAuthor'] }), claims({ user_id: '7', user_login: 'alice' }), { requester }, l, SRC), {
      code: 'ERR_APPROVAL_SELF',
      message: `${SRC}: cannot check that alice authored no commit: cannot find the merge requests of commit aaaaaaaaaaaa: GitLab API commit merge requests: HTTP 403`,
      hint: 'check that OAM_GITLAB_TOKEN may read this project',
    });
  });
  it('fails closed on mrAuthor without the API', async () => {
    await assert.rejects(checkSeparation(step(), claims({ user_id: '7', user_login: 'alice' }), { requester }, lookups({ unavailable: true }), SRC), {
      code: 'ERR_APPROVAL_SELF',
      message: `${SRC}: cannot check that alice is not the merge request author: no OAM_GITLAB_TOKEN, so the GitLab API cannot be asked`,
    });
  });
  it('refuses a commit author by email when commitAuthor is forbidden', async () => {
    const s = step({ forbid: ['commitAuthor'] });
    await assert.rejects(
      checkSeparation(s, claims({ user_id: '7', user_login: 'alice', user_email: 'Alice@Example.com' }), { requester }, lookups({ commitEmails: ['alice@example.com'] }), SRC),
      { code: 'ERR_APPROVAL_SELF', message: `${SRC}: alice authored or committed a commit of this change and may not approve it (forbid: commitAuthor)`, hint: OTHER_PERSON_HINT },
    );
    await checkSeparation(s, claims({ user_id: '7', user_login: 'alice', user_email: 'alice@example.com' }), { requester }, lookups({ commitEmails: ['bob@example.com'] }), SRC);
  });
  it('refuses a commit authored under any email the API shows of the approver, asking by user_id', async () => {
    const s = step({ forbid: ['commitAuthor'] });
    const alice = claims({ user_id: '7', user_login: 'alice', user_email: 'alice@example.com' });
    const l = lookups({ commitEmails: ['alice@public.example'], userEmails: { '7': ['alice@public.example'] } });
    await assert.rejects(checkSeparation(s, alice, { requester }, l, SRC), {
      code: 'ERR_APPROVAL_SELF',
      message: `${SRC}: alice authored or committed a commit of this change and may not approve it (forbid: commitAuthor)`,
    });
    assert.deepEqual(l.asked, ['commitEmails', 'emails 7']);
    await checkSeparation(s, alice, { requester }, lookups({ commitEmails: ['alice@public.example'], userEmails: { '8': ['alice@public.example'] } }), SRC);
  });
  it("refuses a commit authored under the approver's private commit email (by user id, any username)", async () => {
    const s = step({ forbid: ['commitAuthor'] });
    const alice = claims({ user_id: '7', user_login: 'alice', user_email: 'alice@example.com' });
    await assert.rejects(checkSeparation(s, alice, { requester }, lookups({ commitEmails: ['7-alice-old-name@users.noreply.127.0.0.1'] }), SRC), {
      code: 'ERR_APPROVAL_SELF',
    });
    await checkSeparation(s, alice, { requester }, lookups({ commitEmails: ['77-alice@users.noreply.127.0.0.1'] }), SRC);
  });
  it('fails closed when the approver\'s emails cannot be looked up', async () => {
    const s = step({ forbid: ['commitAuthor'] });
    const l = lookups({ commitEmails: [] });
    const failing = { ...l, userEmails: async () => ({ ok: false as const, why: 'user 7: GitLab API user: HTTP 500', hint: 'retry' }) };
    await assert.rejects(checkSeparation(s, claims({ user_id: '7', user_login: 'alice', user_email: 'alice@example.com' }), { requester }, failing, SRC), {
      code: 'ERR_APPROVAL_SELF',
      message: `${SRC}: cannot check that alice authored no commit: user 7: GitLab API user: HTTP 500`,
      hint: 'retry',
    });
  });
  it('without user_id on either side, tells people apart by login (any case)', async () => {
    const s = step({ forbid: ['requester'] });
    const byLogin = claims({ user_id: undefined, user_login: 'dev' });
    await assert.rejects(checkSeparation(s, claims({ user_login: 'DEV' }), { requester: byLogin }, lookups(), SRC), {
      code: 'ERR_APPROVAL_SELF',
      message: `${SRC}: DEV requested this access and may not approve it (forbid: requester)`,
      hint: OTHER_PERSON_HINT,
    });
    await assert.rejects(checkSeparation(s, claims({ user_id: undefined, user_login: 'Dev' }), { requester: claims() }, lookups(), SRC), {
      code: 'ERR_APPROVAL_SELF',
    });
    await checkSeparation(s, claims({ user_login: 'alice' }), { requester: byLogin }, lookups(), SRC);
  });
  it('user_id decides over the login when both tokens carry one (a login can be renamed and reused)', async () => {
    await checkSeparation(step({ forbid: ['requester'] }), claims({ user_id: '7', user_login: 'dev' }), { requester: claims({ user_id: '42', user_login: 'dev' }) }, lookups(), SRC);
  });
  it('fails closed when the tokens cannot tell whether the approver is the requester', async () => {
    const s = step({ forbid: ['requester'] });
    await assert.rejects(checkSeparation(s, claims({ user_id: '7', user_login: undefined }), { requester: claims({ user_id: undefined, user_login: 'dev' }) }, lookups(), SRC), {
      code: 'ERR_APPROVAL_SELF',
      message: `${SRC}: cannot tell whether user 7 is the requester: the tokens carry no user_id or user_login`,
      hint: OTHER_PERSON_HINT,
    });
    await assert.rejects(checkSeparation(s, claims({ user_id: undefined, user_login: undefined }), { requester: claims() }, lookups(), SRC), {
      code: 'ERR_APPROVAL_SELF',
      message: `${SRC}: cannot tell whether user ? is the requester: the tokens carry no user_id or user_login`,
    });
  });
  it('without user_id, matches the merge request author by username (any case)', async () => {
    const l = lookups({ mrAuthors: [{ iid: '3', id: '8', username: 'erin' }, { iid: '9', id: '7', username: 'alice' }] });
    await assert.rejects(checkSeparation(step({ forbid: ['mrAuthor'] }), claims({ user_id: undefined, user_login: 'Alice' }), { requester: claims() }, l, SRC), {
      code: 'ERR_APPROVAL_SELF',
      message: `${SRC}: Alice wrote merge request !9 and may not approve it (forbid: mrAuthor)`,
      hint: OTHER_PERSON_HINT,
    });
    await checkSeparation(step({ forbid: ['mrAuthor'] }), claims({ user_id: undefined, user_login: 'bob' }), { requester: claims() }, l, SRC);
    await checkSeparation(step({ forbid: ['mrAuthor'] }), claims({ user_id: undefined, user_login: undefined }), { requester: claims() }, l, SRC);
  });
  it('fails closed under commitAuthor when the token has no user_email, or an empty one', async () => {
    for (const user_email of [undefined, '']) {
      const l = lookups({ commitEmails: ['bob@example.com'] });
      await assert.rejects(checkSeparation(step({ forbid: ['commitAuthor'] }), claims({ user_id: '7', user_login: 'alice', user_email }), { requester: claims() }, l, SRC), {
        code: 'ERR_APPROVAL_SELF',
        message: `${SRC}: cannot check that alice authored no commit: the token has no user_email claim`,
        hint: OTHER_PERSON_HINT,
      });
      assert.deepEqual(l.asked, []);
    }
  });
  it("fails closed when the commits' emails cannot be read, with the look-up's hint or the API hint", async () => {
    const alice = claims({ user_id: '7', user_login: 'alice', user_email: 'alice@example.com' });
    for (const [hint, expected] of [['retry the job', 'retry the job'], [undefined, NO_API_HINT]] as const) {
      const l: ApprovalLookups = {
        ...lookups({ commitEmails: ['alice@example.com'] }),
        commitAuthorEmails: async () => (hint === undefined ? { ok: false, why: 'HTTP 403' } : { ok: false, why: 'HTTP 403', hint }),
      };
      await assert.rejects(checkSeparation(step({ forbid: ['commitAuthor'] }), alice, { requester: claims() }, l, SRC), {
        code: 'ERR_APPROVAL_SELF',
        message: `${SRC}: cannot check that alice authored no commit: HTTP 403`,
        hint: expected,
      });
    }
    const mrFailing: ApprovalLookups = { ...lookups(), mergeRequestAuthors: async () => ({ ok: false, why: 'HTTP 500' }) };
    await assert.rejects(checkSeparation(step({ forbid: ['mrAuthor'] }), alice, { requester: claims() }, mrFailing, SRC), {
      message: `${SRC}: cannot check that alice is not the merge request author: HTTP 500`,
      hint: NO_API_HINT,
    });
    const emailsFailing: ApprovalLookups = { ...lookups({ commitEmails: [] }), userEmails: async () => ({ ok: false, why: 'HTTP 500' }) };
    await assert.rejects(checkSeparation(step({ forbid: ['commitAuthor'] }), alice, { requester: claims() }, emailsFailing, SRC), { hint: NO_API_HINT });
  });
  it("without user_id, compares the token's email only, and asks the API for no user's emails", async () => {
    const s = step({ forbid: ['commitAuthor'] });
    const l = lookups({ commitEmails: ['alice@public.example', '7-alice@users.noreply.127.0.0.1'], userEmails: { '7': ['alice@public.example'] } });
    await checkSeparation(s, claims({ user_id: undefined, user_login: 'alice', user_email: 'alice@example.com' }), { requester: claims() }, l, SRC);
    assert.deepEqual(l.asked, ['commitEmails']);
  });
  it('allows the requester when the step does not forbid it', async () => {
    await checkSeparation(step({ forbid: [] }), requester, { requester }, lookups({ unavailable: true }), SRC);
  });
});

describe('isPrivateCommitEmailOf', () => {
  const who = claims({ iss: 'https://gitlab.example.com', user_id: '42', user_login: 'dev' });
  const cases: [string, boolean][] = [
    ['42-dev@users.noreply.gitlab.example.com', true],
    ['42-renamed@users.noreply.gitlab.example.com', true],
    ['42-DEV@Users.Noreply.GitLab.Example.com', true],
    ['420-dev@users.noreply.gitlab.example.com', false],
    ['4-dev@users.noreply.gitlab.example.com', false],
    ['42-dev@users.noreply.gitlab.com', false],
    ['42-dev@gitlab.example.com', false],
    ['dev@users.noreply.gitlab.example.com', false],
    ['x42-dev@users.noreply.gitlab.example.com', false],
    ['42-dev@users.noreply.gitlab.example.com.evil.example', false],
  ];
  for (const [email, expected] of cases) {
    it(`${email}: ${expected}`, () => assert.equal(isPrivateCommitEmailOf(email, who), expected));
  }
  it('needs an issuer that is a URL: then no address matches', () => {
    const noUrl = claims({ iss: 'gitlab.example.com', user_id: '42' });
    for (const email of ['42-dev@users.noreply.gitlab.example.com', '42-dev@users.noreply.undefined', '42-dev@users.noreply.']) {
      assert.equal(isPrivateCommitEmailOf(email, noUrl), false, email);
    }
  });
  it('without a user_id, no address matches, not even one without an id', () => {
    const anonymous = claims({ iss: 'https://gitlab.example.com', user_id: undefined });
    for (const email of ['42-dev@users.noreply.gitlab.example.com', 'dev@users.noreply.gitlab.example.com', '-dev@users.noreply.gitlab.example.com']) {
      assert.equal(isPrivateCommitEmailOf(email, anonymous), false, email);
    }
  });
  it('needs a user_id', () => assert.equal(isPrivateCommitEmailOf('42-dev@users.noreply.gitlab.example.com', claims({ iss: 'https://gitlab.example.com', user_id: undefined })), false));
});

describe('timing', () => {
  const s = step({ timeoutSeconds: 7200, validForSeconds: 1800 });
  it('refuses an approval older than the request', () => {
    assert.throws(() => checkTimeout(s, 1000, 999, SRC), {
      code: 'ERR_APPROVAL_INVALID',
      message: `${SRC}: the approval (iat 999) precedes the request (iat 1000)`,
      hint: 'an approval counts only for a request made before it: run the approve job again',
    });
  });
  it('accepts an approval issued in the same second as the request', () => {
    assert.doesNotThrow(() => checkTimeout(s, 1000, 1000, SRC));
  });
  it('refuses an approval after the timeout', () => {
    assert.throws(() => checkTimeout(s, 1000, 1000 + 7201, SRC), {
      code: 'ERR_APPROVAL_EXPIRED',
      message: `${SRC}: approved 2h 1s after the request, but step approve-deploy-prod allows 2h (timeout)`,
      hint: 'the request ran out: run the pipeline again to make a new request',
    });
    assert.doesNotThrow(() => checkTimeout(s, 1000, 1000 + 7200, SRC));
  });
  it('refuses an approval older than validFor', () => {
    assert.throws(() => checkValidFor(s, 1000, 1000 + 1801, SRC), {
      code: 'ERR_APPROVAL_EXPIRED',
      message: `${SRC}: approved 30m 1s ago, but step approve-deploy-prod accepts approvals for 30m (validFor)`,
      hint: 'run the approve job again, then the grant job',
    });
    assert.doesNotThrow(() => checkValidFor(s, 1000, 1000 + 1800, SRC));
  });
});
