/**
 * trust-policy: the IAM role trust policy that matches the access file for a
 * component — the outer wall that holds even when a job script is changed.
 * JSON on stdout; what IAM cannot express goes to stderr as warnings and notes.
 *
 * It is never wider than the file: IAM sees only the token's `sub` and `aud`,
 * and GitLab's `sub` can only be made of project_path, ref_type and ref (the
 * project setting ci_id_token_sub_claim_components refuses anything else), so
 * whatever the file checks beyond those is left to oam-grant, and said so.
 */
import type { AccessFile, AwsStsTrait, Component, GitlabConditionsPolicy } from '../access-file/model.ts';
import { OamError } from '../errors.ts';
import { parseSafeUrl } from '../lib/http.ts';
import { normalizeIssuer } from '../token/discovery.ts';
import type { Deps } from './deps.ts';
import { loadTarget } from './target.ts';

/** Our glob (`*` stops at '/', `**` does not) to IAM StringLike, where `*` matches anything. */
function toIamPattern(glob: string): string {
  return glob.replace(/\*\*/g, '*');
}

function conditionsFor(file: AccessFile, component: Component): GitlabConditionsPolicy[] {
  return file.policies.filter(
    (p): p is GitlabConditionsPolicy => p.type === 'gitlab-conditions' && (!p.componentNames || p.componentNames.includes(component.name)),
  );
}

/** All gitlab-conditions policies must hold, so each field is the intersection of what they allow. */
function intersect(lists: (readonly string[] | undefined)[]): string[] | undefined {
  let result: string[] | undefined;
  for (const list of lists) {
    if (!list) continue;
    result = result ? result.filter((v) => list.includes(v)) : [...list];
  }
  return result;
}

export interface TrustPolicy {
  policy: Record<string, unknown>;
  /** What the policy admits that the file may not mean to: printed as warnings. */
  warnings: string[];
  /** What IAM cannot express, left to oam-grant. */
  notes: string[];
}

/**
 * A tag's `sub` differs from a branch's only in ref_type, and IAM cannot see
 * `ref_protected`: a tag pattern admits every matching tag, protected or not,
 * and an unprotected tag can be created by any Developer. So tags are in the
 * policy only where the file names them, and then with this warning.
 */
function unprotectedTagWarning(refs: readonly string[]): string {
  return (
    `the policy admits tags matching ${refs.join(', ')} (refTypes names tag), and IAM cannot see ref_protected: anyone who can create such a tag could call STS directly and skip oam-grant; ` +
    'protect those tags (Settings > Repository > Protected tags, Allowed to create) so that only the people you trust can create them'
  );
}

