/**
 * grant and exec: verify everything, exchange the token, then hand the
 * credentials on — to a dotenv file (grant) or to a child process (exec).
 * Nothing is written until every check, the exchange and the required audit
 * note have succeeded.
 */
import { isAuditRequired } from '../access-file/lookup.ts';
import { assertAllowed, evaluatePolicies, type Decision } from '../policy/evaluate.ts';
import { checkDotenvTarget, prefixVariables, renderDotenv, writeDotenvFile } from '../export/dotenv.ts';
import { OamError } from '../errors.ts';
import { registerSecret } from '../lib/redact.ts';
import { formatDuration } from '../report/format.ts';
import { runWithCredentials } from '../export/exec-env.ts';
import { sessionNameFor } from '../providers/session-name.ts';
import type { IssuedCredentials } from '../providers/types.ts';
import type { VerifiedToken } from '../token/types.ts';
import type { Deps } from './deps.ts';
import { verifyJobToken } from './job-token.ts';
import { loadTarget, type Target } from './target.ts';
import { checkApprovalsForGrant } from '../approval/grant-gate.ts';
import { checkOutDirWritable } from '../approval/safe-files.ts';
import { reportGrant, reportGrantDenied } from '../report/grant-report.ts';

export interface GrantResult {
  readonly target: Target;
  readonly token: VerifiedToken;
  readonly decision: Decision;
  readonly credentials: IssuedCredentials;
  /** Variables as exported, prefix applied. */
  readonly variables: readonly (readonly [string, string])[];
}

/** Every step of a grant up to, not including, handing the credentials on. */
export async function obtainGrant(deps: Deps): Promise<GrantResult> {
  const { log } = deps;
  const target = await loadTarget(deps);
  const token = await verifyJobToken(deps, target, deps.options.tokenVar, target.audience);
  let decision: Decision;
  let approvals: Awaited<ReturnType<typeof checkApprovalsForGrant>>;
  try {
    decision = await log.section('conditions', () => {
      const result = evaluatePolicies(target.file, target.component, target.trait, token.claims);
      for (const r of result.results) log.info(`${r.ok ? 'pass' : 'FAIL'} ${r.name}`);
      assertAllowed(result, target.file);
      return result;
    });
    approvals = await checkApprovalsForGrant(deps, target, token);
  } catch (error) {
    // A denial is recorded in the note and the audit record too (best effort), then reported as is.
    await reportGrantDenied(deps, target, token, error);
    throw error;
  }
  assertAuditPostable(deps, target);
  await checkOutDirWritable(deps.options.outDir);
  const started = deps.now().getTime();
  const credentials = await log.section('exchange', async () => {
    const issued = await target.provider.exchange({
      trait: target.trait,
      token,
      sessionName: sessionNameFor(token.claims),
      env: deps.env,
      log,
      ...(deps.sleep ? { sleep: deps.sleep } : {}),
    });
    for (const secret of issued.secrets) registerSecret(secret);
    log.info(`assumed ${issued.identity} for ${formatDuration(target.trait.durationSeconds)}, until ${issued.expiresAt.toISOString()}`);
    return issued;
  });
  const exchangeMs = deps.now().getTime() - started;
  const variables = [
    ...prefixVariables(credentials.variables, target.trait.exportPrefix),
    [`${target.trait.exportPrefix}OAM_GRANT_EXPIRES_AT`, credentials.expiresAt.toISOString()] as const,
  ];
  // Rendered before the note is posted, so a value GitLab would refuse never gets announced as granted.
  renderDotenv(variables);
  await reportGrant(deps, { target, token, decision, credentials, approvals, exchangeMs });
  return { target, token, decision, credentials, variables };
}

/**
 * A required audit note needs an API token: without one the grant would
 * exchange and then fail, so it fails before credentials exist.
 */
function assertAuditPostable(deps: Deps, target: Target): void {
  if (isAuditRequired(target.component) && !deps.env.OAM_GITLAB_TOKEN) {
    throw new OamError('ERR_REPORT_FAILED', `mr-audit is required for ${target.component.name}, but OAM_GITLAB_TOKEN is not set`, {
      hint: 'give the grant job an API token (scope api) in OAM_GITLAB_TOKEN, or set mr-audit required: false',
    });
  }
}

export async function runGrant(deps: Deps): Promise<number> {
  const path = deps.options.dotenv;
  await checkDotenvTarget(path);
  const result = await obtainGrant(deps);
  await deps.log.section('export', () => writeDotenvFile(path, renderDotenv(result.variables, deps.options.dotenv)));
  deps.log.success(
    `granted ${result.target.component.name}: ${result.credentials.identity} until ${result.credentials.expiresAt.toISOString()}; ` +
      `${result.variables.length} variables in ${deps.options.dotenv} (downloadable by project members until the credentials expire)`,
  );
  return 0;
}

export async function runExec(deps: Deps): Promise<number> {
  const result = await obtainGrant(deps);
  deps.log.success(`granted ${result.target.component.name}: running ${deps.options.execArgs[0] ?? ''} as ${result.credentials.identity}`);
  return runWithCredentials(deps.options.execArgs, result.variables, deps.env, [deps.options.tokenVar, deps.options.evidenceTokenVar]);
}
