/**
 * What a cloud-side trust configuration may admit for a component: the
 * projects, ref types and refs its gitlab-conditions policies allow. Every
 * provider's configuration (IAM trust policy, GCP attribute condition, Azure
 * federated credential, Vault role) is built from this, so none is wider than
 * the file.
 *
 * A cloud sees only what GitLab puts in the token's `sub` (project_path,
 * ref_type, ref: the project setting ci_id_token_sub_claim_components accepts
 * no other parts) or, where it reads claims, those same claims; whatever the
 * file checks beyond them is left to oam-grant, and said so in `notes`.
 */
import type { AccessFile, Component, GitlabConditionsPolicy } from '../access-file/model.ts';
import { OamError } from '../errors.ts';
import { durationCapFor } from './evaluate.ts';
import { matchesRefGlob } from '../access-file/glob.ts';

export interface TrustScope {
  readonly projects: readonly string[];
  /** Branches only unless the file names tags. */
  readonly refTypes: readonly ('branch' | 'tag')[];
  /** The refs as the file writes them (our globs: `*` within a segment, `**` across). */
  readonly refs: readonly string[];
  /** The `ref_protected` the file requires, for clouds that read claims (Vault); undefined when it requires none. */
  readonly refProtected?: boolean;
  /** The shortest credential-limits cap, for clouds whose configuration sets the lifetime (Vault's token TTLs). */
  readonly maxDurationSeconds?: number;
  /** What the configuration admits that the file may not mean to. */
  readonly warnings: readonly string[];
  /** What the cloud cannot express, left to oam-grant. */
  readonly notes: readonly string[];
}

function conditionsFor(file: AccessFile, component: Component): GitlabConditionsPolicy[] {
  return file.policies.filter(
    (p): p is GitlabConditionsPolicy => p.type === 'gitlab-conditions' && (!p.componentNames || p.componentNames.includes(component.name)),
  );
}

/** All gitlab-conditions policies must hold, so each field is the intersection of what they allow. */
function intersect<T extends string>(lists: (readonly T[] | undefined)[]): T[] | undefined {
  let result: T[] | undefined;
  for (const list of lists) {
    if (!list) continue;
    result = result ? result.filter((v) => list.includes(v)) : [...list];
  }
  return result;
}

/** Whether every ref `pattern` matches is matched by `wider` too (only the sure cases: the same pattern, `**`, a literal ref). */
function covers(wider: string, pattern: string): boolean {
  return wider === pattern || wider === '**' || (!/[*?]/.test(pattern) && matchesRefGlob(wider, pattern));
}

/**
 * The refs all the lists admit, as patterns a cloud can take: those of one
 * list that every other list covers. Never wider than the file (an overlap of
 * two different wildcards is left out, not guessed); undefined without lists.
 */
function commonRefs(lists: readonly (readonly string[])[]): string[] | undefined {
  if (lists.length === 0) return undefined;
  const found: string[] = [];
  for (const list of lists) {
    for (const pattern of list) {
      if (!found.includes(pattern) && lists.every((other) => other.some((wider) => covers(wider, pattern)))) found.push(pattern);
    }
  }
  // A pattern covered by another one found is already admitted through it.
  return found.filter((pattern) => !found.some((other) => other !== pattern && covers(other, pattern)));
}

/**
 * A tag's `sub` differs from a branch's only in ref_type, and clouds cannot
 * see `ref_protected`: a tag pattern admits every matching tag, protected or
 * not, and an unprotected tag can be created by any Developer. So tags are in
 * the configuration only where the file names them, and then with this warning.
 */
export function unprotectedTagWarning(refs: readonly string[]): string {
  return (
    `the configuration admits tags matching ${refs.join(', ')} (refTypes names tag), and the cloud cannot see ref_protected: anyone who can create such a tag could call the cloud directly and skip oam-grant; ` +
    'protect those tags (Settings > Repository > Protected tags, Allowed to create) so that only the people you trust can create them'
  );
}

