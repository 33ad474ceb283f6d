/**
 * Expands a consumer pipeline that includes each component by `component:` at
 * the commit SHA, with gitlab-ci-local's JSON schema validation on (the
 * schema of GitLab's CI config it bundles), and checks the jobs it gets.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { createFixtureRepo, type FixtureRepo, runGcl } from '../e2e/gitlab-ci-local.ts';
import { cliLine, DEFAULT_BRANCH_RULE, isRecord } from './template-files.ts';

const INPUTS = {
  component: 'deploy-prod',
  access_file: 'ops/oam.yaml',
  audience: 'https://gitlab.example.com',
  environment: 'production',
  image: 'registry.example.com/mirror/oam-grant:1.2.3',
  stage: 'release',
};

function consumer(include: string): string {
  return `stages: [build, release, deploy]
include:
${include}
deploy:
  stage: deploy
  rules: [{if: $CI_COMMIT_REF_NAME == "main"}]
  needs: ["creds:grant"]
  script: [./deploy.sh]
`;
}

/** One consumer using all five components, each with non-default inputs so they can be seen flowing through. */
const PIPELINE = consumer(`  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/jit-access@$CI_COMMIT_SHA
    inputs:
      prefix: creds
      dotenv: creds.env
      approve_environment: production-approvers
      rules: [{if: $CI_COMMIT_REF_NAME == "main"}]
      approve_rules: [{if: $CI_COMMIT_REF_NAME == "main", when: manual}]
      manual_confirmation: Really?
${Object.entries(INPUTS)
  .map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`)
  .join('\n')}
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/request@$CI_COMMIT_SHA
    inputs: {as: "single:request", component: it-tests}
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/approve@$CI_COMMIT_SHA
    inputs: {as: "single:approve", component: it-tests}
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/grant@$CI_COMMIT_SHA
    inputs: {as: "single:grant", component: it-tests}
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/close@$CI_COMMIT_SHA
    inputs: {as: "single:close", component: it-tests}`);

type Job = Record<string, unknown>;

function job(pipeline: Record<string, unknown>, name: string): Job {
  const value = pipeline[name];
  assert.ok(isRecord(value), `job ${name} is missing from the expanded pipeline`);
  return value;
}

let repo: FixtureRepo;
let expanded: Record<string, unknown>;
let listed: unknown;

describe('components expanded by gitlab-ci-local', () => {
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
    listed = JSON.parse(list.stdout);
  });
  after(() => repo?.cleanup());

  it('leaves no interpolation block behind', () => {
    assert.doesNotMatch(JSON.stringify(expanded), /\$\[\[/);
  });

  it('request: evidence token, inputs as variables, evidence artifact', () => {
    const request = job(expanded, 'creds:request');
    assert.equal(request.stage, 'release');
    assert.deepEqual(request.image, { name: INPUTS.image });
    assert.deepEqual(request.environment, { name: 'production', action: 'prepare' });
    assert.deepEqual(request.id_tokens, { OAM_EVIDENCE_TOKEN: { aud: ['oam-grant', 'oam-grant:component:deploy-prod'] } });
    assert.deepEqual(request.variables, {
      OAM_COMPONENT: 'deploy-prod',
      OAM_FILE: 'ops/oam.yaml',
      OAM_AUDIENCE: 'https://gitlab.example.com',
      OAM_EVIDENCE_TOKEN_VAR: 'OAM_EVIDENCE_TOKEN',
      OAM_OUT_DIR: '.oam-grant/deploy-prod',
    });
    assert.deepEqual(request.rules, [{ if: '$CI_COMMIT_REF_NAME == "main"' }]);
    assert.deepEqual(request.script, [cliLine('request')]);
    assert.deepEqual(request.artifacts, { access: 'developer', expire_in: '1 week', paths: ['.oam-grant/deploy-prod/request.json'] });
    assert.equal(request.needs, undefined);
  });

  it('approve: a blocking manual job after the request, in its own environment', () => {
    const approve = job(expanded, 'creds:approve');
    assert.deepEqual(approve.rules, [{ if: '$CI_COMMIT_REF_NAME == "main"', when: 'manual' }]);
    assert.deepEqual(approve.environment, { name: 'production-approvers', action: 'prepare' });
    assert.equal(approve.allow_failure, false);
    assert.equal(approve.manual_confirmation, 'Really?');
    assert.deepEqual(approve.needs, [{ job: 'creds:request', artifacts: true, optional: false }]);
    assert.deepEqual(approve.id_tokens, { OAM_EVIDENCE_TOKEN: { aud: ['oam-grant', 'oam-grant:component:deploy-prod'] } });
    assert.deepEqual(approve.script, [cliLine('approve')]);
    assert.deepEqual(approve.artifacts, { access: 'developer', expire_in: '1 week', paths: ['.oam-grant/deploy-prod/approvals/'] });
    assert.ok(Array.isArray(listed));
    const entry: unknown = listed.find((j: unknown) => isRecord(j) && j.name === 'creds:approve');
    assert.ok(isRecord(entry));
    assert.equal(entry.when, 'manual');
    assert.equal(entry.allow_failure, false);
  });

  it('grant: only the exchange token, the dotenv report hidden from downloads and short-lived, kept on failure', () => {
    const grant = job(expanded, 'creds:grant');
    assert.deepEqual(grant.needs, [
      { job: 'creds:request', artifacts: true, optional: false },
      { job: 'creds:approve', artifacts: true, optional: false },
    ]);
    assert.deepEqual(grant.id_tokens, { OAM_ID_TOKEN: { aud: 'https://gitlab.example.com' } });
    assert.deepEqual(grant.rules, [{ if: '$CI_COMMIT_REF_NAME == "main"' }]);
    assert.deepEqual(grant.environment, { name: 'production', action: 'prepare' });
    assert.equal(isRecord(grant.variables) && grant.variables.OAM_DOTENV, 'creds.env');
    assert.equal(isRecord(grant.variables) && grant.variables.OAM_TOKEN_VAR, 'OAM_ID_TOKEN');
    assert.deepEqual(grant.script, [cliLine('grant')]);
    assert.deepEqual(grant.artifacts, {
      access: 'none',
      expire_in: '1 hour',
      when: 'always',
      paths: ['.oam-grant/deploy-prod/audit.json'],
      reports: { dotenv: 'creds.env', metrics: '.oam-grant/deploy-prod/metrics.txt' },
    });
  });

  it('close: last (.post, when: always, no needs), the evidence audience only, its record kept on failure', () => {
    const close = job(expanded, 'creds:close');
    assert.equal(close.stage, '.post');
    assert.equal(close.when, 'always');
    assert.equal(close.needs, undefined, 'needs: would start it right after the grant, before the deploy');
    assert.equal(close.dependencies, undefined, 'every earlier job hands on its artifacts: the grant\'s dotenv and audit.json, the refresh records');
    assert.equal(close.environment, undefined);
    assert.deepEqual(close.id_tokens, { OAM_EVIDENCE_TOKEN: { aud: ['oam-grant', 'oam-grant:component:deploy-prod'] } });
    assert.deepEqual(close.rules, [{ if: '$CI_COMMIT_REF_NAME == "main"' }]);
    assert.deepEqual(close.variables, { OAM_COMPONENT: 'deploy-prod', OAM_FILE: 'ops/oam.yaml', OAM_EVIDENCE_TOKEN_VAR: 'OAM_EVIDENCE_TOKEN', OAM_OUT_DIR: '.oam-grant/deploy-prod' });
    assert.deepEqual(close.script, [cliLine('close')]);
    assert.deepEqual(close.artifacts, {
      access: 'developer',
      expire_in: '1 week',
      when: 'always',
      paths: ['.oam-grant/deploy-prod/closed.json'],
      reports: { metrics: '.oam-grant/deploy-prod/metrics.txt' },
    });
    const single = { ...job(expanded, 'single:close') };
    const composite = { ...close };
    for (const value of [single, composite]) {
      delete value.variables;
      delete value.image;
      delete value.rules;
      delete value.id_tokens;
      delete value.artifacts;
    }
    assert.deepEqual(composite, single, 'jit-access:close is close.yml');
    assert.ok(Array.isArray(listed));
    const entry: unknown = listed.find((j: unknown) => isRecord(j) && j.name === 'creds:close');
    assert.ok(isRecord(entry));
    assert.equal(entry.when, 'always');
  });

  it('the deploy job needs only the grant job, which hands it the dotenv', () => {
    assert.deepEqual(job(expanded, 'deploy').needs, [{ job: 'creds:grant', artifacts: true, optional: false }]);
  });

  it('jit-access is the three single components wired with needs', () => {
    for (const step of ['request', 'approve', 'grant']) {
      const composite = { ...job(expanded, `creds:${step}`) };
      const single = { ...job(expanded, `single:${step}`) };
      delete composite.needs;
      // Inputs that differ between the two includes of this fixture.
      for (const value of [composite, single]) {
        delete value.variables;
        delete value.stage;
        delete value.image;
        delete value.environment;
        delete value.rules;
        delete value.manual_confirmation;
        delete value.id_tokens;
        delete value.artifacts;
      }
      assert.deepEqual(composite, single, step);
    }
    // The parts deleted above are compared on the defaults, where both includes agree.
    const single = job(expanded, 'single:grant');
    assert.deepEqual(single.variables, {
      OAM_COMPONENT: 'it-tests',
      OAM_FILE: '.gitlab/oam.yaml',
      OAM_AUDIENCE: 'sts.amazonaws.com',
      OAM_DOTENV: 'oam-grant.env',
      OAM_TOKEN_VAR: 'OAM_ID_TOKEN',
      OAM_OUT_DIR: '.oam-grant/it-tests',
    });
    assert.deepEqual(single.artifacts, {
      access: 'none',
      expire_in: '1 hour',
      when: 'always',
      paths: ['.oam-grant/it-tests/audit.json'],
      reports: { dotenv: 'oam-grant.env', metrics: '.oam-grant/it-tests/metrics.txt' },
    });
    assert.deepEqual(job(expanded, 'single:request').artifacts, { access: 'developer', expire_in: '1 week', paths: ['.oam-grant/it-tests/request.json'] });
    assert.deepEqual(job(expanded, 'single:approve').artifacts, { access: 'developer', expire_in: '1 week', paths: ['.oam-grant/it-tests/approvals/'] });
    assert.deepEqual(single.environment, { name: 'oam-grant', action: 'prepare' });
    assert.deepEqual(job(expanded, 'single:request').environment, { name: 'oam-grant', action: 'prepare' });
    assert.deepEqual(job(expanded, 'single:approve').environment, { name: 'oam-grant-approval', action: 'prepare' });
    assert.deepEqual(job(expanded, 'single:request').rules, [{ if: DEFAULT_BRANCH_RULE }]);
    assert.deepEqual(single.rules, [{ if: DEFAULT_BRANCH_RULE }]);
    assert.deepEqual(job(expanded, 'single:approve').rules, [{ if: DEFAULT_BRANCH_RULE, when: 'manual' }]);
    assert.equal(job(expanded, 'single:approve').allow_failure, false);
    assert.deepEqual(single.id_tokens, { OAM_ID_TOKEN: { aud: 'sts.amazonaws.com' } });
  });
});

/** A consumer on the defaults, as the quick start writes it: the deploy job with the components' rule. */
const DEFAULTS_PIPELINE = `include:
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/jit-access@$CI_COMMIT_SHA
    inputs: {component: deploy-prod}
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/request@$CI_COMMIT_SHA
    inputs: {as: "single:request", component: it-tests}
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/approve@$CI_COMMIT_SHA
    inputs: {as: "single:approve", component: it-tests}
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/grant@$CI_COMMIT_SHA
    inputs: {as: "single:grant", component: it-tests}
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/close@$CI_COMMIT_SHA
    inputs: {as: "single:close", component: it-tests}
