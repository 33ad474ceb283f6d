/**
 * The components end to end, as a consumer uses them: a project includes
 * jit-access by `component:` at its commit SHA, gitlab-ci-local runs
 * request -> approve (pressed by another person) -> grant -> deploy with the
 * shell executor, the built bundle as `oam-grant`, and loopback emulators of
 * GitLab's issuer, the GitLab API and AWS STS. Each job gets its ID tokens
 * when it starts, as on GitLab (./job-tokens.ts). The deploy job uses the
 * dotenv credentials with the real AWS CLI.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { type ClaimOverrides, DEFAULT_MR_IID, DEFAULT_PROJECT, DEFAULT_USERS, type EmbeddedDefault, startEmbeddedDefault } from '../emulators/index.ts';
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
import { JOB_TIMEOUT_SECONDS, type JobTokenService, startJobTokens } from './job-tokens.ts';

const BUNDLE = join(REPO_ROOT, 'dist', 'oam-grant.mjs');
const FIXTURE = join(REPO_ROOT, 'test', 'e2e-fixtures', 'consumer');
const PIPELINE_ID = '5001';
/** The `component` input of test/e2e-fixtures/consumer/.gitlab-ci.yml. */
const COMPONENT = 'deploy-prod';
const JOBS = { request: '2001', approve: '2002', grant: '2003', migrate: '2004', close: '2005' } as const;
type Step = keyof typeof JOBS;
/** The predefined variables the scenarios set, so gitlab-ci-local does not warn about them. */
const OVERRIDDEN = 'CI_SERVER_URL,CI_API_V4_URL,CI_MERGE_REQUEST_IID,CI_PIPELINE_SOURCE,CI_COMMIT_BRANCH';

/** What GitLab sets in a merge request pipeline: the source, and no CI_COMMIT_BRANCH. */
const MERGE_REQUEST_PIPELINE = { CI_PIPELINE_SOURCE: 'merge_request_event', CI_COMMIT_BRANCH: '' };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

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
  readonly tokens: JobTokenService;
}

interface People {
  readonly requester: string;
  readonly approver: string;
}

interface PipelineOptions {
  /** The ref and its protection, as GitLab signs them into every job's tokens. */
  readonly claims: ClaimOverrides;
  readonly people: People;
  /** Pipeline variables that shape the pipeline itself (a merge request pipeline's). */
  readonly variables?: Record<string, string>;
  /** Seconds a job waits for a runner before it starts. */
  readonly startDelaySeconds?: Partial<Record<Step, number>>;
  /** Changes to the consumer fixture's files. */
  readonly edit?: (files: Record<string, string>) => void;
}

/**
 * Runs the consumer's whole pipeline once, pressing Run on the approve job
 * (`--manual`). Each job is handed its tokens when it starts, minted for its
 * own `id_tokens:` and environment; the approve job's name the approver.
 */
