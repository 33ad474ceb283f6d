/**
 * The few GitLab REST calls oam-grant makes (the token's own user, MR notes,
 * commit discussions, group membership and visibility, users' emails, MR
 * authors and commits, the project's pipeline-variable setting), behind a
 * small interface so the approval checks and the report take a fake or the
 * real thing. The real one uses @gitbeaker/rest, imported only on the first
 * call: it is ~250 KB and most jobs (no API token, nothing to post) never
 * need it. Lists are read across all pages (gitbeaker follows the `link`
 * header's rel="next").
 */
import { loadGitbeaker } from './lazy-module.ts';
import type { Env } from '../context.ts';
import { OamError } from '../errors.ts';
import { GITLAB_API_DEADLINE } from './deadlines.ts';
import { isTransientStatus, parseSafeUrl } from './http.ts';
import { isTransientNetworkError, withRetry } from './retry.ts';
import { asJsonObject } from './json.ts';

export interface GitlabNote {
  readonly id: number;
  readonly body: string;
  /** The author's user id: what tells our own notes from copies of them. */
  readonly authorId?: string;
  readonly authorUsername?: string;
}

/** A discussion thread (here: on a commit); its first note opened it. */
export interface GitlabDiscussion {
  readonly id: string;
  readonly notes: readonly GitlabNote[];
}

/** The user the API token belongs to (`GET /user`); a project or group access token's is a bot. */
export interface GitlabCurrentUser {
  readonly id: string;
  readonly username: string;
  readonly isAdmin: boolean;
}

/**
 * Who may set variables when running a pipeline or a manual job, as
 * `GET /projects/:id` shows it — to Maintainers and above only; both fields
 * are absent otherwise. `minimumOverrideRole` exists from GitLab 17.1
 * (`no_one_allowed`, `developer`, `maintainer`, `owner`) and applies only when
 * `restrictUserDefinedVariables` is true; before 17.1, true meant Maintainer.
 */
export interface GitlabPipelineVariablesSetting {
  readonly restrictUserDefinedVariables?: boolean;
  readonly minimumOverrideRole?: string;
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
  /** The token's own user, asked once per client (`GET /user`). */
  currentUser(): Promise<GitlabCurrentUser>;
  /** Every note of the MR, oldest first, across all pages. */
  listMergeRequestNotes(projectId: string, mergeRequestIid: string): Promise<GitlabNote[]>;
  createMergeRequestNote(projectId: string, mergeRequestIid: string, body: string): Promise<GitlabNote>;
  editMergeRequestNote(projectId: string, mergeRequestIid: string, noteId: number, body: string): Promise<GitlabNote>;
  /** Every discussion on the commit, across all pages. */
  listCommitDiscussions(projectId: string, sha: string): Promise<GitlabDiscussion[]>;
  createCommitDiscussion(projectId: string, sha: string, body: string): Promise<GitlabDiscussion>;
  editCommitDiscussionNote(projectId: string, sha: string, discussionId: string, noteId: number, body: string): Promise<GitlabNote>;
  /**
   * The user's direct membership of the group (`/groups/:id/members/:user_id`),
   * or undefined on a 404: no direct member, or a group the token cannot see
   * ({@link isGroupVisible} tells which). Memberships inherited from ancestor
   * groups do not count.
   */
  getGroupMember(group: string, userId: string): Promise<GitlabMember | undefined>;
  /** Whether the token's user can see the group (`GET /groups/:id`; GitLab answers 404 for a private group it may not see). */
  isGroupVisible(group: string): Promise<boolean>;
  /**
   * The emails the API shows of a user, lower-cased: `public_email` to
   * everyone; to an admin token also `email`, `commit_email` and
   * `GET /users/:id/emails`. Private emails stay hidden from other tokens.
   */
  getUserEmails(userId: string): Promise<string[]>;
  /** The project's pipeline-variable setting, as far as the token may see it. */
  getPipelineVariablesSetting(projectId: string): Promise<GitlabPipelineVariablesSetting>;
  getMergeRequestAuthor(projectId: string, mergeRequestIid: string): Promise<GitlabUserRef>;
  listMergeRequestCommits(projectId: string, mergeRequestIid: string): Promise<GitlabCommitAuthors[]>;
  getCommit(projectId: string, sha: string): Promise<GitlabCommitAuthors>;
  /** Merge requests that contain the commit, open or merged (how a protected-branch pipeline finds the MR it came from). */
  listCommitMergeRequests(projectId: string, sha: string): Promise<GitlabMergeRequestSummary[]>;
  /** Every note of the MR (all pages, 100 a page), with its author's id and its times: where approvers give their reason. */
  listMergeRequestComments(projectId: string, mergeRequestIid: string): Promise<GitlabComment[]>;
  /** One MR note by id, or undefined when it does not exist (deleted, or not on this MR: 404). */
  getMergeRequestComment(projectId: string, mergeRequestIid: string, noteId: number): Promise<GitlabComment | undefined>;
  /**
   * Every note on the commit, through its discussions (all pages, 100 a page).
   * Not `commits/:sha/comments`: GitLab answers that without note ids.
   */
  listCommitDiscussionNotes(projectId: string, sha: string): Promise<GitlabComment[]>;
  /** One note of a commit discussion, or undefined when the discussion or the note is gone (404). */
  getCommitDiscussionNote(projectId: string, sha: string, discussionId: string, noteId: number): Promise<GitlabComment | undefined>;
  /**
   * The project's default branch (`GET /projects/:id`: `default_branch`, shown
   * to whoever may read its code) and the file at `filePath` on it
   * (`GET /projects/:id/repository/files/:file_path/raw?ref=<branch>`);
   * `content` is undefined when the file is not there (404).
   */
  getDefaultBranchFile(projectId: string, filePath: string): Promise<GitlabDefaultBranchFile>;
}

