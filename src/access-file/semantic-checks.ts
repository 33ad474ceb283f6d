/**
 * The rules JSON Schema cannot state: references between entries, uniqueness
 * of names, caps across policies, globs, regular expressions and sizes. Runs
 * on the raw value next to the schema check, so it reads every value
 * defensively and stays quiet where the schema already complained.
 */
import { checkDuration, DURATION_PATTERN } from './duration.ts';
import { checkRefGlob } from './glob.ts';
import type { ProblemList } from './problems.ts';
import { checkReasonPattern } from './reason-pattern.ts';
import { checkServiceUrl } from './service-url.ts';

/** AWS's limit on the plain-text inline session policy (AssumeRoleWithWebIdentity `Policy`). */
export const MAX_SESSION_POLICY_CHARS = 2048;
export const DEFAULT_DURATION_SECONDS = 900;

const TRAIT_TYPES = new Set(['aws-sts', 'gcp-wif', 'azure-federated', 'token-exchange', 'mr-audit']);
const CREDENTIAL_TRAIT_TYPES = new Set(['aws-sts', 'gcp-wif', 'azure-federated', 'token-exchange']);
/** Each trait type's service URLs: https, or plain http on loopback (the build normalises them and cannot parse anything else). */
const ENDPOINT_KEYS: Readonly<Record<string, readonly string[]>> = {
  'aws-sts': ['stsEndpoint'],
  'gcp-wif': ['stsEndpoint', 'iamCredentialsEndpoint'],
  'azure-federated': ['authorityHost'],
  // The ID token goes to the server this names.
  'token-exchange': ['issuer'],
};
const CONDITION_FIELDS = ['refProtected', 'refs', 'refTypes', 'environments', 'pipelineSources', 'projectPaths'] as const;

type Entry = Record<string, unknown>;

function asEntry(value: unknown): Entry | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Entry) : undefined;
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Reports the second and later use of a name; returns the names by index of first use. */
function checkUniqueNames(entries: unknown[], base: string, what: string, list: ProblemList): Map<string, number> {
  const first = new Map<string, number>();
  entries.forEach((entry, i) => {
    const name = asString(asEntry(entry)?.name);
    if (name === undefined) return;
    const earlier = first.get(name);
    if (earlier === undefined) first.set(name, i);
    else list.add(`${base}/${i}/name`, `duplicate ${what} name ${JSON.stringify(name)} (already used at index ${earlier})`);
  });
  return first;
}

function knownNames(names: Map<string, number>): string {
  return names.size === 0 ? 'none' : [...names.keys()].join(', ');
}

