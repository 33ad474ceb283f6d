import { randomBytes } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenLoopback, sendJson } from './server.ts';

/**
 * A GitLab REST API v4 emulator on loopback, with GitLab's JSON shapes,
 * errors and offset pagination (`per_page`/`page`, the x-* headers and the
 * `link` header whose rel="next" @gitbeaker/rest 43.8.0 follows). What it
 * answers, and the GitLab source each behaviour follows:
 *
 * - Identities: every API token belongs to a user (`tokenOwners`; otherwise
 *   the project bot a project access token creates). `GET /user` answers for
 *   that user (Entities::UserPublic: `email`, `commit_email`; `is_admin` for
 *   admins). `GET /users/:id` shows `public_email` to everyone and the other
 *   emails to admins only; `GET /users/:id/emails` is admin-only (403), as in
 *   lib/api/users.rb.
 * - Notes on merge requests and commit discussions
 *   (`/projects/:id/repository/commits/:sha/discussions`, lib/api/discussions.rb)
 *   are written as the token's user. Editing or deleting one needs
 *   `admin_note`: its author, or a Maintainer (or higher) of the project
 *   (app/policies/note_policy.rb delegates to ProjectPolicy, which enables
 *   `admin_note` for `maintainer_access`); anyone else gets `403 Forbidden`.
 * - Groups: `GET /groups/:id` and the members endpoints answer
 *   `404 Group Not Found` when the token's user cannot see the group
 *   (`find_group!` checks `read_group`: public and internal groups, or members
 *   of the group, of an ancestor or a descendant, or of a project inside it);
 *   a user who is no member answers `404 Not found` (RecordNotFound).
 *   Members carry the user's `state` (active, blocked, …) and the membership's
 *   `membership_state` (active, awaiting), as GitLab EE sends them.
 * - `GET /projects/:id` shows the pipeline-variable setting
 *   (`restrict_user_defined_variables`, and from GitLab 17.1
 *   `ci_pipeline_variables_minimum_override_role`) only to Maintainers and
 *   above (`admin_project`, lib/api/entities/project.rb).
 * - A JOB-TOKEN may only read (MRs, notes): anything else answers 401.
 * - `GET /projects/:id` shows `default_branch` to those who may read the
 *   code (Reporter and above in a private project; lib/api/entities/
 *   basic_project_details.rb). `GET /projects/:id/repository/files/:file_path/raw`
 *   (lib/api/files.rb) wants the path as one segment (`/` as %2F), takes an
 *   optional `ref` (default: the default branch), needs `read_code`, and
 *   answers `404 Commit Not Found` or `404 File Not Found`; the body is the
 *   file as text/plain, as Workhorse sends a blob.
 */
export interface GitlabApi {
  readonly url: string;
  /** Every request, in order. Header names are lower-case; values are as sent (tokens included). */
  readonly calls: ApiCall[];
  /** The notes of one MR, oldest first. */
  notes(projectId: string | number, iid: number): Note[];
  /**
   * Someone else posts a note on the MR (as in the web UI): `authorId` names one of `users`.
   * `createdAt` (ISO 8601, default now) dates it, e.g. before a request; notes stay in `created_at` order.
   */
  addNote(projectId: string | number, iid: number, body: string, authorId: number, createdAt?: string): Note;
  /** The comments on one commit, oldest first. */
  commitComments(projectId: string | number, sha: string): CommitComment[];
  /** The discussions on one commit, oldest first. */
  commitDiscussions(projectId: string | number, sha: string): Discussion[];
  /** Someone else starts a discussion on a commit (as in the web UI), dated `createdAt` (default now). */
  addCommitDiscussion(projectId: string | number, sha: string, body: string, authorId: number, createdAt?: string): Discussion;
  /** A push to an MR's source branch: `commit` joins the MR's commits (newest), e.g. the commit a pipeline really runs on. */
  pushToMergeRequest(projectId: string | number, iid: number, commit: ApiCommit): void;
  /** Each fault answers the matching requests (all by default) `times` times (default 1), in order. */
  injectFaults(...faults: ApiFault[]): void;
  close(): Promise<void>;
}

export interface ApiCall {
  readonly method: string;
  /** The path as requested, still percent-encoded (`/api/v4/projects/acme%2Fpayments/...`). */
  readonly path: string;
  readonly query: Record<string, string>;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** 0 when the connection was reset. */
  readonly status: number;
}

export interface FaultMatch {
  readonly method?: string;
  readonly pathIncludes?: string;
}

export type ApiFault =
  | { readonly kind?: 'status'; readonly status: number; readonly times?: number; readonly match?: FaultMatch }
  | { readonly kind: 'reset'; readonly times?: number; readonly match?: FaultMatch };