unit-tests:
  stage: test
  script: [./test.sh]
deploy:
  stage: deploy
  rules: [{if: ${DEFAULT_BRANCH_RULE}}]
  needs: ["oam:grant"]
  script: [./deploy.sh]
`;

interface ListedJob {
  readonly name: string;
  readonly when: string;
  readonly allowFailure: boolean;
}

/** The jobs gitlab-ci-local puts in the pipeline for these variables (`when: never` = left out by rules). */
async function pipelineJobs(repo: FixtureRepo, variables: Record<string, string>): Promise<ListedJob[]> {
  const result = await runGcl(repo, ['--list-json', '--ignore-predefined-vars', 'CI_COMMIT_BRANCH,CI_PIPELINE_SOURCE,CI_COMMIT_TAG'], { variables });
  assert.equal(result.code, 0, result.stderr);
  const listed: unknown = JSON.parse(result.stdout);
  assert.ok(Array.isArray(listed));
  return listed
    .map((entry: unknown): ListedJob => {
      assert.ok(isRecord(entry) && typeof entry.name === 'string' && typeof entry.when === 'string');
      return { name: entry.name, when: entry.when, allowFailure: entry.allow_failure === true };
    })
    .filter((j) => j.when !== 'never');
}

describe('the default rules', () => {
  let repo: FixtureRepo;
  before(() => {
    repo = createFixtureRepo({ files: { '.gitlab-ci.yml': DEFAULTS_PIPELINE } });
  });
  after(() => repo?.cleanup());

  it('add every component job to a branch pipeline of the default branch, the approve jobs blocking', async () => {
    const jobs = await pipelineJobs(repo, {});
    assert.deepEqual(jobs.map((j) => j.name).sort(), [
      'deploy',
      'oam:approve',
      'oam:close',
      'oam:grant',
      'oam:request',
      'single:approve',
      'single:close',
      'single:grant',
      'single:request',
      'unit-tests',
    ]);
    const blocking = jobs.filter((j) => j.when === 'manual' && !j.allowFailure).map((j) => j.name);
    assert.deepEqual(blocking.sort(), ['oam:approve', 'single:approve']);
  });

  // GitLab sets CI_COMMIT_BRANCH in branch pipelines only: not in merge request or tag pipelines.
  const elsewhere: [string, Record<string, string>][] = [
    ['a merge request pipeline', { CI_PIPELINE_SOURCE: 'merge_request_event', CI_COMMIT_BRANCH: '' }],
    ['a tag pipeline', { CI_COMMIT_TAG: 'v1.2.3', CI_COMMIT_BRANCH: '' }],
    ['a feature-branch pipeline', { CI_COMMIT_BRANCH: 'feature/x' }],
  ];
  for (const [pipeline, variables] of elsewhere) {
    it(`leave them out of ${pipeline}, which then neither fails to start nor waits for anyone`, async () => {
      const jobs = await pipelineJobs(repo, variables);
      assert.deepEqual(
        jobs.map((j) => j.name),
        ['unit-tests'],
      );
    });
  }
});

describe('gitlab-ci-local refuses broken includes', () => {
  it('fails when the required component input is missing', async () => {
    const broken = createFixtureRepo({
      files: { '.gitlab-ci.yml': 'include:\n  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/grant@$CI_COMMIT_SHA\n' },
    });
    try {
      const result = await runGcl(broken, ['--preview']);
      assert.equal(result.code, 1);
      assert.match(result.stderr + result.stdout, /`component` input: required value has not been provided/);
    } finally {
      broken.cleanup();
    }
  });

  it('validates the expanded jobs against the CI schema (a bad artifacts:access fails)', async () => {
    const broken = createFixtureRepo({
      files: {
        '.gitlab-ci.yml': 'include:\n  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/grant@$CI_COMMIT_SHA\n    inputs: {component: x}\n',
      },
    });
    try {
      const path = join(broken.dir, 'templates', 'grant.yml');
      // Included at the SHA, the template is read from the working tree, uncommitted edits included.
      const source = readFileSync(path, 'utf8');
      assert.match(source, /^ {4}access: none$/m);
      writeFileSync(path, source.replace(/^ {4}access: none$/m, '    access: nobody'));
      const result = await runGcl(broken, ['--preview']);
      assert.equal(result.code, 1);
      assert.match(result.stderr + result.stdout, /'access' property must be one of \[none, developer, all\] \(found nobody\)/);
    } finally {
      broken.cleanup();
    }
  });
});
