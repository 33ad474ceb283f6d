/**
 * What a branch's access file changes for one component, compared with the
 * default branch's: every difference, each marked as widening or not. Pure.
 *
 * "Widens" is conservative: a change counts as narrower only where that is
 * provable from the file alone (a value list that became a subset, a shorter
 * duration, an added condition, a removed Allow statement). Anything else
 * that touches who the credentials act as, where they come from or what they
 * may do counts as widening, because a reviewer of the default branch never
 * saw it.
 */
import { matchesRefGlob } from '../access-file/glob.ts';
import { approvalStepFor, credentialTraitsOf, policiesFor } from '../access-file/lookup.ts';
import type {
  AccessFile,
  ApprovalStep,
  AwsStsTrait,
  Component,
  CredentialLimitsPolicy,
  CredentialTrait,
  GitlabConditionsPolicy,
  Policy,
} from '../access-file/model.ts';
import { canonicalJson } from '../providers/requested-access.ts';

export type ChangeCategory = 'instance' | 'component' | 'identity' | 'duration' | 'scope' | 'conditions' | 'approvals';

export interface AccessChange {
  readonly category: ChangeCategory;
  /** What changed, e.g. `policy "protected-main" refs` or `aws-sts roleArn`. */
  readonly subject: string;
  /** The default branch's value, as the note and the message show it ("absent" when unset). */
  readonly old: string;
  readonly new: string;
  readonly widens: boolean;
  /** JSON pointer into the branch's file, or the default branch's where the branch dropped the thing. */
  readonly pointer: string;
  readonly pointerIn: 'branch' | 'default';
}

