/**
 * The components end to end, as a consumer uses them: a project includes
 * jit-access by `component:` at its commit SHA, gitlab-ci-local runs
 * request -> approve (pressed by another person) -> grant -> deploy with the
 * shell executor, the built bundle as `oam-grant`, and loopback emulators of
 * GitLab's issuer, the GitLab API and AWS STS. The deploy job uses the
 * dotenv credentials with the real AWS CLI.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_MR_IID, DEFAULT_PROJECT, DEFAULT_USERS, type EmbeddedDefault, startEmbeddedDefault } from '../emulators/index.ts';
import {
  createFixtureRepo,
  type FixtureRepo,
  type GclResult,
  installShim,
  jobLog,
  jobResults,
  listFiles,
  REPO_ROOT,
  runGcl,
} from './gitlab-ci-local.ts';
import { withInstance } from '../helpers/access-file.ts';
import { missingToolsReason } from '../helpers/tools.ts';

const BUNDLE = join(REPO_ROOT, 'dist', 'oam-grant.mjs');
const FIXTURE = join(REPO_ROOT, 'test', 'e2e-fixtures', 'consumer');
const PIPELINE_ID = '5001';
/** The `component` input of test/e2e-fixtures/consumer/.gitlab-ci.yml. */
const COMPONENT = 'deploy-prod';
const JOBS = { request: '2001', approve: '2002', grant: '2003' } as const;

/** The fixture project, its access file stating the loopback instance as a real one states its GitLab. */
function readFixture(instanceUrl: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const path of listFiles(FIXTURE)) {
    const text = readFileSync(join(FIXTURE, path), 'utf8');
    files[path] = path === '.gitlab/oam.yaml' ? withInstance(text, instanceUrl) : text;
  }
  return files;
}

interface Scenario {
  readonly repo: FixtureRepo;
  readonly result: GclResult;
  readonly results: Map<string, string>;
}

interface People {
  readonly requester: string;
  readonly approver: string;
}

/**
 * Runs the consumer's whole pipeline once, pressing Run on the approve job
 * (`--manual`), with one token per job as GitLab would mint them.
 */
async function runPipeline(world: EmbeddedDefault, claims: Record<string, string>, people: People): Promise<Scenario> {
  const repo = createFixtureRepo({ files: readFixture(world.issuer.url), userEmail: `${people.requester}@example.com` });
  installShim(repo, 'oam-grant', BUNDLE);
  const base = { ...claims, sha: repo.sha, pipeline_id: PIPELINE_ID, environment: 'production' };
  const mint = (job: keyof typeof JOBS, login: string, aud: string | string[]) => {
    const user = DEFAULT_USERS.find((u) => u.username === login);
    assert.ok(user, `no user ${login} in the GitLab emulator`);
    return world.issuer.mint({ ...base, job_id: JOBS[job], user_login: login, user_id: String(user.id), user_email: user.email }, { aud });
  };
  // Minted in the order GitLab would: the approver presses Run after the request.
  // The audiences the templates declare: oam-grant plus the component's own.
  const evidenceAudience = ['oam-grant', `oam-grant:component:${COMPONENT}`];
  const requestToken = await mint('request', people.requester, evidenceAudience);
  const approveToken = await mint('approve', people.approver, evidenceAudience);
  const grantToken = await mint('grant', people.requester, 'sts.amazonaws.com');
  const result = await runGcl(
    repo,
    ['--manual', 'oam:approve', '--shell-isolation', '--no-artifacts-to-source', '--force-shell-executor', '--ignore-predefined-vars', 'CI_SERVER_URL,CI_API_V4_URL,CI_MERGE_REQUEST_IID'],
    {
      variables: {
        CI_SERVER_URL: world.issuer.url,
        CI_API_V4_URL: `${world.issuer.url}/api/v4`,
        CI_MERGE_REQUEST_IID: String(DEFAULT_MR_IID),
        OAM_GITLAB_TOKEN: 'e2e-api-token',
        AWS_ENDPOINT_URL_STS: world.sts.url,
        E2E_STS_URL: world.sts.url,
        E2E_REQUEST_TOKEN: requestToken,
        E2E_APPROVE_TOKEN: approveToken,
        E2E_APPROVAL_REASON: 'OPS-42: ship the e2e release',
        E2E_GRANT_TOKEN: grantToken,
      },
      timeoutMs: 120_000,
    },
  );
  return { repo, result, results: jobResults(result.stdout) };
}

/** Every file under the repository, gitlab-ci-local's state included, that holds `needle`. */
function filesContaining(repo: FixtureRepo, needle: string): string[] {
  return listFiles(repo.dir).filter((path) => {
    const full = join(repo.dir, path);
    return statSync(full).size < 5_000_000 && readFileSync(full).includes(needle);
  });
}

