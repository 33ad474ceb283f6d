/**
 * Which merge requests a pipeline belongs to, from GitLab's predefined
 * variables. An MR pipeline names its MR (`CI_MERGE_REQUEST_IID`) in the MR's
 * own project (`CI_MERGE_REQUEST_PROJECT_ID`: in a fork MR pipeline the token's
 * `project_id` names the fork, not the project the MR lives in). A branch
 * pipeline may list open MRs (`CI_OPEN_MERGE_REQUESTS`), and a pipeline after
 * the merge names none at all: the approval checks then ask the API for the
 * MRs of the commit, so that `mrAuthor` and `commitAuthor` still bite.
 */
import type { Env } from '../context.ts';

export interface MergeRequestRef {
  /** Numeric id (or full path) of the project the MR lives in. */
  readonly projectId: string;
  readonly iid: string;
}

export interface MergeRequestScope {
  /** The pipeline's project (where its commit lives): the token's `project_id`. */
  readonly pipelineProjectId: string | undefined;
  readonly commitSha: string | undefined;
  /** Where the note goes: this MR pipeline's MR, else the first open MR of this branch. */
  readonly noteTarget: MergeRequestRef | undefined;
  /** Every MR the variables name, for the separation-of-duties checks. */
  readonly known: readonly MergeRequestRef[];
  /** Not an MR pipeline: the MRs that contain the commit must be looked up through the API. */
  readonly lookUpCommitMergeRequests: boolean;
}

export interface ScopeClaims {
  readonly project_id?: string | undefined;
  readonly project_path?: string | undefined;
  readonly sha?: string | undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}

const IID = /^[0-9]{1,12}$/;

/**
 * The IIDs of `CI_OPEN_MERGE_REQUESTS` (`group/project!7,other/project!9`) per
 * project path; entries of other projects are left to those projects.
 */
export function openMergeRequestsOf(list: string | undefined, projectPath: string): string[] {
  const iids: string[] = [];
  for (const entry of (list ?? '').split(',')) {
    const at = entry.trim().lastIndexOf('!');
    if (at <= 0) continue;
    const path = entry.trim().slice(0, at);
    const iid = entry.trim().slice(at + 1);
    if (path === projectPath && IID.test(iid) && !iids.includes(iid)) iids.push(iid);
  }
  return iids;
}

/**
 * The merge request scope of this job. Signed claims (project, commit) win
 * over the variables; the MR variables have no signed counterpart.
 *
 * @example mergeRequestScopeOf(deps.env, own.claims).noteTarget // { projectId: '1217', iid: '7' }
 */
export function mergeRequestScopeOf(env: Env, claims: ScopeClaims): MergeRequestScope {
  const pipelineProjectId = claims.project_id ?? nonEmpty(env.CI_PROJECT_ID);
  const projectPath = claims.project_path ?? nonEmpty(env.CI_PROJECT_PATH);
  const commitSha = claims.sha ?? nonEmpty(env.CI_COMMIT_SHA);
  const known: MergeRequestRef[] = [];
  const add = (ref: MergeRequestRef): void => {
    if (!known.some((k) => k.projectId === ref.projectId && k.iid === ref.iid)) known.push(ref);
  };

  const mrIid = nonEmpty(env.CI_MERGE_REQUEST_IID);
  const mrProjectId = nonEmpty(env.CI_MERGE_REQUEST_PROJECT_ID) ?? pipelineProjectId;
  // A malformed MR variable must not pass for "MR pipeline": the commit look-up then still runs.
  const inMrPipeline = mrIid !== undefined && IID.test(mrIid) && mrProjectId !== undefined;
  if (inMrPipeline) add({ projectId: mrProjectId, iid: mrIid });

  const open = env.CI_OPEN_MERGE_REQUESTS;
  if (projectPath !== undefined && pipelineProjectId !== undefined) {
    for (const iid of openMergeRequestsOf(open, projectPath)) add({ projectId: pipelineProjectId, iid });
  }
  const mrProjectPath = nonEmpty(env.CI_MERGE_REQUEST_PROJECT_PATH);
  if (mrProjectPath !== undefined && mrProjectPath !== projectPath && mrProjectId !== undefined) {
    for (const iid of openMergeRequestsOf(open, mrProjectPath)) add({ projectId: mrProjectId, iid });
  }

  return {
    pipelineProjectId,
    commitSha,
    noteTarget: known[0],
    known,
    lookUpCommitMergeRequests: !inMrPipeline,
  };
}
