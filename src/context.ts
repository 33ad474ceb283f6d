import { OamError } from './errors.ts';

/**
 * GitLab's predefined CI variables, read once into a frozen object so every
 * step sees the same values and tests can pass their own.
 */
export interface CiContext {
  readonly serverUrl?: string;
  readonly apiUrl?: string;
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

function hostnameOf(url: string): string | undefined {
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * OAM_GITLAB_TOKEN goes only to the GitLab instance that issues the tokens: a
 * CI_API_V4_URL pointing elsewhere (a manual job's Run form can set variables)
 * is refused rather than handed the token. Ports may differ (tests, proxies).
 */
export function assertApiOnIssuerHost(ctx: CiContext, issuer: string | undefined): void {
  if (!ctx.apiUrl || !issuer) return;
  const api = hostnameOf(ctx.apiUrl);
  const expected = hostnameOf(issuer);
  if (api !== expected) {
    throw new OamError('ERR_USAGE', `CI_API_V4_URL host ${JSON.stringify(api ?? ctx.apiUrl)} differs from the issuer's host ${JSON.stringify(expected ?? issuer)}`, {
      hint: 'OAM_GITLAB_TOKEN is sent only to the GitLab instance that issued the ID tokens; unset the CI_API_V4_URL override',
    });
  }
}

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
    serverUrl: nonEmpty(env.CI_SERVER_URL),
    apiUrl: nonEmpty(env.CI_API_V4_URL) ?? (nonEmpty(env.CI_SERVER_URL) ? `${nonEmpty(env.CI_SERVER_URL)}/api/v4` : undefined),
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
