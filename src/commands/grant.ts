/**
 * grant and exec: verify everything, exchange the token, then hand the
 * credentials on — to a dotenv file (grant) or to a child process (exec).
 * Nothing is written until every check, the exchange and the required audit
 * note have succeeded.
 */
import { isAuditRequired } from '../access-file/lookup.ts';
import { assertAllowed, type Decision, durationCapFor, evaluatePolicies } from '../policy/evaluate.ts';
import { checkDotenvNames, checkDotenvTarget, prefixVariables, renderDotenv, writeDotenvFile } from '../export/dotenv.ts';
import { OamError } from '../errors.ts';
import { registerSecret } from '../lib/redact.ts';
import { EXPIRES_AT_VARIABLE, expiryPrefix, grantVariableNames } from '../providers/export-names.ts';
import type { GrantedCredential } from '../report/report-state.ts';
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
import { guardNarrowing } from '../narrowing/guard.ts';

export interface GrantResult {
  readonly target: Target;
  /** The job's token for the first credential trait: the one conditions and approvals were checked on. */
  readonly token: VerifiedToken;
  readonly decision: Decision;
  /** One per credential trait, in target.grants order. */
  readonly issued: readonly IssuedCredentials[];
  /** Variables as exported, prefixes applied, the earliest expiry last. */
  readonly variables: readonly (readonly [string, string])[];
}

/**
 * Each trait's exchange token, verified for its audience. The first decides
 * the conditions and approvals; the others must come from the very same job
 * (a variable could otherwise swap in another job's token for one provider).
 */
async function verifyGrantTokens(deps: Deps, target: Target): Promise<VerifiedToken[]> {
  const tokens: VerifiedToken[] = [];
  for (const grant of target.grants) {
    const token = await verifyJobToken(deps, target, grant.tokenVar, grant.audience);
    const first = tokens[0];
    for (const claim of ['project_id', 'pipeline_id', 'job_id', 'sha'] as const) {
      if (first && token.claims[claim] !== first.claims[claim]) {
        throw new OamError('ERR_TOKEN_INVALID', `${grant.tokenVar}: ${claim} ${token.claims[claim] ?? 'absent'} differs from ${target.grants[0]!.tokenVar}'s ${first.claims[claim] ?? 'absent'}`, {
          hint: "declare every token of the grant job with id_tokens: in that same job; they differ only in audience",
        });
      }
    }
    tokens.push(token);
  }
  return tokens;
}

/** What each issued credential is, for the note and the audit record. */
function grantedCredentials(target: Target, issued: readonly IssuedCredentials[]): GrantedCredential[] {
  return issued.map((c, i) => ({ provider: target.grants[i]!.trait.type, identity: c.identity, sessionName: c.sessionName, expiresAt: c.expiresAt }));
}

/**
 * Ends what can be ended after a failure, so that "all or nothing" holds as
 * far as the providers allow; what cannot be revoked (AWS STS sessions) is
 * named with its expiry. Never throws: the original failure is what counts.
 */
async function revokeIssued(deps: Deps, target: Target, issued: readonly IssuedCredentials[], why: string, quietWhenUnrevocable = false): Promise<void> {
  for (const [i, credentials] of issued.entries()) {
    const type = target.grants[i]!.trait.type;
    if (!credentials.revoke) {
      if (quietWhenUnrevocable) continue;
      deps.log.warn(`${why}: the ${type} credentials of ${credentials.identity} cannot be revoked; they expire at ${credentials.expiresAt.toISOString()} and were not exported`);
      continue;
    }
    try {
      await credentials.revoke();
      deps.log.info(`${why}: revoked the ${type} credentials of ${credentials.identity}`);
    } catch (error) {
      deps.log.warn(`${why}: could not revoke the ${type} credentials of ${credentials.identity} (${error instanceof Error ? error.message : 'unknown error'}); they expire at ${credentials.expiresAt.toISOString()}`);
    }
  }
}

/** Exchanges every trait's token in turn; when one fails, revokes what the others issued and rethrows. */
async function exchangeAll(deps: Deps, target: Target, tokens: readonly VerifiedToken[]): Promise<IssuedCredentials[]> {
  const { log } = deps;
  const cap = durationCapFor(target.file, target.component);
  const issued: IssuedCredentials[] = [];
  try {
    for (const [i, grant] of target.grants.entries()) {
      const token = tokens[i]!;
      const credentials = await log.section(`exchange (${grant.trait.type})`, async () => {
        const result = await grant.provider.exchange({
          trait: grant.trait,
          token,
          sessionName: sessionNameFor(token.claims),
          env: deps.env,
          log,
          ...(deps.sleep ? { sleep: deps.sleep } : {}),
          ...(cap !== undefined ? { maxDurationSeconds: cap } : {}),
        });
        for (const secret of result.secrets) registerSecret(secret);
        log.info(`${grant.trait.type}: ${result.identity} until ${result.expiresAt.toISOString()}`);
        return result;
      });
      issued.push(credentials);
    }
  } catch (error) {
    await revokeIssued(deps, target, issued, 'the grant failed');
    throw error;
  }
  return issued;
}

