import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Gitlab } from '@gitbeaker/rest';
import { type GitlabApi, startGitlabApi } from './gitlab-api.ts';

const TOKEN = 'glpat-test-token';
const SHA = 'a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2';
const FEATURE_SHA = 'f'.repeat(40);
const MERGE_SHA = 'e'.repeat(40);
const LONE_SHA = 'd'.repeat(40);

/** The HTTP status of a gitbeaker error, read the way the product will read it. */
function statusOf(err: unknown): number | undefined {
  const cause = typeof err === 'object' && err !== null ? (err as { cause?: unknown }).cause : undefined;
  const response = typeof cause === 'object' && cause !== null ? (cause as { response?: unknown }).response : undefined;
  const status = typeof response === 'object' && response !== null ? (response as { status?: unknown }).status : undefined;
  return typeof status === 'number' ? status : undefined;
}

describe('gitlab api emulator', () => {
  let api: GitlabApi;
  let gitlab: InstanceType<typeof Gitlab>;
  before(async () => {
    api = await startGitlabApi({
      tokens: [TOKEN, 'job-token-value'],
      users: [
        { id: 42, username: 'dev', email: 'dev@example.com' },
        { id: 45, username: 'carol' },
        { id: 46, username: 'dan' },
      ],
      groups: [
        { path: 'acme', memberUserIds: [46], accessLevel: 50 },
        { path: 'acme/sre', memberUserIds: [45, 42], accessLevel: 40, accessLevels: { 42: 10 } },
      ],
      projects: [{ id: '1217', path: 'acme/payments' }],
      mergeRequests: [
        {
          projectId: '1217',
          iid: 7,
          authorUsername: 'dev',
          commits: [{ sha: SHA, authorEmail: 'dev@example.com', committerEmail: 'ci@example.com' }],
        },
        {
          projectId: '1217',
          iid: 9,
          authorUsername: 'carol',
          state: 'merged',
          commits: [{ sha: FEATURE_SHA, authorEmail: 'carol@example.com' }],
          mergeCommit: { sha: MERGE_SHA, authorEmail: 'dan@example.com' },
        },
      ],
      commits: [{ projectId: 'acme/payments', commit: { sha: LONE_SHA, authorEmail: 'dan@example.com', committerEmail: 'web@example.com' } }],
    });
    gitlab = new Gitlab({ host: api.url, token: TOKEN });
  });
  after(() => api.close());

  it('creates, lists, shows and edits MR notes through gitbeaker', async () => {
    const created = await gitlab.MergeRequestNotes.create('acme/payments', 7, 'requested');
    assert.equal(created.body, 'requested');
    assert.equal(created.system, false);
    assert.equal(typeof created.author.username, 'string');
    const call = api.calls.at(-1)!;
    assert.equal(call.method, 'POST');
    assert.equal(call.path, '/api/v4/projects/acme%2Fpayments/merge_requests/7/notes');
    assert.equal(call.headers['private-token'], TOKEN);
    assert.deepEqual(JSON.parse(call.body), { body: 'requested' });
    assert.equal(call.status, 201);

    const edited = await gitlab.MergeRequestNotes.edit(1217, 7, created.id, { body: 'approved' });
    assert.equal(edited.body, 'approved');
    const shown = await gitlab.MergeRequestNotes.show(1217, 7, created.id);
    assert.equal(shown.body, 'approved');
    const extra = await gitlab.MergeRequestNotes.create(1217, 7, 'to delete');
    await gitlab.MergeRequestNotes.remove(1217, 7, extra.id);
    await assert.rejects(gitlab.MergeRequestNotes.show(1217, 7, extra.id), (err: unknown) => statusOf(err) === 404);
    // Numeric id and path name the same project.
    assert.deepEqual(
      api.notes('1217', 7).map((n) => n.body),
      ['approved'],
    );
    assert.deepEqual(
      api.notes('acme/payments', 7).map((n) => n.id),
      [created.id],
    );
  });

  it('paginates like GitLab so .all() gets every note, newest first', async () => {
    const local = await startGitlabApi({ mergeRequests: [{ projectId: '5', iid: 1, authorUsername: 'dev' }] });
    try {
      const client = new Gitlab({ host: local.url, token: 'any' });
      for (let i = 0; i < 45; i++) await client.MergeRequestNotes.create(5, 1, `note ${i}`);
      const all = await client.MergeRequestNotes.all(5, 1);
      assert.equal(all.length, 45);
      assert.equal(all[0]?.body, 'note 44');
      const pages = local.calls.filter((c) => c.method === 'GET');
      assert.deepEqual(
        pages.map((c) => c.query.page ?? '1'),
        ['1', '2', '3'],
      );
      const first = await client.MergeRequestNotes.all(5, 1, { perPage: 10, page: 2, showExpanded: true });
      assert.equal(first.data.length, 10);
      assert.equal(first.paginationInfo.total, 45);
      assert.equal(first.paginationInfo.next, 3);
    } finally {
      await local.close();
    }
  });

  it('shows the MR author and its commits', async () => {
    const mr = await gitlab.MergeRequests.show('acme/payments', 7);
    assert.equal(mr.author.username, 'dev');
    assert.equal(mr.iid, 7);
    const commits = await gitlab.MergeRequests.allCommits(1217, 7);
    assert.deepEqual(
      commits.map((c) => [c.id, c.author_email, c.committer_email]),
      [[SHA, 'dev@example.com', 'ci@example.com']],
    );
    await assert.rejects(gitlab.MergeRequests.show(1217, 8), (err: unknown) => statusOf(err) === 404);
  });

  it('shows commits and finds the merge requests that contain one, merged ones by their merge commit too', async () => {
    const lone = await gitlab.Commits.show('acme/payments', LONE_SHA);
    assert.deepEqual([lone.id, lone.author_email, lone.committer_email], [LONE_SHA, 'dan@example.com', 'web@example.com']);
    const feature = await gitlab.Commits.show(1217, FEATURE_SHA);
    assert.equal(feature.author_email, 'carol@example.com');
    await assert.rejects(gitlab.Commits.show(1217, '0'.repeat(40)), (err: unknown) => statusOf(err) === 404);

    const byMerge = await gitlab.Commits.allMergeRequests(1217, MERGE_SHA);
    assert.deepEqual(
      byMerge.map((m) => [m.project_id, m.iid, m.state, m.author.username, m.merge_commit_sha]),
      [[1217, 9, 'merged', 'carol', MERGE_SHA]],
    );
    assert.equal(api.calls.at(-1)!.path, `/api/v4/projects/1217/repository/commits/${MERGE_SHA}/merge_requests`);
    const byCommit = await gitlab.Commits.allMergeRequests('acme/payments', SHA);
    assert.deepEqual(
      byCommit.map((m) => [m.iid, m.state, m.author.username]),
      [[7, 'opened', 'dev']],
    );
    assert.deepEqual(await gitlab.Commits.allMergeRequests(1217, LONE_SHA), []);
  });

  it('comments on a commit', async () => {
    const comment = await gitlab.Commits.createComment(1217, SHA, 'granted');
    assert.equal(comment.note, 'granted');
    const all = await gitlab.Commits.allComments('acme/payments', SHA);
    assert.deepEqual(
      all.map((c) => c.note),
      ['granted'],
    );
    assert.equal(api.commitComments(1217, SHA).length, 1);
  });

  it('answers direct and inherited group membership with access levels, and user look-ups', async () => {
    const carol = await gitlab.GroupMembers.show('acme/sre', 45);
    assert.equal(carol.username, 'carol');
    assert.equal(carol.access_level, 40);
    assert.equal(carol.state, 'active');
    assert.equal(api.calls.at(-1)!.path, '/api/v4/groups/acme%2Fsre/members/45');
    const guest = await gitlab.GroupMembers.show('acme/sre', 42);
    assert.equal(guest.access_level, 10, 'per-member level overrides the group default');
    // dan is a member of the parent group only: members/all sees him, members/ does not.
    await assert.rejects(gitlab.GroupMembers.show('acme/sre', 46), (err: unknown) => statusOf(err) === 404);
    const dan = await gitlab.GroupMembers.show('acme/sre', 46, { includeInherited: true });
    assert.equal(dan.access_level, 50, 'inherited from acme');
    assert.equal(api.calls.at(-1)!.path, '/api/v4/groups/acme%2Fsre/members/all/46');
    await assert.rejects(
      gitlab.GroupMembers.show('acme/sre', 43, { includeInherited: true }),
      (err: unknown) => statusOf(err) === 404,
    );
    const res = await fetch(`${api.url}/api/v4/groups/acme%2Fsre/members/all/43`, { headers: { 'private-token': TOKEN } });
    assert.deepEqual([res.status, await res.json()], [404, { message: '404 Not found' }]);

    const users = await gitlab.Users.all({ username: 'carol' });
    assert.deepEqual(
      users.map((u) => [u.id, u.username]),
      [[45, 'carol']],
    );
    assert.deepEqual(await gitlab.Users.all({ username: 'nobody' }), []);
  });

  it('refuses requests without an accepted token', async () => {
    const stranger = new Gitlab({ host: api.url, token: 'wrong' });
    await assert.rejects(stranger.MergeRequestNotes.all(1217, 7), (err: unknown) => statusOf(err) === 401);
    const res = await fetch(`${api.url}/api/v4/projects/1217/merge_requests/7/notes`);
    assert.deepEqual([res.status, await res.json()], [401, { message: '401 Unauthorized' }]);
    const job = new Gitlab({ host: api.url, jobToken: 'job-token-value' });
    await job.MergeRequestNotes.all(1217, 7);
    assert.equal(api.calls.at(-1)!.headers['job-token'], 'job-token-value');
    await assert.rejects(job.MergeRequestNotes.create(1217, 7, 'x'), (err: unknown) => statusOf(err) === 401);
    const bearer = await fetch(`${api.url}/api/v4/users?username=dev`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(bearer.status, 200);
    const unknown = await fetch(`${api.url}/api/v4/nothing`, { headers: { 'private-token': TOKEN } });
    assert.equal(unknown.status, 404);
  });

  it('injects faults matching method and path', async () => {
    api.injectFaults(
      { status: 500, match: { method: 'POST', pathIncludes: '/notes' } },
      { status: 403, times: 2, match: { pathIncludes: 'acme/payments' } },
    );
    await assert.rejects(gitlab.MergeRequestNotes.create(1217, 7, 'x'), (err: unknown) => statusOf(err) === 500);
    assert.deepEqual(api.calls.at(-1)!.status, 500);
    await assert.rejects(gitlab.MergeRequests.show('acme/payments', 7), (err: unknown) => statusOf(err) === 403);
    await assert.rejects(gitlab.MergeRequests.show('acme/payments', 7), (err: unknown) => statusOf(err) === 403);
    await gitlab.MergeRequests.show('acme/payments', 7);

    api.injectFaults({ kind: 'reset' });
    await assert.rejects(gitlab.MergeRequests.show(1217, 7), TypeError);
    assert.equal(api.calls.at(-1)!.status, 0);
    // gitbeaker retries 429 by itself, and the emulator lets the retry through.
    api.injectFaults({ status: 429 });
    const before = api.calls.length;
    await gitlab.MergeRequests.show(1217, 7);
    assert.deepEqual(
      api.calls.slice(before).map((c) => c.status),
      [429, 200],
    );
  });
});

/** A request with a token, parsed: what a client of the real API sees. */
async function get(api: GitlabApi, path: string, token: string): Promise<{ status: number; body: unknown; headers: Headers }> {
  const res = await fetch(`${api.url}/api/v4${path}`, { headers: { 'private-token': token } });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

describe('gitlab api emulator: identities and permissions', () => {
  const BOT_TOKEN = 'glpat-bot';
  const DEV_TOKEN = 'glpat-dev';
  const ALICE_TOKEN = 'glpat-alice';
  const ADMIN_TOKEN = 'glpat-admin';
  const MAINTAINER_TOKEN = 'glpat-maintainer';
  let api: GitlabApi;
  before(async () => {
    api = await startGitlabApi({
      tokens: [BOT_TOKEN],
      tokenOwners: { [DEV_TOKEN]: 42, [ALICE_TOKEN]: 43, [ADMIN_TOKEN]: 1, [MAINTAINER_TOKEN]: 44 },
      botUser: { id: 9001, username: 'project_1217_bot_oam', bot: true },
      users: [
        { id: 1, username: 'root', email: 'root@example.com', admin: true },
        { id: 42, username: 'dev', email: 'dev@example.com', publicEmail: 'dev@public.example', commitEmail: 'dev@commits.example', secondaryEmails: ['dev@old.example'] },
        { id: 43, username: 'alice', email: 'alice@example.com' },
        { id: 44, username: 'maint', email: 'maint@example.com' },
        { id: 45, username: 'blocked', state: 'blocked' },
        { id: 46, username: 'pending' },
      ],
      projects: [{ id: '1217', path: 'acme/payments', members: { 9001: 40, 42: 30, 44: 40 } }],
      groups: [
        { path: 'acme', memberUserIds: [] },
        { path: 'acme/sre', memberUserIds: [43, 45, 46], visibility: 'private', membershipStates: { 46: 'awaiting' } },
        { path: 'acme/public', memberUserIds: Array.from({ length: 25 }, (_, i) => 100 + i), visibility: 'public' },
      ],
      mergeRequests: [{ projectId: '1217', iid: 7, authorUsername: 'dev', commits: [{ sha: SHA, authorEmail: 'dev@example.com' }] }],
    });
  });
  after(() => api.close());

  it('GET /user answers for the token’s own user, with its own emails; admins are marked', async () => {
    const bot = await get(api, '/user', BOT_TOKEN);
    assert.deepEqual([bot.status, (bot.body as { id: number }).id, (bot.body as { bot: boolean }).bot], [200, 9001, true]);
    const dev = (await get(api, '/user', DEV_TOKEN)).body as Record<string, unknown>;
    assert.deepEqual([dev.id, dev.username, dev.email, dev.commit_email, dev.public_email, dev.is_admin], [42, 'dev', 'dev@example.com', 'dev@commits.example', 'dev@public.example', undefined]);
    assert.equal(((await get(api, '/user', ADMIN_TOKEN)).body as { is_admin: boolean }).is_admin, true);
  });

  it('GET /users/:id shows public_email to everyone, the other emails to admins only; /emails is admin-only', async () => {
    const seen = (await get(api, '/users/42', ALICE_TOKEN)).body as Record<string, unknown>;
    assert.equal(seen.public_email, 'dev@public.example');
    assert.equal('email' in seen || 'commit_email' in seen, false, 'a non-admin never sees private emails');
    const byAdmin = (await get(api, '/users/42', ADMIN_TOKEN)).body as Record<string, unknown>;
    assert.deepEqual([byAdmin.email, byAdmin.commit_email], ['dev@example.com', 'dev@commits.example']);
    assert.deepEqual(await get(api, '/users/42/emails', ALICE_TOKEN).then((r) => [r.status, r.body]), [403, { message: '403 Forbidden' }]);
    const emails = (await get(api, '/users/42/emails', ADMIN_TOKEN)).body as { email: string }[];
    assert.deepEqual(emails.map((e) => e.email), ['dev@example.com', 'dev@old.example']);
    assert.equal(((await get(api, '/users/43', ALICE_TOKEN)).body as { public_email: unknown }).public_email, null);
    assert.deepEqual(await get(api, '/users/999', ALICE_TOKEN).then((r) => [r.status, r.body]), [404, { message: '404 User Not Found' }]);
  });

  it('writes notes as the token’s user; only the author or a Maintainer may edit or delete one (403 otherwise)', async () => {
    const as = (token: string) => new Gitlab({ host: api.url, token });
    const devNote = await as(DEV_TOKEN).MergeRequestNotes.create(1217, 7, 'by dev');
    assert.deepEqual([devNote.author.id, devNote.author.username], [42, 'dev']);
    const botNote = await as(BOT_TOKEN).MergeRequestNotes.create(1217, 7, 'by the bot');
    assert.equal(botNote.author.id, 9001);
    // alice (no project role) and dev (Developer) may not touch someone else's note.
    await assert.rejects(as(ALICE_TOKEN).MergeRequestNotes.edit(1217, 7, devNote.id, { body: 'x' }), (err: unknown) => statusOf(err) === 403);
    await assert.rejects(as(DEV_TOKEN).MergeRequestNotes.edit(1217, 7, botNote.id, { body: 'x' }), (err: unknown) => statusOf(err) === 403);
    await assert.rejects(as(DEV_TOKEN).MergeRequestNotes.remove(1217, 7, botNote.id), (err: unknown) => statusOf(err) === 403);
    const res = await fetch(`${api.url}/api/v4/projects/1217/merge_requests/7/notes/${devNote.id}`, {
      method: 'PUT',
      headers: { 'private-token': ALICE_TOKEN, 'content-type': 'application/json' },
      body: JSON.stringify({ body: 'x' }),
    });
    assert.deepEqual([res.status, await res.json()], [403, { message: '403 Forbidden' }]);
    // The author may; so may a Maintainer (the bot of a project access token, or a human Maintainer), and an admin.
    assert.equal((await as(DEV_TOKEN).MergeRequestNotes.edit(1217, 7, devNote.id, { body: 'dev again' })).body, 'dev again');
    assert.equal((await as(BOT_TOKEN).MergeRequestNotes.edit(1217, 7, devNote.id, { body: 'bot edits dev' })).body, 'bot edits dev');
    assert.equal((await as(MAINTAINER_TOKEN).MergeRequestNotes.edit(1217, 7, botNote.id, { body: 'maint' })).body, 'maint');
    assert.equal((await as(ADMIN_TOKEN).MergeRequestNotes.edit(1217, 7, botNote.id, { body: 'root' })).body, 'root');
    const other = api.addNote('1217', 7, 'by alice in the UI', 43);
    assert.equal(api.notes(1217, 7).at(-1)?.author.username, 'alice');
    await assert.rejects(as(DEV_TOKEN).MergeRequestNotes.edit(1217, 7, other.id, { body: 'x' }), (err: unknown) => statusOf(err) === 403);
  });

  it('commit discussions: created as the token’s user, listed with pages, shown, edited by the author or a Maintainer only', async () => {
    const as = (token: string) => new Gitlab({ host: api.url, token });
    const created = await as(BOT_TOKEN).CommitDiscussions.create(1217, SHA, 'requested');
    assert.match(created.id, /^[0-9a-f]{40}$/);
    const note = created.notes![0]!;
    assert.deepEqual([note.body, note.author.id, note.noteable_type], ['requested', 9001, 'Commit']);
    assert.equal(api.calls.at(-1)!.path, `/api/v4/projects/1217/repository/commits/${SHA}/discussions`);
    assert.equal(api.calls.at(-1)!.status, 201);
    const edited = await as(BOT_TOKEN).CommitDiscussions.editNote(1217, SHA, created.id, note.id, { body: 'approved' });
    assert.equal(edited.body, 'approved');
    assert.equal(api.calls.at(-1)!.path, `/api/v4/projects/1217/repository/commits/${SHA}/discussions/${created.id}/notes/${note.id}`);
    await assert.rejects(as(DEV_TOKEN).CommitDiscussions.editNote(1217, SHA, created.id, note.id, { body: 'x' }), (err: unknown) => statusOf(err) === 403);
    const shown = await as(DEV_TOKEN).CommitDiscussions.show('acme/payments', SHA, created.id);
    assert.equal(shown.notes![0]!.body, 'approved');
    for (let i = 0; i < 24; i++) api.addCommitDiscussion(1217, SHA, `comment ${i}`, 42);
    const all = await as(DEV_TOKEN).CommitDiscussions.all(1217, SHA);
    assert.equal(all.length, 25, 'every page');
    assert.deepEqual(api.calls.filter((c) => c.method === 'GET' && c.path.endsWith('/discussions')).map((c) => c.query.page ?? '1'), ['1', '2']);
    assert.deepEqual(api.commitDiscussions('acme/payments', SHA).map((d) => d.notes[0]!.author.username).slice(0, 2), ['project_1217_bot_oam', 'dev']);
    const missing = await get(api, `/projects/1217/repository/commits/${'0'.repeat(40)}/discussions`, DEV_TOKEN);
    assert.deepEqual([missing.status, missing.body], [404, { message: '404 Commit Not Found' }]);
    const noDiscussion = await get(api, `/projects/1217/repository/commits/${SHA}/discussions/${'a'.repeat(40)}`, DEV_TOKEN);
    assert.deepEqual([noDiscussion.status, noDiscussion.body], [404, { message: '404 Discussion Not Found' }]);
  });

  it('hides a private group from non-members (404 Group Not Found) and tells a non-member apart (404 Not found)', async () => {
    // The project bot is no member of acme/sre: the group does not exist for it.
    for (const path of ['/groups/acme%2Fsre', '/groups/acme%2Fsre/members/43', '/groups/acme%2Fsre/members/all/43', '/groups/acme%2Fsre/members']) {
      assert.deepEqual(await get(api, path, BOT_TOKEN).then((r) => [r.status, r.body]), [404, { message: '404 Group Not Found' }], path);
    }
    assert.deepEqual(await get(api, '/groups/acme%2Fnothing', BOT_TOKEN).then((r) => [r.status, r.body]), [404, { message: '404 Group Not Found' }]);
    // alice is a member: she sees the group; dev, a member of nothing, is "not found" as a member of a public group.
    const group = (await get(api, '/groups/acme%2Fsre', ALICE_TOKEN)).body as Record<string, unknown>;
    assert.deepEqual([group.full_path, group.visibility], ['acme/sre', 'private']);
    assert.deepEqual(await get(api, '/groups/acme%2Fpublic/members/42', BOT_TOKEN).then((r) => [r.status, r.body]), [404, { message: '404 Not found' }]);
    // A project member sees the project's parent group.
    assert.equal((await get(api, '/groups/acme', BOT_TOKEN)).status, 200);
  });

  it('members carry the user’s state and the membership’s state', async () => {
    const blocked = (await get(api, '/groups/acme%2Fsre/members/45', ALICE_TOKEN)).body as Record<string, unknown>;
    assert.deepEqual([blocked.state, blocked.membership_state, blocked.access_level], ['blocked', 'active', 30]);
    const pending = (await get(api, '/groups/acme%2Fsre/members/46', ALICE_TOKEN)).body as Record<string, unknown>;
    assert.deepEqual([pending.state, pending.membership_state], ['active', 'awaiting']);
  });

  it('lists group members with GitLab’s pagination headers', async () => {
    const first = await get(api, '/groups/acme%2Fpublic/members?per_page=10', DEV_TOKEN);
    assert.equal((first.body as unknown[]).length, 0, 'users unknown to the emulator are not listed');
    const page = await get(api, '/groups/acme%2Fsre/members?per_page=2&page=1', ALICE_TOKEN);
    assert.deepEqual((page.body as { id: number }[]).map((m) => m.id), [43, 45]);
    assert.deepEqual(
      ['x-page', 'x-per-page', 'x-total', 'x-total-pages', 'x-next-page', 'x-prev-page'].map((h) => page.headers.get(h)),
      ['1', '2', '3', '2', '2', ''],
    );
    assert.match(page.headers.get('link') ?? '', /<[^>]+page=2&per_page=2>; rel="next"/);
    const members = await new Gitlab({ host: api.url, token: ALICE_TOKEN }).GroupMembers.all('acme/sre', { perPage: 2 });
    assert.deepEqual(members.map((m) => m.id), [43, 45, 46]);
  });

  it('GET /projects/:id shows the pipeline-variable setting to Maintainers only', async () => {
    const byBot = (await get(api, '/projects/acme%2Fpayments', BOT_TOKEN)).body as Record<string, unknown>;
    assert.deepEqual([byBot.id, byBot.restrict_user_defined_variables, byBot.ci_pipeline_variables_minimum_override_role], [1217, true, 'no_one_allowed']);
    const byDev = (await get(api, '/projects/1217', DEV_TOKEN)).body as Record<string, unknown>;
    assert.equal('restrict_user_defined_variables' in byDev || 'ci_pipeline_variables_minimum_override_role' in byDev, false);
    assert.deepEqual(await get(api, '/projects/4242', BOT_TOKEN).then((r) => [r.status, r.body]), [404, { message: '404 Project Not Found' }]);

    const older = await startGitlabApi({
      projects: [
        { id: '1', path: 'a/old', restrictUserDefinedVariables: false, pipelineVariablesMinimumOverrideRole: null },
        { id: '2', path: 'a/dev', pipelineVariablesMinimumOverrideRole: 'developer' },
      ],
    });
    try {
      const old = (await get(older, '/projects/1', 'any')).body as Record<string, unknown>;
      assert.deepEqual([old.restrict_user_defined_variables, 'ci_pipeline_variables_minimum_override_role' in old], [false, false], 'before GitLab 17.1');
      assert.equal(((await get(older, '/projects/2', 'any')).body as Record<string, unknown>).ci_pipeline_variables_minimum_override_role, 'developer');
    } finally {
      await older.close();
    }
  });

  it('pages MR commits and the merge requests of a commit like GitLab', async () => {
    const many = await startGitlabApi({
      mergeRequests: [
        { projectId: '5', iid: 1, authorUsername: 'dev', commits: Array.from({ length: 30 }, (_, i) => ({ sha: i.toString(16).padStart(40, '0'), authorEmail: `c${i}@example.com` })) },
        ...Array.from({ length: 3 }, (_, i) => ({ projectId: '5', iid: 10 + i, authorUsername: 'dev', commits: [{ sha: 'f'.repeat(40), authorEmail: 'x@example.com' }] })),
      ],
    });
    try {
      const commits = await get(many, '/projects/5/merge_requests/1/commits', 'any');
      assert.deepEqual([(commits.body as unknown[]).length, commits.headers.get('x-total'), commits.headers.get('x-next-page')], [20, '30', '2']);
      const mrs = await get(many, `/projects/5/repository/commits/${'f'.repeat(40)}/merge_requests?per_page=2&page=2`, 'any');
      assert.deepEqual([(mrs.body as unknown[]).length, mrs.headers.get('x-page'), mrs.headers.get('x-next-page'), mrs.headers.get('x-prev-page')], [1, '2', '', '1']);
      const client = new Gitlab({ host: many.url, token: 'any' });
      assert.equal((await client.MergeRequests.allCommits(5, 1)).length, 30);
    } finally {
      await many.close();
    }
  });
});
