/**
 * The note through @gitbeaker/rest against the GitLab API emulator: created
 * once then edited, only if the token's own user wrote it, across pages,
 * escaping, the commit-discussion fallback, retries and `required`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createGitlabApi, type GitlabApi, GitlabApiError } from '../../src/lib/gitlab-api.ts';
import { OamError } from '../../src/errors.ts';
import { Logger } from '../../src/lib/log.ts';
import { mergeRequestScopeOf } from '../../src/approval/merge-requests.ts';
import { publishReport } from '../../src/report/publish.ts';
import { noteMarker } from '../../src/report/render-note.ts';
import type { ReportState } from '../../src/report/report-state.ts';
import { DEFAULT_SHA, type EmbeddedDefault, startEmbeddedDefault } from '../emulators/index.ts';

const API_TOKEN = 'glpat-test-api-token-0123456789';
const MR7 = { projectId: '1217', iid: '7' };

function state(overrides: Partial<ReportState> = {}): ReportState {
  return {
    component: 'deploy-prod',
    pipelineId: '1002',
    projectPath: 'acme/payments',
    ref: 'main',
    commitSha: DEFAULT_SHA,
    requested: {
      component: 'deploy-prod',
      credentials: [
        {
          provider: 'aws-sts',
          identity: 'arn:aws:iam::123456789012:role/ci-deploy',
          durationSeconds: 900,
          scopeDigest: 'ab'.repeat(32),
          scopeSummary: 's3:PutObject on arn:aws:s3:::releases/*',
        },
      ],
      durationSeconds: 900,
      scopeDigest: 'ab'.repeat(32),
      scopeSummary: 's3:PutObject on arn:aws:s3:::releases/*',
    },
    step: { name: 'approve-deploy-prod', minApprovals: 1, validForSeconds: 1800, timeoutSeconds: 7200 },
    request: { requester: { login: 'dev', id: '42' }, job: { id: '800', url: 'http://gitlab.test/acme/payments/-/jobs/800' }, at: new Date('2026-01-01T10:00:00Z') },
    approvals: [],
    matchedPolicies: ['protected-main'],
    outcome: { kind: 'requested' },
    ...overrides,
  };
}

function capture(): { log: Logger; text: () => string } {
  const lines: string[] = [];
  return { log: new Logger({ sink: { write: (t) => lines.push(t) } }), text: () => lines.join('') };
}

describe('publishReport', () => {
  let world: EmbeddedDefault;
  let api: GitlabApi;
  const sleeps: number[] = [];

  before(async () => {
    world = await startEmbeddedDefault({ gitlab: { tokens: [API_TOKEN] } });
    api = createGitlabApi({
      apiUrl: `${world.gitlab.url}/api/v4`,
      token: API_TOKEN,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      random: () => 0.5,
    });
  });
  after(async () => {
    // The API token travels in a header only; no body ever carries it or anything token-shaped.
    for (const call of world.gitlab.calls) {
      assert.ok(!call.body.includes(API_TOKEN), `${call.method} ${call.path} body holds the API token`);
      assert.doesNotMatch(call.body, /eyJ[A-Za-z0-9_-]+\.eyJ/, `${call.method} ${call.path} body holds a JWT`);
    }
    await world.close();
  });

  const base = { projectId: '1217', commitSha: DEFAULT_SHA, required: false };

  it('creates the note once, then edits it at each event', async () => {
    const { log, text } = capture();
    const first = await publishReport({ ...base, api, state: state({ pipelineId: '2001' }), mergeRequest: MR7, log });
    assert.equal(first.kind, 'note-created');
    const second = await publishReport({
      ...base,
      api,
      state: state({
        pipelineId: '2001',
        approvals: [{ approver: { login: 'alice', id: '43' }, reason: 'OPS-1', job: { id: '900' }, at: new Date('2026-01-01T10:05:00Z'), via: 'listed in approvers.users', latencySeconds: 300 }],
        outcome: { kind: 'approved' },
      }),
      mergeRequest: MR7,
      log,
    });
    assert.deepEqual(second, { kind: 'note-edited', noteId: first.kind === 'note-created' ? first.noteId : -1 });
    const notes = world.gitlab.notes('1217', 7).filter((n) => n.body.startsWith(noteMarker('2001', 'deploy-prod')));
    assert.equal(notes.length, 1);
    // The job log says which happened, so a reader knows to look for an edited note rather than a new one.
    assert.deepEqual(text().split('\n').filter((l) => l.includes('audit note')), [
      'created the audit note on merge request !7',
      'updated the audit note on merge request !7',
    ]);
    assert.match(notes[0]!.body, /approved \(1 of 1\), waiting for the grant job/);
    assert.match(notes[0]!.body, /\| alice \| listed in approvers\.users \| OPS\\-1 \| job 900 \| 2026-01-01 10:05:00 UTC \| 5m \|/);
  });

  it('keeps one note per pipeline and component', async () => {
    const { log } = capture();
    await publishReport({ ...base, api, state: state({ pipelineId: '2002' }), mergeRequest: MR7, log });
    await publishReport({ ...base, api, state: state({ pipelineId: '2002', component: 'other' }), mergeRequest: MR7, log });
    await publishReport({ ...base, api, state: state({ pipelineId: '2003' }), mergeRequest: MR7, log });
    const markers = world.gitlab.notes('1217', 7).map((n) => n.body.split('\n')[0]);
    for (const m of [noteMarker('2002', 'deploy-prod'), noteMarker('2002', 'other'), noteMarker('2003', 'deploy-prod')]) {
      assert.equal(markers.filter((x) => x === m).length, 1, m);
    }
  });

  it('escapes hostile branch names and reasons so they cannot format, link or mention', async () => {
    const { log } = capture();
    const hostile = state({
      pipelineId: '2004',
      ref: 'feat/@all-<img src=x>-[x](https://evil.example)',
      approvals: [
        {
          approver: { login: 'alice', id: '43' },
          reason: '@all | **urgent** <script>alert(1)</script> see #12 ![p](https://evil.example/p.png)',
          job: { id: '900' },
          at: new Date(),
          via: 'listed in approvers.users',
          latencySeconds: 1,
        },
      ],
      outcome: { kind: 'approved' },
    });
    await publishReport({ ...base, api, state: hostile, mergeRequest: MR7, log });
    const body = world.gitlab.notes('1217', 7).find((n) => n.body.startsWith(noteMarker('2004', 'deploy-prod')))!.body;
    const decoded = body.replace(/\\(.)/g, '$1').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
    assert.doesNotMatch(body, /<img|<script/);
    assert.doesNotMatch(body, /\]\(https:\/\/evil/);
    assert.doesNotMatch(decoded, /@all|#12|https:\/\/evil/);
    assert.doesNotMatch(body, /[^\\]\*\*urgent/);
    // Escaped, not dropped: the reader still sees what was typed.
    assert.ok(decoded.includes('feat/@\u200ball-<img src=x>-[x](https:\u200b//evil.example)'), decoded);
    assert.match(decoded, /urgent/);
    // The approvals table still has exactly six cells per row: the `|` in the reason did not split it.
    const row = body.split('\n').find((line) => line.startsWith('| alice'))!;
    assert.equal(row.replace(/\\\|/g, '').split('|').length - 2, 6);
  });

  it('without a merge request: one commit discussion per pipeline and component, created once, then edited', async () => {
    const { log, text } = capture();
    const ours = (id: string) => world.gitlab.commitDiscussions('1217', DEFAULT_SHA).filter((d) => d.notes[0]!.body.startsWith(noteMarker(id, 'deploy-prod')));
    // Someone copied the marker into a discussion of their own first: it is not ours, and stays as it was.
    world.gitlab.addCommitDiscussion('1217', DEFAULT_SHA, `${noteMarker('2005', 'deploy-prod')}\nfake: granted`, 42);
    const first = await publishReport({ ...base, api, state: state({ pipelineId: '2005' }), mergeRequest: undefined, log });
    assert.equal(first.kind, 'commit-discussion-created');
    // The result names the note GitLab created, the first of the new discussion.
    const created = world.gitlab.commitDiscussions('1217', DEFAULT_SHA).at(-1)!;
    assert.deepEqual(first, { kind: 'commit-discussion-created', discussionId: created.id, noteId: created.notes[0]!.id });
    // And another one after ours: the newest discussion with the marker is not ours either.
    world.gitlab.addCommitDiscussion('1217', DEFAULT_SHA, `${noteMarker('2005', 'deploy-prod')}\nnewer fake`, 43);
    const second = await publishReport({
      ...base,
      api,
      state: state({ pipelineId: '2005', outcome: { kind: 'approved' }, approvals: [{ approver: { login: 'alice', id: '43' }, reason: '', job: { id: '900' }, at: new Date(), via: 'listed in approvers.users', latencySeconds: 1 }] }),
      mergeRequest: undefined,
      log,
    });
    assert.equal(second.kind, 'commit-discussion-edited');
    // The short sha, as GitLab shows commits.
    assert.deepEqual(text().split('\n').filter((l) => l.includes('audit note')), [
      'no merge request in this pipeline: created the audit note on commit 4b825dc642cb',
      'no merge request in this pipeline: updated the audit note on commit 4b825dc642cb',
    ]);
    assert.ok(first.kind === 'commit-discussion-created' && second.kind === 'commit-discussion-edited' && first.discussionId === second.discussionId);
    const discussions = ours('2005');
    assert.equal(discussions.length, 3, "the strangers' copies and ours");
    assert.equal(discussions[0]!.notes[0]!.body.endsWith('fake: granted'), true, "the stranger's copy is untouched");
    assert.equal(discussions[2]!.notes[0]!.body.endsWith('newer fake'), true, "the newer copy is untouched");
    assert.equal(discussions[1]!.notes[0]!.author.id, 9001);
    assert.match(discussions[1]!.notes[0]!.body, /approved \(1 of 1\)/);
    assert.deepEqual(world.gitlab.commitComments('1217', DEFAULT_SHA), [], 'no commit comment (those cannot be edited)');
  });

  it("edits the bot's own note even when another user posted a copy of the marker first", async () => {
    const { log } = capture();
    const marker = noteMarker('2011', 'deploy-prod');
    const copy = world.gitlab.addNote('1217', 7, `${marker}\n### oam-grant · 🔑 granted (not really)`, 42);
    const first = await publishReport({ ...base, api, state: state({ pipelineId: '2011' }), mergeRequest: MR7, log });
    assert.equal(first.kind, 'note-created', "the copy is not ours: the bot writes its own note");
    world.gitlab.addNote('1217', 7, `${marker}\nanother copy, newer than ours`, 43);
    const before = world.gitlab.calls.length;
    const second = await publishReport({ ...base, api, state: state({ pipelineId: '2011', outcome: { kind: 'approved' } }), mergeRequest: MR7, log });
    assert.deepEqual(second, { kind: 'note-edited', noteId: first.kind === 'note-created' ? first.noteId : -1 });
    const puts = world.gitlab.calls.slice(before).filter((c) => c.method === 'PUT');
    assert.deepEqual(puts.map((c) => c.path), [`/api/v4/projects/1217/merge_requests/7/notes/${first.kind === 'note-created' ? first.noteId : -1}`]);
    const withMarker = world.gitlab.notes('1217', 7).filter((n) => n.body.startsWith(marker));
    assert.deepEqual(withMarker.map((n) => n.author.username), ['dev', 'project_1217_bot_oam', 'alice']);
    assert.equal(withMarker[0]!.body, copy.body);
  });

  it("a Maintainer's token never edits a stranger's note, though GitLab would let it", async () => {
    const { log } = capture();
    // The bot is a Maintainer of acme/payments: GitLab lets it edit anyone's note. Only ours are edited.
    const marker = noteMarker('2012', 'deploy-prod');
    const stranger = world.gitlab.addNote('1217', 7, `${marker}\nwritten by dev`, 42);
    const before = world.gitlab.calls.length;
    await publishReport({ ...base, api, state: state({ pipelineId: '2012' }), mergeRequest: MR7, log });
    await publishReport({ ...base, api, state: state({ pipelineId: '2012', outcome: { kind: 'approved' } }), mergeRequest: MR7, log });
    const calls = world.gitlab.calls.slice(before);
    assert.ok(!calls.some((c) => c.method !== 'GET' && c.path.endsWith(`/notes/${stranger.id}`)), "no write to the stranger's note");
    assert.equal(world.gitlab.notes('1217', 7).find((n) => n.id === stranger.id)?.body, stranger.body);
    // GET /user once per client: the same API object asks only the first time.
    assert.equal(calls.filter((c) => c.path === '/api/v4/user').length, 0, 'the user was already known from an earlier publish');
  });

  it('finds its note on a later page of the notes', async () => {
    const { log } = capture();
    const local = await startEmbeddedDefault({ gitlab: { tokens: [API_TOKEN] } });
    try {
      const client = createGitlabApi({ apiUrl: `${local.gitlab.url}/api/v4`, token: API_TOKEN });
      for (let i = 0; i < 120; i++) local.gitlab.addNote('1217', 7, `comment ${i}`, 42);
      assert.equal((await publishReport({ ...base, api: client, state: state({ pipelineId: '2013' }), mergeRequest: MR7, log })).kind, 'note-created');
      for (let i = 0; i < 5; i++) local.gitlab.addNote('1217', 7, `later comment ${i}`, 43);
      const before = local.gitlab.calls.length;
      const again = await publishReport({ ...base, api: client, state: state({ pipelineId: '2013', outcome: { kind: 'approved' } }), mergeRequest: MR7, log });
      assert.equal(again.kind, 'note-edited');
      const pages = local.gitlab.calls.slice(before).filter((c) => c.method === 'GET' && c.path.endsWith('/notes')).map((c) => c.query.page ?? '1');
      assert.deepEqual(pages, ['1', '2'], 'our note is the 121st: on page 2');
      assert.equal(local.gitlab.notes('1217', 7).filter((n) => n.body.startsWith(noteMarker('2013', 'deploy-prod'))).length, 1);
    } finally {
      await local.close();
    }
  });

  it('retries transient API errors with backoff, then posts', async () => {
    const { log } = capture();
    sleeps.length = 0;
    world.gitlab.injectFaults({ status: 503, times: 2, match: { method: 'POST', pathIncludes: '/notes' } });
    const before = world.gitlab.calls.length;
    const result = await publishReport({ ...base, api, state: state({ pipelineId: '2006' }), mergeRequest: MR7, log });
    assert.equal(result.kind, 'note-created');
    const posts = world.gitlab.calls.slice(before).filter((c) => c.method === 'POST');
    assert.deepEqual(posts.map((c) => c.status), [503, 503, 201]);
    assert.deepEqual(sleeps, [250, 500]);
  });

  it('retries a connection reset', async () => {
    const { log } = capture();
    world.gitlab.injectFaults({ kind: 'reset', times: 1, match: { method: 'POST', pathIncludes: '/notes' } });
    const result = await publishReport({ ...base, api, state: state({ pipelineId: '2007' }), mergeRequest: MR7, log });
    assert.equal(result.kind, 'note-created');
  });

  it('stops with ERR_REPORT_FAILED when required and the API keeps failing', async () => {
    const { log, text } = capture();
    world.gitlab.injectFaults({ status: 500, times: 4, match: { method: 'POST', pathIncludes: '/notes' } });
    await assert.rejects(publishReport({ ...base, required: true, api, state: state({ pipelineId: '2008' }), mergeRequest: MR7, log }), {
      code: 'ERR_REPORT_FAILED',
      message: 'the audit note for deploy-prod could not be posted: GitLab API create merge request note: HTTP 500',
    });
    assert.match(text(), /oam-grant deploy-prod, pipeline 2008: requested/);
  });

  it('only warns when not required, and logs the summary instead', async () => {
    const { log, text } = capture();
    world.gitlab.injectFaults({ status: 500, times: 4, match: { method: 'POST', pathIncludes: '/notes' } });
    const result = await publishReport({ ...base, api, state: state({ pipelineId: '2009' }), mergeRequest: MR7, log });
    assert.deepEqual(result, { kind: 'logged', why: 'GitLab API create merge request note: HTTP 500' });
    assert.match(text(), /warning: audit note not posted: GitLab API create merge request note: HTTP 500/);
  });

  it('fails fast on a refused token (no retries)', async () => {
    const { log } = capture();
    const bad = createGitlabApi({ apiUrl: `${world.gitlab.url}/api/v4`, token: 'wrong-token', sleep: async () => {} });
    const before = world.gitlab.calls.length;
    await assert.rejects(publishReport({ ...base, required: true, api: bad, state: state({ pipelineId: '2010' }), mergeRequest: MR7, log }), {
      code: 'ERR_REPORT_FAILED',
      message: 'the audit note for deploy-prod could not be posted: GitLab API current user: HTTP 401',
    });
    assert.equal(world.gitlab.calls.length - before, 1);
  });

  it('without an API token: logs the summary; required makes it an error', async () => {
    const { log, text } = capture();
    assert.deepEqual(await publishReport({ ...base, api: undefined, state: state(), mergeRequest: MR7, log }), { kind: 'logged', why: 'no OAM_GITLAB_TOKEN' });
    assert.match(text(), /requested by dev in job 800/);
    await assert.rejects(publishReport({ ...base, required: true, api: undefined, state: state(), mergeRequest: MR7, log }), {
      code: 'ERR_REPORT_FAILED',
      message: 'the audit note for deploy-prod could not be posted: no OAM_GITLAB_TOKEN',
    });
  });

  it('writes the note again, once, when it was deleted between the look-up and the edit', async () => {
    const { log } = capture();
    const first = await publishReport({ ...base, api, state: state({ pipelineId: '2014' }), mergeRequest: MR7, log });
    assert.equal(first.kind, 'note-created');
    const firstId = first.kind === 'note-created' ? first.noteId : -1;
    // Someone deletes the note right after the bot listed the notes: the edit answers GitLab's own 404.
    const racing: GitlabApi = {
      ...api,
      async listMergeRequestNotes(projectId, iid) {
        const notes = await api.listMergeRequestNotes(projectId, iid);
        const deleted = await fetch(`${world.gitlab.url}/api/v4/projects/1217/merge_requests/7/notes/${firstId}`, { method: 'DELETE', headers: { 'private-token': API_TOKEN } });
        assert.equal(deleted.status, 204);
        return notes;
      },
    };
    const before = world.gitlab.calls.length;
    const again = await publishReport({ ...base, api: racing, state: state({ pipelineId: '2014', outcome: { kind: 'approved' } }), mergeRequest: MR7, log });
    assert.equal(again.kind, 'note-created');
    const writes = world.gitlab.calls.slice(before).filter((c) => c.method === 'PUT' || c.method === 'POST');
    assert.deepEqual(writes.map((c) => `${c.method} ${c.status}`), ['PUT 404', 'POST 201']);
    const ours = world.gitlab.notes('1217', 7).filter((n) => n.body.startsWith(noteMarker('2014', 'deploy-prod')));
    assert.equal(ours.length, 1);
    assert.match(ours[0]!.body, /approved/);
  });

  it('writes the commit discussion again, once, when its note is gone at the edit', async () => {
    const { log } = capture();
    const first = await publishReport({ ...base, api, state: state({ pipelineId: '2015' }), mergeRequest: undefined, log });
    assert.equal(first.kind, 'commit-discussion-created');
    // GitLab answers 404 Not found for a note that no longer exists (the emulator has no DELETE for discussion notes).
    world.gitlab.injectFaults({ status: 404, match: { method: 'PUT', pathIncludes: '/discussions/' } });
    const before = world.gitlab.calls.length;
    const again = await publishReport({ ...base, api, state: state({ pipelineId: '2015', outcome: { kind: 'approved' } }), mergeRequest: undefined, log });
    assert.equal(again.kind, 'commit-discussion-created');
    const writes = world.gitlab.calls.slice(before).filter((c) => c.method === 'PUT' || c.method === 'POST');
    assert.deepEqual(writes.map((c) => `${c.method} ${c.status}`), ['PUT 404', 'POST 201']);
  });

  // An edit that fails for any other reason must not turn into a second note: the reader would see two verdicts.
  for (const where of ['merge request', 'commit'] as const) {
    it(`never posts a second note when editing the ${where} note keeps failing`, async () => {
      const { log, text } = capture();
      const pipelineId = where === 'merge request' ? '2016' : '2017';
      const mergeRequest = where === 'merge request' ? MR7 : undefined;
      const first = await publishReport({ ...base, api, state: state({ pipelineId }), mergeRequest, log });
      assert.match(first.kind, /created$/);
      world.gitlab.injectFaults({ status: 500, times: 4, match: { method: 'PUT' } });
      const before = world.gitlab.calls.length;
      const again = await publishReport({ ...base, api, state: state({ pipelineId, outcome: { kind: 'approved' } }), mergeRequest, log });
      const what = where === 'merge request' ? 'edit merge request note' : 'edit commit discussion note';
      assert.deepEqual(again, { kind: 'logged', why: `GitLab API ${what}: HTTP 500` });
      const writes = world.gitlab.calls.slice(before).filter((c) => c.method === 'PUT' || c.method === 'POST');
      assert.deepEqual(writes.map((c) => `${c.method} ${c.status}`), ['PUT 500', 'PUT 500', 'PUT 500', 'PUT 500']);
      assert.match(text(), /warning: audit note not posted/);
    });
  }

  // The hint tells a refused token or one that cannot see the project (fix the token) from an outage (retry); the cause keeps the API error for --debug.
  for (const [status, hint] of [
    [401, 'check that OAM_GITLAB_TOKEN is valid, has scope api and may comment on this project'],
    [403, 'check that OAM_GITLAB_TOKEN is valid, has scope api and may comment on this project'],
    [404, "check that OAM_GITLAB_TOKEN's user can see this project and its merge request or commit: GitLab answers 404 for what it may not see"],
    [500, 'the GitLab API kept failing; retry the job'],
  ] as const) {
    it(`required: HTTP ${status} on posting stops with ERR_REPORT_FAILED and the hint for it`, async () => {
      const { log } = capture();
      world.gitlab.injectFaults({ status, times: status === 500 ? 4 : 1, match: { method: 'POST', pathIncludes: '/notes' } });
      const error = await publishReport({ ...base, required: true, api, state: state({ pipelineId: `203${status}` }), mergeRequest: MR7, log }).then(
        () => assert.fail('resolved'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof OamError);
      assert.equal(error.code, 'ERR_REPORT_FAILED');
      assert.equal(error.message, `the audit note for deploy-prod could not be posted: GitLab API create merge request note: HTTP ${status}`);
      assert.equal(error.hint, `${hint} (the mr-audit trait says required: true, so nothing is exported without it)`);
      assert.ok(error.cause instanceof GitlabApiError && error.cause.status === status);
    });
  }

  it("required: a commit GitLab does not know in the project (its own 404) asks to check the token's access, not to retry", async () => {
    const { log } = capture();
    await assert.rejects(
      publishReport({ ...base, required: true, commitSha: 'f'.repeat(40), api, state: state({ pipelineId: '2042' }), mergeRequest: undefined, log }),
      {
        code: 'ERR_REPORT_FAILED',
        message: 'the audit note for deploy-prod could not be posted: GitLab API list commit discussions: HTTP 404',
        hint: "check that OAM_GITLAB_TOKEN's user can see this project and its merge request or commit: GitLab answers 404 for what it may not see (the mr-audit trait says required: true, so nothing is exported without it)",
      },
    );
  });

  // Nothing to post to: no API call, the summary in the log, and `required` makes it an error that says what is missing.
  for (const { name, projectId, commitSha, why, hint } of [
    { name: 'no project id', projectId: undefined, commitSha: DEFAULT_SHA, why: 'CI_PROJECT_ID is unset', hint: 'run inside a GitLab job' },
    { name: 'no commit', projectId: '1217', commitSha: undefined, why: 'neither a merge request nor a commit to comment on', hint: 'run in a merge request or branch pipeline' },
  ]) {
    it(`without a merge request and with ${name}: logs the summary; required makes it an error`, async () => {
      const { log, text } = capture();
      const before = world.gitlab.calls.length;
      const input = { api, state: state({ pipelineId: '2040' }), projectId, commitSha, mergeRequest: undefined, log };
      assert.deepEqual(await publishReport({ ...input, required: false }), { kind: 'logged', why });
      assert.match(text(), /oam-grant deploy-prod, pipeline 2040: requested/);
      await assert.rejects(publishReport({ ...input, required: true }), (error: unknown) => {
        assert.ok(error instanceof OamError);
        assert.equal(error.code, 'ERR_REPORT_FAILED');
        assert.equal(error.message, `the audit note for deploy-prod could not be posted: ${why}`);
        assert.equal(error.hint, `${hint} (the mr-audit trait says required: true, so nothing is exported without it)`);
        return true;
      });
      assert.equal(world.gitlab.calls.length, before, 'no API call');
    });
  }

  it('lets a defect surface instead of reporting it as an API failure', async () => {
    const { log } = capture();
    const broken: GitlabApi = {
      ...api,
      listMergeRequestNotes: async () => {
        throw new TypeError('notes is not iterable');
      },
    };
    await assert.rejects(publishReport({ ...base, api: broken, state: state({ pipelineId: '2041' }), mergeRequest: MR7, log }), {
      name: 'TypeError',
      message: 'notes is not iterable',
    });
  });
});

describe('publishReport in a fork merge request pipeline', () => {
  let world: EmbeddedDefault;
  before(async () => {
    world = await startEmbeddedDefault({ gitlab: { tokens: [API_TOKEN] } });
  });
  after(() => world.close());

  it("posts on the MR in the MR's project, not in the fork that runs the pipeline", async () => {
    const { log } = capture();
    const api = createGitlabApi({ apiUrl: `${world.gitlab.url}/api/v4`, token: API_TOKEN });
    // The fork (5555) runs the pipeline; the MR lives in acme/payments (1217): CI_MERGE_REQUEST_PROJECT_ID.
    const scope = mergeRequestScopeOf(
      { CI_MERGE_REQUEST_IID: '7', CI_MERGE_REQUEST_PROJECT_ID: '1217' },
      { project_id: '5555', project_path: 'dev/payments-fork', sha: DEFAULT_SHA },
    );
    const result = await publishReport({ api, state: state({ pipelineId: '2101' }), projectId: scope.pipelineProjectId, mergeRequest: scope.noteTarget, commitSha: DEFAULT_SHA, required: true, log });
    assert.equal(result.kind, 'note-created');
    assert.equal(world.gitlab.notes('1217', 7).filter((n) => n.body.startsWith(noteMarker('2101', 'deploy-prod'))).length, 1);
    assert.ok(!world.gitlab.calls.some((c) => c.path.includes('/projects/5555/')));
  });
});
