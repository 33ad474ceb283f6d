/**
 * Reading approvers' comments through @gitbeaker/rest against the GitLab API
 * emulator, as GitLab answers: MR notes across pages of 100 with author ids
 * and times, one note by id (404 once deleted), and commit comments through
 * the commit's discussions (the comments endpoint has no note ids).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createApprovalLookups } from '../../src/approval/lookups.ts';
import { mergeRequestScopeOf } from '../../src/approval/merge-requests.ts';
import { createGitlabApi, type GitlabApi } from '../../src/lib/gitlab-api.ts';
import { DEFAULT_SHA, DEFAULT_USERS, type EmbeddedDefault, startEmbeddedDefault } from '../emulators/index.ts';

const API_TOKEN = 'glpat-reason-lookups-000001';
const ALICE = 43;

describe("approvers' comments through the API", () => {
  let world: EmbeddedDefault;
  let api: GitlabApi;
  before(async () => {
    world = await startEmbeddedDefault({ gitlab: { tokens: [API_TOKEN], users: DEFAULT_USERS.map((u) => ({ ...u })) } });
    api = createGitlabApi({ apiUrl: `${world.gitlab.url}/api/v4`, token: API_TOKEN, sleep: async () => {} });
  });
  after(() => world.close());

  it('lists every MR note across pages of 100, with author id and times', async () => {
    const base = Date.now() - 3_600_000;
    for (let i = 0; i < 230; i++) {
      world.gitlab.addNote('1217', 7, `note ${i}`, i % 2 === 0 ? ALICE : 42, new Date(base + i * 1000).toISOString());
    }
    const before = world.gitlab.calls.length;
    const notes = await api.listMergeRequestComments('1217', '7');
    assert.equal(notes.length, 230);
    const pages = world.gitlab.calls.slice(before).filter((c) => c.path === '/api/v4/projects/1217/merge_requests/7/notes');
    assert.deepEqual(pages.map((c) => [c.query.per_page, c.query.page ?? '1']), [['100', '1'], ['100', '2'], ['100', '3']]);
    const newest = notes[0];
    assert.equal(newest?.body, 'note 229');
    assert.equal(newest?.authorId, '42');
    assert.equal(newest?.authorUsername, 'dev');
    assert.equal(newest?.system, false);
    assert.equal(newest?.createdAt, new Date(base + 229_000).toISOString());
  });

  it('reads one MR note by id, and undefined once it is deleted', async () => {
    const written = world.gitlab.addNote('1217', 7, 'oam-grant approve deploy-prod: OPS-1', ALICE);
    assert.deepEqual(await api.getMergeRequestComment('1217', '7', written.id), {
      id: written.id,
      body: 'oam-grant approve deploy-prod: OPS-1',
      authorId: '43',
      authorUsername: 'alice',
      createdAt: written.created_at,
      updatedAt: written.updated_at,
      system: false,
    });
    const deleted = await fetch(`${world.gitlab.url}/api/v4/projects/1217/merge_requests/7/notes/${written.id}`, { method: 'DELETE', headers: { 'private-token': API_TOKEN } });
    assert.equal(deleted.status, 204);
    assert.equal(await api.getMergeRequestComment('1217', '7', written.id), undefined);
  });

  it('lists commit comments through discussions, and reads one again by discussion and id', async () => {
    const discussion = world.gitlab.addCommitDiscussion('1217', DEFAULT_SHA, 'oam-grant approve deploy-prod: OPS-2', ALICE);
    const written = { id: discussion.notes[0]?.id ?? 0, discussion_id: discussion.id };
    world.gitlab.addCommitDiscussion('1217', DEFAULT_SHA, 'nice', 42);
    const notes = await api.listCommitDiscussionNotes('1217', DEFAULT_SHA);
    assert.deepEqual(notes.map((n) => [n.id, n.authorId, n.discussionId]), [
      [written.id, '43', written.discussion_id],
      [written.id + 1, '42', notes[1]?.discussionId],
    ]);
    assert.match(written.discussion_id, /^[0-9a-f]{40}$/);
    assert.ok(world.gitlab.calls.some((c) => c.path === `/api/v4/projects/1217/repository/commits/${DEFAULT_SHA}/discussions` && c.query.per_page === '100'));
    assert.equal((await api.getCommitDiscussionNote('1217', DEFAULT_SHA, written.discussion_id, written.id))?.body, 'oam-grant approve deploy-prod: OPS-2');
    // The note is looked for in the discussion named: another discussion does not hold it.
    assert.equal(await api.getCommitDiscussionNote('1217', DEFAULT_SHA, notes[1]?.discussionId ?? '', written.id), undefined);
    assert.equal(await api.getCommitDiscussionNote('1217', DEFAULT_SHA, 'f'.repeat(40), written.id), undefined);
  });

  it('the look-ups read comments where the request note asks for them: the MR, else the commit', async () => {
    const inMr = createApprovalLookups({ api, scope: mergeRequestScopeOf({ CI_MERGE_REQUEST_IID: '7' }, { project_id: '1217', sha: DEFAULT_SHA }) });
    assert.deepEqual(inMr.commentPlace, { kind: 'merge-request', projectId: '1217', iid: '7' });
    const mrNotes = await inMr.comments();
    assert.ok(mrNotes.ok && mrNotes.value.length > 0);
    assert.equal(inMr.isOfThisChange({ kind: 'merge-request', projectId: '1217', iid: '7' }), true);
    assert.equal(inMr.isOfThisChange({ kind: 'merge-request', projectId: '1217', iid: '8' }), false);

    const onCommit = createApprovalLookups({ api, scope: mergeRequestScopeOf({}, { project_id: '1217', sha: DEFAULT_SHA }) });
    assert.deepEqual(onCommit.commentPlace, { kind: 'commit', projectId: '1217', sha: DEFAULT_SHA });
    const commitNotes = await onCommit.comments();
    assert.ok(commitNotes.ok && commitNotes.value.every((n) => n.discussionId !== undefined));
    assert.equal(onCommit.isOfThisChange({ kind: 'commit', projectId: '1217', sha: DEFAULT_SHA, discussionId: 'x' }), true);
    assert.equal(onCommit.isOfThisChange({ kind: 'commit', projectId: '1217', sha: 'b'.repeat(40), discussionId: 'x' }), false);
    assert.equal(onCommit.isOfThisChange({ kind: 'commit', projectId: '5555', sha: DEFAULT_SHA, discussionId: 'x' }), false);
  });

  it('fails closed on an API error, with a hint', async () => {
    const lookups = createApprovalLookups({ api, scope: mergeRequestScopeOf({ CI_MERGE_REQUEST_IID: '7' }, { project_id: '1217', sha: DEFAULT_SHA }) });
    world.gitlab.injectFaults({ status: 403, match: { pathIncludes: '/merge_requests/7/notes' } });
    const read = await lookups.comments();
    assert.equal(read.ok, false);
    assert.ok(!read.ok && read.why === 'comments on merge request !7: GitLab API list merge request notes: HTTP 403');
  });
});
