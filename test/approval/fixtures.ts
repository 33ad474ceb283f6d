/** Shared builders for approval unit tests: claims and steps as the model holds them. */
import type { ApprovalStep } from '../../src/access-file/model.ts';
import type { CommandDeps } from '../../src/approval/deps.ts';
import { type ApprovalLookups, type Lookup, type MergeRequestAuthor, NO_API_HINT } from '../../src/approval/lookups.ts';
import type { CommentLocation, CommentPlace } from '../../src/approval/reason-comment.ts';
import type { GitlabComment, GitlabMember } from '../../src/lib/gitlab-api.ts';
import { Logger } from '../../src/lib/log.ts';
import { parseOptions } from '../../src/options.ts';
import { type GitlabClaims, toGitlabClaims } from '../../src/token/claims.ts';

export function claims(overrides: Record<string, unknown> = {}): GitlabClaims {
  return toGitlabClaims({
    iss: 'http://127.0.0.1:1',
    sub: 'project_path:acme/payments:ref_type:branch:ref:main',
    aud: 'oam-grant',
    iat: 1_700_000_000,
    exp: 1_700_000_300,
    project_id: '1217',
    project_path: 'acme/payments',
    pipeline_id: '1002',
    job_id: '500',
    sha: 'a'.repeat(40),
    user_id: '42',
    user_login: 'dev',
    user_email: 'dev@example.com',
    ...overrides,
  });
}

export function step(overrides: Partial<ApprovalStep> = {}): ApprovalStep {
  return {
    type: 'jit-approval',
    name: 'approve-deploy-prod',
    pointer: '/spec/workflow/steps/0',
    component: 'deploy-prod',
    timeoutSeconds: 7200,
    approvers: { users: ['alice', 'bob'], groups: [] },
    minApprovals: 1,
    forbid: ['requester', 'mrAuthor'],
    requireReason: false,
    acceptReasonVariable: true,
    validForSeconds: 1800,
    ...overrides,
  };
}

/** Lookups answering from fixed facts; `unavailable` plays "no OAM_GITLAB_TOKEN", `failing` an API that refuses. */
export function lookups(facts: {
  /** Group path -> direct members (user ids), Developer unless `levels` says otherwise. */
  members?: Record<string, string[]>;
  /** Group path -> user id -> access level. */
  levels?: Record<string, Record<string, number>>;
  mrAuthor?: { id: string; username: string };
  /** Several MRs (e.g. every MR that contains a merged commit). */
  mrAuthors?: { iid: string; id: string; username: string }[];
  commitEmails?: string[];
  /** User id -> the emails the API shows of that user (none by default). */
  userEmails?: Record<string, string[]>;
  /** The notes at the comment place (MR !7 of project 1217 unless `commentPlace` says otherwise). */
  comments?: GitlabComment[];
  commentPlace?: CommentPlace;
  unavailable?: boolean;
  failing?: string;
} = {}): ApprovalLookups & { asked: string[] } {
  const asked: string[] = [];
  const noApi = { ok: false, why: 'no OAM_GITLAB_TOKEN, so the GitLab API cannot be asked', hint: NO_API_HINT } as const;
  const down = (): Lookup<never> | undefined =>
    facts.unavailable ? noApi : facts.failing ? { ok: false, why: facts.failing, hint: 'check that OAM_GITLAB_TOKEN may read this project' } : undefined;
  const commentPlace: CommentPlace = facts.commentPlace ?? { kind: 'merge-request', projectId: '1217', iid: '7' };
  const samePlace = (location: CommentLocation): boolean =>
    location.kind === commentPlace.kind &&
    location.projectId === commentPlace.projectId &&
    (location.kind === 'merge-request' ? commentPlace.kind === 'merge-request' && location.iid === commentPlace.iid : commentPlace.kind === 'commit' && location.sha === commentPlace.sha);
  return {
    asked,
    commentPlace,
    isOfThisChange: samePlace,
    async comments() {
      asked.push('comments');
      const failed = down();
      if (failed) return failed;
      return { ok: true, value: facts.comments ?? [] };
    },
    async comment(location, noteId) {
      asked.push(`comment ${noteId}`);
      const failed = down();
      if (failed) return failed;
      return { ok: true, value: samePlace(location) ? facts.comments?.find((c) => c.id === noteId) : undefined };
    },
    async groupMembership(group, userId): Promise<Lookup<GitlabMember | undefined>> {
      asked.push(`member ${group} ${userId}`);
      const failed = down();
      if (failed) return failed;
      if (!(facts.members?.[group] ?? []).includes(userId)) return { ok: true, value: undefined };
      return { ok: true, value: { state: 'active', accessLevel: facts.levels?.[group]?.[userId] ?? 30 } };
    },
    async mergeRequestAuthors(): Promise<Lookup<readonly MergeRequestAuthor[]>> {
      asked.push('mrAuthors');
      const failed = down();
      if (failed) return failed;
      const all = [
        ...(facts.mrAuthor ? [{ iid: '7', ...facts.mrAuthor }] : []),
        ...(facts.mrAuthors ?? []),
      ];
      return { ok: true, value: all.map(({ iid, id, username }) => ({ mergeRequest: { projectId: '1217', iid }, author: { id, username } })) };
    },
    async commitAuthorEmails(): Promise<Lookup<readonly string[]>> {
      asked.push('commitEmails');
      const failed = down();
      if (failed) return failed;
      return { ok: true, value: facts.commitEmails ?? [] };
    },
    async userEmails(userId): Promise<Lookup<readonly string[]>> {
      asked.push(`emails ${userId}`);
      const failed = down();
      if (failed) return failed;
      return { ok: true, value: facts.userEmails?.[userId] ?? [] };
    },
  };
}

/** A command's Deps for in-process tests of the approval seams: `logged` collects the job log, nothing reaches the network unless a test says so. */
export function commandDeps(overrides: Partial<CommandDeps> & { outDir?: string } = {}): CommandDeps & { logged: string[] } {
  const logged: string[] = [];
  const { outDir, ...rest } = overrides;
  const parsed = parseOptions(['grant', '--component', 'deploy-prod', '--out-dir', outDir ?? '.oam-grant'], {});
  if (parsed.kind !== 'run') throw new Error('grant options did not parse');
  return {
    logged,
    options: parsed.options,
    env: {},
    ctx: { inGitlabJob: false },
    log: new Logger({ sink: { write: (text) => void logged.push(text) } }),
    out: () => undefined,
    now: () => new Date(),
    get: () => Promise.reject(new Error('no HTTP in this test')),
    verifier: () => {
      throw new Error('no verifier in this test');
    },
    ...rest,
  };
}