export function buildTrustPolicy(file: AccessFile, component: Component, trait: AwsStsTrait, issuer: string, audience: string, projectPath: string | undefined): TrustPolicy {
  const url = parseSafeUrl(normalizeIssuer(issuer), 'spec.gitlab.issuer');
  const providerHost = `${url.host}${url.pathname.replace(/\/+$/, '')}`;
  const account = /^arn:aws[a-z-]*:iam::([0-9]{12}):role\//.exec(trait.roleArn)?.[1];
  const partition = /^arn:(aws[a-z-]*):/.exec(trait.roleArn)?.[1] ?? 'aws';
  if (!account) throw new OamError('ERR_METADATA_INVALID', `${trait.roleArn} is not an IAM role ARN`, { hint: 'fix roleArn in the aws-sts trait' });
  const warnings: string[] = [];
  const notes: string[] = [];
  const policies = conditionsFor(file, component);
  const projects = intersect(policies.map((p) => p.projectPaths)) ?? (projectPath ? [projectPath] : undefined);
  if (!projects || projects.length === 0) {
    throw new OamError('ERR_USAGE', `no project path for the trust policy of ${component.name}`, {
      hint: 'add projectPaths to a gitlab-conditions policy, or run where CI_PROJECT_PATH is set',
    });
  }
  const fileRefTypes = intersect(policies.map((p) => p.refTypes));
  if (fileRefTypes && fileRefTypes.length === 0) {
    throw new OamError('ERR_USAGE', `the refTypes of the gitlab-conditions policies for ${component.name} have nothing in common: no ref could pass`, {
      hint: 'give the policies that apply to this component refTypes that overlap (e.g. [branch])',
    });
  }
  // Without refTypes the file admits tags too, but IAM could not tell a protected tag from any other: branches only.
  const refTypes = fileRefTypes ?? ['branch'];
  if (!fileRefTypes) notes.push('the access file sets no refTypes: the policy admits branches only; to admit tags, add refTypes [branch, tag] (or [tag]) to a gitlab-conditions policy and protect the tags');
  const refLists = policies.map((p) => p.refs).filter((r): r is readonly string[] => r !== undefined);
  if (refLists.length > 1) notes.push('several policies list refs; the trust policy allows the refs of the first, oam-grant checks all of them');
  const refs = refLists[0];
  if (!refs) {
    throw new OamError('ERR_USAGE', `no refs condition applies to ${component.name}: the trust policy would admit every branch and tag of the project`, {
      hint: 'add refs (e.g. ["main", "release/*"]) to a gitlab-conditions policy for this component; the trust policy is the wall that holds when a job script is changed',
    });
  }
  if (refTypes.includes('tag')) warnings.push(unprotectedTagWarning(refs));
  const subjects: string[] = [];
  for (const project of projects) {
    for (const refType of refTypes) {
      for (const ref of refs) subjects.push(`project_path:${project}:ref_type:${refType}:ref:${toIamPattern(ref)}`);
    }
  }
  if (refs.some((r) => r.includes('*') && !r.includes('**'))) {
    notes.push("IAM's `*` also matches '/', so `release/*` admits `release/a/b` at the trust policy; oam-grant still enforces the narrower glob");
  }
  if (refs.includes('**')) notes.push(`refs includes "**": any ${refTypes.join(' or ')} of the project may assume the role; pin protected refs here`);
  if (policies.some((p) => p.refProtected !== undefined)) {
    notes.push('refProtected is checked by oam-grant only: IAM cannot see the ref_protected claim; keep refs to branches and tags that are protected in the project settings');
  }
  if (policies.some((p) => p.environments) || component.environment) notes.push('environment conditions are enforced by oam-grant only');
  if (policies.some((p) => p.pipelineSources)) notes.push('pipeline source conditions are enforced by oam-grant only');
  if (file.steps.some((s) => s.component === component.name)) notes.push('approvals are enforced by oam-grant only: the trust policy must pin protected refs so a changed job script cannot skip them');
  notes.push(
    'this assumes GitLab\'s default sub claim "project_path:{group}/{project}:ref_type:{type}:ref:{ref}": keep the project\'s ci_id_token_sub_claim_components at project_path, ref_type, ref (GitLab accepts no other parts, and without ref_type a tag would pass for a branch)',
  );
  const policy = {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: `OamGrant${component.name.replace(/[^A-Za-z0-9]/g, '')}`.slice(0, 64),
        Effect: 'Allow',
        Principal: { Federated: `arn:${partition}:iam::${account}:oidc-provider/${providerHost}` },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: {
          StringEquals: { [`${providerHost}:aud`]: audience },
          StringLike: { [`${providerHost}:sub`]: subjects.length === 1 ? subjects[0] : subjects },
        },
      },
    ],
  };
  return { policy, warnings, notes };
}

export async function runTrustPolicy(deps: Deps): Promise<number> {
  const target = await loadTarget(deps);
  const { policy, warnings, notes } = buildTrustPolicy(target.file, target.component, target.trait, target.file.gitlab.issuer, target.audience, deps.ctx.projectPath);
  deps.out(`${JSON.stringify(policy, null, 2)}\n`);
  for (const warning of warnings) deps.log.warn(warning);
  for (const note of notes) deps.log.info(`note: ${note}`);
  return 0;
}
