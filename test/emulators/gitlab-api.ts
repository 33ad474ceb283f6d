import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenLoopback, sendJson } from './server.ts';

/**
 * A GitLab REST API v4 emulator on loopback: merge request notes, merge
 * requests and their commits, commits and the MRs that contain them, commit
 * comments, direct and inherited group membership with access levels, and
 * user look-up, with GitLab's JSON shapes, errors and offset pagination (what
 * @gitbeaker/rest 43.8.0 follows: the `link` header's rel="next").
 * As on GitLab, a JOB-TOKEN may only read (MRs, notes): posting a note with it
 * answers 401.
 */
export interface GitlabApi {
  readonly url: string;
  /** Every request, in order. Header names are lower-case; values are as sent (tokens included). */
  readonly calls: ApiCall[];
  /** The notes of one MR, oldest first. */
  notes(projectId: string | number, iid: number): Note[];
  /** The comments on one commit, oldest first. */
  commitComments(projectId: string | number, sha: string): CommitComment[];
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
  readonly email?: string;
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

export interface GitlabApiOptions {
  /** Accepted values of PRIVATE-TOKEN, JOB-TOKEN or `Authorization: Bearer`; default: any non-empty value. */
  readonly tokens?: string[];
  readonly users?: ApiUser[];
  readonly groups?: ApiGroup[];
  /** When given, only these MRs exist (others answer 404); otherwise any MR exists, authored by `dev`. */
  readonly mergeRequests?: ApiMergeRequest[];
  /** Commits outside any MR (e.g. pushed straight to a branch), for `repository/commits/:sha`, keyed by project id. */
  readonly commits?: { readonly projectId: string; readonly commit: ApiCommit }[];
  /** Numeric id and path of the same project, so `1217` and `acme%2Fpayments` reach the same data. */
  readonly projects?: { id: string; path: string }[];
  /** The user notes and comments are posted as (default: a project bot, as a project access token posts). */
  readonly botUser?: ApiUser;
  readonly port?: number;
}

export interface NoteAuthor {
  readonly id: number;
  readonly username: string;
  readonly name: string;
  readonly state: string;
  readonly avatar_url: string | null;
  readonly web_url: string;
}

export interface Note {
  readonly id: number;
  body: string;
  readonly attachment: null;
  readonly author: NoteAuthor;
  readonly created_at: string;
  updated_at: string;
  readonly system: false;
  readonly noteable_id: number;
  readonly noteable_type: 'MergeRequest';
  readonly noteable_iid: number;
  readonly project_id: number | string;
  readonly resolvable: false;
  readonly confidential: false;
  readonly internal: false;
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

class ApiError extends Error {
  readonly status: number;
  readonly body: Record<string, unknown>;
  constructor(status: number, body?: Record<string, unknown>) {
    super(String(status));
    this.status = status;
    this.body = body ?? { message: `${status} ${STATUS_CODES[status] ?? 'Error'}` };
  }
}

const notFound = (what = 'Not found') => new ApiError(404, { message: `404 ${what}` });

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
    state: 'active',
    avatar_url: null,
    web_url: `${base}/${user.username}`,
  };
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
  const users: ApiUser[] = [...(opts.users ?? [])];
  const bot: ApiUser = opts.botUser ?? { id: 9001, username: 'project_1217_bot_oam', name: 'oam-grant' };
  if (!users.some((u) => u.id === bot.id)) users.push(bot);
  const aliases = new Map<string, string>();
  for (const p of opts.projects ?? []) aliases.set(p.path, p.id);
  let nextNoteId = 100;
  let url = '';

  const projectKey = (raw: string | number) => {
    const decoded = safeDecode(String(raw));
    return aliases.get(decoded) ?? decoded;
  };
  const mrKey = (project: string, iid: number) => `${project}!${iid}`;
  const commitKey = (project: string, sha: string) => `${project}@${sha}`;

  const findMr = (project: string, iid: number): ApiMergeRequest => {
    if (!opts.mergeRequests) return { projectId: project, iid, authorUsername: 'dev' };
    const mr = opts.mergeRequests.find((m) => projectKey(m.projectId) === project && m.iid === iid);
    if (!mr) throw notFound();
    return mr;
  };
  const userNamed = (username: string): ApiUser =>
    users.find((u) => u.username === username) ?? { id: 1000 + users.length, username };

