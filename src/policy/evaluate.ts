/**
 * Evaluates the access file's conditions against a token's claims. Pure: the
 * same file, component and claims always give the same decision, and every
 * check says what it compared, so `plan` can explain and a denial can name
 * the policy, the claim, the value seen and the value expected.
 */
import type { AccessFile, Component, CredentialTrait, Policy } from '../access-file/model.ts';
import { matchesRefGlob } from '../access-file/glob.ts';
import type { GitlabClaims } from '../token/claims.ts';
import { OamError } from '../errors.ts';

export interface Check {
  /** The access file field, e.g. `refs`. */
  readonly field: string;
  /** The claim (or value) it tests, e.g. `ref`. */
  readonly claim: string;
  readonly expected: string;
  /** The value seen; undefined when the claim is absent. */
  readonly actual: string | undefined;
  readonly ok: boolean;
}

export interface PolicyResult {
  /** Policy name, or `component <name>` for the component's own `environment`. */
  readonly name: string;
  readonly type: Policy['type'] | 'gitlab-job';
  readonly pointer: string;
  readonly checks: readonly Check[];
  readonly ok: boolean;
}

export interface Decision {
  readonly allowed: boolean;
  /** Only the policies that apply to the component, in file order. */
  readonly results: readonly PolicyResult[];
  /** Names of the file's policies that do not apply to this component. */
  readonly skipped: readonly string[];
}

function appliesTo(policy: Policy, component: Component): boolean {
  return policy.componentNames === undefined || policy.componentNames.includes(component.name);
}

const list = (values: readonly string[]): string => values.map((v) => JSON.stringify(v)).join(' or ');

function oneOf(field: string, claim: string, allowed: readonly string[], actual: string | undefined): Check {
  return { field, claim, expected: `one of ${list(allowed)}`, actual, ok: actual !== undefined && allowed.includes(actual) };
}

function conditionChecks(policy: Extract<Policy, { type: 'gitlab-conditions' }>, claims: GitlabClaims): Check[] {
  const checks: Check[] = [];
  if (policy.refProtected !== undefined) {
    const expected = policy.refProtected ? 'true' : 'false';
    checks.push({ field: 'refProtected', claim: 'ref_protected', expected: JSON.stringify(expected), actual: claims.ref_protected, ok: claims.ref_protected === expected });
  }
  if (policy.refs) {
    const ref = claims.ref;
    checks.push({
      field: 'refs',
      claim: 'ref',
      expected: `matching ${list(policy.refs)}`,
      actual: ref,
      ok: ref !== undefined && policy.refs.some((pattern) => matchesRefGlob(pattern, ref)),
    });
  }
  if (policy.refTypes) checks.push(oneOf('refTypes', 'ref_type', policy.refTypes, claims.ref_type));
  if (policy.environments) checks.push(oneOf('environments', 'environment', policy.environments, claims.environment));
  if (policy.pipelineSources) checks.push(oneOf('pipelineSources', 'pipeline_source', policy.pipelineSources, claims.pipeline_source));
  if (policy.projectPaths) checks.push(oneOf('projectPaths', 'project_path', policy.projectPaths, claims.project_path));
  return checks;
}

/** The file's lifetime of each trait that sets one, against the cap (Vault's TTL is capped at the exchange). */
function limitChecks(policy: Extract<Policy, { type: 'credential-limits' }>, traits: readonly CredentialTrait[]): Check[] {
  const max = policy.maxDurationSeconds;
  if (max === undefined) return [];
  return traits.flatMap((trait): Check[] => {
    const duration = trait.type === 'aws-sts' || (trait.type === 'gcp-wif' && trait.serviceAccount) ? trait.durationSeconds : undefined;
    if (duration === undefined) return [];
    return [{ field: 'maxDurationSeconds', claim: `${trait.type} durationSeconds`, expected: `at most ${max}`, actual: String(duration), ok: duration <= max }];
  });
}

function result(name: string, type: PolicyResult['type'], pointer: string, checks: Check[]): PolicyResult {
  return { name, type, pointer, checks, ok: checks.every((c) => c.ok) };
}

export interface EvaluateOptions {
  /**
   * The component's own `environment` binds the grant job (design.md); the
   * request and approve jobs may run in another environment. Default true.
   */
  readonly checkComponentEnvironment?: boolean;
}

export function evaluatePolicies(
  file: AccessFile,
  component: Component,
  traits: readonly CredentialTrait[],
  claims: GitlabClaims,
  options: EvaluateOptions = {},
): Decision {
  const results: PolicyResult[] = [];
  const skipped: string[] = [];
  if (component.environment !== undefined && options.checkComponentEnvironment !== false) {
    results.push(
      result(`component ${component.name}`, 'gitlab-job', component.pointer, [
        { field: 'environment', claim: 'environment', expected: JSON.stringify(component.environment), actual: claims.environment, ok: claims.environment === component.environment },
      ]),
    );
  }
  for (const policy of file.policies) {
    if (!appliesTo(policy, component)) {
      skipped.push(policy.name);
      continue;
    }
    const checks = policy.type === 'gitlab-conditions' ? conditionChecks(policy, claims) : limitChecks(policy, traits);
    results.push(result(policy.name, policy.type, policy.pointer, checks));
  }
  return { allowed: results.every((r) => r.ok), results, skipped };
}

function describeActual(check: Check): string {
  return check.actual === undefined ? `${check.claim} is absent` : `${check.claim} is ${JSON.stringify(check.actual)}`;
}

/** Throws ERR_POLICY_DENIED naming every failing check of the first failing policy. */
export function assertAllowed(decision: Decision, file: AccessFile): void {
  const failing = decision.results.find((r) => !r.ok);
  if (!failing) return;
  const failed = failing.checks.filter((c) => !c.ok);
  const what = failed.map((c) => `${describeActual(c)}, ${c.field} expects ${c.expected}`).join('; ');
  const position = file.positions.get(failing.pointer);
  const where = position ? ` (${file.path}:${position.line}:${position.col})` : '';
  const label = failing.type === 'gitlab-job' ? failing.name : `policy ${JSON.stringify(failing.name)}`;
  throw new OamError('ERR_POLICY_DENIED', `${label} denies: ${what}${where}`, {
    hint:
      failing.type === 'credential-limits'
        ? 'lower durationSeconds in the trait, or raise the cap'
        : 'run this job where the conditions hold (e.g. a protected branch), or change the policy in a reviewed merge request',
  });
}

/** The shortest maxDurationSeconds of the credential-limits that apply to the component, if any: the cap on lifetimes the file does not set. */
export function durationCapFor(file: AccessFile, component: Component): number | undefined {
  const caps = file.policies
    .filter((p): p is Extract<Policy, { type: 'credential-limits' }> => p.type === 'credential-limits' && appliesTo(p, component))
    .map((p) => p.maxDurationSeconds)
    .filter((m): m is number => m !== undefined);
  return caps.length > 0 ? Math.min(...caps) : undefined;
}
