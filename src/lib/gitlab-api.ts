/**
 * The few GitLab REST calls oam-grant makes (MR notes, commit comments,
 * group membership, MR author and commits), behind a small interface so the
 * approval checks and the report take a fake or the real thing. The real one
 * uses @gitbeaker/rest, imported only on the first call: it is ~250 KB and
 * most jobs (no API token, nothing to post) never need it.
 */
import { loadGitbeaker } from './lazy-module.ts';
import type { Env } from '../context.ts';
import { OamError } from '../errors.ts';
import { parseSafeUrl } from './http.ts';
import { isTransientNetworkError, withRetry } from './retry.ts';

export interface GitlabNote {
  readonly id: number;
  readonly body: string;
  readonly authorUsername?: string;
}

export interface GitlabCommitAuthors {
  readonly sha: string;
  readonly authorEmail?: string;
  readonly committerEmail?: string;
}

export interface GitlabMember {
  readonly state: string;
  readonly accessLevel: number;
}

export interface GitlabUserRef {
  readonly id: string;
  readonly username: string;
}

/** A merge request as `commits/:sha/merge_requests` lists it: where it lives and who opened it. */
export interface GitlabMergeRequestSummary {
  readonly projectId: string;
  readonly iid: string;
  readonly author: GitlabUserRef;
  readonly state?: string;
}

export interface GitlabApi {
  listMergeRequestNotes(projectId: string, mergeRequestIid: string): Promise<GitlabNote[]>;
  createMergeRequestNote(projectId: string, mergeRequestIid: string, body: string): Promise<GitlabNote>;
  editMergeRequestNote(projectId: string, mergeRequestIid: string, noteId: number, body: string): Promise<GitlabNote>;
  createCommitComment(projectId: string, sha: string, note: string): Promise<void>;
  /**
   * The user's direct membership of the group (`/groups/:id/members/:user_id`),
   * or undefined when the user is no direct member (404). Memberships
   * inherited from ancestor groups do not count.
   */
  getGroupMember(group: string, userId: string): Promise<GitlabMember | undefined>;
  getMergeRequestAuthor(projectId: string, mergeRequestIid: string): Promise<GitlabUserRef>;
  listMergeRequestCommits(projectId: string, mergeRequestIid: string): Promise<GitlabCommitAuthors[]>;
  getCommit(projectId: string, sha: string): Promise<GitlabCommitAuthors>;
  /** Merge requests that contain the commit, open or merged (how a protected-branch pipeline finds the MR it came from). */
  listCommitMergeRequests(projectId: string, sha: string): Promise<GitlabMergeRequestSummary[]>;
}

/** A failed API call, with the HTTP status when there was one. Never carries the token. */
export class GitlabApiError extends Error {
  readonly status: number | undefined;
  readonly transient: boolean;
  constructor(message: string, status: number | undefined, transient: boolean, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'GitlabApiError';
    this.status = status;
    this.transient = transient;
  }
}

export interface GitlabApiOptions {
  /** `CI_API_V4_URL`, e.g. https://gitlab.example.com/api/v4. */
  readonly apiUrl: string;
  /** Private, project or group access token with scope `api`. */
  readonly token: string;
  readonly attempts?: number;
  readonly baseDelayMs?: number;
  readonly timeoutMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  readonly onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
}

/** The subset of gitbeaker's resources we call, typed loosely and narrowed on return. */
interface GitbeakerClient {
  MergeRequestNotes: {
    all(projectId: string, iid: number, options?: Record<string, unknown>): Promise<unknown>;
    create(projectId: string, iid: number, body: string): Promise<unknown>;
    edit(projectId: string, iid: number, noteId: number, options: { body: string }): Promise<unknown>;
  };
  Commits: {
    createComment(projectId: string, sha: string, note: string): Promise<unknown>;
    show(projectId: string, sha: string): Promise<unknown>;
    allMergeRequests(projectId: string, sha: string, options?: Record<string, unknown>): Promise<unknown>;
  };
  GroupMembers: {
    show(groupId: string, userId: number, options?: { includeInherited?: boolean }): Promise<unknown>;
  };
  MergeRequests: {
    show(projectId: string, iid: number): Promise<unknown>;
    allCommits(projectId: string, iid: number, options?: Record<string, unknown>): Promise<unknown>;
  };
}

