import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mergeRequestScopeOf, openMergeRequestsOf } from '../../src/approval/merge-requests.ts';

const SHA = 'a'.repeat(40);
const own: { project_id: string; project_path: string; sha: string; job_project_id?: string; pipeline_source?: string } = { project_id: '1217', project_path: 'acme/payments', sha: SHA };

describe('mergeRequestScopeOf', () => {
  const cases: { name: string; env: Record<string, string>; claims?: typeof own; want: ReturnType<typeof mergeRequestScopeOf> }[] = [
    {
      name: 'an MR pipeline: its MR, in the pipeline project when CI_MERGE_REQUEST_PROJECT_ID is unset',
      env: { CI_MERGE_REQUEST_IID: '7' },
      claims: { ...own, pipeline_source: 'merge_request_event' },
      want: { pipelineProjectId: '1217', jobProjectId: '1217', commitSha: SHA, noteTarget: { projectId: '1217', iid: '7' }, known: [{ projectId: '1217', iid: '7' }], mergeRequestPipeline: true },
    },
    {
      name: "a fork MR pipeline run in the parent: the MR's project, not the fork the token names; the commit is looked up where the job runs",
      env: { CI_MERGE_REQUEST_IID: '7', CI_MERGE_REQUEST_PROJECT_ID: '1217', CI_MERGE_REQUEST_PROJECT_PATH: 'acme/payments', CI_OPEN_MERGE_REQUESTS: 'acme/payments!7' },
      claims: { project_id: '5555', job_project_id: '1217', project_path: 'dev/payments', sha: SHA },
      want: { pipelineProjectId: '5555', jobProjectId: '1217', commitSha: SHA, noteTarget: { projectId: '1217', iid: '7' }, known: [{ projectId: '1217', iid: '7' }], mergeRequestPipeline: false },
    },
    {
      name: 'a branch pipeline: every open MR of this project, and the commit look-up',
      env: { CI_OPEN_MERGE_REQUESTS: 'acme/payments!3, other/x!4,acme/payments!5,acme/payments!3' },
      want: {
        pipelineProjectId: '1217',
        jobProjectId: '1217',
        commitSha: SHA,
        noteTarget: { projectId: '1217', iid: '3' },
        known: [
          { projectId: '1217', iid: '3' },
          { projectId: '1217', iid: '5' },
        ],
        mergeRequestPipeline: false,
      },
    },
    {
      name: 'a protected-branch pipeline after the merge: nothing known, the commit look-up',
      env: { CI_PROJECT_ID: '9', CI_COMMIT_SHA: 'b'.repeat(40) },
      want: { pipelineProjectId: '1217', jobProjectId: '1217', commitSha: SHA, noteTarget: undefined, known: [], mergeRequestPipeline: false },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(mergeRequestScopeOf(c.env, c.claims ?? own), c.want);
    });
  }
  it('falls back to the variables when the token lacks the claims', () => {
    const scope = mergeRequestScopeOf({ CI_PROJECT_ID: '9', CI_PROJECT_PATH: 'g/p', CI_COMMIT_SHA: SHA, CI_OPEN_MERGE_REQUESTS: 'g/p!2' }, {});
    assert.deepEqual(scope.known, [{ projectId: '9', iid: '2' }]);
    assert.equal(scope.commitSha, SHA);
  });
  it('treats a malformed CI_MERGE_REQUEST_IID as naming no MR', () => {
    const scope = mergeRequestScopeOf({ CI_MERGE_REQUEST_IID: '7; drop' }, own);
    assert.deepEqual(scope.known, []);
  });
  it('trims the variables, and takes an empty one as unset', () => {
    assert.deepEqual(mergeRequestScopeOf({ CI_MERGE_REQUEST_IID: ' 7 ', CI_MERGE_REQUEST_PROJECT_ID: '' }, own).known, [{ projectId: '1217', iid: '7' }]);
    const fromEnv = mergeRequestScopeOf({ CI_PROJECT_ID: ' 9 ', CI_PROJECT_PATH: ' g/p ', CI_COMMIT_SHA: '  ', CI_OPEN_MERGE_REQUESTS: 'g/p!2' }, {});
    assert.deepEqual(fromEnv, { pipelineProjectId: '9', jobProjectId: '9', commitSha: undefined, noteTarget: { projectId: '9', iid: '2' }, known: [{ projectId: '9', iid: '2' }], mergeRequestPipeline: false });
  });
  it('takes CI_MERGE_REQUEST_IID only as a number of 1 to 12 digits', () => {
    for (const iid of ['x7', '7x', '1234567890123', '-7']) assert.deepEqual(mergeRequestScopeOf({ CI_MERGE_REQUEST_IID: iid }, own).known, [], iid);
    assert.deepEqual(mergeRequestScopeOf({ CI_MERGE_REQUEST_IID: '123456789012' }, own).known, [{ projectId: '1217', iid: '123456789012' }]);
  });
  it('names no MR without a project to put it in', () => {
    const noProject = { project_path: 'acme/payments', sha: SHA };
    const env = { CI_MERGE_REQUEST_IID: '7', CI_OPEN_MERGE_REQUESTS: 'acme/payments!3,acme/other!4', CI_MERGE_REQUEST_PROJECT_PATH: 'acme/other' };
    assert.deepEqual(mergeRequestScopeOf(env, noProject), { pipelineProjectId: undefined, jobProjectId: undefined, commitSha: SHA, noteTarget: undefined, known: [], mergeRequestPipeline: false });
  });
  it('a fork MR pipeline run in the fork: the MR and its open siblings in the parent, the fork\'s own open MRs in the fork', () => {
    const env = {
      CI_MERGE_REQUEST_IID: '7',
      CI_MERGE_REQUEST_PROJECT_ID: '1217',
      CI_MERGE_REQUEST_PROJECT_PATH: 'acme/payments',
      CI_OPEN_MERGE_REQUESTS: 'acme/payments!7,acme/payments!9,dev/payments!7',
    };
    assert.deepEqual(mergeRequestScopeOf(env, { project_id: '5555', project_path: 'dev/payments', sha: SHA }).known, [
      { projectId: '1217', iid: '7' },
      { projectId: '5555', iid: '7' },
      { projectId: '1217', iid: '9' },
    ]);
  });
  it("an open MR of this project's path is this project's, whatever CI_MERGE_REQUEST_PROJECT_ID says", () => {
    const env = { CI_MERGE_REQUEST_PROJECT_ID: '9', CI_MERGE_REQUEST_PROJECT_PATH: 'acme/payments', CI_OPEN_MERGE_REQUESTS: 'acme/payments!3' };
    assert.deepEqual(mergeRequestScopeOf(env, own).known, [{ projectId: '1217', iid: '3' }]);
  });
  it('parses CI_OPEN_MERGE_REQUESTS strictly', () => {
    assert.deepEqual(openMergeRequestsOf(' acme/payments!5 , acme/payments!6', 'acme/payments'), ['5', '6']);
    assert.deepEqual(openMergeRequestsOf('acme/payments!7,acme/payments!x,!3,acme/payments!12', 'acme/payments'), ['7', '12']);
    assert.deepEqual(openMergeRequestsOf(undefined, 'acme/payments'), []);
  });
});
