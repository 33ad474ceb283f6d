/**
 * Two components in one pipeline: each include's evidence goes to its own
 * `.oam-grant/<component>/` folder, so jobs that pass artifacts through the
 * same stages cannot overwrite each other's request.json or approvals. And
 * since the component names a folder, the input only takes the names the
 * access file allows.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { createFixtureRepo, type FixtureRepo, runGcl } from '../e2e/gitlab-ci-local.ts';
import { isRecord } from './template-files.ts';

const COMPONENTS = { api: 'deploy-api', web: 'deploy_web.v2' } as const;
type Prefix = keyof typeof COMPONENTS;
const PREFIXES = Object.keys(COMPONENTS) as Prefix[];
const STEPS = ['request', 'approve', 'grant'] as const;

const PIPELINE = `stages: [deploy, release]
include:
${PREFIXES.map(
  (prefix) => `  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/jit-access@$CI_COMMIT_SHA
    inputs: {prefix: ${prefix}, component: ${COMPONENTS[prefix]}}`,
).join('\n')}
${PREFIXES.map(
  (prefix) => `release-${prefix}:
  stage: release
  needs: ["${prefix}:grant"]
  script: [./release.sh]`,
).join('\n')}
`;

/** Every path a job writes as an artifact: plain paths and report files. */
function artifactPaths(job: Record<string, unknown>): string[] {
  const artifacts = job.artifacts;
  assert.ok(isRecord(artifacts), 'the job keeps artifacts');
  const paths = Array.isArray(artifacts.paths) ? artifacts.paths.map(String) : [];
  const reports = isRecord(artifacts.reports) ? Object.entries(artifacts.reports).filter(([kind]) => kind !== 'dotenv') : [];
  return [...paths, ...reports.map(([, path]) => String(path))];
}

describe('two jit-access includes with different components', () => {
  let repo: FixtureRepo;
  let expanded: Record<string, unknown>;
  let listed: unknown[];

  before(async () => {
    repo = createFixtureRepo({ files: { '.gitlab-ci.yml': PIPELINE } });
    const preview = await runGcl(repo, ['--preview']);
    assert.equal(preview.code, 0, `--preview failed:\n${preview.stderr}${preview.stdout}`);
    assert.match(preview.stdout + preview.stderr, /json schema validated/);
    const parsed: unknown = parse(preview.stdout);
    assert.ok(isRecord(parsed));
    expanded = parsed;
    const list = await runGcl(repo, ['--list-json']);
    assert.equal(list.code, 0, list.stderr);
    const entries: unknown = JSON.parse(list.stdout);
    assert.ok(Array.isArray(entries));
    listed = entries;
  });
  after(() => repo?.cleanup());

  function job(name: string): Record<string, unknown> {
    const value = expanded[name];
    assert.ok(isRecord(value), `job ${name} is missing from the expanded pipeline`);
    return value;
  }

  it('gives each component its own out-dir in all three jobs', () => {
    for (const prefix of PREFIXES) {
      for (const step of STEPS) {
        const variables = job(`${prefix}:${step}`).variables;
        assert.ok(isRecord(variables));
        assert.deepEqual(
          { component: variables.OAM_COMPONENT, outDir: variables.OAM_OUT_DIR },
          { component: COMPONENTS[prefix], outDir: `.oam-grant/${COMPONENTS[prefix]}` },
          `${prefix}:${step}`,
        );
      }
    }
  });

  it('keeps every artifact inside its own out-dir, so the two sets of evidence never overlap', () => {
    const owners = new Map<string, string>();
    for (const prefix of PREFIXES) {
      for (const step of STEPS) {
        for (const path of artifactPaths(job(`${prefix}:${step}`))) {
          assert.ok(path.startsWith(`.oam-grant/${COMPONENTS[prefix]}/`), `${prefix}:${step} writes ${path} outside its out-dir`);
          assert.equal(owners.get(path), undefined, `${path} is written by both ${owners.get(path)} and ${prefix}:${step}`);
          owners.set(path, `${prefix}:${step}`);
        }
      }
    }
    assert.deepEqual([...owners.keys()].sort(), [
      '.oam-grant/deploy-api/approvals/',
      '.oam-grant/deploy-api/audit.json',
      '.oam-grant/deploy-api/metrics.txt',
      '.oam-grant/deploy-api/request.json',
      '.oam-grant/deploy_web.v2/approvals/',
      '.oam-grant/deploy_web.v2/audit.json',
      '.oam-grant/deploy_web.v2/metrics.txt',
      '.oam-grant/deploy_web.v2/request.json',
    ]);
  });

  it('wires each grant job to its own request and approval only', () => {
    for (const prefix of PREFIXES) {
      const entry = listed.find((j: unknown) => isRecord(j) && j.name === `${prefix}:grant`);
      assert.ok(isRecord(entry) && Array.isArray(entry.needs), `${prefix}:grant in --list-json`);
      const needs = entry.needs.map((n: unknown) => (isRecord(n) ? n.job : n));
      assert.deepEqual(needs, [`${prefix}:request`, `${prefix}:approve`]);
    }
  });
});

describe('the component input', () => {
  // Each would escape or split the evidence folder, or name no access file component.
  for (const bad of ['../escape', 'deploy/prod', 'Deploy-Prod', '-deploy', 'deploy.']) {
    it(`refuses ${JSON.stringify(bad)}`, async () => {
      const repo = createFixtureRepo({
        files: {
          '.gitlab-ci.yml': `include:\n  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/jit-access@$CI_COMMIT_SHA\n    inputs: {component: ${JSON.stringify(bad)}}\n`,
        },
      });
      try {
        const result = await runGcl(repo, ['--preview']);
        assert.equal(result.code, 1);
        assert.ok((result.stderr + result.stdout).includes(`\`component\` input: \`${bad}\` does not match required regex`), result.stderr + result.stdout);
      } finally {
        repo.cleanup();
      }
    });
  }
});
