/**
 * What a job knows about one request when it reports: rebuilt by each job
 * from the evidence it verified plus its own event, so the note and the audit
 * record never depend on an earlier job's post having succeeded.
 */
import type { ReasonSource } from '../approval/reason-comment.ts';
import type { ErrorCode } from '../errors.ts';
import type { CredentialTraitType } from '../access-file/model.ts';
import type { RequestedAccess } from '../providers/requested-access.ts';
import type { GitlabClaims } from '../token/claims.ts';
import type { AccessChange } from '../narrowing/compare.ts';

export interface Person {
  readonly login: string;
  /** GitLab's stable user id (logins can be renamed). */
  readonly id?: string;
}

export interface JobRef {
  readonly id: string;
  readonly url?: string;
}

export interface RequestFacts {
  readonly requester: Person;
  readonly job: JobRef;
  /** The request token's `iat`. */
  readonly at: Date;
}

export interface ApprovalFacts {
  readonly approver: Person;
  readonly reason: string;
  /** The approver's comment, the Run-form variable (labelled unsigned), or none. */
  readonly reasonSource?: ReasonSource;
  readonly job: JobRef;
  /** The approval token's `iat`: when Run was pressed. */
  readonly at: Date;
  /** How the approver qualified, e.g. "member of acme/sre". */
  readonly via: string;
  readonly latencySeconds: number;
}

export type Outcome =
  | { readonly kind: 'requested' }
  | { readonly kind: 'approved' }
  | {
      readonly kind: 'denied';
      readonly code: ErrorCode;
      readonly message: string;
      readonly stage: 'request' | 'approve' | 'grant';
      readonly actor: Person;
      readonly job: JobRef;
      readonly at: Date;
    }
  | {
      readonly kind: 'granted';
      readonly actor: Person;
      readonly job: JobRef;
      readonly at: Date;
      /** The earliest expiry of the credentials issued. */
      readonly expiresAt: Date;
      readonly credentials: readonly GrantedCredential[];
      readonly exchangeMs: number;
    };

/** One credential a grant issued, as the note and the audit record name it: never a secret. */
export interface GrantedCredential {
  readonly provider: CredentialTraitType;
  readonly identity: string;
  readonly sessionName: string;
  readonly expiresAt: Date;
}

/** What the request note tells an approver to do: comment, then press Run. */
export interface ApproveInstruction {
  /** `oam-grant approve deploy-prod:` */
  readonly command: string;
  readonly reasonRequired: boolean;
  readonly reasonPattern?: string;
  /** Where to comment: the merge request the note is on, or the commit. */
  readonly place: 'merge-request' | 'commit';
  /** Whether the Run-form OAM_APPROVAL_REASON counts where no comment does. */
  readonly variableAccepted: boolean;
  readonly pipeline: { readonly id: string; readonly url?: string };
}

export interface ReportState {
  readonly component: string;
  readonly pipelineId: string;
  readonly projectPath?: string;
  readonly ref?: string;
  readonly commitSha?: string;
  readonly requested?: RequestedAccess;
  readonly accessFileDigest?: string;
  readonly step?: { readonly name: string; readonly minApprovals: number; readonly validForSeconds: number; readonly timeoutSeconds: number };
  readonly request?: RequestFacts;
  readonly approvals: readonly ApprovalFacts[];
  /** Shown while approvals are awaited. */
  readonly instruction?: ApproveInstruction;
  /** Names of the policies that applied and held. */
  readonly matchedPolicies: readonly string[];
  readonly outcome: Outcome;
  /** How the branch's access file differs from the default branch's (absent on the default branch or when equal). */
  readonly accessChanges?: AccessChanges;
}

/** The branch's file against the default branch's, for the approver to see before pressing Run. */
export interface AccessChanges {
  readonly defaultBranch: string;
  readonly changes: readonly AccessChange[];
  /** The default branch's allowWideningFrom pattern that let a widening through. */
  readonly allowedBy?: string;
}

export function personOf(claims: GitlabClaims): Person {
  return { login: claims.user_login ?? 'unknown', ...(claims.user_id ? { id: claims.user_id } : {}) };
}

const SAFE_PATH = /^[A-Za-z0-9][A-Za-z0-9_.-]*(\/[A-Za-z0-9][A-Za-z0-9_.-]*)*$/;

/** The project's web URL, from the server URL and a signed `project_path`; undefined when anything looks off. */
function projectUrlFor(serverUrl: string | undefined, path: string | undefined): string | undefined {
  if (!serverUrl || !path || !SAFE_PATH.test(path)) return undefined;
  let base: URL;
  try {
    base = new URL(serverUrl);
  } catch {
    return undefined;
  }
  if (base.protocol !== 'https:' && base.protocol !== 'http:') return undefined;
  const prefix = base.pathname.replace(/\/+$/, '');
  if (!/^[A-Za-z0-9/_.-]*$/.test(prefix)) return undefined;
  return `${base.origin}${prefix}/${path}`;
}

/**
 * A job's URL, built from signed claims and the server URL only, so a link
 * in the note cannot be pointed elsewhere. Undefined when anything looks off.
 */
export function jobUrlFor(serverUrl: string | undefined, claims: GitlabClaims): string | undefined {
  const { project_path: path, job_id: jobId } = claims;
  if (!jobId || !/^[0-9]+$/.test(jobId)) return undefined;
  const project = projectUrlFor(serverUrl, path);
  return project ? `${project}/-/jobs/${jobId}` : undefined;
}

/** The pipeline's page, built like {@link jobUrlFor}. */
export function pipelineUrlFor(serverUrl: string | undefined, claims: GitlabClaims): string | undefined {
  const { project_path: path, pipeline_id: pipelineId } = claims;
  if (!pipelineId || !/^[0-9]+$/.test(pipelineId)) return undefined;
  const project = projectUrlFor(serverUrl, path);
  return project ? `${project}/-/pipelines/${pipelineId}` : undefined;
}

export function jobRefOf(serverUrl: string | undefined, claims: GitlabClaims): JobRef {
  const url = jobUrlFor(serverUrl, claims);
  return { id: claims.job_id ?? '?', ...(url ? { url } : {}) };
}

export function fromIat(claims: GitlabClaims): Date {
  return new Date(claims.iat * 1000);
}