export interface ApiUser {
  readonly id: number;
  readonly username: string;
  readonly name?: string;
  /** The primary email: in ID tokens (`user_email`), in `GET /user` for oneself, to admins. */
  readonly email?: string;
  /** Shown on the profile to everyone (`public_email`); unset by default. */
  readonly publicEmail?: string;
  /** The email of web-UI commits (`commit_email`); the primary one by default. */
  readonly commitEmail?: string;
  /** Further verified emails: only admins see them (`GET /users/:id/emails`). */
  readonly secondaryEmails?: readonly string[];
  /** Default `active`. */
  readonly state?: 'active' | 'blocked' | 'deactivated' | 'banned' | 'ldap_blocked';
  readonly admin?: boolean;
  readonly bot?: boolean;
}

export interface ApiGroup {
  /**
   * Full path, e.g. `acme/sre`. `members/:user_id` answers direct members only;
   * `members/all/:user_id` also members of ancestor groups (`acme`), as GitLab does.
   */
  readonly path: string;
  readonly id?: number;
  readonly memberUserIds: number[];
  /** GitLab access level of every member (default 30, Developer). */
  readonly accessLevel?: number;
  /** Per-member access levels (10 Guest, 20 Reporter, 30 Developer, 40 Maintainer, 50 Owner), overriding `accessLevel`. */
  readonly accessLevels?: Readonly<Record<number, number>>;
  /** Per-member `membership_state` (default `active`; `awaiting` = pending, e.g. over a seat limit). */
  readonly membershipStates?: Readonly<Record<number, 'active' | 'awaiting'>>;
  /** Default `public` (anyone may see it and its members); `private` hides it from non-members. */
  readonly visibility?: 'public' | 'internal' | 'private';
}

export interface ApiCommit {
  readonly sha: string;
  readonly authorEmail: string;
  readonly committerEmail?: string;
  readonly authorName?: string;
}

export interface ApiMergeRequest {
  readonly projectId: string;
  readonly iid: number;
  readonly authorUsername: string;
  /** Default `opened`. */
  readonly state?: 'opened' | 'merged' | 'closed';
  readonly commits?: ApiCommit[];
  /** The merge (or squash) commit on the target branch once merged: `commits/:sha/merge_requests` finds the MR by it too. */
  readonly mergeCommit?: ApiCommit;
}

export type PipelineVariablesRole = 'no_one_allowed' | 'developer' | 'maintainer' | 'owner';

