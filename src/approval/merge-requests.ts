/**
 * Which merge requests a pipeline belongs to, from GitLab's predefined
 * variables. An MR pipeline names its MR (`CI_MERGE_REQUEST_IID`) in the MR's
 * own project (`CI_MERGE_REQUEST_PROJECT_ID`: in a fork MR pipeline the token's
 * `project_id` names the fork, not the project the MR lives in). A branch
 * pipeline may list open MRs (`CI_OPEN_MERGE_REQUESTS`), and a pipeline after
 * the merge names none at all. Whoever may set pipeline variables may set or
 * clear these, so they only ever add MRs: the approval checks always also ask
 * the API for the MRs of the signed commit in the job's project, so that
 * `mrAuthor` and `commitAuthor` bite whatever the variables say.
 */
import type { Env } from '../context.ts';

export interface MergeRequestRef {
  /** Numeric id (or full path) of the project the MR lives in. */
  readonly projectId: string;
  readonly iid: string;
}

export interface MergeRequestScope {
  /** The pipeline's project: the token's `project_id` (in a fork MR pipeline, the fork). */
  readonly pipelineProjectId: string | undefined;
  /**
   * Where the job runs and its commit surely lives: the token's `job_project_id`
   * (the parent project when a fork MR pipeline runs there). The MRs of the
   * commit are looked up here: GitLab keeps a fork MR's commits in the
   * target project (`refs/merge-requests/:iid/head`) and lists MRs by target.
   */
  readonly jobProjectId: string | undefined;
  readonly commitSha: string | undefined;
  /** Where the note goes: this MR pipeline's MR, else the first open MR of this branch. */
  readonly noteTarget: MergeRequestRef | undefined;
  /** Every MR the variables name; the checks add the commit's MRs from the API. */
  readonly known: readonly MergeRequestRef[];
  /** The signed `pipeline_source` is `merge_request_event`: the commit must belong to an MR GitLab knows. */
  readonly mergeRequestPipeline: boolean;
}

export interface ScopeClaims {
  readonly project_id?: string | undefined;
  /** The signed `job_project_id` (`jobProjectOf` in token/claims.ts); absent: `project_id`. */
  readonly job_project_id?: string | undefined;
  readonly project_path?: string | undefined;
  readonly sha?: string | undefined;
  readonly pipeline_source?: string | undefined;
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
  // A malformed MR variable names no MR at all.
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
    jobProjectId: claims.job_project_id ?? pipelineProjectId,
    commitSha,
    noteTarget: known[0],
    known,
    mergeRequestPipeline: claims.pipeline_source === 'merge_request_event',
  };
}
