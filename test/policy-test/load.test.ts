/** Finding and reading the test file: where it is looked for, and what refuses it. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LIMITS } from '../../src/access-file/yaml-source.ts';
import { AccessFileError, OamError } from '../../src/errors.ts';
import { defaultTestsPath, loadPolicyTests, parsePolicyTests } from '../../src/policy-test/load.ts';
import { file } from './helpers.ts';

describe('defaultTestsPath', () => {
  const table: [string, string][] = [
    ['.gitlab/oam.yaml', '.gitlab/oam.test.yaml'],
    ['.gitlab/oam.yml', '.gitlab/oam.test.yml'],
    ['ci/access.YAML', 'ci/access.test.YAML'],
    ['access', 'access.test.yaml'],
  ];
  for (const [access, tests] of table) it(`${access} -> ${tests}`, () => assert.equal(defaultTestsPath(access), tests));
});

describe('loadPolicyTests', () => {
  const dir = mkdtempSync(join(tmpdir(), 'oam-policy-tests-'));

  it('refuses a missing file with ERR_USAGE, saying where it looked', async () => {
    const path = join(dir, 'missing.test.yaml');
    await assert.rejects(loadPolicyTests(path, file), (error: unknown) => {
      assert.ok(error instanceof OamError && !(error instanceof AccessFileError));
      assert.equal(error.code, 'ERR_USAGE');
      assert.equal(error.exitCode, 2);
      assert.equal(error.message, `no policy tests at ${path}`);
      assert.match(error.hint ?? '', /--tests \(OAM_TESTS\)/);
      return true;
    });
  });

  it('refuses a directory, and a file over the size limit, with a position', async () => {
    mkdirSync(join(dir, 'a-dir'));
    await assert.rejects(loadPolicyTests(join(dir, 'a-dir'), file), (error: unknown) => {
      assert.ok(error instanceof AccessFileError);
      assert.deepEqual(error.problems.map((p) => [p.line, p.col, p.message]), [[1, 1, 'is not a regular file']]);
      return true;
    });
    writeFileSync(join(dir, 'big.yaml'), `# ${'x'.repeat(LIMITS.maxBytes)}\n`);
    await assert.rejects(loadPolicyTests(join(dir, 'big.yaml'), file), (error: unknown) => {
      assert.ok(error instanceof AccessFileError);
      assert.match(error.problems[0]?.message ?? '', /^file is \d+ bytes; the limit is 262144$/);
      assert.match(error.hint ?? '', /test file/);
      return true;
    });
  });

  it('reads a file into cases with their positions and defaults', async () => {
    const path = join(dir, 'oam.test.yaml');
    writeFileSync(
      path,
      'cases:\n  - name: one\n    component: deploy-prod\n    approvals: [{user_login: alice, reason: OPS-1}]\n    expect: granted\n\n  - {name: two, component: deploy-dev, stage: request, expect: {denied: ERR_POLICY_DENIED}}\n',
    );
    const tests = await loadPolicyTests(path, file);
    assert.equal(tests.path, path);
    assert.deepEqual(
      tests.cases.map((c) => [c.number, c.name, c.stage, c.position.line, c.position.col, c.expect]),
      [
        [1, 'one', 'grant', 2, 5, { outcome: 'granted' }],
        [2, 'two', 'request', 7, 5, { outcome: 'denied', code: 'ERR_POLICY_DENIED' }],
      ],
    );
    assert.deepEqual(tests.cases[0]?.approvals, [{ login: 'alice', groups: [], emails: [], afterSeconds: 60, reason: 'OPS-1' }]);
    assert.equal(tests.cases[0]?.nowSeconds, undefined);
  });

  it('refuses what is not UTF-8, and more than one document', () => {
    assert.throws(() => parsePolicyTests(Buffer.from([0x63, 0x3a, 0xff]), 't.yaml', file), /not valid utf-8/);
    assert.throws(() => parsePolicyTests(Buffer.from('cases: []\n---\ncases: []\n'), 't.yaml', file), /more than one yaml document/);
  });
});