export interface ApiProject {
  readonly id: string;
  readonly path: string;
  /** Direct members: user id -> access level. Default: the bot user as Maintainer (a project access token's default role). */
  readonly members?: Readonly<Record<number, number>>;
  /** `restrict_user_defined_variables`; default true (GitLab's secure default for new projects). */
  readonly restrictUserDefinedVariables?: boolean;
  /**
   * `ci_pipeline_variables_minimum_override_role`; default `no_one_allowed`
   * (new GitLab.com projects). `null` plays a GitLab older than 17.1, which
   * does not send the field.
   */
  readonly pipelineVariablesMinimumOverrideRole?: PipelineVariablesRole | null;
  /** `default_branch`; default `main`. */
  readonly defaultBranch?: string;
  /** The repository's files: branch -> path -> content (`repository/files/:file_path/raw`). */
  readonly files?: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

export interface GitlabApiOptions {
  /** Accepted values of PRIVATE-TOKEN, JOB-TOKEN or `Authorization: Bearer`; default: any non-empty value. */
  readonly tokens?: string[];
  /** Token -> the id of the user it belongs to (accepted too). Other tokens belong to `botUser`. */
  readonly tokenOwners?: Readonly<Record<string, number>>;
  readonly users?: ApiUser[];
  readonly groups?: ApiGroup[];
  /** When given, only these MRs exist (others answer 404); otherwise any MR exists, authored by `dev`. */
  readonly mergeRequests?: ApiMergeRequest[];
  /** Commits outside any MR (e.g. pushed straight to a branch), for `repository/commits/:sha`, keyed by project id. */
  readonly commits?: { readonly projectId: string; readonly commit: ApiCommit }[];
  /** Projects by numeric id and path (`1217` and `acme%2Fpayments` reach the same data), their members and settings. */
  readonly projects?: ApiProject[];
  /** The user of tokens without an owner (default: a project bot, as a project access token creates). */
  readonly botUser?: ApiUser;
  readonly port?: number;
}

export interface NoteAuthor {
  readonly id: number;
  readonly username: string;
  readonly name: string;
  readonly state: string;
  readonly locked: boolean;
  readonly avatar_url: string | null;
  readonly web_url: string;
}

export interface Note {
  readonly id: number;
  readonly type: 'DiscussionNote' | null;
  body: string;
  readonly attachment: null;
  readonly author: NoteAuthor;
  readonly created_at: string;
  updated_at: string;
  readonly system: false;
  readonly noteable_id: number | null;
  readonly noteable_type: 'MergeRequest' | 'Commit';
  readonly noteable_iid: number | null;
  readonly commit_id?: string;
  readonly project_id: number | string;
  readonly resolvable: false;
  readonly confidential: false;
  readonly internal: false;
}

export interface Discussion {
  /** 40 hex characters, as GitLab's discussion ids. */
  readonly id: string;
  readonly individual_note: false;
  readonly notes: Note[];
}

export interface CommitComment {
  readonly note: string;
  readonly path: string | null;
  readonly line: number | null;
  readonly line_type: string | null;
  readonly author: NoteAuthor;
  readonly created_at: string;
}

const DEFAULT_PER_PAGE = 20;
const MAX_PER_PAGE = 100;
const MAINTAINER = 40;
const DEVELOPER = 30;
const REPORTER = 20;

class ApiError extends Error {
  readonly status: number;
  readonly body: Record<string, unknown>;
  constructor(status: number, body?: Record<string, unknown>) {
    super(String(status));
    this.status = status;
    this.body = body ?? { message: `${status} ${STATUS_CODES[status] ?? 'Error'}` };
  }
}

/** `not_found!('Group')` answers `404 Group Not Found`; a missing record (`find_by!`) answers `404 Not found`. */
const notFound = (what?: string) => new ApiError(404, { message: what ? `404 ${what} Not Found` : '404 Not found' });
const forbidden = () => new ApiError(403, { message: '403 Forbidden' });

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** GitLab takes JSON or form bodies; gitbeaker sends JSON, curl -d sends a form. */
function parseBody(req: IncomingMessage, body: string): Record<string, unknown> {
  if (body === '') return {};
  const type = String(req.headers['content-type'] ?? '');
  if (type.includes('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(body));
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : {};
  } catch {
    throw new ApiError(400, { message: '400 Bad request - invalid JSON' });
  }
}

function tokenOf(req: IncomingMessage): string | undefined {
  const header = (name: string) => {
    const v = req.headers[name];
    return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
  };
  const bearer = header('authorization');
  return header('private-token') ?? header('job-token') ?? (bearer?.match(/^Bearer\s+(.+)$/i)?.[1] || undefined);
}

function authorOf(user: ApiUser, base: string): NoteAuthor {
  return {
    id: user.id,
    username: user.username,
    name: user.name ?? user.username,
    state: user.state ?? 'active',
    locked: false,
    avatar_url: null,
    web_url: `${base}/${user.username}`,
  };
}

function numericOrPath(project: string): number | string {
  return Number.isNaN(Number(project)) ? project : Number(project);
}

function noteBody(req: IncomingMessage, rawBody: string): string {
  const body = parseBody(req, rawBody).body;
  if (typeof body !== 'string' || body === '') throw new ApiError(400, { error: 'body is missing' });
  if (body.length > 1_000_000) throw new ApiError(400, { message: { note: ['is too long (maximum is 1000000 characters)'] } });
  return body;
}

/**
 * Starts the emulator. Point gitbeaker at it with `new Gitlab({ host: api.url, token })`
 * and the product with `CI_API_V4_URL=${api.url}/api/v4`.
 */
export async function startGitlabApi(opts: GitlabApiOptions = {}): Promise<GitlabApi> {
  const calls: ApiCall[] = [];
  const faults: { fault: ApiFault; left: number }[] = [];
  const notesByMr = new Map<string, Note[]>();
  const commentsByCommit = new Map<string, CommitComment[]>();
  const discussionsByCommit = new Map<string, Discussion[]>();
  const users: ApiUser[] = [...(opts.users ?? [])];
  const bot: ApiUser = opts.botUser ?? { id: 9001, username: 'project_1217_bot_oam', name: 'oam-grant', bot: true };
  if (!users.some((u) => u.id === bot.id)) users.push(bot);
  const projects = opts.projects ?? [];
  const aliases = new Map<string, string>();
  for (const p of projects) aliases.set(p.path, p.id);
  let nextNoteId = 100;
  let url = '';

  const projectKey = (raw: string | number) => {
    const decoded = safeDecode(String(raw));
    return aliases.get(decoded) ?? decoded;
  };
  const mrKey = (project: string, iid: number) => `${project}!${iid}`;
  const commitKey = (project: string, sha: string) => `${project}@${sha}`;
  const findProject = (project: string): ApiProject | undefined => projects.find((p) => p.id === project);
  const userById = (id: number): ApiUser | undefined => users.find((u) => u.id === id);

  const tokenUser = (token: string): ApiUser => {
    const owner = opts.tokenOwners?.[token];
    if (owner === undefined) return bot;
    const user = userById(owner);
    if (!user) throw new Error(`tokenOwners names user ${owner}, who is not in users`);
    return user;
  };
  const isAccepted = (token: string): boolean =>
    !opts.tokens || opts.tokens.includes(token) || opts.tokenOwners?.[token] !== undefined;

  /** The user's role in the project: its `members`, or by default the bot as Maintainer. */
  const projectAccess = (user: ApiUser, project: string): number => {
    if (user.admin) return 60;
    const members = findProject(project)?.members ?? { [bot.id]: MAINTAINER };
    return members[user.id] ?? 0;
  };

  const findMr = (project: string, iid: number): ApiMergeRequest => {
    if (!opts.mergeRequests) return { projectId: project, iid, authorUsername: 'dev' };
    const mr = opts.mergeRequests.find((m) => projectKey(m.projectId) === project && m.iid === iid);
    if (!mr) throw notFound();
    return mr;
  };
  const userNamed = (username: string): ApiUser =>
    users.find((u) => u.username === username) ?? { id: 1000 + users.length, username };

  const groupByRef = (ref: string): ApiGroup | undefined =>
    opts.groups?.find((g) => g.path === ref || String(g.id) === ref);
  const groupIdOf = (group: ApiGroup): number => group.id ?? 700 + (opts.groups ?? []).indexOf(group);

  /** `read_group`: public/internal groups, or a member of it, of an ancestor or descendant, or of a project inside it. */
  const canSeeGroup = (user: ApiUser, group: ApiGroup): boolean => {
    if ((group.visibility ?? 'public') !== 'private' || user.admin) return true;
    const related = (opts.groups ?? []).filter(
      (g) => g.path === group.path || group.path.startsWith(`${g.path}/`) || g.path.startsWith(`${group.path}/`),
    );
    if (related.some((g) => g.memberUserIds.includes(user.id))) return true;
    return projects.some((p) => p.path.startsWith(`${group.path}/`) && projectAccess(user, p.id) > 0);
  };

  /** The group the token's user may see, or `404 Group Not Found` (missing or invisible alike, as GitLab answers). */
  const visibleGroup = (ref: string, user: ApiUser): ApiGroup => {
    const group = groupByRef(ref);
    if (!group || !canSeeGroup(user, group)) throw notFound('Group');
    return group;
  };

  const groupMembers = (group: ApiGroup, inherited: boolean): Map<number, { level: number; state: string }> => {
    const found = new Map<number, { level: number; state: string }>();
    // members/all includes members inherited from every ancestor group; members/ only the group's own.
    for (const g of opts.groups ?? []) {
      if (g.path === group.path || (inherited && group.path.startsWith(`${g.path}/`))) {
        for (const id of g.memberUserIds) {
          const level = g.accessLevels?.[id] ?? g.accessLevel ?? DEVELOPER;
          const state = g.membershipStates?.[id] ?? 'active';
          const before = found.get(id);
          if (!before || level > before.level) found.set(id, { level, state });
        }
      }
    }
    return found;
  };

  const memberJson = (user: ApiUser, member: { level: number; state: string }, now: string) => ({
    ...authorOf(user, url),
    access_level: member.level,
    created_at: now,
    expires_at: null,
    membership_state: member.state,
  });

  const commitJson = (project: string, c: ApiCommit, now: string) => ({
    id: c.sha,
    short_id: c.sha.slice(0, 8),
    title: 'commit',
    message: 'commit',
    author_name: c.authorName ?? c.authorEmail.split('@')[0],
    author_email: c.authorEmail,
    committer_name: c.authorName ?? (c.committerEmail ?? c.authorEmail).split('@')[0],
    committer_email: c.committerEmail ?? c.authorEmail,
    created_at: now,
    authored_date: now,
    committed_date: now,
    web_url: `${url}/${project}/-/commit/${c.sha}`,
  });

  const mrJson = (project: string, mr: ApiMergeRequest, now: string) => ({
    id: 50000 + mr.iid,
    iid: mr.iid,
    project_id: numericOrPath(project),
    title: `Merge request !${mr.iid}`,
    state: mr.state ?? 'opened',
    author: authorOf(userNamed(mr.authorUsername), url),
    source_branch: 'feature',
    target_branch: 'main',
    sha: mr.commits?.at(-1)?.sha ?? null,
    merge_commit_sha: mr.state === 'merged' ? (mr.mergeCommit?.sha ?? null) : null,
    web_url: `${url}/${project}/-/merge_requests/${mr.iid}`,
    created_at: now,
    updated_at: now,
  });

  /** Entities::User for everyone; Entities::UserDetailsWithAdmin (emails, is_admin) for an admin. */
  const userJson = (user: ApiUser, viewer: ApiUser, now: string) => ({
    ...authorOf(user, url),
    created_at: now,
    bio: '',
    location: '',
    public_email: user.publicEmail ?? null,
    bot: user.bot ?? false,
    ...(viewer.admin
      ? { email: user.email ?? null, commit_email: user.commitEmail ?? user.email ?? null, is_admin: user.admin ?? false }
      : {}),
  });

  /** `GET /user`: Entities::UserPublic (the user's own emails), UserWithAdmin for admins. */
  const currentUserJson = (user: ApiUser, now: string) => ({
    ...userJson(user, user, now),
    email: user.email ?? null,
    commit_email: user.commitEmail ?? user.email ?? null,
    ...(user.admin ? { is_admin: true } : {}),
  });

  const projectJson = (project: ApiProject, viewer: ApiUser, now: string) => {
    // lib/api/entities/project.rb: the CI/CD settings are exposed only to `admin_project` (Maintainer+).
    const canAdmin = projectAccess(viewer, project.id) >= MAINTAINER;
    const role = project.pipelineVariablesMinimumOverrideRole === undefined ? 'no_one_allowed' : project.pipelineVariablesMinimumOverrideRole;
    return {
      id: Number(project.id),
      name: project.path.split('/').at(-1),
      path_with_namespace: project.path,
      visibility: 'private',
      web_url: `${url}/${project.path}`,
      updated_at: now,
      ...(projectAccess(viewer, project.id) >= REPORTER ? { default_branch: project.defaultBranch ?? 'main' } : {}),
      ...(canAdmin
        ? {
            restrict_user_defined_variables: project.restrictUserDefinedVariables ?? true,
            ...(role === null ? {} : { ci_pipeline_variables_minimum_override_role: role }),
          }
        : {}),
    };
  };

  /** The project's MRs that contain the commit (as a commit of the MR or as its merge commit). */
  const mergeRequestsOfCommit = (project: string, sha: string): ApiMergeRequest[] =>
    (opts.mergeRequests ?? []).filter(
      (m) => projectKey(m.projectId) === project && (m.commits?.some((c) => c.sha === sha) || m.mergeCommit?.sha === sha),
    );

  const findCommit = (project: string, sha: string): ApiCommit | undefined => {
    for (const m of opts.mergeRequests ?? []) {
      if (projectKey(m.projectId) !== project) continue;
      const found = m.commits?.find((c) => c.sha === sha) ?? (m.mergeCommit?.sha === sha ? m.mergeCommit : undefined);
      if (found) return found;
    }
    return opts.commits?.find((c) => projectKey(c.projectId) === project && c.commit.sha === sha)?.commit;
  };

  const makeNote = (author: ApiUser, body: string, project: string, on: { mrIid: number } | { sha: string }, now: string): Note => ({
    id: nextNoteId++,
    type: 'mrIid' in on ? null : 'DiscussionNote',
    body,
    attachment: null,
    author: authorOf(author, url),
    created_at: now,
    updated_at: now,
    system: false,
    noteable_id: 'mrIid' in on ? 50000 + on.mrIid : null,
    noteable_type: 'mrIid' in on ? 'MergeRequest' : 'Commit',
    noteable_iid: 'mrIid' in on ? on.mrIid : null,
    ...('sha' in on ? { commit_id: on.sha } : {}),
    project_id: numericOrPath(project),
    resolvable: false,
    confidential: false,
    internal: false,
  });

  /** `admin_note`: the note's author, a Maintainer of the project or an admin (NotePolicy, ProjectPolicy). */
  const mayAdminNote = (user: ApiUser, note: Note, project: string): boolean =>
    note.author.id === user.id || projectAccess(user, project) >= MAINTAINER;

  const mrNotes = (project: string, iid: number): Note[] => {
    const key = mrKey(project, iid);
    const list = notesByMr.get(key) ?? [];
    notesByMr.set(key, list);
    return list;
  };
  const commitDiscussionList = (project: string, sha: string): Discussion[] => {
    const key = commitKey(project, sha);
    const list = discussionsByCommit.get(key) ?? [];
    discussionsByCommit.set(key, list);
    return list;
  };
  const newDiscussion = (author: ApiUser, body: string, project: string, sha: string, now: string): Discussion => {
    const discussion: Discussion = { id: randomBytes(20).toString('hex'), individual_note: false, notes: [makeNote(author, body, project, { sha }, now)] };
    commitDiscussionList(project, sha).push(discussion);
    return discussion;
  };

  /** GitLab's offset pagination: x-* headers and a `link` header that gitbeaker's `.all()` follows. */
  const sendPage = (res: ServerResponse, reqUrl: URL, items: unknown[]) => {
    const perPage = Math.min(Math.max(Number(reqUrl.searchParams.get('per_page')) || DEFAULT_PER_PAGE, 1), MAX_PER_PAGE);
    const totalPages = Math.max(1, Math.ceil(items.length / perPage));
    const page = Math.max(Number(reqUrl.searchParams.get('page')) || 1, 1);
    const link = (p: number) => {
      const u = new URL(`${url}${reqUrl.pathname}`);
      for (const [k, v] of reqUrl.searchParams) if (k !== 'page' && k !== 'per_page') u.searchParams.set(k, v);
      u.searchParams.set('page', String(p));
      u.searchParams.set('per_page', String(perPage));
      return u.toString();
    };
    const links = [
      ...(page > 1 ? [`<${link(page - 1)}>; rel="prev"`] : []),
      ...(page < totalPages ? [`<${link(page + 1)}>; rel="next"`] : []),
      `<${link(1)}>; rel="first"`,
      `<${link(totalPages)}>; rel="last"`,
    ];
    sendJson(res, 200, items.slice((page - 1) * perPage, page * perPage), {
      'x-page': String(page),
      'x-per-page': String(perPage),
      'x-total': String(items.length),
      'x-total-pages': String(totalPages),
      'x-next-page': page < totalPages ? String(page + 1) : '',
      'x-prev-page': page > 1 ? String(page - 1) : '',
      link: links.join(', '),
    });
  };

  /** lib/api/files.rb: authorize_read_code!, then the commit of `ref`, then the blob at the path. */
  const sendRawFile = (res: ServerResponse, reqUrl: URL, user: ApiUser, project: string, path: string) => {
    const found = findProject(project);
    const access = projectAccess(user, project);
    if (!found || access === 0) throw notFound('Project');
    if (access < REPORTER) throw forbidden();
    const ref = reqUrl.searchParams.get('ref') ?? found.defaultBranch ?? 'main';
    const files = found.files?.[ref];
    if (!files) throw notFound('Commit');
    const content = files[path];
    if (content === undefined) throw notFound('File');
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-gitlab-file-path': path, 'x-gitlab-ref': ref });
    res.end(content);
  };

  const routeProject = (req: IncomingMessage, res: ServerResponse, reqUrl: URL, rawBody: string, user: ApiUser, id: string, sub: string) => {
    const method = req.method ?? 'GET';
    const now = new Date().toISOString();
    const project = projectKey(id);

    if (sub === '' && method === 'GET') {
      const found = findProject(project);
      if (!found) throw notFound('Project');
      return sendJson(res, 200, projectJson(found, user, now));
    }

    const rawFile = /^repository\/files\/([^/]+)\/raw$/.exec(sub);
    if (rawFile && method === 'GET') return sendRawFile(res, reqUrl, user, project, safeDecode(rawFile[1]!));

    const mrMatch = /^merge_requests\/(\d+)(?:\/(notes|commits)(?:\/(\d+))?)?$/.exec(sub);
    if (mrMatch) {
      const iid = Number(mrMatch[1]);
      const mr = findMr(project, iid);
      const kind = mrMatch[2];
      const noteId = mrMatch[3];
      if (kind === undefined && method === 'GET') return sendJson(res, 200, mrJson(project, mr, now));
      if (kind === 'commits' && noteId === undefined && method === 'GET') {
        return sendPage(res, reqUrl, [...(mr.commits ?? [])].reverse().map((c) => commitJson(project, c, now)));
      }
      if (kind === 'notes') {
        const list = mrNotes(project, iid);
        if (noteId === undefined && method === 'GET') {
          // GitLab lists notes newest first unless sort=asc.
          return sendPage(res, reqUrl, reqUrl.searchParams.get('sort') === 'asc' ? [...list] : [...list].reverse());
        }
        if (noteId === undefined && method === 'POST') {
          const note = makeNote(user, noteBody(req, rawBody), project, { mrIid: iid }, now);
          list.push(note);
          return sendJson(res, 201, note);
        }
        if (noteId !== undefined) {
          const note = list.find((n) => n.id === Number(noteId));
          if (!note) throw notFound();
          if (method === 'GET') return sendJson(res, 200, note);
          if (method === 'PUT' || method === 'DELETE') {
            if (!mayAdminNote(user, note, project)) throw forbidden();
            if (method === 'DELETE') {
              list.splice(list.indexOf(note), 1);
              res.writeHead(204);
              res.end();
              return;
            }
            note.body = noteBody(req, rawBody);
            note.updated_at = now;
            return sendJson(res, 200, note);
          }
        }
      }
      throw new ApiError(405, { message: '405 Method Not Allowed' });
    }

    const discussionMatch = /^repository\/commits\/([^/]+)\/discussions(?:\/([0-9a-f]+)(?:\/notes\/(\d+))?)?$/.exec(sub);
    if (discussionMatch) {
      const sha = safeDecode(discussionMatch[1]!);
      if (!findCommit(project, sha)) throw notFound('Commit');
      const list = commitDiscussionList(project, sha);
      const [, , discussionId, noteId] = discussionMatch;
      if (discussionId === undefined) {
        if (method === 'GET') return sendPage(res, reqUrl, list);
        if (method === 'POST') return sendJson(res, 201, newDiscussion(user, noteBody(req, rawBody), project, sha, now));
        throw new ApiError(405, { message: '405 Method Not Allowed' });
      }
      const discussion = list.find((d) => d.id === discussionId);
      if (!discussion) throw notFound('Discussion');
      if (noteId === undefined && method === 'GET') return sendJson(res, 200, discussion);
      const note = discussion.notes.find((n) => n.id === Number(noteId));
      if (noteId === undefined || !note) throw notFound();
      if (method === 'GET') return sendJson(res, 200, note);
      if (method === 'PUT') {
        if (!mayAdminNote(user, note, project)) throw forbidden();
        note.body = noteBody(req, rawBody);
        note.updated_at = now;
        return sendJson(res, 200, note);
      }
      throw new ApiError(405, { message: '405 Method Not Allowed' });
    }

    const commitMatch = /^repository\/commits\/([^/]+)(?:\/(merge_requests))?$/.exec(sub);
    if (commitMatch && method === 'GET') {
      const sha = safeDecode(commitMatch[1]!);
      const commit = findCommit(project, sha);
      if (!commit) throw notFound('Commit');
      if (commitMatch[2] === undefined) return sendJson(res, 200, commitJson(project, commit, now));
      return sendPage(res, reqUrl, mergeRequestsOfCommit(project, sha).map((m) => mrJson(project, m, now)));
    }

    const commentMatch = /^repository\/commits\/([^/]+)\/comments$/.exec(sub);
    if (commentMatch) {
      const key = commitKey(project, safeDecode(commentMatch[1]!));
      const list = commentsByCommit.get(key) ?? [];
      commentsByCommit.set(key, list);
      if (method === 'GET') return sendPage(res, reqUrl, list);
      if (method === 'POST') {
        const parsed = parseBody(req, rawBody);
        if (typeof parsed.note !== 'string' || parsed.note === '') throw new ApiError(400, { error: 'note is missing' });
        const comment: CommitComment = {
          note: parsed.note,
          path: typeof parsed.path === 'string' ? parsed.path : null,
          line: typeof parsed.line === 'number' ? parsed.line : null,
          line_type: typeof parsed.line_type === 'string' ? parsed.line_type : null,
          author: authorOf(user, url),
          created_at: now,
        };
        list.push(comment);
        return sendJson(res, 201, comment);
      }
      throw new ApiError(405, { message: '405 Method Not Allowed' });
    }
    throw notFound();
  };

  const routeGroup = (res: ServerResponse, reqUrl: URL, user: ApiUser, id: string, sub: string) => {
    const now = new Date().toISOString();
    const group = visibleGroup(safeDecode(id), user);
    if (sub === '') {
      const parent = groupByRef(group.path.split('/').slice(0, -1).join('/'));
      return sendJson(res, 200, {
        id: groupIdOf(group),
        name: group.path.split('/').at(-1),
        path: group.path.split('/').at(-1),
        full_path: group.path,
        full_name: group.path.replace(/\//g, ' / '),
        visibility: group.visibility ?? 'public',
        parent_id: parent ? groupIdOf(parent) : null,
        web_url: `${url}/groups/${group.path}`,
        created_at: now,
      });
    }
    const memberMatch = /^members(\/all)?(?:\/(\d+))?$/.exec(sub);
    if (!memberMatch) throw notFound();
    const members = groupMembers(group, memberMatch[1] !== undefined);
    if (memberMatch[2] === undefined) {
      const list = [...members].flatMap(([userId, member]) => {
        const u = userById(userId);
        return u ? [memberJson(u, member, now)] : [];
      });
      return sendPage(res, reqUrl, list);
    }
    const userId = Number(memberMatch[2]);
    const member = members.get(userId);
    const memberUser = userById(userId);
    if (!member || !memberUser) throw notFound();
    return sendJson(res, 200, memberJson(memberUser, member, now));
  };

  const routeUsers = (res: ServerResponse, reqUrl: URL, user: ApiUser, id: string | undefined, rest: string[]) => {
    const now = new Date().toISOString();
    if (id === undefined) {
      const username = reqUrl.searchParams.get('username');
      const found = username === null ? users : users.filter((u) => u.username.toLowerCase() === username.toLowerCase());
      return sendPage(res, reqUrl, found.map((u) => authorOf(u, url)));
    }
    const target = users.find((u) => String(u.id) === id);
    if (rest.length === 1 && rest[0] === 'emails') {
      // authenticated_as_admin! comes first: a non-admin learns nothing, not even whether the user exists.
      if (!user.admin) throw forbidden();
      if (!target) throw notFound('User');
      const emails = [...(target.email ? [target.email] : []), ...(target.secondaryEmails ?? [])];
      return sendPage(res, reqUrl, emails.map((email, i) => ({ id: target.id * 100 + i, email, confirmed_at: now })));
    }
    if (!target || rest.length > 0) throw notFound('User');
    return sendJson(res, 200, userJson(target, user, now));
  };

  const route = (req: IncomingMessage, res: ServerResponse, reqUrl: URL, rawBody: string) => {
    const method = req.method ?? 'GET';
    const segments = reqUrl.pathname.split('/').filter(Boolean);
    if (segments[0] !== 'api' || segments[1] !== 'v4') throw notFound();
    const token = tokenOf(req);
    if (!token || !isAccepted(token)) throw new ApiError(401, { message: '401 Unauthorized' });
    const [resource, id, ...rest] = segments.slice(2);
    // CI_JOB_TOKEN only reads projects' MRs and notes; elsewhere GitLab does not take it as a credential.
    if (req.headers['job-token'] !== undefined && (method !== 'GET' || resource !== 'projects')) {
      throw new ApiError(401, { message: '401 Unauthorized' });
    }
    const user = tokenUser(token);
    const sub = rest.join('/');
    if (resource === 'projects' && id !== undefined) return routeProject(req, res, reqUrl, rawBody, user, id, sub);
    if (resource === 'groups' && id !== undefined && method === 'GET') return routeGroup(res, reqUrl, user, id, sub);
    if (resource === 'users' && method === 'GET') return routeUsers(res, reqUrl, user, id, rest);
    if (resource === 'user' && id === undefined && method === 'GET') return sendJson(res, 200, currentUserJson(user, new Date().toISOString()));
    throw notFound();
  };

  const server = await listenLoopback((req, res, body) => {
    const reqUrl = new URL(req.url ?? '/', url);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    const rawPath = (req.url ?? '/').split('?')[0]!;
    const record = (status: number) =>
      calls.push({
        method: req.method ?? 'GET',
        path: rawPath,
        query: Object.fromEntries(reqUrl.searchParams),
        headers,
        body,
        status,
      });

    const slot = faults.find(
      ({ fault }) =>
        (fault.match?.method === undefined || fault.match.method.toUpperCase() === req.method) &&
        (fault.match?.pathIncludes === undefined ||
          safeDecode(rawPath).includes(fault.match.pathIncludes) ||
          rawPath.includes(fault.match.pathIncludes)),
    );
    if (slot) {
      slot.left -= 1;
      if (slot.left <= 0) faults.splice(faults.indexOf(slot), 1);
      if (slot.fault.kind === 'reset') {
        record(0);
        req.socket.destroy();
        return;
      }
      const status = slot.fault.status;
      record(status);
      return sendJson(res, status, { message: `${status} ${STATUS_CODES[status] ?? 'Error'}` }, status === 429 ? { 'retry-after': '1' } : {});
    }
    try {
      route(req, res, reqUrl, body);
      record(res.statusCode);
    } catch (err: unknown) {
      if (!(err instanceof ApiError)) throw err;
      record(err.status);
      sendJson(res, err.status, err.body);
    }
  }, opts.port);
  url = server.url;

  const someone = (authorId: number): ApiUser => {
    const author = userById(authorId);
    if (!author) throw new Error(`no user ${authorId} in the emulator's users`);
    return author;
  };

  return {
    url,
    calls,
    notes: (projectId, iid) => [...(notesByMr.get(mrKey(projectKey(projectId), iid)) ?? [])],
    addNote: (projectId, iid, body, authorId, createdAt) => {
      const project = projectKey(projectId);
      const note = makeNote(someone(authorId), body, project, { mrIid: iid }, createdAt ?? new Date().toISOString());
      // GitLab orders notes by created_at: a back-dated note goes before later ones.
      const list = mrNotes(project, iid);
      const later = list.findIndex((n) => Date.parse(n.created_at) > Date.parse(note.created_at));
      list.splice(later === -1 ? list.length : later, 0, note);
      return note;
    },
    commitComments: (projectId, sha) => [...(commentsByCommit.get(commitKey(projectKey(projectId), sha)) ?? [])],
    commitDiscussions: (projectId, sha) => [...(discussionsByCommit.get(commitKey(projectKey(projectId), sha)) ?? [])],
    addCommitDiscussion: (projectId, sha, body, authorId, createdAt) =>
      newDiscussion(someone(authorId), body, projectKey(projectId), sha, createdAt ?? new Date().toISOString()),
    pushToMergeRequest: (projectId, iid, commit) => {
      const mr = opts.mergeRequests?.find((m) => projectKey(m.projectId) === projectKey(String(projectId)) && m.iid === iid);
      if (!mr) throw new Error(`pushToMergeRequest: no merge request !${iid} in project ${projectId} among the configured ones`);
      (mr as { commits?: ApiCommit[] }).commits = [...(mr.commits ?? []), commit];
    },
    injectFaults: (...list) => {
      for (const fault of list) faults.push({ fault, left: fault.times ?? 1 });
    },
    close: () => server.close(),
  };
}
