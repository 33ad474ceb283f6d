/**
 * The project's own .gitlab-ci.yml: schema-valid with the components included
 * at $CI_COMMIT_SHA, and the release jobs only on semantic version tags.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { createFixtureRepo, type FixtureRepo, REPO_ROOT, runGcl } from '../e2e/gitlab-ci-local.ts';
import { cliLine, isRecord } from './template-files.ts';

const SELF_TEST_FILE = 'test/e2e-fixtures/self-test/oam.yaml';
// One test job per supported Node version (parallel:matrix names them `test: [20]` and so on).
const BRANCH_JOBS = ['lint', 'test: [20]', 'test: [22]', 'test: [24]', 'build', 'self-test:request', 'self-test:approve', 'self-test:grant', 'self-test:use', 'self-test:close'];

interface ListedJob {
  name: string;
  when: string;
  allow_failure: boolean;
  needs?: { job: string }[];
}

function toListedJobs(stdout: string): ListedJob[] {
  const parsed: unknown = JSON.parse(stdout);
  assert.ok(Array.isArray(parsed));
  return parsed.map((entry: unknown) => {
    assert.ok(isRecord(entry) && typeof entry.name === 'string' && typeof entry.when === 'string' && typeof entry.allow_failure === 'boolean');
    const needs = Array.isArray(entry.needs) ? entry.needs.map((n: unknown) => ({ job: isRecord(n) ? String(n.job) : String(n) })) : undefined;
    return { name: entry.name, when: entry.when, allow_failure: entry.allow_failure, ...(needs ? { needs } : {}) };
  });
}

let repo: FixtureRepo;

async function listJobs(variables: Record<string, string> = {}): Promise<ListedJob[]> {
  const result = await runGcl(repo, ['--list-json', '--ignore-predefined-vars', 'CI_PIPELINE_SOURCE,CI_COMMIT_BRANCH,CI_MERGE_REQUEST_IID'], { variables });
  assert.equal(result.code, 0, result.stderr);
  // --list-json includes when:never jobs; a job whose rules all fail is left out of the pipeline.
  return toListedJobs(result.stdout).filter((j) => j.when !== 'never');
}

describe("the project's own pipeline", () => {
  before(() => {
    repo = createFixtureRepo({
      files: {
        '.gitlab-ci.yml': readFileSync(join(REPO_ROOT, '.gitlab-ci.yml'), 'utf8'),
        [SELF_TEST_FILE]: readFileSync(join(REPO_ROOT, SELF_TEST_FILE), 'utf8'),
      },
    });
  });
  after(() => repo?.cleanup());

  it('expands schema-valid, with the components included at the commit SHA', async () => {
    const preview = await runGcl(repo, ['--preview']);
    assert.equal(preview.code, 0, preview.stderr);
    assert.match(preview.stderr + preview.stdout, /json schema validated/);
    const pipeline: unknown = parse(preview.stdout);
    assert.ok(isRecord(pipeline));
    const request = pipeline['self-test:request'];
    assert.ok(isRecord(request) && isRecord(request.variables));
    assert.equal(request.variables.OAM_FILE, SELF_TEST_FILE);
    assert.equal(Array.isArray(request.before_script) && request.before_script[0], 'install -m 0755 dist/oam-grant.mjs /usr/local/bin/oam-grant');
    assert.deepEqual(request.script, [cliLine('request')]);
    assert.equal(request.variables.OAM_OUT_DIR, '.oam-grant/self-test');
    const build = pipeline.build;
    assert.ok(isRecord(build) && isRecord(build.artifacts));
    assert.deepEqual(build.artifacts.paths, ['dist/oam-grant.mjs', 'dist/oam-grant.mjs.*.code-cache']);
    const release = pipeline.release;
    assert.ok(isRecord(release) && isRecord(release.release));
    assert.equal(release.release.tag_name, '$CI_COMMIT_TAG');
  });

  it('runs lint, test, build and the self-test on a branch, the approve job manual and non-blocking', async () => {
    const jobs = await listJobs();
    assert.deepEqual(jobs.map((j) => j.name).sort(), [...BRANCH_JOBS].sort());
    const approve = jobs.find((j) => j.name === 'self-test:approve');
    assert.deepEqual({ when: approve?.when, allow_failure: approve?.allow_failure }, { when: 'manual', allow_failure: true });
    const grant = jobs.find((j) => j.name === 'self-test:grant');
    assert.deepEqual(grant?.needs?.map((n) => n.job), ['build', 'self-test:request', 'self-test:approve']);
  });

  it('runs the self-test in merge request pipelines too, without blocking them', async () => {
    const jobs = await listJobs({ CI_PIPELINE_SOURCE: 'merge_request_event', CI_COMMIT_BRANCH: '', CI_MERGE_REQUEST_IID: '3' });
    assert.deepEqual(jobs.map((j) => j.name).sort(), [...BRANCH_JOBS].sort());
    assert.deepEqual(
      jobs.filter((j) => j.when === 'manual' && !j.allow_failure),
      [],
    );
  });

  it('adds the image and the release on a semantic version tag, and npm when a token is set', async () => {
    const jobs = (await listJobs({ CI_COMMIT_TAG: '1.2.3' })).map((j) => j.name);
    assert.deepEqual(jobs.sort(), [...BRANCH_JOBS, 'release:version', 'release:image', 'release'].sort());
    const withNpm = (await listJobs({ CI_COMMIT_TAG: '1.2.3', NPM_TOKEN: 'x' })).map((j) => j.name);
    assert.deepEqual(withNpm.sort(), [...BRANCH_JOBS, 'release:version', 'release:image', 'release:npm', 'release'].sort());
  });

  const bundle = join(REPO_ROOT, 'dist', 'oam-grant.mjs');
  it('gives the self-test an access file that validates', { skip: !existsSync(bundle) && 'dist/oam-grant.mjs not built' }, () => {
    const result = spawnSync(process.execPath, [bundle, 'validate', '--file', join(REPO_ROOT, SELF_TEST_FILE)], { encoding: 'utf8', env: { PATH: process.env.PATH } });
    assert.equal(result.status, 0, result.stderr);
  });

  it('releases nothing on a tag that is not a plain semantic version', async () => {
    for (const tag of ['v1.2.3', '1.2', 'latest']) {
      const jobs = (await listJobs({ CI_COMMIT_TAG: tag })).map((j) => j.name);
      assert.deepEqual(
        jobs.filter((j) => j.startsWith('release')),
        [],
        tag,
      );
    }
  });
});
