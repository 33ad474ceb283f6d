/**
 * ApprovalLookups answered from the facts a test case states, instead of the
 * GitLab API: the same interface the approve and grant jobs use, so the
 * approval checks run unchanged and offline.
 */
import { MIN_APPROVER_ACCESS_LEVEL } from '../approval/checks.ts';
import type { ApprovalLookups, MergeRequestAuthor } from '../approval/lookups.ts';
import type { GitlabUserRef } from '../lib/gitlab-api.ts';

export interface PeopleFacts {
  /** User id -> the groups (full paths) the user is an active direct member of, with Developer access. */
  readonly memberships: ReadonlyMap<string, readonly string[]>;
  /** The author of the change's merge request; undefined = the commit belongs to no merge request. */
  readonly mrAuthor?: GitlabUserRef;
  /** The project the merge request lives in (the pipeline's). */
  readonly projectId: string;
  /** Author and committer emails of the change's commits. */
  readonly commitEmails: readonly string[];
  /** User id -> the further emails the API shows of the user (besides the token's user_email). */
  readonly userEmails: ReadonlyMap<string, readonly string[]>;
}

const NO_COMMENTS = { ok: false, why: 'a policy test states reasons; it reads no comments' } as const;

export function createOfflineLookups(facts: PeopleFacts): ApprovalLookups {
  // GitLab resolves group paths case-insensitively.
  const memberships = new Map([...facts.memberships].map(([id, groups]) => [id, new Set(groups.map((g) => g.toLowerCase()))]));
  const authors: readonly MergeRequestAuthor[] = facts.mrAuthor ? [{ mergeRequest: { projectId: facts.projectId, iid: '1' }, author: facts.mrAuthor }] : [];
  const emails = facts.commitEmails.map((e) => e.toLowerCase());
  return {
    async groupMembership(group, userId) {
      const member = memberships.get(userId)?.has(group.toLowerCase()) === true;
      return { ok: true, value: member ? { state: 'active', accessLevel: MIN_APPROVER_ACCESS_LEVEL } : undefined };
    },
    async mergeRequestAuthors() {
      return { ok: true, value: authors };
    },
    async commitAuthorEmails() {
      return { ok: true, value: emails };
    },
    async userEmails(userId) {
      return { ok: true, value: (facts.userEmails.get(userId) ?? []).map((e) => e.toLowerCase()) };
    },
    // A case states each approver's reason itself (the runner checks it with checkReason); no comment is read offline.
    commentPlace: undefined,
    isOfThisChange: () => false,
    async comments() {
      return NO_COMMENTS;
    },
    async comment() {
      return NO_COMMENTS;
    },
  };
}
