/**
 * The copy-paste examples of docs/components.md must work: every YAML block
 * with an `include:` expands schema-valid against this checkout's templates,
 * and the example access file validates.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { createFixtureRepo, REPO_ROOT, runGcl } from '../e2e/gitlab-ci-local.ts';
import { isRecord, packageVersion } from './template-files.ts';

const DOC = readFileSync(join(REPO_ROOT, 'docs', 'components.md'), 'utf8');
const BUNDLE = join(REPO_ROOT, 'dist', 'oam-grant.mjs');

function yamlBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '');
}

/** The published include, rewritten to the only form gitlab-ci-local resolves offline: this project at this commit. */
function localize(pipeline: string): string {
  return pipeline.replaceAll(/\$CI_SERVER_FQDN\/oam-grant\/oam-grant\/([a-z-]+)@[0-9.]+/g, '$CI_SERVER_FQDN/$CI_PROJECT_PATH/$1@$CI_COMMIT_SHA');
}

/** The rules' conditions, without what they do when they match (`when: manual` on an approve job). */
function conditionsOf(rules: unknown): unknown {
  if (!Array.isArray(rules)) return rules;
  return rules.map((rule: unknown) => {
    if (!isRecord(rule)) return rule;
    const { when: _when, allow_failure: _allowFailure, ...condition } = rule;
    return condition;
  });
}

const pipelines = yamlBlocks(DOC).filter((block) => /^include:/m.test(block));
const accessFiles = yamlBlocks(DOC).filter((block) => block.includes('apiVersion: core.oam.dev/v1beta1'));

describe('docs/components.md examples', () => {
  it('has the examples this test expects', () => {
    assert.equal(pipelines.length, 5, 'quick start, tags, merge request tests, single components, npx');
    assert.equal(accessFiles.length, 1);
  });

  it('names the current version in every include', () => {
    for (const match of DOC.matchAll(/oam-grant\/oam-grant\/[a-z-]+@([0-9.]+)/g)) assert.equal(match[1], packageVersion());
    for (const match of DOC.matchAll(/oam-grant@([0-9]+\.[0-9]+\.[0-9]+)/g)) assert.equal(match[1], packageVersion());
  });

  for (const [index, pipeline] of pipelines.entries()) {
    it(`expands example pipeline ${index + 1} schema-valid`, async () => {
      const repo = createFixtureRepo({ files: { '.gitlab-ci.yml': localize(pipeline) } });
      try {
        const preview = await runGcl(repo, ['--preview']);
        assert.equal(preview.code, 0, `${preview.stderr}${preview.stdout}`);
        const expanded: unknown = parse(preview.stdout);
        assert.ok(isRecord(expanded));
        const jobs = Object.keys(expanded).filter((k) => k.startsWith('oam:'));
        assert.ok(jobs.includes('oam:request'), `no oam:request job in ${jobs.join(', ')}`);
        assert.ok(jobs.some((j) => j.startsWith('oam:approve')));
        // Every job that needs a component job carries the same rules, or GitLab would not create the pipeline.
        const pipeline: Record<string, unknown> = expanded;
        for (const [name, job] of Object.entries(pipeline)) {
          if (!isRecord(job) || !Array.isArray(job.needs) || name.startsWith('oam:')) continue;
          const needed = job.needs.map((n: unknown) => (isRecord(n) ? n.job : n)).filter((n): n is string => typeof n === 'string' && n.startsWith('oam:'));
          for (const other of needed) {
            const target: unknown = pipeline[other];
            assert.ok(isRecord(target), `${name} needs ${other}, which is not in the example`);
            assert.deepEqual(conditionsOf(job.rules), conditionsOf(target.rules), `${name} and ${other} have different rules`);
          }
        }
      } finally {
        repo.cleanup();
      }
    });
  }

  it('gives an access file that validates', { skip: !existsSync(BUNDLE) && 'dist/oam-grant.mjs not built' }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'oam-docs-'));
    try {
      writeFileSync(join(dir, 'oam.yaml'), accessFiles[0] ?? '');
      const result = spawnSync(process.execPath, [BUNDLE, 'validate', '--file', join(dir, 'oam.yaml')], { encoding: 'utf8', env: { PATH: process.env.PATH } });
      assert.equal(result.status, 0, result.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
