/**
 * test: run the policy tests kept beside the access file (`oam.test.yaml`, or
 * --tests / OAM_TESTS) through the product's own evaluation, offline. Exit 0
 * when every case passes, 1 when one fails, 2 when either file is invalid.
 */
import { loadAccessFile } from '../access-file/load.ts';
import { AccessFileError } from '../errors.ts';
import { sanitizeLine } from '../lib/log.ts';
import { defaultTestsPath, loadPolicyTests } from '../policy-test/load.ts';
import { renderReport } from '../policy-test/report.ts';
import { runCase } from '../policy-test/run.ts';
import type { Deps } from './deps.ts';

export async function runTest(deps: Deps): Promise<number> {
  const { options } = deps;
  const testsPath = options.tests ?? defaultTestsPath(options.file);
  try {
    const file = await loadAccessFile(options.file);
    const tests = await loadPolicyTests(testsPath, file);
    const results = [];
    for (const testCase of tests.cases) results.push(await runCase(file, testCase));
    deps.out(renderReport(file, tests, results));
    return results.every((r) => r.passed) ? 0 : 1;
  } catch (error) {
    if (!(error instanceof AccessFileError)) throw error;
    // Every problem with its position, as `validate` prints them.
    for (const p of error.problems) deps.out(`${sanitizeLine(p.file)}:${p.line}:${p.col} error[${error.code}]: ${sanitizeLine(p.message)}\n`);
    const where = error.problems[0]?.file ?? options.file;
    deps.log.line(`${error.problems.length} problem${error.problems.length === 1 ? '' : 's'} in ${where}`);
    // The access file's own hint points at `validate`, which would only repeat these lines.
    if (where === testsPath && error.hint) deps.log.line(`hint: ${error.hint}`);
    return 2;
  }
}
