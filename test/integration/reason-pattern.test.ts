/**
 * reasonPattern through the shipped bundle, copied away from node_modules:
 * re2js comes from its lazy chunk, and `validate` points at a pattern RE2
 * refuses with FILE:LINE:COL.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CLI, runProgram } from '../helpers/cli.ts';

const accessFile = (reasonPattern: string): string => `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: reason-pattern}
spec:
  components:
    - name: deploy
      type: gitlab-job
      traits:
        - {type: aws-sts, properties: {roleArn: "arn:aws:iam::123456789012:role/ci-deploy"}}
  workflow:
    steps:
      - name: approve-deploy
        type: jit-approval
        properties:
          component: deploy
          approvers: {users: [alice]}
          reasonPattern: ${JSON.stringify(reasonPattern)}
`;

async function validate(reasonPattern: string) {
  const home = mkdtempSync(join(tmpdir(), 'oam-reason-'));
  copyFileSync(CLI, join(home, 'oam-grant.mjs'));
  const file = join(home, 'oam.yaml');
  writeFileSync(file, accessFile(reasonPattern));
  return { file, result: await runProgram(process.execPath, [join(home, 'oam-grant.mjs'), 'validate', '--file', file], { cwd: home, env: {} }) };
}

describe('reasonPattern in the shipped bundle', () => {
  it('accepts a nested repetition (linear in RE2)', async () => {
    const { result } = await validate('^([A-Z]|[A-Z0-9])+-[0-9]+$');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /valid \(1 component, 0 policies, 1 approval step\)/);
  });

  it('reports a lookahead at its line and column, in RE2 terms', async () => {
    const { file, result } = await validate('^(?!WIP)[A-Z]+-[0-9]+$');
    assert.equal(result.status, 2, result.stderr);
    assert.match(
      result.stdout,
      new RegExp(
        `^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:17:26 error\\[ERR_METADATA_INVALID\\]: spec\\.workflow\\.steps\\[0\\]\\.properties\\.reasonPattern: is not a valid RE2 regular expression: invalid or unsupported Perl syntax: \`\\(\\?!\`; RE2 has no lookahead, lookbehind or backreferences$`,
        'm',
      ),
    );
  });
});
