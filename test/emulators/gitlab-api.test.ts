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