export function checkSemantics(value: unknown, list: ProblemList): void {
  const spec = asEntry(asEntry(value)?.spec);
  if (!spec) return;
  const components = asList(spec.components);
  const policies = asList(spec.policies);
  const steps = asList(asEntry(spec.workflow)?.steps);

  const gitlab = asEntry(spec.gitlab);
  for (const field of ['url', 'issuer'] as const) {
    const url = asString(gitlab?.[field]);
    const problem = url === undefined || url === '' ? undefined : checkServiceUrl(url);
    if (problem !== undefined) list.add(`/spec/gitlab/${field}`, problem);
  }
  asList(asEntry(gitlab?.allowWideningFrom)?.refs).forEach((pattern, k) => {
    if (typeof pattern !== 'string' || pattern.length === 0) return;
    const problem = checkRefGlob(pattern);
    if (problem !== undefined) list.add(`/spec/gitlab/allowWideningFrom/refs/${k}`, `${problem} (got ${JSON.stringify(pattern)})`);
  });

  const componentNames = checkUniqueNames(components, '/spec/components', 'component', list);
  checkUniqueNames(policies, '/spec/policies', 'policy', list);
  checkUniqueNames(steps, '/spec/workflow/steps', 'step', list);

  const durations: { component: string; pointer: string; seconds: number }[] = [];
  components.forEach((raw, i) => {
    const component = asEntry(raw);
    const name = asString(component?.name);
    if (!component || !Array.isArray(component.traits)) return;
    const base = `/spec/components/${i}`;
    const seen = new Map<string, number>();
    let allKnown = true;
    component.traits.forEach((rawTrait, k) => {
      const trait = asEntry(rawTrait);
      const type = asString(trait?.type);
      if (!trait || type === undefined || !TRAIT_TYPES.has(type)) {
        allKnown = false;
        return;
      }
      const earlier = seen.get(type);
      if (earlier !== undefined) {
        list.add(`${base}/traits/${k}/type`, `second ${type} trait (first at index ${earlier}); a component takes at most one trait of each type`);
      } else seen.set(type, k);
      const properties = asEntry(trait.properties);
      if (!properties) return;
      for (const key of ENDPOINT_KEYS[type] ?? []) {
        const endpoint = asString(properties[key]);
        const endpointProblem = endpoint === undefined || endpoint === '' ? undefined : checkServiceUrl(endpoint);
        if (endpointProblem !== undefined) list.add(`${base}/traits/${k}/properties/${key}`, endpointProblem);
      }
      if (type !== 'aws-sts') return;
      const duration = properties.durationSeconds;
      // A duration the schema refuses is reported there; comparing it with caps would only add noise.
      const usable = duration === undefined || (Number.isInteger(duration) && Number(duration) >= 900 && Number(duration) <= 43200);
      if (name !== undefined && usable) {
        durations.push(
          typeof duration === 'number'
            ? { component: name, pointer: `${base}/traits/${k}/properties/durationSeconds`, seconds: duration }
            : { component: name, pointer: `${base}/traits/${k}/properties`, seconds: DEFAULT_DURATION_SECONDS },
        );
      }
      const policy = asEntry(properties.sessionPolicy);
      if (policy) {
        const size = JSON.stringify(policy).length;
        if (size > MAX_SESSION_POLICY_CHARS) {
          list.add(
            `${base}/traits/${k}/properties/sessionPolicy`,
            `is ${size} characters as compact json; aws accepts at most ${MAX_SESSION_POLICY_CHARS} (use policyArns for larger policies)`,
          );
        }
      }
    });
    const credentials = [...seen.keys()].filter((type) => CREDENTIAL_TRAIT_TYPES.has(type));
    if (allKnown && component.traits.length > 0 && credentials.length === 0) {
      list.add(`${base}/traits`, 'has no credential trait; add one aws-sts trait');
    }
  });

  policies.forEach((raw, i) => {
    const policy = asEntry(raw);
    const properties = asEntry(policy?.properties);
    if (!policy || !properties) return;
    const base = `/spec/policies/${i}/properties`;
    const appliesTo = Array.isArray(properties.componentNames) ? properties.componentNames : undefined;
    appliesTo?.forEach((target, k) => {
      if (typeof target === 'string' && !componentNames.has(target)) {
        list.add(`${base}/componentNames/${k}`, `names no component: ${JSON.stringify(target)} (components: ${knownNames(componentNames)})`);
      }
    });
    if (policy.type === 'gitlab-conditions') {
      asList(properties.refs).forEach((pattern, k) => {
        if (typeof pattern !== 'string' || pattern.length === 0) return;
        const problem = checkRefGlob(pattern);
        if (problem !== undefined) list.add(`${base}/refs/${k}`, `${problem} (got ${JSON.stringify(pattern)})`);
      });
      if (!CONDITION_FIELDS.some((field) => properties[field] !== undefined)) {
        list.add(base, `sets no condition; give at least one of ${CONDITION_FIELDS.join(', ')}`);
      }
    }
    if (policy.type === 'credential-limits' && typeof properties.maxDurationSeconds === 'number') {
      const max = properties.maxDurationSeconds;
      const policyName = asString(policy.name) ?? `#${i}`;
      for (const duration of durations) {
        if (appliesTo && !appliesTo.includes(duration.component)) continue;
        if (duration.seconds > max) {
          list.add(duration.pointer, `${duration.seconds} exceeds maxDurationSeconds ${max} of policy ${JSON.stringify(policyName)}`);
        }
      }
    }
  });

  const stepByComponent = new Map<string, string>();
  steps.forEach((raw, i) => {
    const step = asEntry(raw);
    if (!step) return;
    const base = `/spec/workflow/steps/${i}`;
    const stepName = asString(step.name) ?? `#${i}`;
    const timeout = step.timeout;
    if (typeof timeout === 'string' && DURATION_PATTERN.test(timeout)) {
      const problem = checkDuration(timeout);
      if (problem !== undefined) list.add(`${base}/timeout`, `${problem} (got ${JSON.stringify(timeout)})`);
    }
    const properties = asEntry(step.properties);
    if (step.type !== 'jit-approval' || !properties) return;
    const target = asString(properties.component);
    if (target !== undefined) {
      const other = stepByComponent.get(target);
      if (!componentNames.has(target)) {
        list.add(`${base}/properties/component`, `names no component: ${JSON.stringify(target)} (components: ${knownNames(componentNames)})`);
      } else if (other !== undefined) {
        list.add(`${base}/properties/component`, `${JSON.stringify(target)} already has approval step ${JSON.stringify(other)}; use one jit-approval step per component`);
      } else stepByComponent.set(target, stepName);
    }
    const validFor = properties.validFor;
    if (typeof validFor === 'string' && DURATION_PATTERN.test(validFor)) {
      const problem = checkDuration(validFor);
      if (problem !== undefined) list.add(`${base}/properties/validFor`, `${problem} (got ${JSON.stringify(validFor)})`);
    }
    const pattern = properties.reasonPattern;
    if (typeof pattern === 'string' && pattern.length > 0 && !list.hasProblemAt(`${base}/properties/reasonPattern`)) {
      const problem = checkReasonPattern(pattern);
      if (problem !== undefined) list.add(`${base}/properties/reasonPattern`, problem);
    }
    const approvers = asEntry(properties.approvers);
    if (approvers) {
      const users = asList(approvers.users);
      const groups = asList(approvers.groups);
      if (users.length === 0 && groups.length === 0) {
        list.add(`${base}/properties/approvers`, 'lists nobody; give users, groups or both');
      } else if (groups.length === 0 && typeof properties.minApprovals === 'number' && properties.minApprovals > users.length) {
        list.add(
          `${base}/properties/minApprovals`,
          `is ${properties.minApprovals} but only ${users.length} listed user${users.length === 1 ? '' : 's'} can approve (no groups)`,
        );
      }
    }
  });
}
