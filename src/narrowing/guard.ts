/**
 * The narrowing guard: off the default branch, the access file in effect may
 * only narrow the default branch's, which is the reviewed one. Anyone who can
 * push a branch can edit the branch's copy; without this guard a branch
 * pipeline could grant itself a new role, a longer session or a weaker
 * approval step just by editing the file it runs with.
 *
 * Which branch is the default comes from the API (CI_DEFAULT_BRANCH is a
 * variable, so whoever runs the pipeline may set it), and whether this job is
 * on it from the signed `ref`/`ref_type` claims. Without the API the guard
 * cannot tell: it refuses on an unprotected ref, and on a protected one (whose
 * file came through that ref's push and merge rules) goes on with a warning.
 */
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { matchesRefGlob } from '../access-file/glob.ts';
import { parseAccessFile } from '../access-file/load.ts';
import type { AccessFile, ComponentTarget } from '../access-file/model.ts';
import { type CommandDeps, gitlabApiOf } from '../approval/deps.ts';
import { OamError } from '../errors.ts';
import { type GitlabApi, GitlabApiError } from '../lib/gitlab-api.ts';
import { type GitlabClaims, jobProjectOf } from '../token/claims.ts';
import { type AccessChange, compareAccess } from './compare.ts';

export interface NarrowingResult {
  readonly defaultBranch: string;
  /** True when the job runs on the default branch: nothing compared. */
  readonly onDefaultBranch: boolean;
  /** Every difference from the default branch's file for the component (empty on the default branch). */
  readonly changes: readonly AccessChange[];
  /** The default branch's allowWideningFrom pattern that admitted a widening, if one did. */
  readonly allowedBy?: string;
  /** Why nothing was compared on a protected ref (no API token), when that is so. */
  readonly skipped?: string;
}

const TOKEN_HINT =
  'give the job an API token that can read the repository (OAM_GITLAB_TOKEN, scope read_api): off the default branch, the access file may only narrow the default branch\'s, and only the API tells which branch that is';

/** The access file's path in the repository: the job runs in the checkout, so relative to the working directory. */
export function repositoryPathOf(file: string, cwd: string = process.cwd()): string {
  const path = relative(cwd, resolve(cwd, file));
  if (path === '' || path.startsWith('..') || isAbsolute(path)) {
    throw new OamError('ERR_USAGE', `--file ${file} lies outside the job's checkout (${cwd})`, {
      hint: 'keep the access file in the repository, e.g. .gitlab/oam.yaml',
    });
  }
  return path.split(sep).join('/');
}

function denied(message: string, hint: string, exitCode?: 1): OamError {
  return new OamError('ERR_POLICY_DENIED', message, { hint, ...(exitCode ? { exitCode } : {}) });
}

function positionOf(file: AccessFile, pointer: string): string {
  // The closest node that has a position: a removed field points at its parent.
  for (let p = pointer; ; p = p.slice(0, p.lastIndexOf('/'))) {
    const position = file.positions.get(p);
    if (position) return `${file.path}:${position.line}:${position.col}`;
    if (p === '') return file.path;
  }
}

/** One line per widening: the component, the field, old -> new, where in which file. */
export function describeWidening(change: AccessChange, branchFile: AccessFile, baseline: AccessFile, component: string): string {
  const where = change.pointerIn === 'branch' ? positionOf(branchFile, change.pointer) : `${positionOf(baseline, change.pointer)} on the default branch`;
  return `component ${component}: ${change.subject}: ${change.old} -> ${change.new} (${where})`;
}