async function runPipeline(world: EmbeddedDefault, options: PipelineOptions): Promise<Scenario> {
  const files = readFixture(world.issuer.url);
  options.edit?.(files);
  const { requester, approver } = options.people;
  const repo = createFixtureRepo({ files, userEmail: `${requester}@example.com` });
  // The pipeline runs on the fixture repository's commit: on GitLab it is a commit of the MR (its author the requester).
  world.gitlab.pushToMergeRequest(DEFAULT_PROJECT.id, DEFAULT_MR_IID, { sha: repo.sha, authorEmail: `${requester}@example.com` });
  installShim(repo, 'oam-grant', BUNDLE);
  installShim(repo, 'e2e-fetch-job-tokens', join(REPO_ROOT, 'test', 'e2e', 'fetch-job-tokens.mjs'));
  const delay = options.startDelaySeconds ?? {};
  const plan = (step: Step, user: string) => ({ user, jobId: JOBS[step], startDelaySeconds: delay[step] });
  const tokens = await startJobTokens(world.issuer, DEFAULT_USERS, join(repo.stateDir, 'expanded-gitlab-ci.yml'), {
    claims: { ...options.claims, sha: repo.sha, pipeline_id: PIPELINE_ID },
    jobs: {
      'oam:request': plan('request', requester),
      'oam:approve': plan('approve', approver),
      'oam:grant': plan('grant', requester),
      migrate: plan('migrate', requester),
      'oam:close': plan('close', requester),
    },
  });
  try {
    const result = await runGcl(
      repo,
      ['--manual', 'oam:approve', '--shell-isolation', '--no-artifacts-to-source', '--force-shell-executor', '--ignore-predefined-vars', OVERRIDDEN],
      {
        variables: {
          CI_SERVER_URL: world.issuer.url,
          CI_API_V4_URL: `${world.issuer.url}/api/v4`,
          CI_MERGE_REQUEST_IID: String(DEFAULT_MR_IID),
          OAM_GITLAB_TOKEN: 'e2e-api-token',
          AWS_ENDPOINT_URL_STS: world.sts.url,
          E2E_STS_URL: world.sts.url,
          E2E_JOB_TOKENS_URL: tokens.url,
          E2E_APPROVAL_REASON: 'OPS-42: ship the e2e release',
          ...options.variables,
        },
        timeoutMs: 120_000,
      },
    );
    return { repo, result, results: jobResults(result.stdout), tokens };
  } catch (error) {
    await tokens.close();
    repo.cleanup();
    throw error;
  }
}

async function cleanUp(run: Scenario | undefined, world: EmbeddedDefault | undefined): Promise<void> {
  run?.repo.cleanup();
  await run?.tokens.close();
  await world?.close();
}

