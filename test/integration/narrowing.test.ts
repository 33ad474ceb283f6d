/**
 * The narrowing guard through the built bundle: a branch pipeline whose
 * access file widens the default branch's is refused with the list, one that
 * narrows is allowed (and the request note shows the difference), a ref the
 * default branch's allowWideningFrom names may widen, and without an API
 * token the guard fails closed. The default branch's file lives in the
 * GitLab API emulator, as the repository does on GitLab.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_BOT, DEFAULT_PROJECT, DEFAULT_SHA, DEFAULT_USERS, type EmbeddedDefault, startEmbeddedDefault } from '../emulators/index.ts';
import { runCli } from '../helpers/cli.ts';

const ROLE = 'arn:aws:iam::123456789012:role/ci-branches';
const API_TOKEN = 'glpat-narrowing-test-0001';

/** The default branch's file; `ISSUER` is replaced by the emulated instance. */
const MAIN_FILE = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: payments-api
spec:
  gitlab:
    url: ISSUER
    allowWideningFrom: {refs: ["sandbox/*"]}
  components:
    - name: deploy
      type: gitlab-job
      traits:
        - type: aws-sts
          properties:
            roleArn: ${ROLE}
            durationSeconds: 1800
  policies:
    - name: branches
      type: gitlab-conditions
      properties:
        refs: ["main", "feature/*", "sandbox/*"]
