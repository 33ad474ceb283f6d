/**
 * plan: what grant would do here — the claims, the policies that apply and
 * why they pass or fail, the approvals needed, the role, scope and duration.
 * Exchanges nothing. Without a token it shows the static part and says so.
 * Exits 3 when the conditions would deny, so it can gate a pipeline.
 */
import { approvalStepFor } from '../access-file/lookup.ts';
import { formatDuration } from '../report/format.ts';
import { evaluatePolicies, type Decision } from '../policy/evaluate.ts';
import { describeRequestedAccess } from '../providers/requested-access.ts';
import { readTokenVariable } from '../token/verify.ts';
import type { VerifiedToken } from '../token/types.ts';
import type { Deps } from './deps.ts';
import { loadTarget } from './target.ts';
import { gitlabApiOf } from '../approval/deps.ts';
import { isOamError } from '../errors.ts';
import { checkNarrowing, type NarrowingResult } from '../narrowing/guard.ts';

/** The narrowing guard's verdict for plan: what grant would say, without stopping the plan. */
type NarrowingVerdict = { readonly ok: true; readonly result: NarrowingResult } | { readonly ok: false; readonly code: string; readonly message: string };

async function narrowingVerdict(deps: Deps, target: Awaited<ReturnType<typeof loadTarget>>, token: VerifiedToken): Promise<NarrowingVerdict> {
  try {
    return { ok: true, result: await checkNarrowing(target, token.claims, gitlabApiOf(deps, target.file.gitlab)) };
  } catch (error) {
    if (!isOamError(error)) throw error;
    return { ok: false, code: error.code, message: error.message };
  }
}

const SHOWN_CLAIMS = ['iss', 'sub', 'aud', 'project_path', 'ref', 'ref_type', 'ref_protected', 'environment', 'pipeline_source', 'pipeline_id', 'job_id', 'user_login', 'sha'] as const;

export async function runPlan(deps: Deps): Promise<number> {
  const { options, log } = deps;
  const target = await loadTarget(deps);
  const access = describeRequestedAccess(target.component, target.traits);
  const step = approvalStepFor(target.file, target.component);
  // The first trait's token decides conditions, as in grant.
  const first = target.grants[0]!;
  let token: VerifiedToken | undefined;
  if (deps.env[first.tokenVar]?.trim()) {
    const raw = readTokenVariable(deps.env, first.tokenVar, first.audience);
    token = await target.verifier.verify(raw, { audience: first.audience, purpose: 'exchange', source: first.tokenVar });
  } else {
    log.warn(`${first.tokenVar} is not set: conditions are listed, not evaluated`);
  }
  const decision: Decision | undefined = token ? evaluatePolicies(target.file, target.component, target.traits, token.claims) : undefined;
  const narrowing = token ? await narrowingVerdict(deps, target, token) : undefined;
  const denied = (decision !== undefined && !decision.allowed) || narrowing?.ok === false;

  if (options.json) {
    deps.out(
      `${JSON.stringify(
        {
          component: target.component.name,
          access,
          tokens: target.grants.map((g) => ({ provider: g.trait.type, variable: g.tokenVar, audience: g.audience, exportPrefix: g.trait.exportPrefix })),
          claims: token ? Object.fromEntries(SHOWN_CLAIMS.map((c) => [c, token.claims.raw[c] ?? null])) : null,
          decision: decision ?? null,
          approval: step ?? null,
          narrowing: narrowing ?? null,
        },
        null,
        2,
      )}\n`,
    );
    return denied ? 3 : 0;
  }

  const lines: string[] = [];
  lines.push(`component   ${target.component.name}${target.component.environment ? ` (environment ${target.component.environment})` : ''}`);
  for (const [i, c] of access.credentials.entries()) {
    const grant = target.grants[i]!;
    const label = c.provider === 'aws-sts' ? 'role' : 'identity';
    // padEnd(11) and a space: a type longer than the column (azure-federated) stays apart from its label.
    lines.push(`${c.provider.padEnd(11)} ${label} ${c.identity}${c.region ? ` in ${c.region}` : ''}`);
    if (c.durationSeconds !== undefined) lines.push(`            duration ${formatDuration(c.durationSeconds)}`);
    if (access.credentials.length > 1) lines.push(`            grants ${c.scopeSummary}`);
    lines.push(`            token ${grant.tokenVar} with audience ${grant.audience}`);
  }
  if (access.durationSeconds !== undefined) lines.push(`duration    ${formatDuration(access.durationSeconds)}`);
  lines.push(`scope       ${access.scopeSummary} (sha256 ${access.scopeDigest.slice(0, 12)})`);
  if (token) {
    lines.push('claims');
    for (const claim of SHOWN_CLAIMS) {
      const value = token.claims.raw[claim];
      if (value !== undefined) lines.push(`  ${claim.padEnd(16)}${typeof value === 'string' ? value : JSON.stringify(value)}`);
    }
  }
  lines.push('conditions');
  const applicable = target.file.policies.filter((p) => !p.componentNames || p.componentNames.includes(target.component.name));
  if (decision) {
    if (decision.results.length === 0) lines.push('  none: only the cloud trust policy limits this component');
    for (const result of decision.results) {
      lines.push(`  ${result.ok ? 'pass' : 'FAIL'}  ${result.name} (${result.type})`);
      for (const check of result.checks) {
        lines.push(`        ${check.ok ? 'ok  ' : 'no  '} ${check.claim} = ${check.actual === undefined ? '(absent)' : JSON.stringify(check.actual)}; ${check.field} expects ${check.expected}`);
      }
    }
    for (const name of decision.skipped) lines.push(`  skip  ${name} (not for this component)`);
  } else {
    if (applicable.length === 0) lines.push('  none: only the cloud trust policy limits this component');
    for (const policy of applicable) lines.push(`  ?     ${policy.name} (${policy.type})`);
  }
  lines.push('approval');
  if (step) {
    const who = [...step.approvers.users.map((u) => `@${u}`), ...step.approvers.groups.map((g) => `group ${g}`)].join(', ');
    lines.push(`  ${step.name}: ${step.minApprovals} of ${who || '(nobody listed)'}; not ${step.forbid.join(', ')}`);
    lines.push(`  within ${formatDuration(step.timeoutSeconds)} of the request, used within ${formatDuration(step.validForSeconds)}${step.requireReason ? '; reason required' : ''}`);
  } else {
    lines.push('  none required');
  }
  lines.push('narrowing');
  if (!narrowing) lines.push('  ?     not checked (no token)');
  else if (!narrowing.ok) lines.push(`  FAIL  ${narrowing.code}: ${narrowing.message}`);
  else if (narrowing.result.skipped !== undefined) lines.push(`  skip  ${narrowing.result.skipped}`);
  else if (narrowing.result.onDefaultBranch) lines.push(`  pass  on the default branch ${narrowing.result.defaultBranch}`);
  else {
    const { result } = narrowing;
    lines.push(`  pass  ${result.changes.length === 0 ? 'same as' : result.allowedBy !== undefined ? `wider than (allowed by allowWideningFrom ${JSON.stringify(result.allowedBy)})` : 'narrower than'} ${result.defaultBranch}'s file`);
    for (const c of result.changes) lines.push(`        ${c.widens ? 'wider   ' : 'narrower'} ${c.subject}: ${c.old} -> ${c.new}`);
  }
  const verdict = !decision ? 'not evaluated (no token)' : !denied ? (step ? 'allowed once approved' : 'allowed') : 'DENIED';
  lines.push(`outcome     ${verdict}`);
  deps.out(`${lines.join('\n')}\n`);
  return denied ? 3 : 0;
}