function statusOf(error: unknown): number | undefined {
  if (!error || typeof error !== 'object') return undefined;
  const cause = (error as { cause?: unknown }).cause;
  if (!cause || typeof cause !== 'object') return undefined;
  const response = (cause as { response?: unknown }).response;
  if (!response || typeof response !== 'object') return undefined;
  const status = (response as { status?: unknown }).status;
  return typeof status === 'number' ? status : undefined;
}

/** 429, 5xx, gitbeaker giving up on its own 429/502 retries, timeouts and socket errors. */
function isTransient(error: unknown): boolean {
  if (error instanceof GitlabApiError) return error.transient;
  const status = statusOf(error);
  if (status !== undefined) return status === 429 || status === 408 || status >= 500;
  if (error instanceof Error && (error.name === 'GitbeakerRetryError' || error.name === 'GitbeakerTimeoutError')) return true;
  return isTransientNetworkError(error) || (error instanceof TypeError && /fetch failed/i.test(error.message));
}

/** Translate once, keeping only what is safe to print (no headers, no token). */
function translate(error: unknown, what: string): GitlabApiError {
  if (error instanceof GitlabApiError) return error;
  const status = statusOf(error);
  const detail = status !== undefined ? `HTTP ${status}` : error instanceof Error ? error.name === 'Error' ? error.message : error.name : 'unknown error';
  return new GitlabApiError(`GitLab API ${what}: ${detail}`, status, isTransient(error), error);
}

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function toNote(value: unknown): GitlabNote {
  const r = record(value);
  const id = r.id;
  if (typeof id !== 'number') throw new GitlabApiError('GitLab API note: answer has no id', undefined, false);
  const author = optionalString(record(r.author).username);
  return { id, body: typeof r.body === 'string' ? r.body : '', ...(author ? { authorUsername: author } : {}) };
}

function toCommit(value: unknown): GitlabCommitAuthors {
  const r = record(value);
  const authorEmail = optionalString(r.author_email);
  const committerEmail = optionalString(r.committer_email);
  return {
    sha: typeof r.id === 'string' ? r.id : '',
    ...(authorEmail ? { authorEmail } : {}),
    ...(committerEmail ? { committerEmail } : {}),
  };
}

function toUserRef(value: unknown, what: string): GitlabUserRef {
  const author = record(value);
  const id = author.id;
  const username = author.username;
  if ((typeof id !== 'number' && typeof id !== 'string') || typeof username !== 'string') {
    throw new GitlabApiError(`GitLab API ${what}: answer has no author`, undefined, false);
  }
  return { id: String(id), username };
}

function toMergeRequestSummary(value: unknown): GitlabMergeRequestSummary {
  const r = record(value);
  const projectId = r.project_id;
  const mrIid = r.iid;
  if ((typeof projectId !== 'number' && typeof projectId !== 'string') || typeof mrIid !== 'number') {
    throw new GitlabApiError('GitLab API commit merge requests: answer has no project_id or iid', undefined, false);
  }
  const state = optionalString(r.state);
  return { projectId: String(projectId), iid: String(mrIid), author: toUserRef(r.author, 'commit merge requests'), ...(state ? { state } : {}) };
}

function iid(value: string): number {
  if (!/^[0-9]{1,12}$/.test(value)) throw new GitlabApiError(`merge request iid ${JSON.stringify(value)} is not a number`, undefined, false);
  return Number(value);
}

/** The instance URL gitbeaker wants (`host`), from `CI_API_V4_URL`. */
export function hostFromApiUrl(apiUrl: string): string {
  const url = parseSafeUrl(apiUrl, 'CI_API_V4_URL', 'ERR_USAGE');
  const path = url.pathname.replace(/\/+$/, '');
  if (!path.endsWith('/api/v4')) {
    throw new OamError('ERR_USAGE', `CI_API_V4_URL: ${url.origin}${path} does not end in /api/v4`);
  }
  return `${url.origin}${path.slice(0, -'/api/v4'.length)}`;
}