`;

describe('narrowing guard through the bundle', () => {
  let world: EmbeddedDefault;
  let mainFile: string;
  let pipeline = 5000;

  before(async () => {
    // The repository as the emulator serves it; the default branch's file names the issuer, known once it runs.
    const onMain: Record<string, string> = {};
    world = await startEmbeddedDefault({
      extraRoles: (issuerUrl) => [
        { arn: ROLE, trust: { issuerUrl, audience: 'sts.amazonaws.com', subPatterns: [`project_path:${DEFAULT_PROJECT.path}:ref_type:branch:ref:*`] } },
      ],
      gitlab: {
        users: DEFAULT_USERS.map((u) => ({ ...u })),
        botUser: { ...DEFAULT_BOT },
        projects: [{ ...DEFAULT_PROJECT, members: { [DEFAULT_BOT.id]: 40, 42: 30 }, files: { main: onMain } }],
        mergeRequests: [{ projectId: DEFAULT_PROJECT.id, iid: 7, authorUsername: 'dev', commits: [{ sha: DEFAULT_SHA, authorEmail: 'dev@example.com' }] }],
      },
    });
    mainFile = MAIN_FILE.replace('ISSUER', world.issuer.url);
    onMain['.gitlab/oam.yaml'] = mainFile;
  });
  after(() => world.close());

  /** A checkout of a branch whose access file is `text`. */
  function checkout(text: string): string {
    const dir = mkdtempSync(join(tmpdir(), 'oam-narrow-'));
    mkdirSync(join(dir, '.gitlab'));
    writeFileSync(join(dir, '.gitlab/oam.yaml'), text);
    return dir;
  }

  const claimsOn = (ref: string) => ({ ref, ref_type: 'branch', ref_protected: 'false', sha: DEFAULT_SHA });

  async function request(dir: string, ref: string, extra: Record<string, string | undefined> = {}) {
    const id = String(++pipeline);
    const evidence = await world.issuer.mint({ ...claimsOn(ref), pipeline_id: id, job_id: '800' }, { aud: 'oam-grant', ttlSeconds: 3600 });
    const result = await runCli(['request', '--component', 'deploy'], {
      cwd: dir,
      env: {
        CI_SERVER_URL: world.issuer.url,
        CI_PROJECT_ID: DEFAULT_PROJECT.id,
        CI_PIPELINE_ID: id,
        CI_JOB_ID: '800',
        CI_COMMIT_SHA: DEFAULT_SHA,
        CI_MERGE_REQUEST_IID: '7',
        OAM_GITLAB_TOKEN: API_TOKEN,
        OAM_EVIDENCE_TOKEN: evidence,
        ...extra,
      },
    });
    const note = world.gitlab.notes(DEFAULT_PROJECT.id, 7).find((n) => n.body.startsWith(`<!-- oam-grant:v1 pipeline=${id} `));
    return { ...result, note: note?.body };
  }

  it('refuses a branch whose file widens a ref list, naming each widening with old -> new and its position', async () => {
    const dir = checkout(mainFile.replace('refs: ["main", "feature/*", "sandbox/*"]', 'refs: ["main", "feature/*", "sandbox/*", "**"]').replace('durationSeconds: 1800', 'durationSeconds: 3600'));
    const r = await request(dir, 'feature/x');
    assert.equal(r.status, 3, r.stderr);
        assert.match(r.stderr, /main's file on branch "feature\/x": component deploy: aws-sts durationSeconds: 1800 -> 3600 \(\.gitlab\/oam\.yaml:16:30\); component deploy: policy "branches" refs: \["main","feature\/\*","sandbox\/\*"\] -> \["main","feature\/\*","sandbox\/\*","\*\*"\] \(\.gitlab\/oam\.yaml:21:15\)/);
    assert.match(r.stderr, /hint: narrow the branch's file, or merge the change to main/);
    assert.ok(!existsSync(join(dir, '.oam-grant/request.json')), 'no evidence for a refused request');
    assert.ok(world.gitlab.calls.some((c) => c.path === '/api/v4/projects/1217/repository/files/.gitlab%2Foam.yaml/raw' && c.query.ref === 'main'));
    assert.match(r.note ?? '', /denied at request/);
  });

  it('allows a narrowing branch and shows the difference in the request note', async () => {
    const dir = checkout(mainFile.replace('durationSeconds: 1800', 'durationSeconds: 900').replace('refs: ["main", "feature/*", "sandbox/*"]', 'refs: ["feature/*"]'));
    const r = await request(dir, 'feature/x');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /\.gitlab\/oam\.yaml narrows or equals main's file \(2 changes\)/);
    assert.match(r.note ?? '', /\*\*Access differs from main's file\*\* \(0 wider, 2 narrower or neutral\)/);
    assert.match(r.note ?? '', /\| narrower \| duration \| aws\\-sts durationSeconds \| 1800 \| 900 \|/);
    assert.match(r.note ?? '', /\| narrower \| conditions \| policy &quot;branches&quot; refs \|/);
  });

  it('grants on a narrowing branch', async () => {
    const dir = checkout(mainFile.replace('durationSeconds: 1800', 'durationSeconds: 900'));
    const token = await world.issuer.mint({ ...claimsOn('feature/x'), pipeline_id: String(++pipeline), job_id: '1000' });
    const r = await runCli(['grant', '--component', 'deploy'], {
      cwd: dir,
      env: { CI_SERVER_URL: world.issuer.url, OAM_ID_TOKEN: token, OAM_GITLAB_TOKEN: API_TOKEN, AWS_ENDPOINT_URL_STS: world.sts.url },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(join(dir, 'oam-grant.env')));
  });

  it('refuses a widening grant before anything is exchanged', async () => {
    const dir = checkout(mainFile.replace('durationSeconds: 1800', 'durationSeconds: 3600'));
    const before = world.sts.calls.length;
    const token = await world.issuer.mint({ ...claimsOn('feature/x'), pipeline_id: String(++pipeline), job_id: '1000' });
    const r = await runCli(['grant', '--component', 'deploy'], {
      cwd: dir,
      env: { CI_SERVER_URL: world.issuer.url, OAM_ID_TOKEN: token, OAM_GITLAB_TOKEN: API_TOKEN, AWS_ENDPOINT_URL_STS: world.sts.url },
    });
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /component deploy: aws-sts durationSeconds: 1800 -> 3600/);
    assert.equal(world.sts.calls.length, before);
    assert.ok(!existsSync(join(dir, 'oam-grant.env')));
  });

  it("lets a ref the default branch's allowWideningFrom names widen, and says so in the log and the note", async () => {
    const dir = checkout(mainFile.replace('durationSeconds: 1800', 'durationSeconds: 3600'));
    const r = await request(dir, 'sandbox/try');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /warning: \.gitlab\/oam\.yaml widens main's file; allowed on this ref by the default branch's spec\.gitlab\.allowWideningFrom "sandbox\/\*"/);
    assert.match(r.note ?? '', /1 wider, 0 narrower or neutral\) — wider, allowed on this ref by main's allowWideningFrom `sandbox\/\*`/);
    assert.match(r.note ?? '', /\| ⚠️ wider \| duration \| aws\\-sts durationSeconds \| 1800 \| 3600 \|/);
  });

  it('compares nothing on the default branch', async () => {
    const dir = checkout(mainFile.replace('durationSeconds: 1800', 'durationSeconds: 3600'));
    const r = await request(dir, 'main');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /on the default branch main: the access file is the reviewed one/);
    assert.doesNotMatch(r.note ?? '', /Access differs/);
  });

  it('plan shows the comparison, and exits 3 where grant would refuse', async () => {
    const plan = async (text: string) => {
      const token = await world.issuer.mint({ ...claimsOn('feature/x'), pipeline_id: String(++pipeline), job_id: '1000' });
      return runCli(['plan', '--component', 'deploy'], { cwd: checkout(text), env: { CI_SERVER_URL: world.issuer.url, OAM_ID_TOKEN: token, OAM_GITLAB_TOKEN: API_TOKEN } });
    };
    const wider = await plan(mainFile.replace('durationSeconds: 1800', 'durationSeconds: 3600'));
    assert.equal(wider.status, 3, wider.stderr);
    assert.match(wider.stdout, /narrowing\n {2}FAIL {2}ERR_POLICY_DENIED: .*aws-sts durationSeconds: 1800 -> 3600/);
    assert.match(wider.stdout, /outcome {5}DENIED/);
    const narrower = await plan(mainFile.replace('durationSeconds: 1800', 'durationSeconds: 900'));
    assert.equal(narrower.status, 0, narrower.stderr);
    assert.match(narrower.stdout, /narrowing\n {2}pass {2}narrower than main's file\n {8}narrower aws-sts durationSeconds: 1800 -> 900/);
  });

  it('fails closed without an API token on an unprotected ref, with a hint', async () => {
    const r = await request(checkout(mainFile), 'feature/x', { OAM_GITLAB_TOKEN: undefined });
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /error\[ERR_POLICY_DENIED\]: cannot compare \.gitlab\/oam\.yaml with the default branch's on unprotected branch "feature\/x": OAM_GITLAB_TOKEN is not set/);
    assert.match(r.stderr, /hint: give the job an API token that can read the repository \(OAM_GITLAB_TOKEN, scope read_api\)/);
  });

  it('refuses an access file the default branch does not have', async () => {
    const dir = checkout(mainFile);
    writeFileSync(join(dir, 'mine.yaml'), mainFile);
    const r = await request(dir, 'feature/x', { OAM_FILE: 'mine.yaml' });
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /error\[ERR_POLICY_DENIED\]: mine\.yaml does not exist on the default branch main: a branch cannot bring its own access file/);
  });
});