  const groupMembers = (groupRef: string, inherited: boolean): { ids: Set<number>; level: Map<number, number> } => {
    const group = opts.groups?.find((g) => g.path === groupRef || String(g.id) === groupRef);
    if (!group) throw notFound('Group Not Found');
    const ids = new Set<number>();
    const level = new Map<number, number>();
    // members/all includes members inherited from every ancestor group; members/ only the group's own.
    for (const g of opts.groups ?? []) {
      if (g.path === group.path || (inherited && group.path.startsWith(`${g.path}/`))) {
        for (const id of g.memberUserIds) {
          ids.add(id);
          level.set(id, Math.max(level.get(id) ?? 0, g.accessLevels?.[id] ?? g.accessLevel ?? 30));
        }
      }
    }
    return { ids, level };
  };

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
    project_id: Number.isNaN(Number(project)) ? project : Number(project),
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

  const route = (req: IncomingMessage, res: ServerResponse, reqUrl: URL, rawBody: string) => {
    const method = req.method ?? 'GET';
    const segments = reqUrl.pathname.split('/').filter(Boolean);
    if (segments[0] !== 'api' || segments[1] !== 'v4') throw notFound();
    const token = tokenOf(req);
    if (!token || (opts.tokens && !opts.tokens.includes(token))) {
      throw new ApiError(401, { message: '401 Unauthorized' });
    }
    const [resource, id, ...rest] = segments.slice(2);
    // CI_JOB_TOKEN only reads projects' MRs and notes; elsewhere GitLab does not take it as a credential.
    if (req.headers['job-token'] !== undefined && (method !== 'GET' || resource !== 'projects')) {
      throw new ApiError(401, { message: '401 Unauthorized' });
    }
    const now = new Date().toISOString();
    const sub = rest.join('/');

    if (resource === 'projects' && id !== undefined) {
      const project = projectKey(id);
      const mrMatch = /^merge_requests\/(\d+)(?:\/(notes|commits)(?:\/(\d+))?)?$/.exec(sub);
      if (mrMatch) {
        const iid = Number(mrMatch[1]);
        const mr = findMr(project, iid);
        const kind = mrMatch[2];
        const noteId = mrMatch[3];
        if (kind === undefined && method === 'GET') return sendJson(res, 200, mrJson(project, mr, now));
        if (kind === 'commits' && noteId === undefined && method === 'GET') {
          return sendPage(
            res,
            reqUrl,
            [...(mr.commits ?? [])].reverse().map((c) => commitJson(project, c, now)),
          );
        }
        if (kind === 'notes') {
          const key = mrKey(project, iid);
          const list = notesByMr.get(key) ?? [];
          notesByMr.set(key, list);
          if (noteId === undefined && method === 'GET') {
            // GitLab lists notes newest first unless sort=asc.
            const sorted = reqUrl.searchParams.get('sort') === 'asc' ? [...list] : [...list].reverse();
            return sendPage(res, reqUrl, sorted);
          }
          if (noteId === undefined && method === 'POST') {
            const body = parseBody(req, rawBody).body;
            if (typeof body !== 'string' || body === '') throw new ApiError(400, { error: 'body is missing' });
            if (body.length > 1_000_000) {
              throw new ApiError(400, { message: { note: ['is too long (maximum is 1000000 characters)'] } });
            }
            const note: Note = {
              id: nextNoteId++,
              body,
              attachment: null,
              author: authorOf(bot, url),
              created_at: now,
              updated_at: now,
              system: false,
              noteable_id: 50000 + iid,
              noteable_type: 'MergeRequest',
              noteable_iid: iid,
              project_id: Number.isNaN(Number(project)) ? project : Number(project),
              resolvable: false,
              confidential: false,
              internal: false,
            };
            list.push(note);
            return sendJson(res, 201, note);
          }
          if (noteId !== undefined) {
            const note = list.find((n) => n.id === Number(noteId));
            if (!note) throw notFound('Note Not Found');
            if (method === 'GET') return sendJson(res, 200, note);
            if (method === 'PUT') {
              const body = parseBody(req, rawBody).body;
              if (typeof body !== 'string' || body === '') throw new ApiError(400, { error: 'body is missing' });
              note.body = body;
              note.updated_at = now;
              return sendJson(res, 200, note);
            }
            if (method === 'DELETE') {
              list.splice(list.indexOf(note), 1);
              res.writeHead(204);
              res.end();
              return;
            }
          }
        }
        throw new ApiError(405, { message: '405 Method Not Allowed' });
      }
      const commitMatch = /^repository\/commits\/([^/]+)(?:\/(merge_requests))?$/.exec(sub);
      if (commitMatch && method === 'GET') {
        const sha = safeDecode(commitMatch[1]!);
        const commit = findCommit(project, sha);
        if (!commit) throw notFound('Commit Not Found');
        if (commitMatch[2] === undefined) return sendJson(res, 200, commitJson(project, commit, now));
        return sendPage(
          res,
          reqUrl,
          mergeRequestsOfCommit(project, sha).map((m) => mrJson(project, m, now)),
        );
      }
      const commentMatch = /^repository\/commits\/([^/]+)\/comments$/.exec(sub);
      if (commentMatch) {
        const key = commitKey(project, safeDecode(commentMatch[1]!));
        const list = commentsByCommit.get(key) ?? [];
        commentsByCommit.set(key, list);
        if (method === 'GET') return sendPage(res, reqUrl, list);
        if (method === 'POST') {
          const parsed = parseBody(req, rawBody);
          if (typeof parsed.note !== 'string' || parsed.note === '') {
            throw new ApiError(400, { error: 'note is missing' });
          }
          const comment: CommitComment = {
            note: parsed.note,
            path: typeof parsed.path === 'string' ? parsed.path : null,
            line: typeof parsed.line === 'number' ? parsed.line : null,
            line_type: typeof parsed.line_type === 'string' ? parsed.line_type : null,
            author: authorOf(bot, url),
            created_at: now,
          };
          list.push(comment);
          return sendJson(res, 201, comment);
        }
        throw new ApiError(405, { message: '405 Method Not Allowed' });
      }
      throw notFound();
    }

    if (resource === 'groups' && id !== undefined && method === 'GET') {
      const memberMatch = /^members\/(all\/)?(\d+)$/.exec(sub);
      if (memberMatch) {
        const { ids, level } = groupMembers(safeDecode(id), memberMatch[1] !== undefined);
        const userId = Number(memberMatch[2]);
        const user = users.find((u) => u.id === userId);
        if (!ids.has(userId) || !user) throw notFound();
        return sendJson(res, 200, {
          ...authorOf(user, url),
          access_level: level.get(userId) ?? 30,
          created_at: now,
          expires_at: null,
          membership_state: 'active',
        });
      }
      throw notFound();
    }

    if (resource === 'users' && method === 'GET') {
      if (id === undefined) {
        const username = reqUrl.searchParams.get('username');
        const found = username === null ? users : users.filter((u) => u.username.toLowerCase() === username.toLowerCase());
        return sendPage(res, reqUrl, found.map((u) => authorOf(u, url)));
      }
      const user = users.find((u) => String(u.id) === id);
      if (!user || rest.length > 0) throw notFound('User Not Found');
      return sendJson(res, 200, authorOf(user, url));
    }

    if (resource === 'user' && id === undefined && method === 'GET') {
      return sendJson(res, 200, { ...authorOf(bot, url), bot: true });
    }
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
        (fault.match?.pathIncludes === undefined || safeDecode(rawPath).includes(fault.match.pathIncludes) ||
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
      return sendJson(
        res,
        status,
        { message: `${status} ${STATUS_CODES[status] ?? 'Error'}` },
        status === 429 ? { 'retry-after': '1' } : {},
      );
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

  return {
    url,
    calls,
    notes: (projectId, iid) => [...(notesByMr.get(mrKey(projectKey(projectId), iid)) ?? [])],
    commitComments: (projectId, sha) => [...(commentsByCommit.get(commitKey(projectKey(projectId), sha)) ?? [])],
    injectFaults: (...list) => {
      for (const fault of list) faults.push({ fault, left: fault.times ?? 1 });
    },
    close: () => server.close(),
  };
}
