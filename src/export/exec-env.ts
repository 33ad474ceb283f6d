/**
 * `exec`: run a command with the credentials in its environment only. Nothing
 * is written to disk; the child's exit status becomes ours.
 */
import { spawn } from 'node:child_process';
import { OamError } from '../errors.ts';

/** Conventional shell status for a child killed by a signal. */
const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };

/**
 * GitLab's predefined variables that are, or embed, the job token (the
 * registry and dependency proxy passwords are the job token; the clone URL
 * carries it as `gitlab-ci-token:<token>@`), and the retired JWT variables.
 */
export const JOB_TOKEN_VARIABLES = [
  'CI_JOB_TOKEN',
  'CI_BUILD_TOKEN',
  'CI_REPOSITORY_URL',
  'CI_REGISTRY_PASSWORD',
  'CI_DEPENDENCY_PROXY_PASSWORD',
  'CI_JOB_JWT',
  'CI_JOB_JWT_V1',
  'CI_JOB_JWT_V2',
] as const;

export async function runWithCredentials(
  command: readonly string[],
  variables: readonly (readonly [string, string])[],
  baseEnv: Readonly<Record<string, string | undefined>>,
  tokenVariables: readonly string[],
): Promise<number> {
  const [program, ...args] = command;
  if (!program) throw new OamError('ERR_USAGE', 'exec needs a command after --', { hint: 'oam-grant exec --component C -- npx jest' });
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(baseEnv)) if (value !== undefined) env[key] = value;
  // The child gets cloud credentials, not the tokens that minted them or that reach the GitLab API.
  for (const name of [...tokenVariables, 'OAM_GITLAB_TOKEN', ...JOB_TOKEN_VARIABLES]) delete env[name];
  // Whatever else quotes the job token or the API token (a clone URL in a custom variable, say) goes too.
  const secrets = [baseEnv.CI_JOB_TOKEN, baseEnv.OAM_GITLAB_TOKEN].filter((v): v is string => v !== undefined && v.trim().length >= 8);
  for (const [key, value] of Object.entries(env)) if (secrets.some((secret) => value.includes(secret))) delete env[key];
  for (const [key, value] of variables) env[key] = value;
  const child = spawn(program, args, { stdio: 'inherit', env });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward).on('SIGTERM', forward);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.on('error', (error: NodeJS.ErrnoException) =>
        reject(new OamError('ERR_USAGE', `cannot start ${JSON.stringify(program)}: ${error.code ?? error.message}`, { hint: 'check the command after --' })),
      );
      child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? (SIGNAL_NUMBERS[signal] ?? 1) : 1)));
    });
  } finally {
    process.off('SIGINT', forward).off('SIGTERM', forward);
  }
}
