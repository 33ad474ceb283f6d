/**
 * What the close job holds a grant's life to, from the records alone (pure):
 * every issuance — the grant and each refresh — came while the approval was
 * still within validFor, and none was issued for longer than the file allows.
 * Together these bound the total: no credential of the grant lives past the
 * approval window's end plus the allowed duration.
 */
import type { AccessFile, Component, CredentialTrait } from '../access-file/model.ts';
import { durationCapFor } from '../policy/evaluate.ts';

/** Clocks of the runner and the cloud may differ a little; more than this is not skew. */
export const CLOCK_SKEW_SECONDS = 60;

export interface Issuance {
  /** 'grant' or 'refresh in job N'. */
  readonly what: string;
  readonly provider: string;
  readonly identity: string;
  readonly at: Date;
  readonly expiresAt: Date;
}

export interface ApprovalWindowInput {
  readonly minApprovals: number;
  readonly validForSeconds: number;
  readonly approvedAt: readonly Date[];
}

/**
 * When the approval stops allowing grants: each counted approval is usable
 * for validFor after it was given, and a grant needs minApprovals of them, so
 * the window ends when the minApprovals-th newest runs out. Undefined when
 * the component needs no approval (its ID token's lifetime bounds it instead).
 */
export function approvalWindowEnd(input: ApprovalWindowInput | undefined): Date | undefined {
  if (!input) return undefined;
  const newestFirst = [...input.approvedAt].sort((a, b) => b.getTime() - a.getTime());
  const limiting = newestFirst[Math.max(1, input.minApprovals) - 1];
  // Fewer approvals than needed: the window never opened.
  if (!limiting) return new Date(0);
  return new Date(limiting.getTime() + input.validForSeconds * 1000);
}

/** The longest lifetime the file allows one credential of `trait`, in seconds; undefined when the file sets none. */
export function allowedLifetimeSeconds(file: AccessFile, component: Component, trait: CredentialTrait): number | undefined {
  const cap = durationCapFor(file, component);
  const own = trait.type === 'aws-sts' ? trait.durationSeconds : trait.type === 'gcp-wif' && trait.serviceAccount ? trait.durationSeconds : undefined;
  const bounds = [cap, own].filter((b): b is number => b !== undefined);
  return bounds.length > 0 ? Math.min(...bounds) : undefined;
}

export interface Violation {
  readonly what: string;
  readonly message: string;
}

export function checkIssuances(
  issuances: readonly Issuance[],
  windowEnd: Date | undefined,
  allowedFor: (provider: string) => number | undefined,
): Violation[] {
  const violations: Violation[] = [];
  for (const i of issuances) {
    if (windowEnd && i.at.getTime() > windowEnd.getTime() + CLOCK_SKEW_SECONDS * 1000) {
      violations.push({
        what: i.what,
        message: `${i.what} (${i.provider} ${i.identity}) was issued at ${i.at.toISOString()}, after the approval window ended at ${windowEnd.toISOString()}`,
      });
    }
    const allowed = allowedFor(i.provider);
    const lifetime = Math.round((i.expiresAt.getTime() - i.at.getTime()) / 1000);
    if (allowed !== undefined && lifetime > allowed + CLOCK_SKEW_SECONDS) {
      violations.push({
        what: i.what,
        message: `${i.what} (${i.provider} ${i.identity}) was issued for ${lifetime} s, until ${i.expiresAt.toISOString()}, but the file allows ${allowed} s`,
      });
    }
  }
  return violations;
}