/** A word in place of a value ("removed"), shown as is rather than quoted. */
class Word {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

const ABSENT = new Word('absent');
const ADDED = new Word('added');
const REMOVED = new Word('removed');

function show(value: unknown): string {
  if (value === undefined) return ABSENT.text;
  if (value instanceof Word) return value.text;
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? JSON.stringify(value) : canonicalJson(value);
}

/** Collects changes; only differing values become entries. */
class Changes {
  readonly list: AccessChange[] = [];
  add(category: ChangeCategory, subject: string, oldValue: unknown, newValue: unknown, widens: boolean, pointer: string, pointerIn: 'branch' | 'default' = 'branch'): void {
    this.list.push({ category, subject, old: show(oldValue), new: show(newValue), widens, pointer, pointerIn });
  }
  /** A numeric limit where larger (or unset) is wider. */
  limit(category: ChangeCategory, subject: string, oldValue: number | undefined, newValue: number | undefined, pointer: string): void {
    if (oldValue === newValue) return;
    const widens = oldValue !== undefined && (newValue === undefined || newValue > oldValue);
    this.add(category, subject, oldValue, newValue, widens, pointer);
  }
  /** A value that must stay as it is: any change widens, unless it was unset (no constraint) before. */
  fixed(category: ChangeCategory, subject: string, oldValue: unknown, newValue: unknown, pointer: string, unsetIsWidest = false): void {
    if (canonicalJson(oldValue ?? null) === canonicalJson(newValue ?? null)) return;
    this.add(category, subject, oldValue, newValue, !(unsetIsWidest && oldValue === undefined), pointer);
  }
  /** An allow-list (unset = anything): the new list must be a subset of the old. */
  allowList(category: ChangeCategory, subject: string, oldValue: readonly string[] | undefined, newValue: readonly string[] | undefined, pointer: string): void {
    if (canonicalJson(oldValue ?? null) === canonicalJson(newValue ?? null)) return;
    const widens = oldValue !== undefined && (newValue === undefined || newValue.some((v) => !oldValue.includes(v)));
    this.add(category, subject, oldValue, newValue, widens, pointer);
  }
}

/** A new ref pattern is covered when the old list has it verbatim, or it is a plain name an old pattern matches. */
function refCovered(pattern: string, old: readonly string[]): boolean {
  if (old.includes(pattern)) return true;
  return !/[*?]/.test(pattern) && old.some((o) => matchesRefGlob(o, pattern));
}

function compareConditions(c: Changes, label: string, o: GitlabConditionsPolicy, n: GitlabConditionsPolicy): void {
  const at = (field: string) => `${n.pointer}/properties/${field}`;
  if (o.refProtected !== n.refProtected) {
    c.add('conditions', `${label} refProtected`, o.refProtected, n.refProtected, o.refProtected !== undefined, at('refProtected'));
  }
  if (canonicalJson(o.refs ?? null) !== canonicalJson(n.refs ?? null)) {
    const widens = o.refs !== undefined && (n.refs === undefined || n.refs.some((p) => !refCovered(p, o.refs ?? [])));
    c.add('conditions', `${label} refs`, o.refs, n.refs, widens, at('refs'));
  }
  c.allowList('conditions', `${label} refTypes`, o.refTypes, n.refTypes, at('refTypes'));
  c.allowList('conditions', `${label} environments`, o.environments, n.environments, at('environments'));
  c.allowList('conditions', `${label} pipelineSources`, o.pipelineSources, n.pipelineSources, at('pipelineSources'));
  c.allowList('conditions', `${label} projectPaths`, o.projectPaths, n.projectPaths, at('projectPaths'));
}

function compareLimits(c: Changes, label: string, o: CredentialLimitsPolicy, n: CredentialLimitsPolicy): void {
  c.limit('duration', `${label} maxDurationSeconds`, o.maxDurationSeconds, n.maxDurationSeconds, `${n.pointer}/properties/maxDurationSeconds`);
}

/**
 * Policies by name and type, among those that apply to the component. A
 * policy that no longer applies (removed, renamed, componentNames changed)
 * widens; one the branch adds only narrows, as every policy must hold.
 */
function comparePolicies(c: Changes, oldFile: AccessFile, newFile: AccessFile, name: string): void {
  const oldPolicies = policiesFor(oldFile, name);
  const newPolicies = policiesFor(newFile, name);
  const key = (p: Policy) => `${p.type}:${p.name}`;
  for (const o of oldPolicies) {
    const label = `policy ${JSON.stringify(o.name)}`;
    const n = newPolicies.find((p) => key(p) === key(o));
    if (!n) {
      c.add(o.type === 'credential-limits' ? 'duration' : 'conditions', label, new Word('applies'), new Word('removed or no longer applies'), true, o.pointer, 'default');
      continue;
    }
    if (o.type === 'gitlab-conditions' && n.type === 'gitlab-conditions') compareConditions(c, label, o, n);
    if (o.type === 'credential-limits' && n.type === 'credential-limits') compareLimits(c, label, o, n);
  }
  for (const n of newPolicies) {
    if (!oldPolicies.some((o) => key(o) === key(n))) c.add(n.type === 'credential-limits' ? 'duration' : 'conditions', `policy ${JSON.stringify(n.name)}`, ABSENT, ADDED, false, n.pointer);
  }
}

function statementsOf(trait: AwsStsTrait): string[] {
  const s = trait.sessionPolicy?.Statement;
  return (Array.isArray(s) ? s : s === undefined ? [] : [s]).map(canonicalJson);
}

function isDeny(statement: string): boolean {
  const parsed: unknown = JSON.parse(statement);
  return parsed !== null && typeof parsed === 'object' && (parsed as Record<string, unknown>).Effect === 'Deny';
}

/**
 * AWS session policies: without any, the session has the role's full
 * permissions; with some, the intersection of the role with their union. So
 * removing an Allow statement or a managed policy narrows, while removing a
 * Deny, adding anything, or dropping every session policy widens.
 */
function awsScopeWidens(o: AwsStsTrait, n: AwsStsTrait): boolean {
  const oldRestricted = o.sessionPolicy !== undefined || o.policyArns.length > 0;
  const newRestricted = n.sessionPolicy !== undefined || n.policyArns.length > 0;
  if (!oldRestricted) return false;
  if (!newRestricted) return true;
  const { Statement: _o, ...oldRest } = o.sessionPolicy ?? {};
  const { Statement: _n, ...newRest } = n.sessionPolicy ?? {};
  if (n.sessionPolicy !== undefined && o.sessionPolicy !== undefined && canonicalJson(oldRest) !== canonicalJson(newRest)) return true;
  const oldStatements = statementsOf(o);
  const newStatements = statementsOf(n);
  if (newStatements.some((s) => !oldStatements.includes(s))) return true;
  if (oldStatements.some((s) => isDeny(s) && !newStatements.includes(s))) return true;
  return n.policyArns.some((arn) => !o.policyArns.includes(arn));
}

/** The trait's properties that are neither names of variables nor its duration: all of them identity or scope. */
function scopeProperties(trait: CredentialTrait): Record<string, unknown> {
  const { exportPrefix: _p, ...rest } = trait as CredentialTrait & { exportAs?: string; durationSeconds?: number };
  const { exportAs: _a, durationSeconds: _d, ...scope } = rest as Record<string, unknown>;
  return scope;
}

const IDENTITY_FIELDS: Readonly<Record<CredentialTrait['type'], readonly string[]>> = {
  'aws-sts': ['roleArn', 'stsEndpoint', 'region'],
  'gcp-wif': ['workloadIdentityProvider', 'serviceAccount', 'projectId', 'stsEndpoint', 'iamCredentialsEndpoint'],
  'azure-federated': ['tenantId', 'clientId', 'subscriptionId', 'authorityHost'],
  'vault-jwt': ['address', 'role', 'mount', 'namespace'],
  'token-exchange': ['issuer', 'requestedTokenType'],
};

function compareTrait(c: Changes, o: CredentialTrait, n: CredentialTrait, pointer: string): void {
  const label = n.type;
  const oldScope = scopeProperties(o);
  const newScope = scopeProperties(n);
  for (const field of IDENTITY_FIELDS[n.type]) {
    c.fixed('identity', `${label} ${field}`, oldScope[field], newScope[field], `${pointer}/properties/${field}`);
  }
  const durationOf = (t: CredentialTrait) => ('durationSeconds' in t ? t.durationSeconds : undefined);
  c.limit('duration', `${label} durationSeconds`, durationOf(o), durationOf(n), `${pointer}/properties/durationSeconds`);
  if (o.type === 'aws-sts' && n.type === 'aws-sts') {
    const oldPolicies = { sessionPolicy: o.sessionPolicy, policyArns: o.policyArns };
    const newPolicies = { sessionPolicy: n.sessionPolicy, policyArns: n.policyArns };
    if (canonicalJson(oldPolicies) !== canonicalJson(newPolicies)) {
      c.add('scope', `${label} session policies`, oldPolicies, newPolicies, awsScopeWidens(o, n), `${pointer}/properties`);
    }
    return;
  }
  if (o.type === 'gcp-wif' && n.type === 'gcp-wif') {
    c.allowList('scope', `${label} scopes`, o.scopes, n.scopes, `${pointer}/properties/scopes`);
    return;
  }
  // Azure's scope, token exchange's audience, resource and scope: a change cannot be proven narrower.
  const rest = (s: Record<string, unknown>) => Object.fromEntries(Object.entries(s).filter(([k]) => !IDENTITY_FIELDS[n.type].includes(k)));
  c.fixed('scope', `${label} scope`, rest(oldScope), rest(newScope), `${pointer}/properties`);
}

function traitPointer(component: Component, trait: CredentialTrait): string {
  return `${component.pointer}/traits/${component.traits.indexOf(trait)}`;
}

function compareTraits(c: Changes, o: Component, n: Component): void {
  const oldTraits = credentialTraitsOf(o);
  const newTraits = credentialTraitsOf(n);
  for (const nt of newTraits) {
    const ot = oldTraits.find((t) => t.type === nt.type);
    if (!ot) c.add('identity', `${nt.type} credentials`, ABSENT, ADDED, true, traitPointer(n, nt));
    else compareTrait(c, ot, nt, traitPointer(n, nt));
  }
  for (const ot of oldTraits) {
    if (!newTraits.some((t) => t.type === ot.type)) c.add('identity', `${ot.type} credentials`, new Word('granted'), REMOVED, false, traitPointer(o, ot), 'default');
  }
  const audit = (comp: Component) => comp.traits.find((t) => t.type === 'mr-audit')?.required ?? false;
  if (audit(o) !== audit(n)) c.add('approvals', 'mr-audit required', audit(o), audit(n), audit(o), n.pointer);
}

function compareSteps(c: Changes, o: ApprovalStep | undefined, n: ApprovalStep | undefined): void {
  if (!n) {
    if (o) c.add('approvals', 'approval step', o.name, REMOVED, true, o.pointer, 'default');
    return;
  }
  if (!o) {
    c.add('approvals', 'approval step', ABSENT, n.name, false, n.pointer);
    return;
  }
  const at = (field: string) => `${n.pointer}/properties/${field}`;
  const label = `step ${JSON.stringify(n.name)}`;
  if (o.minApprovals !== n.minApprovals) c.add('approvals', `${label} minApprovals`, o.minApprovals, n.minApprovals, n.minApprovals < o.minApprovals, at('minApprovals'));
  c.allowList('approvals', `${label} approvers.users`, o.approvers.users, n.approvers.users, at('approvers'));
  c.allowList('approvals', `${label} approvers.groups`, o.approvers.groups, n.approvers.groups, at('approvers'));
  if (canonicalJson(o.forbid) !== canonicalJson(n.forbid)) c.add('approvals', `${label} forbid`, o.forbid, n.forbid, o.forbid.some((f) => !n.forbid.includes(f)), at('forbid'));
  if (o.requireReason !== n.requireReason) c.add('approvals', `${label} requireReason`, o.requireReason, n.requireReason, o.requireReason, at('requireReason'));
  // Accepting the unsigned Run-form reason where the default branch refused it loosens what counts as a reason.
  if (o.acceptReasonVariable !== n.acceptReasonVariable) {
    c.add('approvals', `${label} acceptReasonVariable`, o.acceptReasonVariable, n.acceptReasonVariable, n.acceptReasonVariable, at('acceptReasonVariable'));
  }
  c.fixed('approvals', `${label} reasonPattern`, o.reasonPattern, n.reasonPattern, at('reasonPattern'), true);
  c.limit('approvals', `${label} timeout`, o.timeoutSeconds, n.timeoutSeconds, n.pointer);
  c.limit('approvals', `${label} validFor`, o.validForSeconds, n.validForSeconds, at('validFor'));
}

/**
 * Every difference between the default branch's file (`oldFile`) and the
 * branch's (`newFile`) that bears on `componentName`, in a stable order.
 */
export function compareAccess(oldFile: AccessFile, newFile: AccessFile, componentName: string): AccessChange[] {
  const c = new Changes();
  c.fixed('instance', 'gitlab url', oldFile.gitlab.url, newFile.gitlab.url, '/spec/gitlab/url');
  c.fixed('instance', 'gitlab issuer', oldFile.gitlab.issuer, newFile.gitlab.issuer, '/spec/gitlab');
  const o = oldFile.components.find((x) => x.name === componentName);
  const n = newFile.components.find((x) => x.name === componentName);
  if (!n) return c.list;
  if (!o) {
    c.add('component', `component ${JSON.stringify(componentName)}`, ABSENT, ADDED, true, n.pointer);
    return c.list;
  }
  c.fixed('conditions', 'component environment', o.environment, n.environment, `${n.pointer}/properties/environment`, true);
  compareTraits(c, o, n);
  comparePolicies(c, oldFile, newFile, componentName);
  compareSteps(c, approvalStepFor(oldFile, componentName), approvalStepFor(newFile, componentName));
  return c.list;
}
