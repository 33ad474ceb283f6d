/**
 * The approval look-ups through @gitbeaker/rest against the GitLab API
 * emulator: direct group membership with access levels, the merge requests of
 * a change in every kind of pipeline (MR, branch with open MRs, protected
 * branch after the merge, fork MR), and failing closed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { checkEligibility, checkSeparation } from '../../src/approval/checks.ts';
import { commentPlaceOf, createApprovalLookups, NO_API_HINT } from '../../src/approval/lookups.ts';
import { mergeRequestScopeOf } from '../../src/approval/merge-requests.ts';
import { createGitlabApi, type GitlabApi } from '../../src/lib/gitlab-api.ts';
import { DEFAULT_SHA, DEFAULT_USERS, type EmbeddedDefault, startEmbeddedDefault } from '../emulators/index.ts';
import { claims, step } from './fixtures.ts';

const API_TOKEN = 'glpat-lookups-test-token-000001';
const FEATURE_SHA = 'f'.repeat(40);
const MERGE_SHA = 'e'.repeat(40);
const LONE_SHA = 'd'.repeat(40);
const SRC = 'OAM_EVIDENCE_TOKEN';

describe('approval look-ups through the API', () => {
  let world: EmbeddedDefault;
  let api: GitlabApi;
  before(async () => {
    world = await startEmbeddedDefault({
      gitlab: {
        tokens: [API_TOKEN],
        users: DEFAULT_USERS.map((u) => ({ ...u })),
        groups: [
          // mallory is an Owner of the parent group only; bob is a Guest of acme/sre.
          { path: 'acme', memberUserIds: [46], accessLevel: 50 },
          { path: 'acme/sre', memberUserIds: [45, 44], accessLevel: 30, accessLevels: { 44: 10 } },
        ],
        mergeRequests: [
          { projectId: '1217', iid: 7, authorUsername: 'dev', commits: [{ sha: DEFAULT_SHA, authorEmail: 'dev@example.com' }] },
          {
            projectId: '1217',
            iid: 9,
            authorUsername: 'alice',
            state: 'merged',
            commits: [{ sha: FEATURE_SHA, authorEmail: 'carol@example.com', committerEmail: 'Bob@Example.com' }],
            mergeCommit: { sha: MERGE_SHA, authorEmail: 'mallory@example.com' },
          },
        ],
        commits: [{ projectId: '1217', commit: { sha: LONE_SHA, authorEmail: 'dev@example.com', committerEmail: 'web@example.com' } }],
      },
    });
    api = createGitlabApi({ apiUrl: `${world.gitlab.url}/api/v4`, token: API_TOKEN, sleep: async () => {} });
  });
  after(() => world.close());

  const own = (sha: string, projectId = '1217') => ({ project_id: projectId, project_path: 'acme/payments', sha });
  const mrPipeline = mergeRequestScopeOf({ CI_MERGE_REQUEST_IID: '7' }, own(DEFAULT_SHA));
  const afterMerge = mergeRequestScopeOf({}, own(MERGE_SHA));

  it('asks for direct membership only and returns the access level', async () => {
    const lookups = createApprovalLookups({ api, scope: mrPipeline });
    assert.deepEqual(await lookups.groupMembership('acme/sre', '45'), { ok: true, value: { state: 'active', accessLevel: 30 } });
    assert.deepEqual(await lookups.groupMembership('acme/sre', '44'), { ok: true, value: { state: 'active', accessLevel: 10 } });
    assert.deepEqual(await lookups.groupMembership('acme/sre', '46'), { ok: true, value: undefined }, 'inherited from acme: not a direct member');
    assert.ok(world.gitlab.calls.some((c) => c.path === '/api/v4/groups/acme%2Fsre/members/46'));
    assert.ok(!world.gitlab.calls.some((c) => c.path.includes('/members/all/')));
  });

  it('admits a direct Developer, refuses an inherited Owner and a direct Guest', async () => {
    const lookups = createApprovalLookups({ api, scope: mrPipeline });
    const s = step({ approvers: { users: [], groups: ['acme/sre'] } });
    assert.deepEqual(await checkEligibility(s, claims({ user_id: '45', user_login: 'carol' }), lookups, SRC), { via: 'group', group: 'acme/sre' });
    await assert.rejects(checkEligibility(s, claims({ user_id: '46', user_login: 'mallory' }), lookups, SRC), {
      code: 'ERR_APPROVER_NOT_ALLOWED',
      message: `${SRC}: mallory may not approve step approve-deploy-prod (approvers.users: none; approvers.groups: acme/sre (direct members, Developer (30) or higher))`,
    });
    await assert.rejects(checkEligibility(s, claims({ user_id: '44', user_login: 'bob' }), lookups, SRC), {
      code: 'ERR_APPROVER_NOT_ALLOWED',
      message: `${SRC}: bob may not approve step approve-deploy-prod (approvers.users: none; approvers.groups: acme/sre (direct members, Developer (30) or higher)); Guest (10) of acme/sre, below Developer (30)`,
    });
  });

  it('in an MR pipeline: the MR author and its commits', async () => {
    const lookups = createApprovalLookups({ api, scope: mrPipeline });
    assert.deepEqual(await lookups.mergeRequestAuthors(), {
      ok: true,
      value: [{ mergeRequest: { projectId: '1217', iid: '7' }, author: { id: '42', username: 'dev' } }],
    });
    assert.deepEqual(await lookups.commitAuthorEmails(), { ok: true, value: ['dev@example.com'] });
  });

  it('after the merge (no MR variables): finds the merged MR by its merge commit, with its author and commits', async () => {
    const before = world.gitlab.calls.length;
    const lookups = createApprovalLookups({ api, scope: afterMerge });
    assert.deepEqual(await lookups.mergeRequestAuthors(), {
      ok: true,
      value: [{ mergeRequest: { projectId: '1217', iid: '9' }, author: { id: '43', username: 'alice' } }],
    });
    assert.deepEqual(await lookups.commitAuthorEmails(), { ok: true, value: ['carol@example.com', 'bob@example.com'] });
    assert.deepEqual(
      world.gitlab.calls.slice(before).map((c) => c.path),
      [`/api/v4/projects/1217/repository/commits/${MERGE_SHA}/merge_requests`, '/api/v4/projects/1217/merge_requests/9/commits'],
    );
    // The checks bite: the MR author and a committer of the MR are refused on the protected branch too.
    const s = step({ forbid: ['mrAuthor', 'commitAuthor'], approvers: { users: ['alice', 'bob', 'carol'], groups: [] } });
    const requester = claims({ user_id: '99', user_login: 'merger' });
    await assert.rejects(checkSeparation(s, claims({ user_id: '43', user_login: 'alice' }), { requester }, lookups, SRC), {
      code: 'ERR_APPROVAL_SELF',
      message: `${SRC}: alice wrote merge request !9 and may not approve it (forbid: mrAuthor)`,
    });
    await assert.rejects(checkSeparation(s, claims({ user_id: '44', user_login: 'bob', user_email: 'bob@example.com' }), { requester }, lookups, SRC), {
      code: 'ERR_APPROVAL_SELF',
      message: `${SRC}: bob authored or committed a commit of this change and may not approve it (forbid: commitAuthor)`,
    });
    await checkSeparation(s, claims({ user_id: '45', user_login: 'carol', user_email: 'carol2@example.com' }), { requester }, lookups, SRC);
  });

  it('a branch pipeline: every open MR of this project in CI_OPEN_MERGE_REQUESTS, and the MRs of the commit', async () => {
    const scope = mergeRequestScopeOf({ CI_OPEN_MERGE_REQUESTS: 'acme/payments!9,other/project!3,acme/payments!7' }, own(LONE_SHA));
    assert.deepEqual(scope.noteTarget, { projectId: '1217', iid: '9' });
    const lookups = createApprovalLookups({ api, scope });
    const authors = await lookups.mergeRequestAuthors();
    assert.ok(authors.ok);
    assert.deepEqual(
      authors.value.map((a) => [a.mergeRequest.iid, a.author.username]),
      [
        ['9', 'alice'],
        ['7', 'dev'],
      ],
    );
    assert.ok(world.gitlab.calls.some((c) => c.path === `/api/v4/projects/1217/repository/commits/${LONE_SHA}/merge_requests`));
  });

  it('no MR at all: commitAuthor checks the pipeline commit itself', async () => {
    const lookups = createApprovalLookups({ api, scope: mergeRequestScopeOf({}, own(LONE_SHA)) });
    assert.deepEqual(await lookups.mergeRequestAuthors(), { ok: true, value: [] });
    assert.deepEqual(await lookups.commitAuthorEmails(), { ok: true, value: ['dev@example.com', 'web@example.com'] });
  });

  it('a fork MR pipeline run in the parent: the MR in CI_MERGE_REQUEST_PROJECT_ID, the commit in the job project, not in the fork', async () => {
    const before = world.gitlab.calls.length;
    const scope = mergeRequestScopeOf({ CI_MERGE_REQUEST_IID: '7', CI_MERGE_REQUEST_PROJECT_ID: '1217' }, { ...own(DEFAULT_SHA, '5555'), job_project_id: '1217' });
    const lookups = createApprovalLookups({ api, scope });
    assert.deepEqual(await lookups.mergeRequestAuthors(), {
      ok: true,
      value: [{ mergeRequest: { projectId: '1217', iid: '7' }, author: { id: '42', username: 'dev' } }],
    });
    assert.deepEqual(await lookups.commitAuthorEmails(), { ok: true, value: ['dev@example.com'] });
    assert.ok(!world.gitlab.calls.slice(before).some((c) => c.path.includes('/projects/5555/')), 'the fork is never asked');
  });

  it('a fork MR pipeline run in the fork: the commit look-up there fails closed when the API token cannot read the fork', async () => {
    const scope = mergeRequestScopeOf({ CI_MERGE_REQUEST_IID: '7', CI_MERGE_REQUEST_PROJECT_ID: '1217' }, own(DEFAULT_SHA, '5555'));
    const lookups = createApprovalLookups({ api, scope });
    const authors = await lookups.mergeRequestAuthors();
    assert.equal(authors.ok, false);
    assert.match(authors.ok ? '' : authors.why, /cannot find the merge requests of commit 4b825dc642cb: .*HTTP 404/);
  });

  it('a merged results pipeline (its commit in no MR GitLab lists) fails closed rather than trust the MR variable alone', async () => {
    const mergedResults = createApprovalLookups({ api, scope: mergeRequestScopeOf({ CI_MERGE_REQUEST_IID: '7' }, { ...own(LONE_SHA), pipeline_source: 'merge_request_event' }) });
    const authors = await mergedResults.mergeRequestAuthors();
    assert.equal(authors.ok, false);
    assert.match(authors.ok ? '' : authors.why, /^commit dddddddddddd of this merge request pipeline is in no merge request GitLab lists/);
    // The same pipeline on the source branch's own commit: the MR is found by it.
    const onSource = createApprovalLookups({ api, scope: mergeRequestScopeOf({ CI_MERGE_REQUEST_IID: '7' }, { ...own(DEFAULT_SHA), pipeline_source: 'merge_request_event' }) });
    assert.deepEqual(await onSource.mergeRequestAuthors(), { ok: true, value: [{ mergeRequest: { projectId: '1217', iid: '7' }, author: { id: '42', username: 'dev' } }] });
  });

  it('MR variables cannot hide the MR of the signed commit: a named MR adds to it, never replaces it', async () => {
    // Whoever runs the pipeline may set CI_MERGE_REQUEST_IID / CI_OPEN_MERGE_REQUESTS to an unrelated MR (here !9 by alice
    // while the commit is !7's, by dev): dev must still count as the MR author, and dev's commits as this change's.
    for (const env of [{ CI_MERGE_REQUEST_IID: '9' }, { CI_OPEN_MERGE_REQUESTS: 'acme/payments!9' }, { CI_MERGE_REQUEST_IID: '9', CI_MERGE_REQUEST_PROJECT_ID: '1217' }]) {
      const lookups = createApprovalLookups({ api, scope: mergeRequestScopeOf(env, own(DEFAULT_SHA)) });
      const authors = await lookups.mergeRequestAuthors();
      assert.ok(authors.ok, JSON.stringify(env));
      assert.deepEqual(authors.value.map((a) => [a.mergeRequest.iid, a.author.username]), [['9', 'alice'], ['7', 'dev']], JSON.stringify(env));
      const s = step({ forbid: ['mrAuthor', 'commitAuthor'], approvers: { users: ['dev'], groups: [] } });
      await assert.rejects(checkSeparation(s, claims({ user_id: '42', user_login: 'dev' }), { requester: claims({ user_id: '99', user_login: 'x' }) }, lookups, SRC), {
        code: 'ERR_APPROVAL_SELF',
        message: `${SRC}: dev wrote merge request !7 and may not approve it (forbid: mrAuthor)`,
      });
    }
  });

  it('fails closed, with a hint, when the look-up fails or there is no API token', async () => {
    world.gitlab.injectFaults({ status: 403, match: { pathIncludes: '/merge_requests' } });
    const failing = createApprovalLookups({ api, scope: afterMerge });
    assert.deepEqual(await failing.mergeRequestAuthors(), {
      ok: false,
      why: `cannot find the merge requests of commit ${MERGE_SHA.slice(0, 12)}: GitLab API commit merge requests: HTTP 403`,
      hint: 'check that OAM_GITLAB_TOKEN may read this project and its merge requests (scope api, Reporter or higher), then retry the job',
    });
    assert.equal((await failing.commitAuthorEmails()).ok, false);

    const noApi = createApprovalLookups({ api: undefined, scope: afterMerge });
    const result = await noApi.mergeRequestAuthors();
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : (result.hint ?? ''), /set OAM_GITLAB_TOKEN/);
    await assert.rejects(checkSeparation(step(), claims({ user_id: '43', user_login: 'alice' }), { requester: claims() }, noApi, SRC), {
      code: 'ERR_APPROVAL_SELF',
      message: `${SRC}: cannot check that alice is not the merge request author: no OAM_GITLAB_TOKEN, so the GitLab API cannot be asked`,
    });
  });
});

describe('approval look-ups against GitLab as it answers: visibility, states, pages, emails', () => {
  const ADMIN_TOKEN = 'glpat-lookups-admin-000001';
  const MANY_SHAS = Array.from({ length: 130 }, (_, i) => (i + 1).toString(16).padStart(40, '0'));
  let world: EmbeddedDefault;
  let api: GitlabApi;
  let admin: GitlabApi;
  const crowd = Array.from({ length: 40 }, (_, i) => ({ id: 200 + i, username: `member${i}` }));
  before(async () => {
    world = await startEmbeddedDefault({
      gitlab: {
        tokens: [API_TOKEN],
        tokenOwners: { [ADMIN_TOKEN]: 1 },
        users: [
          ...DEFAULT_USERS.map((u) => ({ ...u })),
          { id: 1, username: 'root', admin: true },
          { id: 47, username: 'blocked', state: 'blocked' },
          { id: 48, username: 'pending' },
          { id: 49, username: 'erin', email: 'erin@example.com', publicEmail: 'erin@public.example', secondaryEmails: ['erin@old.example'] },
          ...crowd,
        ],
        groups: [
          { path: 'acme', memberUserIds: [] },
          { path: 'acme/sre', memberUserIds: [45, 47, 48], accessLevel: 30, membershipStates: { 48: 'awaiting' } },
          { path: 'acme/secret', memberUserIds: [45], visibility: 'private' },
          { path: 'acme/crowd', memberUserIds: crowd.map((u) => u.id) },
        ],
        mergeRequests: [
          {
            projectId: '1217',
            iid: 7,
            authorUsername: 'dev',
            // The oldest commit (by carol) is listed last: on page 2 of 100.
            commits: MANY_SHAS.map((sha, i) => ({ sha, authorEmail: i === 0 ? 'carol@example.com' : 'dev@example.com' })),
          },
          { projectId: '1217', iid: 8, authorUsername: 'dev', commits: [{ sha: 'e'.repeat(40), authorEmail: 'ERIN@public.example' }] },
          { projectId: '1217', iid: 9, authorUsername: 'dev', commits: [{ sha: 'c'.repeat(40), authorEmail: 'erin@old.example' }] },
          { projectId: '1217', iid: 10, authorUsername: 'dev', commits: [{ sha: 'b'.repeat(40), authorEmail: '45-carol@users.noreply.127.0.0.1' }] },
        ],
      },
    });
    api = createGitlabApi({ apiUrl: `${world.gitlab.url}/api/v4`, token: API_TOKEN, sleep: async () => {} });
    admin = createGitlabApi({ apiUrl: `${world.gitlab.url}/api/v4`, token: ADMIN_TOKEN, sleep: async () => {} });
  });
  after(() => world.close());

  // Each MR pipeline runs on a commit of its MR (GitLab then also finds the MR by that commit).
  const headOf: Record<number, string> = { 7: MANY_SHAS[129]!, 8: 'e'.repeat(40), 9: 'c'.repeat(40), 10: 'b'.repeat(40) };
  const scopeOfMr = (iid: number) => mergeRequestScopeOf({ CI_MERGE_REQUEST_IID: String(iid) }, { project_id: '1217', project_path: 'acme/payments', sha: headOf[iid] });
  const groupStep = (group: string) => step({ approvers: { users: [], groups: [group] }, forbid: [] });
  const GROUPS = (group: string) => `approvers.groups: ${group} (direct members, Developer (30) or higher)`;

  it('a group the API token cannot see is reported as that, with the fix — not as "not a member"', async () => {
    const lookups = createApprovalLookups({ api, scope: scopeOfMr(7) });
    const why = "the API token's user project_1217_bot_oam cannot see group acme/secret (GitLab answers 404 Group Not Found), so its members cannot be checked";
    assert.deepEqual(await lookups.groupMembership('acme/secret', '45'), {
      ok: false,
      why,
      hint: 'give project_1217_bot_oam access to acme/secret (any role lets it read the members), or set OAM_GITLAB_TOKEN to a token that can see the group, e.g. a group access token of acme/secret or of a parent group',
    });
    await assert.rejects(checkEligibility(groupStep('acme/secret'), claims({ user_id: '45', user_login: 'carol' }), lookups, SRC), (error: Error & { code?: string; hint?: string }) => {
      assert.equal(error.code, 'ERR_APPROVER_NOT_ALLOWED');
      assert.equal(error.message, `${SRC}: carol may not approve step approve-deploy-prod (approvers.users: none; ${GROUPS('acme/secret')}); cannot check membership of acme/secret: ${why}`);
      assert.match(error.hint ?? '', /^give project_1217_bot_oam access to acme\/secret/);
      return true;
    });
    // A visible group where the user is no member: plainly "may not approve", nothing about visibility.
    await assert.rejects(checkEligibility(groupStep('acme/sre'), claims({ user_id: '43', user_login: 'alice' }), lookups, SRC), {
      code: 'ERR_APPROVER_NOT_ALLOWED',
      message: `${SRC}: alice may not approve step approve-deploy-prod (approvers.users: none; ${GROUPS('acme/sre')})`,
    });
  });

  it('refuses a blocked user and a membership awaiting approval', async () => {
    const lookups = createApprovalLookups({ api, scope: scopeOfMr(7) });
    for (const [id, login, state] of [['47', 'blocked', 'blocked/active'], ['48', 'pending', 'active/awaiting']] as const) {
      await assert.rejects(checkEligibility(groupStep('acme/sre'), claims({ user_id: id, user_login: login }), lookups, SRC), {
        code: 'ERR_APPROVER_NOT_ALLOWED',
        message: `${SRC}: ${login} may not approve step approve-deploy-prod (approvers.users: none; ${GROUPS('acme/sre')}); the membership of acme/sre is not active (${state})`,
      });
    }
    assert.deepEqual(await checkEligibility(groupStep('acme/sre'), claims({ user_id: '45', user_login: 'carol' }), lookups, SRC), { via: 'group', group: 'acme/sre' });
  });

  it('accepts a group member who would be on a later page of the members list', async () => {
    const lookups = createApprovalLookups({ api, scope: scopeOfMr(7) });
    const last = crowd.at(-1)!;
    assert.deepEqual(await checkEligibility(groupStep('acme/crowd'), claims({ user_id: String(last.id), user_login: last.username }), lookups, SRC), { via: 'group', group: 'acme/crowd' });
  });

  it('refuses under forbid: commitAuthor the author of a commit on page 2 of the MR commits', async () => {
    const before = world.gitlab.calls.length;
    const lookups = createApprovalLookups({ api, scope: scopeOfMr(7) });
    const s = step({ forbid: ['commitAuthor'], approvers: { users: ['carol'], groups: [] } });
    await assert.rejects(checkSeparation(s, claims({ user_id: '45', user_login: 'carol', user_email: 'carol@example.com' }), { requester: claims() }, lookups, SRC), {
      code: 'ERR_APPROVAL_SELF',
      message: `${SRC}: carol authored or committed a commit of this change and may not approve it (forbid: commitAuthor)`,
    });
    const pages = world.gitlab.calls.slice(before).filter((c) => c.path.endsWith('/merge_requests/7/commits')).map((c) => c.query.page ?? '1');
    assert.deepEqual(pages, ['1', '2']);
  });

  it('commitAuthor compares every email the API shows of the approver, and their private commit email', async () => {
    const s = step({ forbid: ['commitAuthor'], approvers: { users: ['erin', 'carol'], groups: [] } });
    const erin = claims({ user_id: '49', user_login: 'erin', user_email: 'erin@example.com' });
    const refused = { code: 'ERR_APPROVAL_SELF', message: `${SRC}: erin authored or committed a commit of this change and may not approve it (forbid: commitAuthor)` };
    // MR !8's commit is authored under erin's public email (case differs).
    await assert.rejects(checkSeparation(s, erin, { requester: claims() }, createApprovalLookups({ api, scope: scopeOfMr(8) }), SRC), refused);
    // MR !9's under a secondary email: only an admin token can see it.
    await checkSeparation(s, erin, { requester: claims() }, createApprovalLookups({ api, scope: scopeOfMr(9) }), SRC);
    await assert.rejects(checkSeparation(s, erin, { requester: claims() }, createApprovalLookups({ api: admin, scope: scopeOfMr(9) }), SRC), refused);
    // MR !10's under carol's private commit email <id>-<username>@users.noreply.<instance host>.
    await assert.rejects(
      checkSeparation(s, claims({ user_id: '45', user_login: 'carol', user_email: 'carol@example.com' }), { requester: claims() }, createApprovalLookups({ api, scope: scopeOfMr(10) }), SRC),
      { code: 'ERR_APPROVAL_SELF' },
    );
    // A look-up that fails fails closed.
    world.gitlab.injectFaults({ status: 403, match: { pathIncludes: '/users/49' } });
    await assert.rejects(checkSeparation(s, erin, { requester: claims() }, createApprovalLookups({ api, scope: scopeOfMr(9) }), SRC), {
      code: 'ERR_APPROVAL_SELF',
      message: `${SRC}: cannot check that erin authored no commit: user 49: GitLab API user: HTTP 403`,
    });
  });
});

describe('approval look-ups: failing closed at each step, asking once, reading one note again', () => {
  const EMPTY_SHA = '1'.repeat(40);
  const TWO_SHA = '2'.repeat(40);
  const API_FAILED_HINT = 'check that OAM_GITLAB_TOKEN may read this project and its merge requests (scope api, Reporter or higher), then retry the job';
  let world: EmbeddedDefault;
  let api: GitlabApi;
  before(async () => {
    world = await startEmbeddedDefault({
      gitlab: {
        tokens: [API_TOKEN],
        users: DEFAULT_USERS.map((u) => ({ ...u })),
        groups: [
          { path: 'acme/sre', memberUserIds: [45] },
          { path: 'acme/secret', memberUserIds: [45], visibility: 'private' },
        ],
        mergeRequests: [
          { projectId: '1217', iid: 7, authorUsername: 'dev', commits: [{ sha: DEFAULT_SHA, authorEmail: 'dev@example.com' }] },
          // git allows an empty email (`<>`): GitLab then answers "" and such a commit names no one.
          {
            projectId: '1217',
            iid: 11,
            authorUsername: 'dev',
            commits: [
              { sha: EMPTY_SHA, authorEmail: '', committerEmail: 'web@example.com' },
              { sha: TWO_SHA, authorEmail: 'Erin@Example.com', committerEmail: '' },
            ],
          },
        ],
        commits: [{ projectId: '1217', commit: { sha: LONE_SHA, authorEmail: 'dev@example.com' } }],
      },
    });
    api = createGitlabApi({ apiUrl: `${world.gitlab.url}/api/v4`, token: API_TOKEN, sleep: async () => {} });
  });
  after(() => world.close());

  const own = (sha: string | undefined) => ({ project_id: '1217', project_path: 'acme/payments', sha });
  const mr7 = () => mergeRequestScopeOf({ CI_MERGE_REQUEST_IID: '7' }, own(DEFAULT_SHA));
  const callsSince = (before: number) => world.gitlab.calls.slice(before).map((c) => c.path);

  it('without an API token every look-up answers "no API", asking nothing', async () => {
    const noApi = { ok: false, why: 'no OAM_GITLAB_TOKEN, so the GitLab API cannot be asked', hint: NO_API_HINT };
    const lookups = createApprovalLookups({ api: undefined, scope: mr7() });
    assert.deepEqual(await lookups.groupMembership('acme/sre', '45'), noApi);
    assert.deepEqual(await lookups.userEmails('45'), noApi);
    assert.deepEqual(await lookups.mergeRequestAuthors(), noApi);
    assert.deepEqual(await lookups.commitAuthorEmails(), noApi);
    assert.deepEqual(await lookups.comments(), noApi);
    assert.deepEqual(await lookups.comment({ kind: 'merge-request', projectId: '1217', iid: '7' }, 1), noApi);
  });

  it('refuses to look up merge requests when the token names no project or no commit', async () => {
    const refused = { ok: false, why: 'the token names no project or commit whose merge requests could be looked up', hint: 'run inside a GitLab job' };
    for (const scope of [mergeRequestScopeOf({}, own(undefined)), mergeRequestScopeOf({}, { project_path: 'acme/payments', sha: DEFAULT_SHA })]) {
      const before = world.gitlab.calls.length;
      const lookups = createApprovalLookups({ api, scope });
      assert.deepEqual(await lookups.mergeRequestAuthors(), refused);
      assert.deepEqual(await lookups.commitAuthorEmails(), refused);
      assert.deepEqual(callsSince(before), []);
    }
  });

  it('fails closed, naming the step, when a merge request, its commits or the commit cannot be read', async () => {
    world.gitlab.injectFaults({ status: 403, match: { pathIncludes: '/projects/1217/merge_requests/7' } });
    assert.deepEqual(await createApprovalLookups({ api, scope: mr7() }).mergeRequestAuthors(), {
      ok: false,
      why: 'merge request !7: GitLab API merge request: HTTP 403',
      hint: API_FAILED_HINT,
    });
    world.gitlab.injectFaults({ status: 403, match: { pathIncludes: '/merge_requests/7/commits' } });
    assert.deepEqual(await createApprovalLookups({ api, scope: mr7() }).commitAuthorEmails(), {
      ok: false,
      why: 'merge request !7: GitLab API merge request commits: HTTP 403',
      hint: API_FAILED_HINT,
    });
    const lone = createApprovalLookups({ api, scope: mergeRequestScopeOf({}, own(LONE_SHA)) });
    assert.deepEqual(await lone.mergeRequestAuthors(), { ok: true, value: [] });
    world.gitlab.injectFaults({ status: 403, match: { pathIncludes: `/repository/commits/${LONE_SHA}` } });
    assert.deepEqual(await lone.commitAuthorEmails(), { ok: false, why: `commit ${LONE_SHA.slice(0, 12)}: GitLab API commit: HTTP 403`, hint: API_FAILED_HINT });
  });

  it('skips the empty emails of a commit and keeps the others, lower-cased', async () => {
    const lookups = createApprovalLookups({ api, scope: mergeRequestScopeOf({ CI_MERGE_REQUEST_IID: '11' }, own(TWO_SHA)) });
    assert.deepEqual(await lookups.commitAuthorEmails(), { ok: true, value: ['erin@example.com', 'web@example.com'] });
  });

  it('asks for a membership and for emails once per job', async () => {
    const lookups = createApprovalLookups({ api, scope: mr7() });
    const before = world.gitlab.calls.length;
    for (let i = 0; i < 2; i++) {
      assert.deepEqual(await lookups.groupMembership('acme/sre', '45'), { ok: true, value: { state: 'active', accessLevel: 30 } });
      assert.deepEqual(await lookups.userEmails('44'), { ok: true, value: [] }, 'bob shows no public email');
    }
    assert.deepEqual(callsSince(before), ['/api/v4/groups/acme%2Fsre/members/45', '/api/v4/users/44', '/api/v4/user']);
  });

  it('fails closed when a membership cannot be read, and names no user it could not ask for', async () => {
    world.gitlab.injectFaults({ status: 403, match: { pathIncludes: '/members/45' } });
    assert.deepEqual(await createApprovalLookups({ api, scope: mr7() }).groupMembership('acme/sre', '45'), {
      ok: false,
      why: 'GitLab API group membership: HTTP 403',
      hint: API_FAILED_HINT,
    });
    // A fresh client: the API client reads GET /user once per job.
    const fresh = createGitlabApi({ apiUrl: `${world.gitlab.url}/api/v4`, token: API_TOKEN, sleep: async () => {} });
    world.gitlab.injectFaults({ status: 403, match: { pathIncludes: '/api/v4/user' } });
    assert.deepEqual(await createApprovalLookups({ api: fresh, scope: mr7() }).groupMembership('acme/secret', '45'), {
      ok: false,
      why: "the API token's user cannot see group acme/secret (GitLab answers 404 Group Not Found), so its members cannot be checked",
      hint: "give the OAM_GITLAB_TOKEN's user access to acme/secret (any role lets it read the members), or set OAM_GITLAB_TOKEN to a token that can see the group, e.g. a group access token of acme/secret or of a parent group",
    });
  });

  it('reads one note again where the evidence says it is: on the MR, or in its commit discussion', async () => {
    const lookups = createApprovalLookups({ api, scope: mr7() });
    const onMr = world.gitlab.addNote('1217', 7, 'oam-grant approve deploy-prod: OPS-1', 43);
    const read = await lookups.comment({ kind: 'merge-request', projectId: '1217', iid: '7' }, onMr.id);
    assert.equal(read.ok && read.value?.body, 'oam-grant approve deploy-prod: OPS-1');
    const discussion = world.gitlab.addCommitDiscussion('1217', DEFAULT_SHA, 'oam-grant approve deploy-prod: OPS-2', 43);
    const noteId = discussion.notes[0]?.id ?? 0;
    const onCommit = await lookups.comment({ kind: 'commit', projectId: '1217', sha: DEFAULT_SHA, discussionId: discussion.id }, noteId);
    assert.equal(onCommit.ok && onCommit.value?.body, 'oam-grant approve deploy-prod: OPS-2');
    assert.deepEqual(await lookups.comment({ kind: 'merge-request', projectId: '1217', iid: '7' }, noteId + 1000), { ok: true, value: undefined });
    world.gitlab.injectFaults({ status: 403, match: { pathIncludes: `/notes/${onMr.id}` } });
    assert.deepEqual(await lookups.comment({ kind: 'merge-request', projectId: '1217', iid: '7' }, onMr.id), {
      ok: false,
      why: `note ${onMr.id}: GitLab API merge request note: HTTP 403`,
      hint: API_FAILED_HINT,
    });
  });

  it('reads comments on the commit when there is no MR, and fails closed naming it', async () => {
    const lookups = createApprovalLookups({ api, scope: mergeRequestScopeOf({}, own(LONE_SHA)) });
    world.gitlab.injectFaults({ status: 403, match: { pathIncludes: `/commits/${LONE_SHA}/discussions` } });
    assert.deepEqual(await lookups.comments(), {
      ok: false,
      why: `comments on commit ${LONE_SHA.slice(0, 12)}: GitLab API commit discussions: HTTP 403`,
      hint: API_FAILED_HINT,
    });
    const nowhere = createApprovalLookups({ api, scope: mergeRequestScopeOf({}, own(undefined)) });
    assert.equal(nowhere.commentPlace, undefined);
    assert.deepEqual(await nowhere.comments(), { ok: false, why: 'the token names no project or commit to read comments of', hint: 'run inside a GitLab job' });
  });

  it('a pipeline with no MR variables has no MR of its own to take comments from', () => {
    const lookups = createApprovalLookups({ api, scope: mergeRequestScopeOf({}, own(LONE_SHA)) });
    assert.equal(lookups.isOfThisChange({ kind: 'merge-request', projectId: '1217', iid: '7' }), false);
    const inMr = createApprovalLookups({ api, scope: mr7() });
    assert.equal(inMr.isOfThisChange({ kind: 'merge-request', projectId: '1217', iid: '7' }), true);
    assert.equal(inMr.isOfThisChange({ kind: 'merge-request', projectId: '5555', iid: '7' }), false, 'the same iid in another project');
  });

  it('commentPlaceOf: the note target, else the signed commit, else nowhere', () => {
    const scope = mergeRequestScopeOf({}, own(LONE_SHA));
    assert.deepEqual(commentPlaceOf(scope), { kind: 'commit', projectId: '1217', sha: LONE_SHA });
    assert.deepEqual(commentPlaceOf({ ...scope, noteTarget: { projectId: '9', iid: '3' } }), { kind: 'merge-request', projectId: '9', iid: '3' });
    assert.equal(commentPlaceOf({ ...scope, commitSha: undefined }), undefined);
    assert.equal(commentPlaceOf({ ...scope, pipelineProjectId: undefined }), undefined);
  });
});