/**
 * A note as the approval reason needs it: who wrote it (GitLab's user id,
 * which the approver's ID token also carries) and when.
 */
export interface GitlabComment {
  readonly id: number;
  readonly body: string;
  readonly authorId: string;
  readonly authorUsername: string;
  /** ISO 8601, as GitLab sends it. */
  readonly createdAt: string;
  readonly updatedAt: string;
  /** GitLab's own activity notes ("changed the description"): never someone's words. */
  readonly system: boolean;
  /** Commit notes: the discussion that holds the note (how it is read again). */
  readonly discussionId?: string;
}

export interface GitlabDefaultBranchFile {
  readonly defaultBranch: string;
  readonly content: string | undefined;
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
  /**
   * gitbeaker's queryTimeout: one AbortSignal.timeout per call, covering the fetch, the body,
   * gitbeaker's own 429/502 retries and every page (default GITLAB_API_DEADLINE.attemptMs).
   */
  readonly timeoutMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  readonly onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
}

/** The subset of gitbeaker's resources we call, typed loosely and narrowed on return. */
interface GitbeakerClient {
  Users: {
    showCurrentUser(): Promise<unknown>;
    show(userId: number): Promise<unknown>;
  };
  UserEmails: {
    all(options: { userId: number }): Promise<unknown>;
  };
  Groups: {
    show(groupId: string, options?: Record<string, unknown>): Promise<unknown>;
  };
  Projects: {
    show(projectId: string): Promise<unknown>;
  };
  CommitDiscussions: {
    all(projectId: string, sha: string, options?: Record<string, unknown>): Promise<unknown>;
    create(projectId: string, sha: string, body: string): Promise<unknown>;
    editNote(projectId: string, sha: string, discussionId: string, noteId: number, options: { body: string }): Promise<unknown>;
    show(projectId: string, sha: string, discussionId: string): Promise<unknown>;
  };
  MergeRequestNotes: {
    all(projectId: string, iid: number, options?: Record<string, unknown>): Promise<unknown>;
    create(projectId: string, iid: number, body: string): Promise<unknown>;
    show(projectId: string, iid: number, noteId: number): Promise<unknown>;
    edit(projectId: string, iid: number, noteId: number, options: { body: string }): Promise<unknown>;
  };
  Commits: {
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
  RepositoryFiles: {
    /** gitbeaker encodes the path as one segment (`/` -> %2F), as GitLab's file_path requires. */
    showRaw(projectId: string, filePath: string, ref: string): Promise<unknown>;
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
  if (status !== undefined) return isTransientStatus(status);
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
  return asJsonObject(value) ?? {};
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function toNote(value: unknown): GitlabNote {
  const r = record(value);
  const id = r.id;
  if (typeof id !== 'number') throw new GitlabApiError('GitLab API note: answer has no id', undefined, false);
  const author = record(r.author);
  const authorId = typeof author.id === 'number' || typeof author.id === 'string' ? String(author.id) : undefined;
  const authorUsername = optionalString(author.username);
  return {
    id,
    body: typeof r.body === 'string' ? r.body : '',
    ...(authorId ? { authorId } : {}),
    ...(authorUsername ? { authorUsername } : {}),
  };
}

function toDiscussion(value: unknown): GitlabDiscussion {
  const r = record(value);
  if (typeof r.id !== 'string' || r.id === '') throw new GitlabApiError('GitLab API discussion: answer has no id', undefined, false);
  return { id: r.id, notes: Array.isArray(r.notes) ? r.notes.map(toNote) : [] };
}

function toCurrentUser(value: unknown): GitlabCurrentUser {
  const r = record(value);
  if ((typeof r.id !== 'number' && typeof r.id !== 'string') || typeof r.username !== 'string') {
    throw new GitlabApiError('GitLab API current user: answer has no id or username', undefined, false);
  }
  return { id: String(r.id), username: r.username, isAdmin: r.is_admin === true };
}

function userIdNumber(userId: string): number {
  if (!/^[0-9]{1,20}$/.test(userId)) throw new GitlabApiError(`user id ${JSON.stringify(userId)} is not a number`, undefined, false);
  return Number(userId);
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

function toComment(value: unknown, discussionId?: string): GitlabComment {
  const r = record(value);
  const id = r.id;
  const author = record(r.author);
  const authorId = author.id;
  const createdAt = r.created_at;
  if (typeof id !== 'number' || (typeof authorId !== 'number' && typeof authorId !== 'string') || typeof createdAt !== 'string') {
    throw new GitlabApiError('GitLab API note: answer has no id, author id or created_at', undefined, false);
  }
  return {
    id,
    body: typeof r.body === 'string' ? r.body : '',
    authorId: String(authorId),
    authorUsername: typeof author.username === 'string' ? author.username : '',
    createdAt,
    updatedAt: typeof r.updated_at === 'string' ? r.updated_at : createdAt,
    // Anything but an explicit false is treated as GitLab's own note: fail closed.
    system: r.system !== false,
    ...(discussionId !== undefined ? { discussionId } : {}),
  };
}

/** The notes of a commit discussion (`{id, notes: [...]}`), each knowing its discussion. */
function discussionNotes(value: unknown): GitlabComment[] {
  const discussion = record(value);
  const discussionId = discussion.id;
  if (typeof discussionId !== 'string' || discussionId === '') {
    throw new GitlabApiError('GitLab API commit discussion: answer has no id', undefined, false);
  }
  return Array.isArray(discussion.notes) ? discussion.notes.map((note) => toComment(note, discussionId)) : [];
}

function noteId(value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new GitlabApiError(`note id ${JSON.stringify(value)} is not a GitLab note id`, undefined, false);
  return value;
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
        new Gitlab({ host, token: options.token, queryTimeout: options.timeoutMs ?? GITLAB_API_DEADLINE.attemptMs }) as unknown as GitbeakerClient,
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

  // One job asks for its project twice (pipeline-variable setting, default branch): one request.
  const projects = new Map<string, Promise<Record<string, unknown>>>();
  const projectOf = (projectId: string): Promise<Record<string, unknown>> => {
    let pending = projects.get(projectId);
    if (!pending) {
      pending = call('project', (api) => api.Projects.show(projectId)).then(record);
      projects.set(projectId, pending);
      // A failure is not remembered: the next caller asks again.
      pending.catch(() => projects.delete(projectId));
    }
    return pending;
  };

  let me: Promise<GitlabCurrentUser> | undefined;
  const currentUser = (): Promise<GitlabCurrentUser> => {
    me ??= call('current user', (api) => api.Users.showCurrentUser()).then(toCurrentUser);
    // A failure is not remembered: the next caller asks again.
    me.catch(() => {
      me = undefined;
    });
    return me;
  };
  const notFoundToUndefined = async <T>(fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof GitlabApiError && error.status === 404) return undefined;
      throw error;
    }
  };

  return {
    currentUser,
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
    async listCommitDiscussions(projectId, sha) {
      const discussions = await call('list commit discussions', (api) => api.CommitDiscussions.all(projectId, sha, { perPage: 100 }));
      return Array.isArray(discussions) ? discussions.map(toDiscussion) : [];
    },
    async createCommitDiscussion(projectId, sha, body) {
      return toDiscussion(await call('create commit discussion', (api) => api.CommitDiscussions.create(projectId, sha, body)));
    },
    async editCommitDiscussionNote(projectId, sha, discussionId, noteId, body) {
      return toNote(
        await call('edit commit discussion note', (api) => api.CommitDiscussions.editNote(projectId, sha, discussionId, noteId, { body })),
      );
    },
    async getGroupMember(group, userId) {
      const id = userIdNumber(userId);
      const found = await notFoundToUndefined(() =>
        // Direct membership only: members/all would also admit everyone of every ancestor group.
        call('group membership', (api) => api.GroupMembers.show(group, id)),
      );
      if (found === undefined) return undefined;
      const member = record(found);
      // `state` is the user's (active, blocked); `membership_state` the membership's (active, awaiting; GitLab EE).
      const userState = typeof member.state === 'string' ? member.state : 'active';
      const membershipState = typeof member.membership_state === 'string' ? member.membership_state : 'active';
      return {
        state: userState === 'active' && membershipState === 'active' ? 'active' : `${userState}/${membershipState}`,
        accessLevel: typeof member.access_level === 'number' ? member.access_level : 0,
      };
    },
    async isGroupVisible(group) {
      const found = await notFoundToUndefined(() => call('group', (api) => api.Groups.show(group, { withProjects: false })));
      return found !== undefined;
    },
    async getUserEmails(userId) {
      const id = userIdNumber(userId);
      const user = record(await call('user', (api) => api.Users.show(id)));
      const emails = new Set<string>();
      const add = (value: unknown): void => {
        const email = optionalString(value);
        if (email) emails.add(email.toLowerCase());
      };
      // public_email for everyone; email and commit_email appear only for an admin token.
      add(user.public_email);
      add(user.email);
      add(user.commit_email);
      if ((await currentUser()).isAdmin) {
        const all = await call('user emails', (api) => api.UserEmails.all({ userId: id }));
        if (Array.isArray(all)) for (const entry of all) add(record(entry).email);
      }
      return [...emails];
    },
    async getPipelineVariablesSetting(projectId) {
      const project = await projectOf(projectId);
      const restrict = project.restrict_user_defined_variables;
      const role = optionalString(project.ci_pipeline_variables_minimum_override_role);
      return {
        ...(typeof restrict === 'boolean' ? { restrictUserDefinedVariables: restrict } : {}),
        ...(role ? { minimumOverrideRole: role } : {}),
      };
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
    async listMergeRequestComments(projectId, mergeRequestIid) {
      // gitbeaker follows the `link: rel="next"` header to the last page (GitLab may send short pages before it).
      const notes = await call('list merge request notes', (api) =>
        api.MergeRequestNotes.all(projectId, iid(mergeRequestIid), { sort: 'desc', orderBy: 'created_at', perPage: 100 }),
      );
      return Array.isArray(notes) ? notes.map((note) => toComment(note)) : [];
    },
    async getMergeRequestComment(projectId, mergeRequestIid, id) {
      try {
        return toComment(await call('merge request note', (api) => api.MergeRequestNotes.show(projectId, iid(mergeRequestIid), noteId(id))));
      } catch (error) {
        if (error instanceof GitlabApiError && error.status === 404) return undefined;
        throw error;
      }
    },
    async listCommitDiscussionNotes(projectId, sha) {
      const discussions = await call('commit discussions', (api) => api.CommitDiscussions.all(projectId, sha, { perPage: 100 }));
      return Array.isArray(discussions) ? discussions.flatMap(discussionNotes) : [];
    },
    async getCommitDiscussionNote(projectId, sha, discussionId, id) {
      try {
        const discussion = await call('commit discussion', (api) => api.CommitDiscussions.show(projectId, sha, discussionId));
        return discussionNotes(discussion).find((note) => note.id === noteId(id));
      } catch (error) {
        if (error instanceof GitlabApiError && error.status === 404) return undefined;
        throw error;
      }
    },
    async getDefaultBranchFile(projectId, filePath) {
      const project = await projectOf(projectId);
      const defaultBranch = optionalString(project.default_branch);
      if (!defaultBranch) throw new GitlabApiError('GitLab API project: answer has no default_branch (can the token read the code?)', undefined, false);
      const raw = await notFoundToUndefined(() => call('repository file', (api) => api.RepositoryFiles.showRaw(projectId, filePath, defaultBranch)));
      return { defaultBranch, content: raw === undefined ? undefined : await textOf(raw) };
    },
  };
}

/** gitbeaker gives text/* bodies as a string and anything else as a Blob. */
async function textOf(body: unknown): Promise<string> {
  if (typeof body === 'string') return body;
  if (body instanceof Blob) return body.text();
  throw new GitlabApiError('GitLab API repository file: answer is not a file', undefined, false);
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
