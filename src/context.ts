/**
 * GitLab's predefined CI variables, read once into a frozen object so every
 * step sees the same values and tests can pass their own. They describe the
 * job; none decides trust (the instance comes from the access file, identities
 * from signed tokens), since whoever runs a pipeline may override them.
 */
export interface CiContext {
  readonly projectId?: string;
  readonly projectPath?: string;
  readonly pipelineId?: string;
  readonly jobId?: string;
  readonly jobUrl?: string;
  readonly jobName?: string;
  readonly commitSha?: string;
  readonly commitRefName?: string;
  readonly mergeRequestIid?: string;
  /** True inside GitLab's job log (colours and collapsible sections are understood there). */
  readonly inGitlabJob: boolean;
}

export type Env = Readonly<Record<string, string | undefined>>;

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/**
 * The first MR IID of `CI_OPEN_MERGE_REQUESTS` (`group/project!7,other!9`) that
 * belongs to this project, used in branch pipelines that have an open MR.
 */
function mergeRequestFromOpenList(list: string | undefined, projectPath: string | undefined): string | undefined {
  if (!list || !projectPath) return undefined;
  for (const entry of list.split(',')) {
    const [path, iid] = entry.trim().split('!');
    if (path === projectPath && iid && /^[0-9]+$/.test(iid)) return iid;
  }
  return undefined;
}

export function readCiContext(env: Env): CiContext {
  const projectPath = nonEmpty(env.CI_PROJECT_PATH);
  const context: CiContext = {
    projectId: nonEmpty(env.CI_PROJECT_ID),
    projectPath,
    pipelineId: nonEmpty(env.CI_PIPELINE_ID),
    jobId: nonEmpty(env.CI_JOB_ID),
    jobUrl: nonEmpty(env.CI_JOB_URL),
    jobName: nonEmpty(env.CI_JOB_NAME),
    commitSha: nonEmpty(env.CI_COMMIT_SHA),
    commitRefName: nonEmpty(env.CI_COMMIT_REF_NAME),
    mergeRequestIid:
      nonEmpty(env.CI_MERGE_REQUEST_IID) ?? mergeRequestFromOpenList(env.CI_OPEN_MERGE_REQUESTS, projectPath),
    inGitlabJob: env.GITLAB_CI === 'true',
  };
  return Object.freeze(context);
}