export async function checkNarrowing(target: ComponentTarget, claims: GitlabClaims, api: GitlabApi | undefined): Promise<NarrowingResult> {
  const { file, component } = target;
  if (!api) {
    // A protected ref's file came through that ref's push and merge rules; an unprotected ref's file is anyone's
    // who can push. Without the API the guard cannot run, so only the protected case goes on, and says so.
    if (claims.ref_protected === 'true') {
      return { defaultBranch: '', onDefaultBranch: false, changes: [], skipped: `OAM_GITLAB_TOKEN is not set: ${file.path} was not compared with the default branch's on protected ${claims.ref_type ?? 'ref'} ${JSON.stringify(claims.ref ?? '')}` };
    }
    throw denied(`cannot compare ${file.path} with the default branch's on unprotected ${claims.ref_type ?? 'ref'} ${JSON.stringify(claims.ref ?? '')}: OAM_GITLAB_TOKEN is not set`, TOKEN_HINT);
  }
  // Where the job runs: a fork's MR pipeline in the parent project is held to the parent's default branch.
  const projectId = jobProjectOf(claims);
  if (!projectId) throw denied('cannot compare with the default branch: the token has no project_id claim', 'use a GitLab ID token (id_tokens:)');
  const path = repositoryPathOf(file.path);
  let found: Awaited<ReturnType<GitlabApi['getDefaultBranchFile']>>;
  try {
    found = await api.getDefaultBranchFile(projectId, path);
  } catch (error) {
    if (!(error instanceof GitlabApiError)) throw error;
    throw denied(
      `cannot read ${path} on the default branch of project ${projectId}: ${error.message}`,
      `${TOKEN_HINT}; retry the job if GitLab was unavailable`,
      error.transient ? 1 : undefined,
    );
  }
  const { defaultBranch } = found;
  if (onDefaultBranchOf(claims, projectId, defaultBranch)) return { defaultBranch, onDefaultBranch: true, changes: [] };
  if (found.content === undefined) {
    throw denied(
      `${path} does not exist on the default branch ${defaultBranch}: a branch cannot bring its own access file`,
      `merge the access file to ${defaultBranch} through a reviewed merge request first`,
    );
  }
  const baseline = parseAccessFile(found.content, `${defaultBranch}:${path}`);
  const changes = compareAccess(baseline, file, component.name);
  const widenings = changes.filter((c) => c.widens);
  if (widenings.length === 0) return { defaultBranch, onDefaultBranch: false, changes };
  const ref = claims.ref;
  const allowedBy = ref === undefined ? undefined : baseline.gitlab.allowWideningFrom?.refs.find((pattern) => matchesRefGlob(pattern, ref));
  if (allowedBy !== undefined) return { defaultBranch, onDefaultBranch: false, changes, allowedBy };
  // One line (error lines are printed as one), each widening after a "; ".
  const lines = widenings.map((w) => describeWidening(w, file, baseline, component.name));
  throw denied(
    `${file.path} widens the access of ${defaultBranch}'s file on ${claims.ref_type ?? 'ref'} ${JSON.stringify(ref ?? '')}: ${lines.join('; ')}`,
    `narrow the branch's file, or merge the change to ${defaultBranch} through a reviewed merge request; the default branch's spec.gitlab.allowWideningFrom.refs may name refs allowed to widen`,
  );
}

/**
 * Whether the job runs the default branch's own, reviewed file. Not in a merge
 * request pipeline: there `ref` names the MR's source branch (GitLab's
 * `Ci::Pipeline#source_ref`), which a fork or any branch may call `main`, and
 * merged results carry the target's changes too. Not in a pipeline of another
 * project than the job's (a fork's MR pipeline run in the parent).
 */
function onDefaultBranchOf(claims: GitlabClaims, jobProjectId: string, defaultBranch: string): boolean {
  return (
    claims.ref_type === 'branch' &&
    claims.ref === defaultBranch &&
    claims.pipeline_source !== 'merge_request_event' &&
    claims.project_id === jobProjectId
  );
}

/** The guard as request and grant run it: in its own log section, saying what it compared. */
export async function guardNarrowing(deps: CommandDeps, target: ComponentTarget, claims: GitlabClaims): Promise<NarrowingResult> {
  const { log } = deps;
  return log.section('narrowing', async () => {
    const result = await checkNarrowing(target, claims, gitlabApiOf(deps, target.file.gitlab));
    if (result.skipped !== undefined) {
      log.warn(`${result.skipped}; give the job OAM_GITLAB_TOKEN (scope read_api) to hold every ref's file to the default branch's`);
    } else if (result.onDefaultBranch) {
      log.info(`on the default branch ${result.defaultBranch}: the access file is the reviewed one`);
    } else if (result.allowedBy !== undefined) {
      log.warn(`${target.file.path} widens ${result.defaultBranch}'s file; allowed on this ref by the default branch's spec.gitlab.allowWideningFrom ${JSON.stringify(result.allowedBy)}`);
    } else {
      log.info(`${target.file.path} narrows or equals ${result.defaultBranch}'s file (${result.changes.length} change${result.changes.length === 1 ? '' : 's'})`);
    }
    return result;
  });
}
