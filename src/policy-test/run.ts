/**
 * Runs a test case through the product's own evaluation: evaluatePolicies and
 * assertAllowed for the conditions, then the approval checks of
 * src/approval/checks.ts with lookups answered from the case's facts. No
 * token is signed and nothing leaves the process.
 */
import { approvalStepFor, credentialTraitsOf, findComponent } from '../access-file/lookup.ts';
import type { AccessFile, ApprovalStep } from '../access-file/model.ts';
import { checkEligibility, checkReason, checkSeparation, checkTimeout, checkValidFor } from '../approval/checks.ts';
import { type ErrorCode, OamError } from '../errors.ts';
import { assertAllowed, type Decision, evaluatePolicies } from '../policy/evaluate.ts';
import { formatDuration } from '../report/format.ts';
import type { GitlabClaims } from '../token/claims.ts';
import type { Expectation, TestCase } from './model.ts';
import { createOfflineLookups } from './offline-lookups.ts';
import { buildScenario, type Scenario } from './scenario.ts';

export type Outcome =
  | {
      readonly kind: 'granted';
      readonly decision: Decision;
      /** The step's approvals that counted, by login; undefined = no step (or the request stage). */
      readonly approvals?: { readonly step: ApprovalStep; readonly counted: readonly string[] };
    }
  | { readonly kind: 'denied'; readonly code: ErrorCode; readonly message: string; readonly decision: Decision };

export interface CaseResult {
  readonly testCase: TestCase;
  readonly outcome: Outcome;
  readonly passed: boolean;
}

// As the grant tells people apart: user_id is stable, logins can be renamed.
function personKey(claims: GitlabClaims): string {
  return claims.user_id ? `id:${claims.user_id}` : `login:${(claims.user_login ?? '').toLowerCase()}`;
}

/**
 * The grant's approval gate (src/approval/verify-for-grant.ts) on the case's
 * approvals, in job order: every approval must pass separation, eligibility
 * and reason; those past `timeout` or `validFor` are not counted; each person
 * counts once; fewer than minApprovals is ERR_APPROVAL_EXPIRED when an
 * expired one would have made up the number, else ERR_APPROVAL_MISSING.
 */
async function checkApprovals(step: ApprovalStep, component: string, scenario: Scenario): Promise<string[]> {
  const lookups = createOfflineLookups(scenario.people);
  const requestIat = scenario.requester.iat;
  const counted: string[] = [];
  const expired: string[] = [];
  const people = new Set<string>();
  for (const [i, { approval, claims }] of scenario.approvals.entries()) {
    const source = `approval ${i + 1} (${approval.login})`;
    await checkSeparation(step, claims, { requester: scenario.requester }, lookups, source);
    await checkEligibility(step, claims, lookups, source);
    checkReason(step, approval.reason, source);
    try {
      checkTimeout(step, requestIat, claims.iat, source);
      checkValidFor(step, claims.iat, scenario.nowSeconds, source);
    } catch (error) {
      if (error instanceof OamError && error.code === 'ERR_APPROVAL_EXPIRED') {
        expired.push(error.message);
        continue;
      }
      throw error;
    }
    const person = personKey(claims);
    if (people.has(person)) continue;
    people.add(person);
    counted.push(approval.login);
  }
  if (counted.length < step.minApprovals) {
    const have = `${counted.length} of ${step.minApprovals} approval${step.minApprovals === 1 ? '' : 's'} from distinct people`;
    if (expired.length > 0) {
      throw new OamError('ERR_APPROVAL_EXPIRED', `step ${step.name} of ${component}: ${have}; ${expired[0]}`, {
        hint: `approvals are valid for ${formatDuration(step.validForSeconds)} and must come within ${formatDuration(step.timeoutSeconds)} of the request`,
      });
    }
    throw new OamError('ERR_APPROVAL_MISSING', `step ${step.name} of ${component}: ${have}`);
  }
  return counted;
}

/** What the access file decides for the case. Throws only for a bug or an invalid file, never for a denial. */
export async function evaluateCase(file: AccessFile, testCase: TestCase): Promise<Outcome> {
  const component = findComponent(file, testCase.component);
  const traits = credentialTraitsOf(component);
  const scenario = buildScenario(file, component, testCase);
  // The request job leaves the component's environment to the grant job (see src/commands/request.ts).
  const decision = evaluatePolicies(file, component, traits, scenario.claims, { checkComponentEnvironment: testCase.stage === 'grant' });
  try {
    assertAllowed(decision, file);
    const step = testCase.stage === 'grant' ? approvalStepFor(file, component) : undefined;
    if (!step) return { kind: 'granted', decision };
    const counted = await checkApprovals(step, component.name, scenario);
    return { kind: 'granted', decision, approvals: { step, counted } };
  } catch (error) {
    if (!(error instanceof OamError) || error.exitCode !== 3) throw error;
    return { kind: 'denied', code: error.code, message: error.message, decision };
  }
}

/** The names of the policies (and component binding) that failed. */
export function denyingPolicies(decision: Decision): string[] {
  return decision.results.filter((r) => !r.ok).map((r) => r.name);
}

export function meetsExpectation(expect: Expectation, outcome: Outcome): boolean {
  if (expect.outcome === 'granted') return outcome.kind === 'granted';
  if (outcome.kind !== 'denied' || outcome.code !== expect.code) return false;
  return expect.policy === undefined || denyingPolicies(outcome.decision).includes(expect.policy);
}

export async function runCase(file: AccessFile, testCase: TestCase): Promise<CaseResult> {
  const outcome = await evaluateCase(file, testCase);
  return { testCase, outcome, passed: meetsExpectation(testCase.expect, outcome) };
}
