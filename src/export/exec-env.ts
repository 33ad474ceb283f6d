/**
 * `exec`: run a command with the credentials in its environment only. Nothing
 * is written to disk; the child's exit status becomes ours.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { OamError } from '../errors.ts';

/** The shell's status for a child killed by a signal: 128 + its number (143 for SIGTERM, 139 for SIGSEGV). */
function statusOfSignal(signal: NodeJS.Signals | null): number {
  // Node reports a code or a signal, never neither; were it to, 1 keeps the failure a failure.
  return signal === null ? 1 : 128 + constants.signals[signal];
}

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
  // Whatever else quotes the job token, the API token or an ID token (a clone URL in a custom variable,
  // `TF_VAR_jwt: $OAM_ID_TOKEN`) goes too; what the child is meant to get is set below, after this.
  const secrets = [baseEnv.CI_JOB_TOKEN, baseEnv.OAM_GITLAB_TOKEN, ...tokenVariables.map((name) => baseEnv[name])].filter(
    (v): v is string => v !== undefined && v.trim().length >= 8,
  );
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
      child.on('exit', (code, signal) => resolve(code ?? statusOfSignal(signal)));
    });
  } finally {
    process.off('SIGINT', forward).off('SIGTERM', forward);
  }
}