/**
 * How obtainGrant runs: `grant` (grant, exec) reports to the note and the
 * audit record; `refresh` (credentials) repeats every check and the exchange
 * but reports nothing there, so a long job's refreshes neither flood the note
 * nor overwrite its "granted" with a later refusal. `accept` refuses a
 * component before any token is read.
 */
export interface ObtainMode {
  readonly refresh?: boolean;
  readonly accept?: (target: Target) => void;
}

/** Every step of a grant up to, not including, handing the credentials on. */
export async function obtainGrant(deps: Deps, mode: ObtainMode = {}): Promise<GrantResult> {
  const { log } = deps;
  const target = await loadTarget(deps);
  mode.accept?.(target);
  const tokens = await verifyGrantTokens(deps, target);
  const token = tokens[0]!;
  let decision: Decision;
  let approvals: Awaited<ReturnType<typeof checkApprovalsForGrant>>;
  try {
    decision = await log.section('conditions', () => {
      const result = evaluatePolicies(target.file, target.component, target.traits, token.claims);
      for (const r of result.results) log.info(`${r.ok ? 'pass' : 'FAIL'} ${r.name}`);
      assertAllowed(result, target.file);
      return result;
    });
    approvals = await checkApprovalsForGrant(deps, target, token);
  } catch (error) {
    // A denial is recorded in the note and the audit record too (best effort), then reported as is.
    if (!mode.refresh) await reportGrantDenied(deps, target, token, error);
    throw error;
  }
  if (!mode.refresh) assertAuditPostable(deps, target);
  try {
    // After the approvals, so their own refusals (and their API failures) read first; a refresh re-checks too.
    await guardNarrowing(deps, target, token.claims);
  } catch (error) {
    if (!mode.refresh) await reportGrantDenied(deps, target, token, error);
    throw error;
  }
  await checkOutDirWritable(deps.options.outDir);
  // GitLab's dotenv limits, as far as the names tell, before any credential exists.
  if (!mode.refresh) checkDotenvNames(grantVariableNames(target.traits), deps.options.dotenv);
  const started = deps.now().getTime();
  const issued = await exchangeAll(deps, target, tokens);
  const exchangeMs = deps.now().getTime() - started;
  if (mode.refresh) return { target, token, decision, issued, variables: [] };
  try {
    const expiresAt = new Date(Math.min(...issued.map((c) => c.expiresAt.getTime())));
    const variables = [
      ...issued.flatMap((c, i) => prefixVariables(c.variables, target.grants[i]!.trait.exportPrefix)),
      [`${expiryPrefix(target.traits)}${EXPIRES_AT_VARIABLE}`, expiresAt.toISOString()] as const,
    ];
    // Rendered before the note is posted, so a value GitLab would refuse never gets announced as granted.
    renderDotenv(variables);
    await reportGrant(deps, { target, token, decision, credentials: grantedCredentials(target, issued), approvals, exchangeMs });
    return { target, token, decision, issued, variables };
  } catch (error) {
    await revokeIssued(deps, target, issued, 'nothing was exported');
    throw error;
  }
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

function identities(result: GrantResult): string {
  return result.issued.map((c) => c.identity).join(', ');
}

export async function runGrant(deps: Deps): Promise<number> {
  const path = deps.options.dotenv;
  await checkDotenvTarget(path);
  const result = await obtainGrant(deps);
  try {
    await deps.log.section('export', () => writeDotenvFile(path, renderDotenv(result.variables, deps.options.dotenv)));
  } catch (error) {
    await revokeIssued(deps, result.target, result.issued, 'the dotenv file could not be written');
    throw error;
  }
  const expiry = result.variables.at(-1)?.[1] ?? '';
  deps.log.success(
    `granted ${result.target.component.name}: ${identities(result)} until ${expiry}; ` +
      `${result.variables.length} variables in ${deps.options.dotenv} (downloadable by project members until the credentials expire)`,
  );
  return 0;
}

export async function runExec(deps: Deps): Promise<number> {
  const result = await obtainGrant(deps);
  deps.log.success(`granted ${result.target.component.name}: running ${deps.options.execArgs[0] ?? ''} as ${identities(result)}`);
  const tokenVariables = [...new Set([deps.options.tokenVar, ...result.target.grants.map((g) => g.tokenVar), deps.options.evidenceTokenVar])];
  // What a provider hands to the child alone (a federated token) joins the exported variables here, and only here.
  const execOnly = result.issued.flatMap((c, i) => prefixVariables(c.execOnlyVariables ?? [], result.target.grants[i]!.trait.exportPrefix));
  try {
    return await runWithCredentials(deps.options.execArgs, [...result.variables, ...execOnly], deps.env, tokenVariables);
  } finally {
    // exec's credentials end with the command, where the provider allows it (a Vault token), whatever its status.
    await revokeIssued(deps, result.target, result.issued, 'the command ended', true);
  }
}
