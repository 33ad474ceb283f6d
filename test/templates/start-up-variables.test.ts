/**
 * Whoever may set CI/CD variables (a pipeline run with variables, the Run form
 * of a manual job) must not be able to run code inside the CLI: the component
 * jobs start it with NODE_OPTIONS, LD_PRELOAD and the other start-up variables
 * cleared. Checked through gitlab-ci-local, the variables set as pipeline
 * variables (`--variable`), against the real bundle and against a probe that
 * records the environment the CLI gets.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createFixtureRepo, type FixtureRepo, installShim, jobLog, REPO_ROOT, runGcl } from '../e2e/gitlab-ci-local.ts';
import { CLEARED_VARIABLES } from './template-files.ts';

const BUNDLE = join(REPO_ROOT, 'dist', 'oam-grant.mjs');
const JOBS = ['oam:request', 'oam:approve', 'oam:grant', 'it:request', 'it:approve', 'it:grant'];

/**
 * Every component job once, plus `control`, which runs node and prints its
 * environment without the components' line, to show that the variables reach
 * the jobs at all.
 */
const PIPELINE = `include:
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/request@$CI_COMMIT_SHA
    inputs: {component: deploy-prod}
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/approve@$CI_COMMIT_SHA
    inputs: {component: deploy-prod}
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/grant@$CI_COMMIT_SHA
    inputs: {component: deploy-prod}
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/jit-access@$CI_COMMIT_SHA
    inputs: {prefix: it, component: it-tests}
# Each CLI fails here (no ID token): unchained, every job runs anyway.
"it:approve": {needs: []}
"it:grant": {needs: []}
control:
  stage: deploy
  script:
    - node -e 0
    - env > "$E2E_OUT/control.env"
`;

/** Runs every job of PIPELINE with these pipeline variables, the approve jobs pressed. */
async function runAll(repo: FixtureRepo, variables: Record<string, string>): Promise<void> {
  const manual = ['--manual', 'oam:approve', '--manual', 'it:approve'];
  const result = await runGcl(repo, [...manual, '--force-shell-executor', '--no-artifacts-to-source', ...JOBS, 'control'], { variables });
  // The CLI fails in every job (no ID token): what matters is what ran inside it.
  assert.match(result.stdout, /PASS\s+control/, `${result.stdout}\n${result.stderr}`);
  for (const job of JOBS) assert.match(result.stdout, new RegExp(`FAIL\\s+${job}`), `${job} did not run:\n${result.stdout}`);
}

describe('start-up variables set as pipeline variables', { skip: !existsSync(BUNDLE) && 'dist/oam-grant.mjs not built' }, () => {
  let base: string;
  let out: string;
  before(() => {
    base = mkdtempSync(join(tmpdir(), 'oam-startup-'));
    out = join(base, 'out');
    mkdirSync(out);
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  describe('NODE_OPTIONS=--require ./evil.cjs', () => {
    let repo: FixtureRepo;
    let ran: string[];

    before(async () => {
      repo = createFixtureRepo({ files: { '.gitlab-ci.yml': PIPELINE } });
      installShim(repo, 'oam-grant', BUNDLE);
      const evil = join(base, 'evil.cjs');
      const log = join(base, 'evil.log');
      // What an attacker's preload would do first: note where it runs.
      writeFileSync(
        evil,
        `require('node:fs').appendFileSync(${JSON.stringify(log)}, JSON.stringify({ job: process.env.CI_JOB_NAME, script: process.argv[1] ?? null }) + '\\n');\n`,
      );
      await runAll(repo, { NODE_OPTIONS: `--require ${evil}`, E2E_OUT: base });
      ran = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
    });
    after(() => repo?.cleanup());

    it('reaches node in a job that does not clear it (the control)', () => {
      assert.ok(
        ran.some((line) => JSON.parse(line).job === 'control'),
        `evil.cjs did not run in the control job: ${ran.join(', ')}`,
      );
    });

    it('does not run inside the CLI in any component job', () => {
      // The CLI did start in each (and stopped for want of an ID token).
      for (const job of JOBS) assert.match(jobLog(repo, job) ?? '', /error\[ERR_[A-Z_]+\]/, job);
      const inComponents = ran.map((line) => JSON.parse(line)).filter((entry) => entry.job !== 'control');
      assert.deepEqual(inComponents, []);
    });
  });

  describe('every cleared variable', () => {
    let repo: FixtureRepo;

    before(async () => {
      repo = createFixtureRepo({ files: { '.gitlab-ci.yml': PIPELINE } });
      // A probe in place of the CLI: it records the environment it was started with.
      const probe = join(repo.binDir, 'oam-grant');
      writeFileSync(probe, '#!/bin/sh\nenv > "$E2E_OUT/$CI_JOB_NAME_SLUG.env"\nexit 1\n');
      chmodSync(probe, 0o755);
      // Values that are harmless here but present; the LD_* ones only make the loader warn.
      const variables: Record<string, string> = { E2E_OUT: out, E2E_KEPT: 'kept' };
      for (const name of CLEARED_VARIABLES) variables[name] = name.startsWith('LD_') ? `/nonexistent/${name}.so` : `set-by-pipeline-${name}`;
      // The control job runs node, which refuses unknown NODE_OPTIONS.
      variables.NODE_OPTIONS = '--no-warnings';
      await runAll(repo, variables);
    });
    after(() => repo?.cleanup());

    function environmentOf(file: string): Map<string, string> {
      const entries = readFileSync(join(out, file), 'utf8')
        .split('\n')
        .filter((line) => line.includes('='))
        .map((line): [string, string] => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]);
      return new Map(entries);
    }

    it('reaches a job that does not clear it (the control)', () => {
      const control = environmentOf('control.env');
      for (const name of CLEARED_VARIABLES) assert.ok(control.has(name), `${name} did not reach the control job`);
    });

    it('is gone from the environment the CLI starts with, in every component job; the rest is kept', () => {
      const probes = readdirSync(out).filter((file) => file !== 'control.env');
      assert.equal(probes.length, JOBS.length, `probes: ${probes.join(', ')}`);
      for (const file of probes) {
        const env = environmentOf(file);
        const left = CLEARED_VARIABLES.filter((name) => env.has(name));
        assert.deepEqual(left, [], `${file}: still set`);
        assert.equal(env.get('E2E_KEPT'), 'kept', `${file}: other variables must stay`);
        assert.ok(env.get('OAM_COMPONENT'), `${file}: the job's own variables must stay`);
      }
    });
  });
});
