import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mergeRequestScopeOf, openMergeRequestsOf } from '../../src/approval/merge-requests.ts';

const SHA = 'a'.repeat(40);
const own: { project_id: string; project_path: string; sha: string; job_project_id?: string } = { project_id: '1217', project_path: 'acme/payments', sha: SHA };

describe('mergeRequestScopeOf', () => {
  const cases: { name: string; env: Record<string, string>; claims?: typeof own; want: ReturnType<typeof mergeRequestScopeOf> }[] = [
    {
      name: 'an MR pipeline: its MR, in the pipeline project when CI_MERGE_REQUEST_PROJECT_ID is unset',
      env: { CI_MERGE_REQUEST_IID: '7' },
      want: { pipelineProjectId: '1217', jobProjectId: '1217', commitSha: SHA, noteTarget: { projectId: '1217', iid: '7' }, known: [{ projectId: '1217', iid: '7' }] },
    },
    {
      name: "a fork MR pipeline run in the parent: the MR's project, not the fork the token names; the commit is looked up where the job runs",
      env: { CI_MERGE_REQUEST_IID: '7', CI_MERGE_REQUEST_PROJECT_ID: '1217', CI_MERGE_REQUEST_PROJECT_PATH: 'acme/payments', CI_OPEN_MERGE_REQUESTS: 'acme/payments!7' },
      claims: { project_id: '5555', job_project_id: '1217', project_path: 'dev/payments', sha: SHA },
      want: { pipelineProjectId: '5555', jobProjectId: '1217', commitSha: SHA, noteTarget: { projectId: '1217', iid: '7' }, known: [{ projectId: '1217', iid: '7' }] },
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
      },
    },
    {
      name: 'a protected-branch pipeline after the merge: nothing known, the commit look-up',
      env: { CI_PROJECT_ID: '9', CI_COMMIT_SHA: 'b'.repeat(40) },
      want: { pipelineProjectId: '1217', jobProjectId: '1217', commitSha: SHA, noteTarget: undefined, known: [] },
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
  it('parses CI_OPEN_MERGE_REQUESTS strictly', () => {
    assert.deepEqual(openMergeRequestsOf('acme/payments!7,acme/payments!x,!3,acme/payments!12', 'acme/payments'), ['7', '12']);
    assert.deepEqual(openMergeRequestsOf(undefined, 'acme/payments'), []);
  });
});
