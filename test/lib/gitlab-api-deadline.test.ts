/**
 * gitbeaker's queryTimeout is one AbortSignal.timeout per call, handed to
 * fetch and so covering the body as well as the headers (read in
 * @gitbeaker/core's RequestHelper and @gitbeaker/rest's request handler).
 * Checked here against a GitLab that drips its answer one byte at a time:
 * each attempt ends at the deadline, the retries end, and the call fails as
 * a transient GitlabApiError, the error path callers already handle.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createGitlabApi, GitlabApiError } from '../../src/lib/gitlab-api.ts';
import { type DripServer, startDripServer, within } from '../helpers/drip-server.ts';

describe('GitLab API deadline against a dripping GitLab', () => {
  let drip: DripServer;
  before(async () => {
    drip = await startDripServer({ intervalMs: 100 });
  });
  after(() => drip.close());

  it('ends every attempt at queryTimeout and fails as a transient API error', async () => {
    const api = createGitlabApi({ apiUrl: `${drip.url}/api/v4`, token: 'glpat-deadline-test', timeoutMs: 300, attempts: 3, sleep: async () => {} });
    const before = drip.requests();
    const started = Date.now();
    await assert.rejects(within(5_000, api.listMergeRequestNotes('1217', '7')), (error: unknown) => {
      assert.ok(error instanceof GitlabApiError, String(error));
      assert.equal(error.transient, true);
      assert.equal(error.message, 'GitLab API list merge request notes: TimeoutError');
      return true;
    });
    const elapsed = Date.now() - started;
    assert.equal(drip.requests() - before, 3);
    assert.ok(elapsed >= 880 && elapsed < 4_000, `${elapsed} ms`);
  });
});