function dotenvOf(repo: FixtureRepo): string | undefined {
  const path = join(repo.stateDir, 'artifacts', 'oamOggrant', '.gitlab-ci-reports', 'dotenv', 'oam-grant.env');
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}

/** The MR notes as a reader sees them: Markdown escapes and the zero-width spaces that break autolinks removed. */
function noteTexts(world: EmbeddedDefault): string[] {
  return world.gitlab.notes(DEFAULT_PROJECT.id, DEFAULT_MR_IID).map((n) => n.body.replace(/\u200b/g, '').replace(/\\(.)/g, '$1'));
}

/**
 * gitlab-ci-local needs rsync, and the deploy job runs Debian's AWS CLI; both
 * come from apt (`.ci/run` installs them). Without them these tests are skipped
 * with the install hint, or fail on CI (test/helpers/tools.ts).
 */
const skip = missingToolsReason('rsync', 'aws');

describe('jit-access end to end', { timeout: 180_000, skip }, () => {
  before(() => {
    assert.ok(existsSync(BUNDLE), 'dist/oam-grant.mjs is missing: run `npm run build` first');
  });

  describe('approved on protected main', () => {
    let world: EmbeddedDefault;
    let run: Scenario;

    before(async () => {
      world = await startEmbeddedDefault();
      run = await runPipeline(world, { ref: 'main', ref_type: 'branch', ref_protected: 'true' }, { requester: 'dev', approver: 'alice' });
    });
    after(async () => {
      run?.repo.cleanup();
      await world?.close();
    });

    it('runs request, approve, grant and deploy, in that order, all passing', () => {
      const failed = [...run.results].filter(([, status]) => status !== 'PASS');
      assert.deepEqual(failed, [], `${run.result.stdout}\n${run.result.stderr}`);
      assert.deepEqual([...run.results.keys()], ['oam:request', 'oam:approve', 'oam:grant', 'deploy']);
      assert.equal(run.result.code, 0);
    });

    it('hands evidence on through artifacts only (shell isolation)', () => {
      const artifacts = join(run.repo.stateDir, 'artifacts');
      // Each component's evidence in its own folder (the `component` input).
      assert.deepEqual(readdirSync(join(artifacts, 'oamOgrequest', '.oam-grant')), [COMPONENT]);
      assert.deepEqual(readdirSync(join(artifacts, 'oamOgrequest', '.oam-grant', COMPONENT)), ['request.json']);
      assert.deepEqual(readdirSync(join(artifacts, 'oamOgapprove', '.oam-grant', COMPONENT, 'approvals')), [`${JOBS.approve}.json`]);
      // (gitlab-ci-local exports no `reports: metrics`, only the paths and the dotenv report.)
      assert.deepEqual(readdirSync(join(artifacts, 'oamOggrant', '.oam-grant')), [COMPONENT]);
      assert.deepEqual(readdirSync(join(artifacts, 'oamOggrant', '.oam-grant', COMPONENT)), ['audit.json']);
      const audit: unknown = JSON.parse(readFileSync(join(artifacts, 'oamOggrant', '.oam-grant', COMPONENT, 'audit.json'), 'utf8'));
      assert.ok(typeof audit === 'object' && audit !== null);
      assert.match(JSON.stringify(audit), /alice/);
    });

    it('writes a dotenv report of plain KEY=value lines with the credentials STS issued', () => {
      const dotenv = dotenvOf(run.repo);
      assert.ok(dotenv !== undefined, 'no dotenv report');
      const lines = dotenv.endsWith('\n') ? dotenv.slice(0, -1).split('\n') : dotenv.split('\n');
      for (const line of lines) assert.match(line, /^[A-Za-z0-9_]+=[^\s"'#][^\n"'#]*$/, 'a dotenv line is not KEY=value');
      const keys = lines.map((l) => l.slice(0, l.indexOf('=')));
      assert.deepEqual(keys.sort(), ['AWS_ACCESS_KEY_ID', 'AWS_DEFAULT_REGION', 'AWS_REGION', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'OAM_GRANT_EXPIRES_AT']);
      assert.ok(Buffer.byteLength(dotenv) <= 5120);
      const issued = world.sts.issued;
      assert.equal(issued.length, 1);
      assert.ok(lines.includes(`AWS_ACCESS_KEY_ID=${issued[0]?.accessKeyId}`));
    });

    it('lets the deploy job call AWS with those credentials', () => {
      const caller: unknown = JSON.parse(readFileSync(join(run.repo.stateDir, 'artifacts', 'deploy', 'caller.json'), 'utf8'));
      assert.ok(typeof caller === 'object' && caller !== null && 'Arn' in caller);
      assert.match(String(caller.Arn), /^arn:aws:sts::123456789012:assumed-role\/ci-deploy\//);
    });

    it('keeps the secret key and session token out of logs and out of every file but the dotenv report', () => {
      const issued = world.sts.issued[0];
      assert.ok(issued);
      for (const secret of [issued.secretAccessKey, issued.sessionToken]) {
        assert.equal(run.result.stdout.includes(secret) || run.result.stderr.includes(secret), false, 'secret in the pipeline output');
        const holders = filesContaining(run.repo, secret);
        assert.ok(holders.includes('.gitlab-ci-local/artifacts/oamOggrant/.gitlab-ci-reports/dotenv/oam-grant.env'));
        // gitlab-ci-local also keeps the file in the grant job's workspace and the deploy job's imported reports.
        assert.deepEqual(
          holders.filter((path) => basename(path) !== 'oam-grant.env'),
          [],
          'a file other than the dotenv report holds the secret',
        );
      }
    });

    it('records the request, the approval by alice and the grant in one MR note', () => {
      const notes = noteTexts(world);
      assert.equal(notes.length, 1, 'one note per pipeline and component');
      const note = notes[0] ?? '';
      assert.match(note, /granted/i);
      assert.match(note, /alice/);
      assert.match(note, /deploy-prod/);
      assert.match(note, /ci-deploy/);
      assert.equal(note.includes(world.sts.issued[0]?.secretAccessKey ?? '\0'), false);
    });
  });

  describe('denied on an unprotected branch', () => {
    let world: EmbeddedDefault;
    let run: Scenario;

    before(async () => {
      world = await startEmbeddedDefault();
      run = await runPipeline(
        world,
        { ref: 'feature/x', ref_type: 'branch', ref_protected: 'false' },
        { requester: 'dev', approver: 'alice' },
      );
    });
    after(async () => {
      run?.repo.cleanup();
      await world?.close();
    });

    it('fails the request job with ERR_POLICY_DENIED, and nothing after it runs', () => {
      assert.equal(run.result.code, 1);
      assert.equal(run.results.get('oam:request'), 'FAIL');
      assert.equal(run.results.get('oam:grant'), undefined);
      assert.equal(run.results.get('deploy'), undefined);
      assert.equal(jobLog(run.repo, 'deploy'), undefined, 'the deploy job ran');
      assert.equal(jobLog(run.repo, 'oam:grant'), undefined, 'the grant job ran');
      assert.match(jobLog(run.repo, 'oam:request') ?? '', /error\[ERR_POLICY_DENIED\]: .*protected-main-only/);
    });

    it('exchanges nothing and leaves no credentials anywhere', () => {
      assert.deepEqual(world.sts.issued, []);
      assert.equal(dotenvOf(run.repo), undefined);
      assert.deepEqual(filesContaining(run.repo, 'AWS_SECRET_ACCESS_KEY'), []);
      assert.deepEqual(filesContaining(run.repo, 'AWS_SESSION_TOKEN'), []);
    });

    it('says so in the MR note', () => {
      const notes = noteTexts(world);
      assert.equal(notes.length, 1);
      assert.match(notes[0] ?? '', /denied/i);
      assert.match(notes[0] ?? '', /ERR_POLICY_DENIED/);
      assert.match(notes[0] ?? '', /protected-main-only/);
    });
  });
  describe('refused when the requester presses Run on the approve job', () => {
    let world: EmbeddedDefault;
    let run: Scenario;

    before(async () => {
      world = await startEmbeddedDefault();
      run = await runPipeline(world, { ref: 'main', ref_type: 'branch', ref_protected: 'true' }, { requester: 'dev', approver: 'dev' });
    });
    after(async () => {
      run?.repo.cleanup();
      await world?.close();
    });

    it('fails the approve job with ERR_APPROVAL_SELF; grant and deploy never run', () => {
      assert.equal(run.result.code, 1);
      assert.equal(run.results.get('oam:request'), 'PASS');
      assert.equal(run.results.get('oam:approve'), 'FAIL');
      assert.equal(jobLog(run.repo, 'oam:grant'), undefined, 'the grant job ran');
      assert.equal(jobLog(run.repo, 'deploy'), undefined, 'the deploy job ran');
      assert.match(jobLog(run.repo, 'oam:approve') ?? '', /error\[ERR_APPROVAL_SELF\]/);
      assert.deepEqual(world.sts.issued, []);
      assert.deepEqual(filesContaining(run.repo, 'AWS_SECRET_ACCESS_KEY'), []);
    });
  });
});
