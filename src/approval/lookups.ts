/**
 * The facts about people that the ID tokens do not carry (group membership,
 * MR authors, commit authors, a user's visible emails), read through the
 * GitLab API once per job.
 * Without an API client every lookup reports `unavailable`, and the checks
 * that need it fail closed (design.md, section 3).
 */
import type { GitlabApi, GitlabComment, GitlabMember, GitlabUserRef } from '../lib/gitlab-api.ts';
import type { MergeRequestRef, MergeRequestScope } from './merge-requests.ts';
import type { CommentLocation, CommentPlace } from './reason-comment.ts';

export type Lookup<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly why: string; readonly hint?: string };

/** A merge request of this change and who opened it. */
export interface MergeRequestAuthor {
  readonly mergeRequest: MergeRequestRef;
  readonly author: GitlabUserRef;
}

export interface ApprovalLookups {
  /**
   * The user's direct membership of `group` (undefined: none); inherited
   * memberships are not asked for. A group the API token cannot see is a
   * failed look-up, not "no member": GitLab answers 404 for both.
   */
  groupMembership(group: string, userId: string): Promise<Lookup<GitlabMember | undefined>>;
  /**
   * The authors of every merge request of this change: the MRs the pipeline's
   * variables name (its MR, the open MRs of the branch) and, always, every MR
   * of the job's project that contains the signed commit (also after the merge).
   */
  mergeRequestAuthors(): Promise<Lookup<readonly MergeRequestAuthor[]>>;
  /** Lower-cased author and committer emails of those MRs' commits (or of the pipeline's commit when there is no MR). */
  commitAuthorEmails(): Promise<Lookup<readonly string[]>>;
  /** The user's emails the API shows to this token, lower-cased (the public one; all of them to an admin token). */
  userEmails(userId: string): Promise<Lookup<readonly string[]>>;
  /** Where approvers of this change write their reason: the note's merge request, else the pipeline's commit. */
  readonly commentPlace: CommentPlace | undefined;
  /** Whether a note's location is a merge request of this change or the pipeline's commit (in its project). */
  isOfThisChange(location: CommentLocation): boolean;
  /** Every note at {@link commentPlace}, read once per job. */
  comments(): Promise<Lookup<readonly GitlabComment[]>>;
  /** One note again, where the evidence says it is; undefined when it no longer exists. */
  comment(location: CommentLocation, noteId: number): Promise<Lookup<GitlabComment | undefined>>;
}

export interface LookupContext {
  readonly api: GitlabApi | undefined;
  readonly scope: MergeRequestScope;
}

export const NO_API_HINT =
  'set OAM_GITLAB_TOKEN (a project or group access token with scope api) so oam-grant can check group membership, the MR author and commit authors';

const API_FAILED_HINT =
  'check that OAM_GITLAB_TOKEN may read this project and its merge requests (scope api, Reporter or higher), then retry the job';

function failure(error: unknown, prefix = ''): { ok: false; why: string; hint: string } {
  return { ok: false, why: `${prefix}${error instanceof Error ? error.message : 'lookup failed'}`, hint: API_FAILED_HINT };
}

function memo<T>(fn: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= fn();
    return pending;
  };
}

const sameRef = (a: MergeRequestRef, b: MergeRequestRef): boolean => a.projectId === b.projectId && a.iid === b.iid;

/** "Not a member" or "cannot see the group": GitLab answers 404 to both, `GET /groups/:id` tells them apart. */
async function invisibleGroup(api: GitlabApi, group: string): Promise<{ ok: false; why: string; hint: string } | undefined> {
  if (await api.isGroupVisible(group)) return undefined;
  const me = await api.currentUser().then(
    (user) => user.username,
    () => undefined,
  );
  const who = me ? `the API token's user ${me}` : "the API token's user";
  return {
    ok: false,
    why: `${who} cannot see group ${group} (GitLab answers 404 Group Not Found), so its members cannot be checked`,
    hint: `give ${me ?? "the OAM_GITLAB_TOKEN's user"} access to ${group} (any role lets it read the members), or set OAM_GITLAB_TOKEN to a token that can see the group, e.g. a group access token of ${group} or of a parent group`,
  };
}

