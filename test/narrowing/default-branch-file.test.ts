/**
 * The default branch's access file through the product's client against the
 * emulator, and the emulator against GitLab's rules (lib/api/files.rb:
 * file_path one URL segment, optional ref, read_code, 404 Commit/File Not
 * Found; basic_project_details.rb: default_branch only to who may read code).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createGitlabApi, GitlabApiError } from '../../src/lib/gitlab-api.ts';
import { type GitlabApi as Emulator, startGitlabApi } from '../emulators/index.ts';

const FILE = 'apiVersion: core.oam.dev/v1beta1\n# on trunk\n';

describe('the default branch file', () => {
  let emulator: Emulator;
  before(async () => {
    emulator = await startGitlabApi({
      tokenOwners: { 'glpat-guest': 50, 'glpat-stranger': 51 },
      users: [
        { id: 50, username: 'guest' },
        { id: 51, username: 'stranger' },
      ],
      projects: [
        {
          id: '1217',
          path: 'acme/payments',
          defaultBranch: 'trunk',
          members: { 9001: 40, 50: 10 },
          files: { trunk: { '.gitlab/oam.yaml': FILE }, 'feature/x': { '.gitlab/oam.yaml': 'other' } },
        },
      ],
    });
  });
  after(() => emulator.close());
  const client = (token = 'glpat-bot') => createGitlabApi({ apiUrl: `${emulator.url}/api/v4`, token, attempts: 1, sleep: async () => {} });
  const raw = (path: string, token = 'glpat-bot') => fetch(`${emulator.url}/api/v4${path}`, { headers: { 'private-token': token } });

  it('reads default_branch, then the file on it, with the path as one encoded segment', async () => {
    const found = await client().getDefaultBranchFile('1217', '.gitlab/oam.yaml');
    assert.deepEqual(found, { defaultBranch: 'trunk', content: FILE });
    const calls = emulator.calls.slice(-2).map((c) => [c.path, c.query]);
    assert.deepEqual(calls, [
      ['/api/v4/projects/1217', {}],
      ['/api/v4/projects/1217/repository/files/.gitlab%2Foam.yaml/raw', { ref: 'trunk' }],
    ]);
  });

  it('answers no content when the default branch has no such file', async () => {
    assert.deepEqual(await client().getDefaultBranchFile('1217', 'elsewhere.yaml'), { defaultBranch: 'trunk', content: undefined });
  });

  it('fails without default_branch (a Guest may not read the code) and for an unknown project', async () => {
    await assert.rejects(client('glpat-guest').getDefaultBranchFile('1217', '.gitlab/oam.yaml'), (e: unknown) => e instanceof GitlabApiError && /no default_branch/.test(e.message));
    await assert.rejects(client().getDefaultBranchFile('4242', '.gitlab/oam.yaml'), (e: unknown) => e instanceof GitlabApiError && e.status === 404);
  });

  it('emulates GitLab: text/plain, ref optional, 404 Commit or File Not Found, 403 without read_code, slash must be encoded', async () => {
    const ok = await raw('/projects/acme%2Fpayments/repository/files/.gitlab%2Foam.yaml/raw?ref=feature%2Fx');
    assert.deepEqual([ok.status, ok.headers.get('content-type'), await ok.text()], [200, 'text/plain; charset=utf-8', 'other']);
    assert.equal(await (await raw('/projects/1217/repository/files/.gitlab%2Foam.yaml/raw')).text(), FILE, 'no ref: the default branch');
    const bodyOf = async (r: Response) => [r.status, await r.json()];
    assert.deepEqual(await bodyOf(await raw('/projects/1217/repository/files/.gitlab%2Foam.yaml/raw?ref=nope')), [404, { message: '404 Commit Not Found' }]);
    assert.deepEqual(await bodyOf(await raw('/projects/1217/repository/files/x.yaml/raw?ref=trunk')), [404, { message: '404 File Not Found' }]);
    assert.deepEqual(await bodyOf(await raw('/projects/1217/repository/files/.gitlab/oam.yaml/raw')), [404, { message: '404 Not found' }]);
    assert.deepEqual(await bodyOf(await raw('/projects/1217/repository/files/.gitlab%2Foam.yaml/raw', 'glpat-guest')), [403, { message: '403 Forbidden' }]);
    assert.deepEqual(await bodyOf(await raw('/projects/1217/repository/files/.gitlab%2Foam.yaml/raw', 'glpat-stranger')), [404, { message: '404 Project Not Found' }]);
    const project = (await (await raw('/projects/1217')).json()) as Record<string, unknown>;
    assert.equal(project.default_branch, 'trunk');
    const asGuest = (await (await raw('/projects/1217', 'glpat-guest')).json()) as Record<string, unknown>;
    assert.equal('default_branch' in asGuest, false);
  });
});
