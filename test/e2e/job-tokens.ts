/**
 * GitLab mints a job's `id_tokens` when the job starts (the runner receives
 * them with the job); gitlab-ci-local does not mint them at all. This service
 * stands in for that step: each job's `before_script` (test/e2e/fetch-job-tokens.mjs,
 * through the consumer fixture's `default:`) asks it for the job's tokens, and
 * it mints them then, from the job's own configuration as gitlab-ci-local
 * expanded it: the `id_tokens:` names and audiences the templates declare, and
 * the environment claims of the job's `environment:`.
 *
 * So `iat` is the moment each job starts and the gaps `timeout` and `validFor`
 * bound are real, as on GitLab (lib/gitlab/ci/jwt_v2.rb, app/models/ci/build.rb
 * `id_tokens_variables`). Test-only: nothing of it ships in templates/.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeJwt } from 'jose';
import { parse } from 'yaml';
import type { ClaimOverrides, Issuer } from '../emulators/index.ts';
import { listenLoopback, sendJson, sleep } from '../emulators/server.ts';

/** GitLab's default job timeout (Settings > CI/CD > General pipelines), which is the token's lifetime. */
export const JOB_TIMEOUT_SECONDS = 3600;

export interface JobPlan {
  /** Who the job runs as: the pipeline's user, or for a manual job the person who pressed Run. */
  readonly user: string;
  readonly jobId: string;
  /** How long the job waits for a runner before it starts (and gets its tokens). */
  readonly startDelaySeconds?: number;
}

export interface JobTokenPlan {
  /** Claims every job of the pipeline shares: project, pipeline, ref, sha. */
  readonly claims: ClaimOverrides;
  /** By job name. A job that asks for tokens and is not planned gets an error, and fails. */
  readonly jobs: Readonly<Record<string, JobPlan>>;
  /** Environments protected in the project (the `environment_protected` claim). */
  readonly protectedEnvironments?: readonly string[];
}

export interface JobUser {
  readonly id: number;
  readonly username: string;
  readonly email: string;
}

/** One token handed to a job, for assertions (the token itself is a secret of the job: not kept). */
export interface MintedToken {
  readonly job: string;
  readonly variable: string;
  readonly claims: Record<string, unknown>;
}

export interface JobTokenService {
  /** Base URL the jobs fetch from (`E2E_JOB_TOKENS_URL`). */
  readonly url: string;
  readonly minted: MintedToken[];
  close(): Promise<void>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** GitLab's Environment#guess_tier (app/models/environment.rb), used when `deployment_tier` is not set. */
export function guessTier(name: string): string {
  if (/(dev|review|trunk)/i.test(name)) return 'development';
  if (/(test|tst|int|ac(ce|)pt|qa|qc|control|quality)/i.test(name)) return 'testing';
  if (/(st(a|)g|mod(e|)l|pre|demo|non)/i.test(name)) return 'staging';
  if (/(pr(o|)d|live)/i.test(name)) return 'production';
  return 'other';
}

/**
 * The claims GitLab adds when a job has an environment (jwt.rb `custom_claims`):
 * `environment`, `environment_protected`, `deployment_tier`, `environment_action`.
 */
export function environmentClaims(environment: unknown, protectedEnvironments: readonly string[]): ClaimOverrides {
  const config = typeof environment === 'string' ? { name: environment } : environment;
  if (!isRecord(config) || typeof config.name !== 'string' || config.name === '') return {};
  return {
    environment: config.name,
    environment_protected: String(protectedEnvironments.includes(config.name)),
    deployment_tier: typeof config.deployment_tier === 'string' ? config.deployment_tier : guessTier(config.name),
    environment_action: typeof config.action === 'string' ? config.action : 'start',
  };
}

/** The job's `id_tokens:` as `{VARIABLE: aud}`. */
function idTokensOf(job: Record<string, unknown>): Map<string, string | string[]> {
  const tokens = new Map<string, string | string[]>();
  if (!isRecord(job.id_tokens)) return tokens;
  for (const [variable, spec] of Object.entries(job.id_tokens)) {
    if (!isRecord(spec)) continue;
    const aud = spec.aud;
    if (typeof aud === 'string') tokens.set(variable, aud);
    else if (Array.isArray(aud)) tokens.set(variable, aud.map(String));
  }
  return tokens;
}

/**
 * Starts the service. `expandedConfig` is gitlab-ci-local's
 * `.gitlab-ci-local/expanded-gitlab-ci.yml`, read on each request (gitlab-ci-local
 * writes it before the first job starts).
 */
export async function startJobTokens(
  issuer: Issuer,
  users: readonly JobUser[],
  expandedConfig: string,
  plan: JobTokenPlan,
): Promise<JobTokenService> {
  const minted: MintedToken[] = [];

  const answer = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = /^\/jobs\/([^/]+)\/id_tokens$/.exec(url.pathname);
    if (req.method !== 'GET' || !match?.[1]) return sendJson(res, 404, { error: 'not_found' });
    const name = decodeURIComponent(match[1]);
    const pipeline: unknown = parse(readFileSync(expandedConfig, 'utf8'));
    const job = isRecord(pipeline) ? pipeline[name] : undefined;
    if (!isRecord(job)) return sendJson(res, 404, { error: `no job ${name} in ${expandedConfig}` });
    const declared = idTokensOf(job);
    // A job without `id_tokens:` gets none, as on GitLab.
    if (declared.size === 0) return sendJson(res, 200, {});
    const jobPlan = plan.jobs[name];
    if (!jobPlan) return sendJson(res, 404, { error: `no plan for job ${name}` });
    const user = users.find((u) => u.username === jobPlan.user);
    if (!user) return sendJson(res, 500, { error: `no user ${jobPlan.user}` });
    if (jobPlan.startDelaySeconds) await sleep(jobPlan.startDelaySeconds * 1000);
    const claims: ClaimOverrides = {
      ...plan.claims,
      ...environmentClaims(job.environment, plan.protectedEnvironments ?? []),
      job_id: jobPlan.jobId,
      user_login: user.username,
      user_id: String(user.id),
      user_email: user.email,
    };
    const tokens: Record<string, string> = {};
    for (const [variable, aud] of declared) {
      const token = await issuer.mint(claims, { aud, ttlSeconds: JOB_TIMEOUT_SECONDS });
      tokens[variable] = token;
      minted.push({ job: name, variable, claims: decodeJwt(token) });
    }
    sendJson(res, 200, tokens);
  };

  const server = await listenLoopback(answer);
  return { url: server.url, minted, close: () => server.close() };
}
