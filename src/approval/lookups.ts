/**
 * The facts about people that the ID tokens do not carry (group membership,
 * the MR author, commit authors), read through the GitLab API once per job.
 * Without an API client every lookup reports `unavailable`, and the checks
 * that need it fail closed (design.md, section 3).
 */
import type { GitlabApi, GitlabUserRef } from '../lib/gitlab-api.ts';

export type Lookup<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly why: string };

export interface ApprovalLookups {
  /** Whether `userId` is an active member (direct or inherited) of `group`. */
  isActiveGroupMember(group: string, userId: string): Promise<Lookup<boolean>>;
  /** The author of this pipeline's merge request; `value` undefined when the pipeline has none. */
  mergeRequestAuthor(): Promise<Lookup<GitlabUserRef | undefined>>;
  /** Lower-cased author and committer emails of the MR's commits (or of the pipeline's commit without an MR). */
  commitAuthorEmails(): Promise<Lookup<readonly string[]>>;
}

export interface LookupContext {
  readonly api: GitlabApi | undefined;
  readonly projectId: string | undefined;
  readonly mergeRequestIid: string | undefined;
  readonly commitSha: string | undefined;
}

export const NO_API_HINT =
  'set OAM_GITLAB_TOKEN (a project or group access token with scope api) so oam-grant can check group membership, the MR author and commit authors';

function failure(error: unknown): { ok: false; why: string } {
  return { ok: false, why: error instanceof Error ? error.message : 'lookup failed' };
}

function memo<T>(fn: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= fn();
    return pending;
  };
}

export function createApprovalLookups(context: LookupContext): ApprovalLookups {
  const { api, projectId, mergeRequestIid, commitSha } = context;
  const noApi = { ok: false, why: 'no OAM_GITLAB_TOKEN, so the GitLab API cannot be asked' } as const;
  const members = new Map<string, Promise<Lookup<boolean>>>();

  const mergeRequestAuthor = memo(async (): Promise<Lookup<GitlabUserRef | undefined>> => {
    if (mergeRequestIid === undefined) return { ok: true, value: undefined };
    if (!api || !projectId) return noApi;
    try {
      return { ok: true, value: await api.getMergeRequestAuthor(projectId, mergeRequestIid) };
    } catch (error) {
      return failure(error);
    }
  });

  const commitAuthorEmails = memo(async (): Promise<Lookup<readonly string[]>> => {
    if (!api || !projectId) return noApi;
    try {
      const commits =
        mergeRequestIid !== undefined
          ? await api.listMergeRequestCommits(projectId, mergeRequestIid)
          : commitSha
            ? [await api.getCommit(projectId, commitSha)]
            : [];
      const emails = new Set<string>();
      for (const commit of commits) {
        if (commit.authorEmail) emails.add(commit.authorEmail.toLowerCase());
        if (commit.committerEmail) emails.add(commit.committerEmail.toLowerCase());
      }
      return { ok: true, value: [...emails] };
    } catch (error) {
      return failure(error);
    }
  });

  return {
    isActiveGroupMember(group, userId) {
      if (!api) return Promise.resolve(noApi);
      const key = `${group}\u0000${userId}`;
      let pending = members.get(key);
      if (!pending) {
        pending = api.getGroupMember(group, userId).then(
          (member): Lookup<boolean> => ({ ok: true, value: member !== undefined && member.state === 'active' }),
          failure,
        );
        members.set(key, pending);
      }
      return pending;
    },
    mergeRequestAuthor,
    commitAuthorEmails,
  };
}