/** The scope of `component`, or ERR_USAGE when the file would let a configuration admit every ref. */
export function trustScopeOf(file: AccessFile, component: Component, projectPath: string | undefined): TrustScope {
  const warnings: string[] = [];
  const notes: string[] = [];
  const policies = conditionsFor(file, component);
  const projects = intersect(policies.map((p) => p.projectPaths)) ?? (projectPath ? [projectPath] : undefined);
  if (!projects || projects.length === 0) {
    throw new OamError('ERR_USAGE', `no project path for the trust configuration of ${component.name}`, {
      hint: 'add projectPaths to a gitlab-conditions policy, or run where CI_PROJECT_PATH is set',
    });
  }
  const fileRefTypes = intersect(policies.map((p) => p.refTypes));
  if (fileRefTypes && fileRefTypes.length === 0) {
    throw new OamError('ERR_USAGE', `the refTypes of the gitlab-conditions policies for ${component.name} have nothing in common: no ref could pass`, {
      hint: 'give the policies that apply to this component refTypes that overlap (e.g. [branch])',
    });
  }
  // Without refTypes the file admits tags too, but the cloud could not tell a protected tag from any other: branches only.
  const refTypes = fileRefTypes ?? ['branch'];
  if (!fileRefTypes) notes.push('the access file sets no refTypes: the configuration admits branches only; to admit tags, add refTypes [branch, tag] (or [tag]) to a gitlab-conditions policy and protect the tags');
  const refLists = policies.map((p) => p.refs).filter((r): r is readonly string[] => r !== undefined);
  const refs = commonRefs(refLists);
  if (refLists.length > 1) {
    if (refs?.length === 0) {
      throw new OamError('ERR_USAGE', `the refs of the gitlab-conditions policies for ${component.name} share no pattern the trust configuration could admit`, {
        hint: 'every policy must hold, and a cloud takes one list of patterns: repeat in each policy the refs the component may run on (a pattern another policy already covers, like main under "**", counts)',
      });
    }
    notes.push(`several policies list refs; all must hold, so the configuration admits only the patterns every one of them covers: ${refs!.join(', ')}`);
  }
  if (!refs) {
    throw new OamError('ERR_USAGE', `no refs condition applies to ${component.name}: the trust configuration would admit every branch and tag of the project`, {
      hint: 'add refs (e.g. ["main", "release/*"]) to a gitlab-conditions policy for this component; the trust configuration is the wall that holds when a job script is changed',
    });
  }
  const protections = new Set(policies.map((p) => p.refProtected).filter((v): v is boolean => v !== undefined));
  if (protections.size > 1) {
    throw new OamError('ERR_USAGE', `the gitlab-conditions policies for ${component.name} require refProtected both true and false: no ref could pass`, {
      hint: 'give the policies that apply to this component the same refProtected',
    });
  }
  const refProtected = [...protections][0];
  const maxDurationSeconds = durationCapFor(file, component);
  if (refTypes.includes('tag')) warnings.push(unprotectedTagWarning(refs));
  if (refs.includes('**')) notes.push(`refs includes "**": any ${refTypes.join(' or ')} of the project is admitted; pin protected refs here`);
  if (policies.some((p) => p.refProtected !== undefined)) {
    notes.push('refProtected is checked by oam-grant only where the cloud cannot read the ref_protected claim; keep refs to branches and tags that are protected in the project settings');
  }
  if (policies.some((p) => p.environments) || component.environment) notes.push('environment conditions are enforced by oam-grant only');
  if (policies.some((p) => p.pipelineSources)) notes.push('pipeline source conditions are enforced by oam-grant only');
  if (file.steps.some((s) => s.component === component.name)) {
    notes.push('approvals are enforced by oam-grant only: the trust configuration must pin protected refs so a changed job script cannot skip them');
  }
  return {
    projects,
    refTypes,
    refs,
    ...(refProtected !== undefined ? { refProtected } : {}),
    ...(maxDurationSeconds !== undefined ? { maxDurationSeconds } : {}),
    warnings,
    notes,
  };
}

/** Every `sub` the scope admits, each ref written by `pattern` (the cloud's wildcard syntax). */
export function subjectsOf(scope: TrustScope, pattern: (ref: string) => string): string[] {
  const subjects: string[] = [];
  for (const project of scope.projects) {
    for (const refType of scope.refTypes) {
      for (const ref of scope.refs) subjects.push(`project_path:${project}:ref_type:${refType}:ref:${pattern(ref)}`);
    }
  }
  return subjects;
}

/** The note every configuration built on `sub` carries. */
export const DEFAULT_SUB_NOTE =
  'this assumes GitLab\'s default sub claim "project_path:{group}/{project}:ref_type:{type}:ref:{ref}": keep the project\'s ci_id_token_sub_claim_components at project_path, ref_type, ref (GitLab accepts no other parts, and without ref_type a tag would pass for a branch)';