export function createGitlabApi(options: GitlabApiOptions): GitlabApi {
  const host = hostFromApiUrl(options.apiUrl);
  let client: Promise<GitbeakerClient> | undefined;
  const load = (): Promise<GitbeakerClient> => {
    client ??= loadGitbeaker().then(
      ({ Gitlab }) =>
        new Gitlab({ host, token: options.token, queryTimeout: options.timeoutMs ?? 15_000 }) as unknown as GitbeakerClient,
    );
    return client;
  };
  const call = async <T>(what: string, fn: (api: GitbeakerClient) => Promise<T>): Promise<T> => {
    const api = await load();
    try {
      return await withRetry(() => fn(api), {
        attempts: options.attempts ?? 4,
        baseDelayMs: options.baseDelayMs ?? 500,
        maxDelayMs: 8_000,
        budgetMs: 60_000,
        isTransient,
        ...(options.sleep ? { sleep: options.sleep } : {}),
        ...(options.random ? { random: options.random } : {}),
        ...(options.onRetry ? { onRetry: options.onRetry } : {}),
      });
    } catch (error) {
      throw translate(error, what);
    }
  };

  return {
    async listMergeRequestNotes(projectId, mergeRequestIid) {
      const notes = await call('list merge request notes', (api) =>
        api.MergeRequestNotes.all(projectId, iid(mergeRequestIid), { sort: 'asc', orderBy: 'created_at', perPage: 100 }),
      );
      return Array.isArray(notes) ? notes.map(toNote) : [];
    },
    async createMergeRequestNote(projectId, mergeRequestIid, body) {
      return toNote(await call('create merge request note', (api) => api.MergeRequestNotes.create(projectId, iid(mergeRequestIid), body)));
    },
    async editMergeRequestNote(projectId, mergeRequestIid, noteId, body) {
      return toNote(
        await call('edit merge request note', (api) => api.MergeRequestNotes.edit(projectId, iid(mergeRequestIid), noteId, { body })),
      );
    },
    async createCommitComment(projectId, sha, note) {
      await call('create commit comment', (api) => api.Commits.createComment(projectId, sha, note));
    },
    async getGroupMember(group, userId) {
      if (!/^[0-9]{1,20}$/.test(userId)) throw new GitlabApiError(`user id ${JSON.stringify(userId)} is not a number`, undefined, false);
      try {
        const member = record(
          // Direct membership only: members/all would also admit everyone of every ancestor group.
          await call('group membership', (api) => api.GroupMembers.show(group, Number(userId))),
        );
        // `state` is the user's (active, blocked); `membership_state` the membership's (active, awaiting).
        const userState = typeof member.state === 'string' ? member.state : 'active';
        const membershipState = typeof member.membership_state === 'string' ? member.membership_state : 'active';
        return {
          state: userState === 'active' && membershipState === 'active' ? 'active' : `${userState}/${membershipState}`,
          accessLevel: typeof member.access_level === 'number' ? member.access_level : 0,
        };
      } catch (error) {
        if (error instanceof GitlabApiError && error.status === 404) return undefined;
        throw error;
      }
    },
    async getMergeRequestAuthor(projectId, mergeRequestIid) {
      const mr = record(await call('merge request', (api) => api.MergeRequests.show(projectId, iid(mergeRequestIid))));
      return toUserRef(mr.author, 'merge request');
    },
    async listMergeRequestCommits(projectId, mergeRequestIid) {
      const commits = await call('merge request commits', (api) =>
        api.MergeRequests.allCommits(projectId, iid(mergeRequestIid), { perPage: 100 }),
      );
      return Array.isArray(commits) ? commits.map(toCommit) : [];
    },
    async getCommit(projectId, sha) {
      return toCommit(await call('commit', (api) => api.Commits.show(projectId, sha)));
    },
    async listCommitMergeRequests(projectId, sha) {
      const mrs = await call('commit merge requests', (api) => api.Commits.allMergeRequests(projectId, sha, { perPage: 100 }));
      return Array.isArray(mrs) ? mrs.map(toMergeRequestSummary) : [];
    },
  };
}

/**
 * The API client from the job's environment, or undefined without
 * `OAM_GITLAB_TOKEN` (CI_JOB_TOKEN cannot post notes, so it is not a fallback).
 */
export function gitlabApiFromEnv(env: Env, apiUrl: string | undefined, extra: Partial<GitlabApiOptions> = {}): GitlabApi | undefined {
  const token = env.OAM_GITLAB_TOKEN?.trim();
  if (!token || !apiUrl) return undefined;
  return createGitlabApi({ ...extra, apiUrl, token });
}
