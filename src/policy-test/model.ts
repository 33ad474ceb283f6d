/**
 * The typed policy test file (schema/oam-test.schema.json) after validation
 * against itself and against the access file it tests. Durations are in
 * seconds after the request; claims are still as written (defaults are
 * applied per case when it runs, from the access file).
 */
import type { SourcePosition } from '../access-file/model.ts';

/** The error codes a policy or approval evaluation can end in (design.md's table). */
export const DENIAL_CODES = [
  'ERR_POLICY_DENIED',
  'ERR_APPROVAL_MISSING',
  'ERR_APPROVAL_SELF',
  'ERR_APPROVER_NOT_ALLOWED',
  'ERR_APPROVAL_EXPIRED',
  'ERR_APPROVAL_REASON',
] as const;
export type DenialCode = (typeof DENIAL_CODES)[number];

export type Stage = 'request' | 'grant';

/** Claim name -> value as GitLab sends it; null = the claim is absent. */
export type ClaimValues = Readonly<Record<string, string | null>>;

export interface Person {
  readonly login: string;
  readonly id?: string;
  readonly email?: string;
}

export interface TestApproval extends Person {
  /** Groups the approver is an active direct member of, with Developer or higher. */
  readonly groups: readonly string[];
  /** Further emails of the approver that the API shows (public email; all of them to an admin token). */
  readonly emails: readonly string[];
  readonly afterSeconds: number;
  readonly reason?: string;
}

export type Expectation = { readonly outcome: 'granted' } | { readonly outcome: 'denied'; readonly code: DenialCode; readonly policy?: string };

export interface TestCase {
  /** 1-based, as printed. */
  readonly number: number;
  readonly name: string;
  readonly component: string;
  readonly stage: Stage;
  /** `defaults.claims` and the case's own, the case's winning. */
  readonly claims: ClaimValues;
  readonly requester?: Person;
  readonly mrAuthor?: Person;
  readonly commitAuthors: readonly string[];
  readonly approvals: readonly TestApproval[];
  /** When the grant runs; undefined = 1m after the last approval. */
  readonly nowSeconds?: number;
  readonly expect: Expectation;
  /** Where the case starts in the test file. */
  readonly position: SourcePosition;
}

export interface PolicyTestFile {
  readonly path: string;
  readonly cases: readonly TestCase[];
}
