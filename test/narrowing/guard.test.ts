/**
 * checkNarrowing: when it compares, what it refuses and how it says so, and
 * that it fails closed. The API is a stub here; the bundle tests use the emulator.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { credentialTraitsOf } from '../../src/access-file/lookup.ts';
import { parseAccessFile } from '../../src/access-file/load.ts';
import type { ComponentTarget } from '../../src/access-file/model.ts';
import { OamError } from '../../src/errors.ts';
import { type GitlabApi, GitlabApiError } from '../../src/lib/gitlab-api.ts';
import { checkNarrowing, repositoryPathOf } from '../../src/narrowing/guard.ts';
import { toGitlabClaims } from '../../src/token/claims.ts';

const MAIN_FILE = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: payments-api
spec:
  gitlab:
    url: https://gitlab.example.com
  components:
    - name: deploy
      type: gitlab-job
      traits:
        - type: aws-sts
          properties: {roleArn: "arn:aws:iam::123456789012:role/ci-deploy"}
  policies:
    - name: refs
      type: gitlab-conditions
      properties:
        refs: ["main", "sandbox/*"]
`;

const WIDER = MAIN_FILE.replace('refs: ["main", "sandbox/*"]', 'refs: ["main", "sandbox/*", "feature/*"]');
const NARROWER = MAIN_FILE.replace('refs: ["main", "sandbox/*"]', 'refs: ["sandbox/*"]');
const ALLOWING = MAIN_FILE.replace('    url: https://gitlab.example.com\n', '    url: https://gitlab.example.com\n    allowWideningFrom: {refs: ["sandbox/*"]}\n');

function target(text: string): ComponentTarget {
  const file = parseAccessFile(text, '.gitlab/oam.yaml');
  const component = file.components[0]!;
  return { file, component, traits: credentialTraitsOf(component) };
}

function claimsOn(ref: string, extra: Record<string, unknown> = {}) {
  return toGitlabClaims({ iss: 'https://gitlab.example.com', sub: 's', aud: 'x', iat: 1, exp: 2, project_id: '1217', ref, ref_type: 'branch', ...extra });
}

function api(answer: () => Promise<{ defaultBranch: string; content: string | undefined }>, asked: string[][] = []): GitlabApi {
  return {
    getDefaultBranchFile: (projectId: string, path: string) => {
      asked.push([projectId, path]);
      return answer();
    },
  } as unknown as GitlabApi;
}

const onMain = (content: string = MAIN_FILE) => api(async () => ({ defaultBranch: 'main', content }));
const noFileOnMain = () => api(async () => ({ defaultBranch: 'main', content: undefined }));

async function refusal(promise: Promise<unknown>): Promise<OamError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof OamError, String(error));
    return error;
  }
  assert.fail('expected a refusal');
}

describe('checkNarrowing', () => {
  it('refuses a widening, naming component, field, old -> new and the position in the branch file', async () => {
    const error = await refusal(checkNarrowing(target(WIDER), claimsOn('feature/x'), onMain()));
    assert.equal(error.code, 'ERR_POLICY_DENIED');
    assert.equal(error.exitCode, 3);
    assert.equal(
      error.message,
      `.gitlab/oam.yaml widens the access of main's file on branch "feature/x": component deploy: policy "refs" refs: ["main","sandbox/*"] -> ["main","sandbox/*","feature/*"] (.gitlab/oam.yaml:18:15)`,
    );
    assert.match(error.hint ?? '', /allowWideningFrom/);
  });

  it('points a removal at the default branch file', async () => {
    const removed = MAIN_FILE.replace(/ {2}policies:[\s\S]*$/, '');
    const error = await refusal(checkNarrowing(target(removed), claimsOn('feature/x'), onMain()));
    assert.match(error.message, /component deploy: policy "refs": applies -> removed or no longer applies \(main:\.gitlab\/oam\.yaml:15:7 on the default branch\)/);
  });

  it('allows a narrowing and returns the changes', async () => {
    const result = await checkNarrowing(target(NARROWER), claimsOn('feature/x'), onMain());
    assert.deepEqual([result.onDefaultBranch, result.changes.map((c) => [c.subject, c.widens])], [false, [['policy "refs" refs', false]]]);
  });

  it("allows a widening on a ref the default branch's allowWideningFrom names, and says which pattern", async () => {
    const result = await checkNarrowing(target(WIDER), claimsOn('sandbox/try'), onMain(ALLOWING));
    assert.equal(result.allowedBy, 'sandbox/*');
    await refusal(checkNarrowing(target(WIDER), claimsOn('feature/x'), onMain(ALLOWING)));
  });

  it("ignores the branch's own allowWideningFrom", async () => {
    const selfAllowed = WIDER.replace('    url: https://gitlab.example.com\n', '    url: https://gitlab.example.com\n    allowWideningFrom: {refs: ["**"]}\n');
    await refusal(checkNarrowing(target(selfAllowed), claimsOn('feature/x'), onMain()));
  });

  it('compares nothing on the default branch, decided by the signed ref and ref_type and the API', async () => {
    const result = await checkNarrowing(target(WIDER), claimsOn('main'), onMain());
    assert.deepEqual([result.onDefaultBranch, result.changes], [true, []]);
    // A tag named like the default branch is not on it.
    await refusal(checkNarrowing(target(WIDER), claimsOn('main', { ref_type: 'tag' }), onMain()));
    // CI_DEFAULT_BRANCH plays no part: the API names trunk.
    await refusal(checkNarrowing(target(WIDER), claimsOn('main'), api(async () => ({ defaultBranch: 'trunk', content: MAIN_FILE }))));
  });

  it("compares the file in a merge request pipeline whose source branch is named like the default branch, and in a fork's pipeline run in the parent", async () => {
    // ref is the MR's source branch: a fork's (or any branch's) "main" is not the reviewed file.
    const inMr = await refusal(checkNarrowing(target(WIDER), claimsOn('main', { pipeline_source: 'merge_request_event' }), onMain()));
    assert.match(inMr.message, /widens the access of main's file on branch "main"/);
    await refusal(checkNarrowing(target(WIDER), claimsOn('main', { project_id: '5555', job_project_id: '1217', pipeline_source: 'push' }), onMain()));
    // The same claims on the default branch of the job's own project, pushed: nothing to compare.
    assert.equal((await checkNarrowing(target(WIDER), claimsOn('main', { pipeline_source: 'push', job_project_id: '1217' }), onMain())).onDefaultBranch, true);
  });

  it('asks for the job project (job_project_id before project_id) and the path in the checkout', async () => {
    const asked: string[][] = [];
    await checkNarrowing(target(MAIN_FILE), claimsOn('feature/x', { job_project_id: '99' }), api(async () => ({ defaultBranch: 'main', content: MAIN_FILE }), asked));
    assert.deepEqual(asked, [['99', '.gitlab/oam.yaml']]);
  });

  it('goes on without an API token on a protected ref, saying it compared nothing', async () => {
    const result = await checkNarrowing(target(MAIN_FILE), claimsOn('release/1', { ref_protected: 'true' }), undefined);
    assert.deepEqual(result.changes, []);
    assert.match(result.skipped ?? '', /^OAM_GITLAB_TOKEN is not set: \.gitlab\/oam\.yaml was not compared with the default branch's on protected branch "release\/1"$/);
  });

  it('fails closed: no API token, an API error, no file on the default branch, an invalid one there', async () => {
    const noToken = await refusal(checkNarrowing(target(MAIN_FILE), claimsOn('feature/x'), undefined));
    assert.equal(noToken.code, 'ERR_POLICY_DENIED');
    assert.match(noToken.message, /on unprotected branch "feature\/x": OAM_GITLAB_TOKEN is not set/);
    // Only a signed "true" counts as protected.
    for (const notProtected of ['false', 'TRUE', undefined]) {
      await refusal(checkNarrowing(target(MAIN_FILE), claimsOn('feature/x', { ref_protected: notProtected }), undefined));
    }
    assert.match(noToken.hint ?? '', /OAM_GITLAB_TOKEN, scope read_api/);

    const forbidden = await refusal(checkNarrowing(target(MAIN_FILE), claimsOn('feature/x'), api(async () => Promise.reject(new GitlabApiError('GitLab API project: HTTP 403', 403, false)))));
    assert.deepEqual([forbidden.code, forbidden.exitCode], ['ERR_POLICY_DENIED', 3]);
    assert.match(forbidden.message, /cannot read \.gitlab\/oam\.yaml on the default branch of project 1217: GitLab API project: HTTP 403/);
    const down = await refusal(checkNarrowing(target(MAIN_FILE), claimsOn('feature/x'), api(async () => Promise.reject(new GitlabApiError('GitLab API project: HTTP 503', 503, true)))));
    assert.deepEqual([down.code, down.exitCode], ['ERR_POLICY_DENIED', 1]);

    const missing = await refusal(checkNarrowing(target(MAIN_FILE), claimsOn('feature/x'), noFileOnMain()));
    assert.match(missing.message, /does not exist on the default branch main: a branch cannot bring its own access file/);

    const invalid = await refusal(checkNarrowing(target(MAIN_FILE), claimsOn('feature/x'), onMain('kind: nonsense\n')));
    assert.equal(invalid.code, 'ERR_METADATA_INVALID');
    assert.match(invalid.message, /^main:\.gitlab\/oam\.yaml:/);
  });
});

describe('repositoryPathOf', () => {
  it('is the path relative to the checkout, with forward slashes; outside it is a usage error', () => {
    assert.equal(repositoryPathOf('./.gitlab/oam.yaml', '/builds/acme'), '.gitlab/oam.yaml');
    assert.equal(repositoryPathOf('/builds/acme/config/oam.yaml', '/builds/acme'), 'config/oam.yaml');
    assert.throws(() => repositoryPathOf('../elsewhere.yaml', '/builds/acme'), /lies outside the job's checkout/);
  });
});
