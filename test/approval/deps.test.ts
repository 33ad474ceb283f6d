/**
 * What request, approve and grant take from their Deps: one GitLab API client
 * per run and instance (the token goes only to the access file's instance),
 * the merge request scope from signed claims, and where reports go. The
 * client talks to the loopback GitLab API emulator.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { GitlabInstance } from '../../src/access-file/model.ts';
import { gitlabApiOf, reportContextOf, scopeOf } from '../../src/approval/deps.ts';
import { createGitlabApi } from '../../src/lib/gitlab-api.ts';
import { type GitlabApi as GitlabEmulator, startGitlabApi } from '../emulators/index.ts';
import { claims, commandDeps } from './fixtures.ts';

const instance = (url: string): GitlabInstance => ({ url, issuer: url, apiUrl: `${url}/api/v4`, stated: true });

describe('gitlabApiOf', () => {
  let gitlab: GitlabEmulator;
  before(async () => {
    gitlab = await startGitlabApi();
  });
  after(() => gitlab.close());

  it('uses the injected client as it is', () => {
    const injected = createGitlabApi({ apiUrl: `${gitlab.url}/api/v4`, token: 'glpat-injected' });
    assert.equal(gitlabApiOf(commandDeps({ gitlab: injected, env: { OAM_GITLAB_TOKEN: 'glpat-other' } }), instance('https://gitlab.example.com')), injected);
  });

  it('has no client without OAM_GITLAB_TOKEN (API checks then fail closed)', () => {
    const deps = commandDeps({ env: { OAM_GITLAB_TOKEN: ' ' } });
    assert.equal(gitlabApiOf(deps, instance(gitlab.url)), undefined);
    assert.equal(gitlabApiOf(deps, instance(gitlab.url)), undefined);
  });

  it('builds one client per run and instance, and sends the token only to that instance', async () => {
    const deps = commandDeps({ env: { OAM_GITLAB_TOKEN: 'glpat-secret' } });
    const api = gitlabApiOf(deps, instance(gitlab.url));
    assert.ok(api);
    assert.equal(gitlabApiOf(deps, instance(gitlab.url)), api, 'the same client, with its caches, for every step of the job');
    const other = gitlabApiOf(deps, instance('http://127.0.0.1:1'));
    assert.ok(other);
    assert.notEqual(other, api);
    assert.equal(gitlabApiOf(deps, instance(gitlab.url)), api, 'a second instance does not replace the first');
    assert.notEqual(gitlabApiOf(commandDeps({ env: { OAM_GITLAB_TOKEN: 'glpat-secret' } }), instance(gitlab.url)), api, 'another run, another client');
    await api.currentUser();
    assert.deepEqual(gitlab.calls.map((c) => [c.path, c.headers['private-token'] ?? c.headers.authorization]), [['/api/v4/user', 'glpat-secret']]);
  });

  it("retries a transient failure with the run's sleep, and says so in the log", async () => {
    const slept: number[] = [];
    const deps = commandDeps({ env: { OAM_GITLAB_TOKEN: 'glpat-secret' }, sleep: async (ms) => void slept.push(ms) });
    gitlab.injectFaults({ status: 503, times: 1 });
    const user = await gitlabApiOf(deps, instance(gitlab.url))?.currentUser();
    assert.ok(user?.username);
    assert.equal(slept.length, 1);
    assert.deepEqual(deps.logged, [`warning: GitLab API: transient failure, retry 1 in ${slept[0]} ms\n`]);
  });
});

describe('scopeOf and reportContextOf', () => {
  it("takes the project and commit from the job's signed claims, the merge request from GitLab's variables", () => {
    const deps = commandDeps({ env: { CI_MERGE_REQUEST_IID: '7', CI_PROJECT_ID: '999', CI_COMMIT_SHA: 'f'.repeat(40) } });
    const scope = scopeOf(deps, claims({ job_project_id: '555' }));
    assert.deepEqual(scope, {
      pipelineProjectId: '1217',
      jobProjectId: '555',
      commitSha: 'a'.repeat(40),
      noteTarget: { projectId: '1217', iid: '7' },
      known: [{ projectId: '1217', iid: '7' }],
      mergeRequestPipeline: false,
    });
    assert.equal(scopeOf(deps, claims()).jobProjectId, '1217');
  });

  it('posts to the scope and writes to --out-dir', () => {
    const now = () => new Date(0);
    const deps = commandDeps({ outDir: '.oam-grant/deploy', now });
    const scope = scopeOf(deps, claims());
    assert.deepEqual(reportContextOf(deps, undefined, scope), {
      api: undefined,
      projectId: '1217',
      mergeRequest: undefined,
      commitSha: 'a'.repeat(40),
      outDir: '.oam-grant/deploy',
      log: deps.log,
      now,
    });
  });
});