/** The claims of the token a job was handed. */
function claimsOf(run: Scenario, job: string): Record<string, unknown> {
  const token = run.tokens.minted.find((t) => t.job === job);
  assert.ok(token, `${job} was handed no token`);
  return token.claims;
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
      run = await runPipeline(world, { claims: { ref: 'main', ref_type: 'branch', ref_protected: 'true' }, people: { requester: 'dev', approver: 'alice' } });
    });
    after(() => cleanUp(run, world));

    it('runs request, approve, grant, deploy and migrate, then close last, all passing', () => {
      const failed = [...run.results].filter(([, status]) => status !== 'PASS');
      assert.deepEqual(failed, [], `${run.result.stdout}\n${run.result.stderr}`);
      assert.deepEqual([...run.results.keys()], ['unit-tests', 'oam:request', 'oam:approve', 'oam:grant', 'deploy', 'migrate', 'oam:close']);
      assert.equal(run.result.code, 0);
    });

    it('hands each job its tokens as it starts, for its own id_tokens, living as long as the job', () => {
      const handed = run.tokens.minted.map((t) => `${t.job} ${t.variable}`);
      assert.deepEqual(handed, [
        'oam:request OAM_EVIDENCE_TOKEN',
        'oam:approve OAM_EVIDENCE_TOKEN',
        'oam:grant OAM_ID_TOKEN',
        'migrate OAM_ID_TOKEN',
        'oam:close OAM_EVIDENCE_TOKEN',
      ]);
      // The close job can revoke, never exchange: its only token has the evidence audience.
      assert.deepEqual(claimsOf(run, 'oam:close').aud, ['oam-grant', `oam-grant:component:${COMPONENT}`]);
      const iats = run.tokens.minted.map((t) => Number(t.claims.iat));
      assert.deepEqual([...iats].sort((a, b) => a - b), iats, 'minted in the order the jobs started');
      for (const token of run.tokens.minted) assert.equal(Number(token.claims.exp) - Number(token.claims.iat), JOB_TIMEOUT_SECONDS);
      assert.deepEqual(claimsOf(run, 'oam:approve').aud, ['oam-grant', `oam-grant:component:${COMPONENT}`]);
      assert.equal(claimsOf(run, 'oam:grant').aud, 'sts.amazonaws.com');
      assert.equal(claimsOf(run, 'oam:approve').user_login, 'alice');
      assert.equal(claimsOf(run, 'oam:grant').user_login, 'dev');
    });

    it('runs the approve job in its own environment, apart from the request and grant jobs', () => {
      const environmentOf = (job: string) => {
        const claims = claimsOf(run, job);
        return [claims.environment, claims.environment_action, claims.deployment_tier, claims.environment_protected];
      };
      assert.deepEqual(environmentOf('oam:request'), ['production', 'prepare', 'production', 'false']);
      assert.deepEqual(environmentOf('oam:grant'), ['production', 'prepare', 'production', 'false']);
      assert.deepEqual(environmentOf('oam:approve'), ['oam-grant-approval', 'prepare', 'other', 'false']);
      // The evidence the grant checked carries the same signed claim.
      const approval: unknown = JSON.parse(
        readFileSync(join(run.repo.stateDir, 'artifacts', 'oamOgapprove', '.oam-grant', COMPONENT, 'approvals', `${JOBS.approve}.json`), 'utf8'),
      );
      assert.ok(typeof approval === 'object' && approval !== null && 'token' in approval && typeof approval.token === 'string');
      assert.equal(decodeJwt(approval.token).environment, 'oam-grant-approval');
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
      // The grant's own exchange comes first; the migrate job's refreshes follow.
      const issued = world.sts.issued;
      assert.equal(issued.filter((c) => c.sessionName.endsWith(`.j${JOBS.grant}`)).length, 1);
      assert.ok(lines.includes(`AWS_ACCESS_KEY_ID=${issued[0]?.accessKeyId}`));
    });

    it('lets the deploy job call AWS with those credentials', () => {
      const caller: unknown = JSON.parse(readFileSync(join(run.repo.stateDir, 'artifacts', 'deploy', 'caller.json'), 'utf8'));
      assert.ok(typeof caller === 'object' && caller !== null && 'Arn' in caller);
      assert.match(String(caller.Arn), /^arn:aws:sts::123456789012:assumed-role\/ci-deploy\//);
    });

    it('refreshes in the long migrate job through credential_process, without a new approval or a note per refresh', () => {
      const caller: unknown = JSON.parse(readFileSync(join(run.repo.stateDir, 'artifacts', 'migrate', 'migrate-caller.json'), 'utf8'));
      assert.ok(isRecord(caller));
      assert.match(String(caller.Arn), new RegExp(`^arn:aws:sts::123456789012:assumed-role/ci-deploy/acme\\.payments@p${PIPELINE_ID}\\.j${JOBS.migrate}$`));
      const refreshes = world.sts.issued.filter((c) => c.sessionName.endsWith(`.j${JOBS.migrate}`)).length;
      assert.ok(refreshes >= 1);
      const record: unknown = JSON.parse(readFileSync(join(run.repo.stateDir, 'artifacts', 'migrate', '.oam-grant', COMPONENT, `refreshes-${JOBS.migrate}.json`), 'utf8'));
      assert.ok(isRecord(record) && Array.isArray(record.refreshes));
      assert.equal(record.refreshes.length, refreshes);
      assert.equal(noteTexts(world).length, 1);
    });

    it('closes last: nothing revocable for AWS, said so, the refreshes counted, the note told', () => {
      const log = jobLog(run.repo, 'oam:close') ?? '';
      assert.match(log, /aws-sts arn:aws:sts::123456789012:assumed-role\/ci-deploy\/\S+: cannot be revoked \(an STS session cannot be revoked by its holder\); expires at/);
      const closed: unknown = JSON.parse(readFileSync(join(run.repo.stateDir, 'artifacts', 'oamOgclose', '.oam-grant', COMPONENT, 'closed.json'), 'utf8'));
      assert.ok(isRecord(closed));
      assert.equal(closed.outcome, 'closed');
      assert.equal(closed.refreshes, world.sts.issued.length - 1);
      assert.deepEqual(closed.violations, []);
      assert.match(noteTexts(world)[0] ?? '', /Closed\*\* at .*; refreshes: \d/);
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

  describe('denied when main is not protected', () => {
    let world: EmbeddedDefault;
    let run: Scenario;

    before(async () => {
      world = await startEmbeddedDefault();
      run = await runPipeline(world, { claims: { ref: 'main', ref_type: 'branch', ref_protected: 'false' }, people: { requester: 'dev', approver: 'alice' } });
    });
    after(() => cleanUp(run, world));

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
      run = await runPipeline(world, { claims: { ref: 'main', ref_type: 'branch', ref_protected: 'true' }, people: { requester: 'dev', approver: 'dev' } });
    });
    after(() => cleanUp(run, world));

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

  describe('refused when the grant job starts after the approval ran out (validFor)', () => {
    let world: EmbeddedDefault;
    let run: Scenario;

    before(async () => {
      world = await startEmbeddedDefault();
      run = await runPipeline(world, {
        claims: { ref: 'main', ref_type: 'branch', ref_protected: 'true' },
        people: { requester: 'dev', approver: 'alice' },
        edit: (files) => {
          const accessFile = files['.gitlab/oam.yaml'] ?? '';
          assert.match(accessFile, /validFor: 30m/);
          files['.gitlab/oam.yaml'] = accessFile.replace('validFor: 30m', 'validFor: 2s');
        },
        // No runner free for a while: the grant job's token, and its clock, come 4 s after the approval.
        startDelaySeconds: { grant: 4 },
      });
    });
    after(() => cleanUp(run, world));

    it('fails the grant job with ERR_APPROVAL_EXPIRED; nothing is exchanged and deploy never runs', () => {
      assert.equal(run.result.code, 1);
      assert.equal(run.results.get('oam:approve'), 'PASS');
      assert.equal(run.results.get('oam:grant'), 'FAIL');
      assert.match(jobLog(run.repo, 'oam:grant') ?? '', /error\[ERR_APPROVAL_EXPIRED\]/);
      const gap = Number(claimsOf(run, 'oam:grant').iat) - Number(claimsOf(run, 'oam:approve').iat);
      assert.ok(gap >= 3, `the grant job's token is only ${gap} s younger than the approval`);
      assert.equal(jobLog(run.repo, 'deploy'), undefined, 'the deploy job ran');
      assert.deepEqual(world.sts.issued, []);
      assert.equal(dotenvOf(run.repo), undefined);
    });
  });

  describe('a merge request pipeline with the default rules', () => {
    let world: EmbeddedDefault;
    let run: Scenario;

    before(async () => {
      world = await startEmbeddedDefault();
      run = await runPipeline(world, {
        claims: { ref: 'feature/x', ref_type: 'branch', ref_protected: 'false', pipeline_source: 'merge_request_event' },
        people: { requester: 'dev', approver: 'alice' },
        variables: MERGE_REQUEST_PIPELINE,
      });
    });
    after(() => cleanUp(run, world));

    it("runs the project's own jobs and passes, without the components or the deploy job", () => {
      assert.equal(run.result.code, 0, `${run.result.stdout}\n${run.result.stderr}`);
      assert.deepEqual([...run.results], [['unit-tests', 'PASS']]);
      for (const job of ['oam:request', 'oam:approve', 'oam:grant', 'deploy']) assert.equal(jobLog(run.repo, job), undefined, `${job} ran`);
    });

    it('is not left blocked: no manual job that must run is in it', async () => {
      const list = await runGcl(run.repo, ['--list-json', '--ignore-predefined-vars', OVERRIDDEN], { variables: MERGE_REQUEST_PIPELINE });
      assert.equal(list.code, 0, list.stderr);
      const listed: unknown = JSON.parse(list.stdout);
      assert.ok(Array.isArray(listed));
      // --list-json also lists the jobs the rules left out, as `when: never`.
      const inPipeline = listed.filter((job: unknown) => isRecord(job) && job.when !== 'never').filter(isRecord);
      assert.deepEqual(
        inPipeline.map((job) => job.name),
        ['unit-tests'],
      );
      assert.deepEqual(
        inPipeline.filter((job) => job.when === 'manual' && job.allow_failure === false),
        [],
      );
    });

    it('asks for no token, exchanges nothing and posts nothing', () => {
      assert.deepEqual(run.tokens.minted, []);
      assert.deepEqual(world.sts.issued, []);
      assert.deepEqual(noteTexts(world), []);
    });
  });
});