export function createApprovalLookups(context: LookupContext): ApprovalLookups {
  const { api, scope } = context;
  const noApi = { ok: false, why: 'no OAM_GITLAB_TOKEN, so the GitLab API cannot be asked', hint: NO_API_HINT } as const;
  const members = new Map<string, Promise<Lookup<GitlabMember | undefined>>>();
  const emailsOf = new Map<string, Promise<Lookup<readonly string[]>>>();

  const mergeRequestAuthors = memo(async (): Promise<Lookup<readonly MergeRequestAuthor[]>> => {
    if (!api) return noApi;
    const found: MergeRequestAuthor[] = [];
    for (const ref of scope.known) {
      try {
        found.push({ mergeRequest: ref, author: await api.getMergeRequestAuthor(ref.projectId, ref.iid) });
      } catch (error) {
        return failure(error, `merge request !${ref.iid}: `);
      }
    }
    // Always, not only outside MR pipelines: the MR variables are pipeline variables anyone
    // who runs the pipeline may set, so they may add MRs but never hide the commit's own.
    const { jobProjectId, commitSha } = scope;
    if (!jobProjectId || !commitSha) {
      return { ok: false, why: 'the token names no project or commit whose merge requests could be looked up', hint: 'run inside a GitLab job' };
    }
    let ofCommit: Awaited<ReturnType<GitlabApi['listCommitMergeRequests']>>;
    try {
      ofCommit = await api.listCommitMergeRequests(jobProjectId, commitSha);
    } catch (error) {
      return failure(error, `cannot find the merge requests of commit ${commitSha.slice(0, 12)}: `);
    }
    // A merge request pipeline whose commit is in no MR (merged results run on a temporary merge commit, which GitLab
    // does not list): its MR would rest on the variables alone, which the branch's own .gitlab-ci.yml may set.
    if (ofCommit.length === 0 && scope.mergeRequestPipeline) {
      return {
        ok: false,
        why: `commit ${commitSha.slice(0, 12)} of this merge request pipeline is in no merge request GitLab lists (a merged results pipeline runs on a temporary merge commit), so the merge request cannot be taken from the signed token`,
        hint: 'run the approval in a branch pipeline (the components\' default: the default branch after the merge), or in a merge request pipeline on the source branch\'s own commit',
      };
    }
    for (const mr of ofCommit) {
      const ref = { projectId: mr.projectId, iid: mr.iid };
      if (!found.some((f) => sameRef(f.mergeRequest, ref))) found.push({ mergeRequest: ref, author: mr.author });
    }
    return { ok: true, value: found };
  });

  const commitAuthorEmails = memo(async (): Promise<Lookup<readonly string[]>> => {
    if (!api) return noApi;
    const mrs = await mergeRequestAuthors();
    if (!mrs.ok) return mrs;
    const emails = new Set<string>();
    const add = (commit: { authorEmail?: string; committerEmail?: string }): void => {
      if (commit.authorEmail) emails.add(commit.authorEmail.toLowerCase());
      if (commit.committerEmail) emails.add(commit.committerEmail.toLowerCase());
    };
    for (const { mergeRequest } of mrs.value) {
      try {
        for (const commit of await api.listMergeRequestCommits(mergeRequest.projectId, mergeRequest.iid)) add(commit);
      } catch (error) {
        return failure(error, `merge request !${mergeRequest.iid}: `);
      }
    }
    if (mrs.value.length === 0) {
      const { jobProjectId, commitSha } = scope;
      if (!jobProjectId || !commitSha) {
        return { ok: false, why: 'the token names no project or commit to look up', hint: 'run inside a GitLab job' };
      }
      try {
        add(await api.getCommit(jobProjectId, commitSha));
      } catch (error) {
        return failure(error, `commit ${commitSha.slice(0, 12)}: `);
      }
    }
    return { ok: true, value: [...emails] };
  });

  const commentPlace = commentPlaceOf(scope);
  const comments = memo(async (): Promise<Lookup<readonly GitlabComment[]>> => {
    if (!api) return noApi;
    if (!commentPlace) return { ok: false, why: 'the token names no project or commit to read comments of', hint: 'run inside a GitLab job' };
    try {
      const found =
        commentPlace.kind === 'merge-request'
          ? await api.listMergeRequestComments(commentPlace.projectId, commentPlace.iid)
          : await api.listCommitDiscussionNotes(commentPlace.projectId, commentPlace.sha);
      return { ok: true, value: found };
    } catch (error) {
      return failure(error, `comments on ${commentPlace.kind === 'merge-request' ? `merge request !${commentPlace.iid}` : `commit ${commentPlace.sha.slice(0, 12)}`}: `);
    }
  });

  return {
    commentPlace,
    isOfThisChange(location) {
      if (location.kind === 'commit') return location.projectId === scope.pipelineProjectId && location.sha === scope.commitSha;
      return scope.known.some((ref) => sameRef(ref, { projectId: location.projectId, iid: location.iid }));
    },
    comments,
    async comment(location, noteId) {
      if (!api) return noApi;
      try {
        const note =
          location.kind === 'merge-request'
            ? await api.getMergeRequestComment(location.projectId, location.iid, noteId)
            : await api.getCommitDiscussionNote(location.projectId, location.sha, location.discussionId, noteId);
        return { ok: true, value: note };
      } catch (error) {
        return failure(error, `note ${noteId}: `);
      }
    },
    groupMembership(group, userId) {
      if (!api) return Promise.resolve(noApi);
      const key = `${group}\u0000${userId}`;
      let pending = members.get(key);
      if (!pending) {
        pending = (async (): Promise<Lookup<GitlabMember | undefined>> => {
          const member = await api.getGroupMember(group, userId);
          if (member === undefined) return (await invisibleGroup(api, group)) ?? { ok: true, value: undefined };
          return { ok: true, value: member };
        })().catch((error: unknown) => failure(error));
        members.set(key, pending);
      }
      return pending;
    },
    mergeRequestAuthors,
    commitAuthorEmails,
    userEmails(userId) {
      if (!api) return Promise.resolve(noApi);
      let pending = emailsOf.get(userId);
      if (!pending) {
        pending = api.getUserEmails(userId).then(
          (emails): Lookup<readonly string[]> => ({ ok: true, value: emails }),
          (error: unknown) => failure(error, `user ${userId}: `),
        );
        emailsOf.set(userId, pending);
      }
      return pending;
    },
  };
}

/**
 * The one place the request note tells approvers to comment: the MR the note
 * goes to, else the pipeline's commit (signed project and sha).
 */
export function commentPlaceOf(scope: MergeRequestScope): CommentPlace | undefined {
  if (scope.noteTarget) return { kind: 'merge-request', projectId: scope.noteTarget.projectId, iid: scope.noteTarget.iid };
  if (scope.pipelineProjectId && scope.commitSha) return { kind: 'commit', projectId: scope.pipelineProjectId, sha: scope.commitSha };
  return undefined;
}
