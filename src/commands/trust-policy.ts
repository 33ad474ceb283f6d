/**
 * trust-policy: the IAM role trust policy that matches the access file for a
 * component — the outer wall that holds even when a job script is changed.
 * JSON on stdout; what IAM cannot express goes to stderr as notes.
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
  notes: string[];
}

export function buildTrustPolicy(file: AccessFile, component: Component, trait: AwsStsTrait, issuer: string, audience: string, projectPath: string | undefined): TrustPolicy {
  const url = parseSafeUrl(normalizeIssuer(issuer), 'spec.gitlab.issuer');
  const providerHost = `${url.host}${url.pathname.replace(/\/+$/, '')}`;
  const account = /^arn:aws[a-z-]*:iam::([0-9]{12}):role\//.exec(trait.roleArn)?.[1];
  const partition = /^arn:(aws[a-z-]*):/.exec(trait.roleArn)?.[1] ?? 'aws';
  if (!account) throw new OamError('ERR_METADATA_INVALID', `${trait.roleArn} is not an IAM role ARN`, { hint: 'fix roleArn in the aws-sts trait' });
  const notes: string[] = [];
  const policies = conditionsFor(file, component);
  const projects = intersect(policies.map((p) => p.projectPaths)) ?? (projectPath ? [projectPath] : undefined);
  if (!projects || projects.length === 0) {
    throw new OamError('ERR_USAGE', `no project path for the trust policy of ${component.name}`, {
      hint: 'add projectPaths to a gitlab-conditions policy, or run where CI_PROJECT_PATH is set',
    });
  }
  const refTypes = intersect(policies.map((p) => p.refTypes)) ?? ['branch', 'tag'];
  const refLists = policies.map((p) => p.refs).filter((r): r is readonly string[] => r !== undefined);
  if (refLists.length > 1) notes.push('several policies list refs; the trust policy allows the refs of the first, oam-grant checks all of them');
  const refs = refLists[0];
  if (!refs) {
    throw new OamError('ERR_USAGE', `no refs condition applies to ${component.name}: the trust policy would admit every branch and tag of the project`, {
      hint: 'add refs (e.g. ["main", "release/*"]) to a gitlab-conditions policy for this component; the trust policy is the wall that holds when a job script is changed',
    });
  }
  const subjects: string[] = [];
  for (const project of projects) {
    for (const refType of refTypes) {
      for (const ref of refs) subjects.push(`project_path:${project}:ref_type:${refType}:ref:${toIamPattern(ref)}`);
    }
  }
  if (refs.some((r) => r.includes('*') && !r.includes('**'))) {
    notes.push("IAM's `*` also matches '/', so `release/*` admits `release/a/b` at the trust policy; oam-grant still enforces the narrower glob");
  }
  if (refs.includes('**')) notes.push('refs includes "**": any branch or tag of the project may assume the role; pin protected refs here');
  if (policies.some((p) => p.refProtected !== undefined)) {
    notes.push('ref_protected cannot be expressed with the default sub claim; keep refs to protected branches and tags, or add ref_protected to the sub claim (projects API ci_id_token_sub_claim_components)');
  }
  if (policies.some((p) => p.environments) || component.environment) notes.push('environment conditions are enforced by oam-grant only');
  if (policies.some((p) => p.pipelineSources)) notes.push('pipeline source conditions are enforced by oam-grant only');
  if (file.steps.some((s) => s.component === component.name)) notes.push('approvals are enforced by oam-grant only: the trust policy must pin protected refs so a changed job script cannot skip them');
  notes.push('this assumes GitLab\'s default sub claim "project_path:{group}/{project}:ref_type:{type}:ref:{ref}"');
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
  return { policy, notes };
}

export async function runTrustPolicy(deps: Deps): Promise<number> {
  const target = await loadTarget(deps);
  const { policy, notes } = buildTrustPolicy(target.file, target.component, target.trait, target.file.gitlab.issuer, target.audience, deps.ctx.projectPath);
  deps.out(`${JSON.stringify(policy, null, 2)}\n`);
  for (const note of notes) deps.log.info(`note: ${note}`);
  return 0;
}
