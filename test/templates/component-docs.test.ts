/**
 * The input tables in the docs are generated from the templates, and the
 * templates' image is pinned to package.json's version; the check fails when
 * either drifts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT } from '../e2e/gitlab-ci-local.ts';

const SCRIPT = join(REPO_ROOT, 'scripts', 'component-docs.mjs');

function run(args: string[]): { code: number; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8' });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

describe('component-docs', () => {
  it('finds the docs in step with the templates in this checkout', () => {
    const result = run(['--check', '--root', REPO_ROOT]);
    assert.deepEqual({ code: result.code, stderr: result.stderr }, { code: 0, stderr: '' });
  });

  describe('in a copy of the checkout', () => {
    let root: string;
    const docs = (): string => readFileSync(join(root, 'docs', 'components.md'), 'utf8');

    before(() => {
      root = mkdtempSync(join(tmpdir(), 'oam-docs-'));
      cpSync(join(REPO_ROOT, 'templates'), join(root, 'templates'), { recursive: true });
      mkdirSync(join(root, 'docs'));
      cpSync(join(REPO_ROOT, 'docs', 'components.md'), join(root, 'docs', 'components.md'));
      cpSync(join(REPO_ROOT, 'package.json'), join(root, 'package.json'));
    });
    after(() => rmSync(root, { recursive: true, force: true }));

    it('fails the check when a description changes, and regenerating fixes it', () => {
      const path = join(root, 'templates', 'grant.yml');
      const source = readFileSync(path, 'utf8');
      writeFileSync(path, source.replace('Path of the access file in the repository.', 'Where the access file lives.'));
      const check = run(['--check', '--root', root]);
      assert.deepEqual(
        { code: check.code, stderr: check.stderr },
        {
          code: 1,
          stderr: `${join(root, 'docs', 'components.md')}: input tables differ from templates/*.yml\nrun \`node scripts/component-docs.mjs\` and commit the result\n`,
        },
      );
      assert.equal(run(['--root', root]).code, 0);
      assert.match(docs(), /\| `access_file` \| string \| `\.gitlab\/oam\.yaml` \| Where the access file lives\. \|/);
      assert.equal(run(['--check', '--root', root]).code, 0);
    });

    it('fails the check when package.json moves to a version the image tag does not follow', () => {
      const pkgPath = join(root, 'package.json');
      const pkg: unknown = JSON.parse(readFileSync(pkgPath, 'utf8'));
      assert.ok(typeof pkg === 'object' && pkg !== null);
      writeFileSync(pkgPath, JSON.stringify({ ...pkg, version: '9.8.7' }));
      const check = run(['--check', '--root', root]);
      assert.equal(check.code, 1);
      for (const name of ['approve', 'grant', 'jit-access', 'request']) {
        assert.ok(check.stderr.includes(`${join(root, 'templates', `${name}.yml`)}: image tag is not 9.8.7\n`), check.stderr);
      }
      assert.equal(run(['--root', root]).code, 0);
      assert.match(readFileSync(join(root, 'templates', 'grant.yml'), 'utf8'), /default: registry\.gitlab\.com\/oam-grant\/oam-grant:9\.8\.7$/m);
      assert.match(docs(), /`registry\.gitlab\.com\/oam-grant\/oam-grant:9\.8\.7`/);
      assert.equal(run(['--check', '--root', root]).code, 0);
    });

    it('refuses to run when no document has the markers', () => {
      writeFileSync(join(root, 'docs', 'components.md'), '# no tables here\n');
      assert.equal(existsSync(join(root, 'README.md')), false);
      const check = run(['--check', '--root', root]);
      assert.deepEqual(
        { code: check.code, stderr: check.stderr },
        { code: 2, stderr: 'component-docs: no <!-- BEGIN INPUTS --> ... <!-- END INPUTS --> markers in docs/components.md or README.md\n' },
      );
    });
  });
});
