/**
 * The test runner's output, TAP-shaped so people and tools can read it: a
 * plan line, one `ok` / `not ok` line per case, `#` diagnostics under a
 * failure (expected and actual outcome, and for a denial the policy, claim,
 * value seen, value expected and where the policy is), and a summary.
 */
import type { AccessFile } from '../access-file/model.ts';
import { sanitizeLine } from '../lib/log.ts';
import type { Check, Decision, PolicyResult } from '../policy/evaluate.ts';
import type { Expectation, PolicyTestFile } from './model.ts';
import { type CaseResult, denyingPolicies, type Outcome } from './run.ts';

function where(file: AccessFile, pointer: string): string {
  const at = file.positions.get(pointer);
  return at ? `${file.path}:${at.line}:${at.col}` : file.path;
}

function describeExpectation(expect: Expectation): string {
  if (expect.outcome === 'granted') return 'granted';
  return `denied ${expect.code}${expect.policy === undefined ? '' : ` by ${JSON.stringify(expect.policy)}`}`;
}

const label = (result: PolicyResult): string => (result.type === 'gitlab-job' ? result.name : `policy ${JSON.stringify(result.name)}`);

function describeCheck(result: PolicyResult, check: Check): string {
  const what = result.type === 'credential-limits' ? check.claim : `claim ${check.claim}`;
  const seen = check.actual === undefined ? 'absent' : JSON.stringify(check.actual);
  return `${what}: seen ${seen}, ${check.field} expects ${check.expected}`;
}

/** Every failing check of every failing policy, each with the policy's position in the access file. */
function policyDetails(file: AccessFile, decision: Decision): string[] {
  const lines: string[] = [];
  for (const result of decision.results) {
    if (result.ok) continue;
    for (const check of result.checks) {
      if (!check.ok) lines.push(`${label(result)} at ${where(file, result.pointer)}: ${describeCheck(result, check)}`);
    }
  }
  return lines;
}

function describeGrant(file: AccessFile, outcome: Extract<Outcome, { kind: 'granted' }>): string[] {
  const held = outcome.decision.results.map((r) => r.name);
  const lines = [`conditions that held: ${held.length === 0 ? 'none apply' : held.join(', ')}`];
  const approvals = outcome.approvals;
  if (!approvals) {
    lines.push('approvals: none required');
  } else {
    const { step, counted } = approvals;
    lines.push(`approvals: ${counted.length} of ${step.minApprovals} counted (${counted.join(', ')}) for step ${JSON.stringify(step.name)} at ${where(file, step.pointer)}`);
  }
  return lines;
}

/** The `#` lines under a failing case. */
export function diagnose(file: AccessFile, tests: PolicyTestFile, result: CaseResult): string[] {
  const { testCase, outcome } = result;
  const lines = [`case at ${tests.path}:${testCase.position.line}:${testCase.position.col}`, `expected: ${describeExpectation(testCase.expect)}`];
  if (outcome.kind === 'granted') {
    lines.push('actual:   granted', ...describeGrant(file, outcome));
    return lines;
  }
  if (outcome.code === 'ERR_POLICY_DENIED') {
    const by = denyingPolicies(outcome.decision).map((name) => JSON.stringify(name));
    lines.push(`actual:   denied ERR_POLICY_DENIED by ${by.join(' and ')}`, ...policyDetails(file, outcome.decision));
  } else {
    lines.push(`actual:   denied ${outcome.code}`, outcome.message);
    const step = file.steps.find((s) => s.component === testCase.component);
    if (step) lines.push(`step ${JSON.stringify(step.name)} at ${where(file, step.pointer)}`);
  }
  return lines;
}

/** The whole report: plan, one line per case (with diagnostics under failures), summary. */
export function renderReport(file: AccessFile, tests: PolicyTestFile, results: readonly CaseResult[]): string {
  const lines = [`1..${results.length}`];
  for (const result of results) {
    const { testCase } = result;
    const title = `${testCase.number} - ${testCase.component}: ${testCase.name}`;
    if (result.passed) {
      lines.push(`ok ${title}`);
      continue;
    }
    lines.push(`not ok ${title}`);
    for (const line of diagnose(file, tests, result)) lines.push(`#   ${line}`);
  }
  const failed = results.filter((r) => !r.passed).length;
  lines.push(`# ${results.length} case${results.length === 1 ? '' : 's'}, ${results.length - failed} passed, ${failed} failed`);
  // User text (case names, claim values, reasons) must not be able to fake a line.
  return `${lines.map(sanitizeLine).join('\n')}\n`;
}
