/**
 * What request and approve need from outside: the lead's command Deps (so
 * run.ts passes the same object to every command) plus an optional GitLab API
 * client, which tests inject and the CLI builds from OAM_GITLAB_TOKEN.
 */
import type { GitlabInstance } from '../access-file/model.ts';
import type { Deps } from '../commands/deps.ts';
import { type GitlabApi, gitlabApiFromEnv } from '../lib/gitlab-api.ts';
import { type GitlabClaims, jobProjectOf } from '../token/claims.ts';
import { type MergeRequestScope, mergeRequestScopeOf } from './merge-requests.ts';

export interface CommandDeps extends Deps {
  /** Undefined = build it from OAM_GITLAB_TOKEN for the access file's instance (none without a token). */
  readonly gitlab?: GitlabApi;
}

/** One client per command run and instance: its caches (the token's user, projects) serve every step of the job. */
const clients = new WeakMap<CommandDeps, Map<string, GitlabApi | undefined>>();

/**
 * The API client to use, or undefined when there is no token: notes go to the
 * log, API checks fail closed. The token goes only to the access file's
 * instance, never to a host a variable names.
 */
export function gitlabApiOf(deps: CommandDeps, instance: GitlabInstance): GitlabApi | undefined {
  if (deps.gitlab) return deps.gitlab;
  let byUrl = clients.get(deps);
  if (!byUrl) {
    byUrl = new Map();
    clients.set(deps, byUrl);
  }
  if (!byUrl.has(instance.apiUrl)) {
    byUrl.set(
      instance.apiUrl,
      gitlabApiFromEnv(deps.env, instance.apiUrl, {
        ...(deps.sleep ? { sleep: deps.sleep } : {}),
        onRetry: ({ attempt, delayMs }) => deps.log.warn(`GitLab API: transient failure, retry ${attempt} in ${delayMs} ms`),
      }),
    );
  }
  return byUrl.get(instance.apiUrl);
}

/** This job's merge request scope: signed claims first, then GitLab's variables (read raw from the environment). */
export function scopeOf(deps: CommandDeps, claims: GitlabClaims): MergeRequestScope {
  return mergeRequestScopeOf(deps.env, { ...claims, job_project_id: jobProjectOf(claims) });
}

/** Where and how a job posts its note and writes its records. */
export function reportContextOf(deps: CommandDeps, api: GitlabApi | undefined, scope: MergeRequestScope) {
  return {
    api,
    projectId: scope.pipelineProjectId,
    mergeRequest: scope.noteTarget,
    commitSha: scope.commitSha,
    outDir: deps.options.outDir,
    log: deps.log,
    now: deps.now,
  };
}
