/** The fixture access file and a builder of single cases, for the policy test unit tests. */
import { readFileSync } from 'node:fs';
import { parseAccessFile } from '../../src/access-file/load.ts';
import type { AccessFile } from '../../src/access-file/model.ts';
import { parsePolicyTests } from '../../src/policy-test/load.ts';
import type { TestCase } from '../../src/policy-test/model.ts';

/** test/fixtures/policy-tests/oam.yaml: deploy-prod (environment, protected-only, an approval step) and deploy-dev. */
export const ACCESS_FILE = readFileSync(new URL('../fixtures/policy-tests/oam.yaml', import.meta.url), 'utf8');
export const file = parseAccessFile(ACCESS_FILE, '.gitlab/oam.yaml');

/** One case from YAML lines (indented under `- `), with `expect: granted` unless they say otherwise. */
export function testCase(yaml: string, accessFile: AccessFile = file): TestCase {
  const body = yaml.includes('expect:') ? yaml : `${yaml}\n    expect: granted`;
  const tests = parsePolicyTests(Buffer.from(`cases:\n  - name: a case\n${body}\n`), '.gitlab/oam.test.yaml', accessFile);
  return tests.cases[0]!;
}

export const PROD = '    component: deploy-prod';
export const ALICE = '      - {user_login: alice, after: 10m, reason: OPS-1 release}';
