import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkBinding,
  checkComponentAudience,
  checkEligibility,
  checkReason,
  checkSeparation,
  checkTimeout,
  checkValidFor,
  isPrivateCommitEmailOf,
} from '../../src/approval/checks.ts';
import { claims, lookups, step } from './fixtures.ts';

const SRC = '.oam-grant/approvals/831.json';

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
      assert.throws(() => checkBinding(claims({ [claim]: value }), own, SRC), { code: 'ERR_APPROVAL_INVALID', message });
    });
  }
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
    });
  });
});

describe('checkReason', () => {
  const V = 'OAM_APPROVAL_REASON';
  const cases: { name: string; step: Parameters<typeof step>[0]; reason: string | undefined; code?: string; message?: string; result?: string }[] = [
    { name: 'optional and absent', step: {}, reason: undefined, result: '' },
    { name: 'optional and given', step: {}, reason: '  hotfix  ', result: 'hotfix' },
    { name: 'required and absent', step: { requireReason: true }, reason: undefined, code: 'ERR_APPROVAL_REASON', message: `${V}: step approve-deploy-prod requires a reason and none was given` },
    { name: 'required and blank', step: { requireReason: true }, reason: '   ', code: 'ERR_APPROVAL_REASON', message: `${V}: step approve-deploy-prod requires a reason and none was given` },
    { name: 'matching the pattern', step: { requireReason: true, reasonPattern: '^[A-Z]+-[0-9]+' }, reason: 'OPS-12 rollout', result: 'OPS-12 rollout' },
    { name: 'not matching the pattern', step: { reasonPattern: '^[A-Z]+-[0-9]+' }, reason: 'because', code: 'ERR_APPROVAL_REASON', message: `${V}: the reason does not match reasonPattern "^[A-Z]+-[0-9]+" of step approve-deploy-prod` },
    // A near-miss that kept a backtracking RegExp busy for hours; RE2 answers at once.
    { name: 'a near-miss of a pattern with nested repetition', step: { reasonPattern: '^([A-Z]|[A-Z0-9])+-[0-9]+$' }, reason: `${'A'.repeat(499)}!`, code: 'ERR_APPROVAL_REASON', message: `${V}: the reason does not match reasonPattern "^([A-Z]|[A-Z0-9])+-[0-9]+$" of step approve-deploy-prod` },
    { name: 'multi-line', step: {}, reason: 'OPS-1\n@all', code: 'ERR_APPROVAL_REASON', message: `${V}: the reason contains control characters or line breaks` },
    { name: 'too long', step: {}, reason: 'x'.repeat(501), code: 'ERR_APPROVAL_REASON', message: `${V}: the reason is 501 characters long, more than 500` },
  ];
  for (const c of cases) {
    it(c.name, () => {
      if (c.code) assert.throws(() => checkReason(step(c.step), c.reason, V), { code: c.code, message: c.message });
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

describe('checkSeparation', () => {
  const requester = claims({ user_id: '42', user_login: 'dev' });
  it('refuses the requester (same user_id, even renamed)', async () => {
    await assert.rejects(checkSeparation(step(), claims({ user_id: '42', user_login: 'dev-renamed' }), { requester }, lookups(), SRC), {
      code: 'ERR_APPROVAL_SELF',
      message: `${SRC}: dev-renamed requested this access and may not approve it (forbid: requester)`,
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
      { code: 'ERR_APPROVAL_SELF', message: `${SRC}: alice authored or committed a commit of this change and may not approve it (forbid: commitAuthor)` },
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
  ];
  for (const [email, expected] of cases) {
    it(`${email}: ${expected}`, () => assert.equal(isPrivateCommitEmailOf(email, who), expected));
  }
  it('needs a user_id', () => assert.equal(isPrivateCommitEmailOf('42-dev@users.noreply.gitlab.example.com', claims({ iss: 'https://gitlab.example.com', user_id: undefined })), false));
});

describe('timing', () => {
  const s = step({ timeoutSeconds: 7200, validForSeconds: 1800 });
  it('refuses an approval older than the request', () => {
    assert.throws(() => checkTimeout(s, 1000, 999, SRC), { code: 'ERR_APPROVAL_INVALID', message: `${SRC}: the approval (iat 999) precedes the request (iat 1000)` });
  });
  it('refuses an approval after the timeout', () => {
    assert.throws(() => checkTimeout(s, 1000, 1000 + 7201, SRC), {
      code: 'ERR_APPROVAL_EXPIRED',
      message: `${SRC}: approved 2h 1s after the request, but step approve-deploy-prod allows 2h (timeout)`,
    });
    assert.doesNotThrow(() => checkTimeout(s, 1000, 1000 + 7200, SRC));
  });
  it('refuses an approval older than validFor', () => {
    assert.throws(() => checkValidFor(s, 1000, 1000 + 1801, SRC), {
      code: 'ERR_APPROVAL_EXPIRED',
      message: `${SRC}: approved 30m 1s ago, but step approve-deploy-prod accepts approvals for 30m (validFor)`,
    });
    assert.doesNotThrow(() => checkValidFor(s, 1000, 1000 + 1800, SRC));
  });
});
