/**
 * The approval rules as small functions, shared by the approve job (which
 * refuses early) and the grant job (which re-checks everything from the
 * evidence alone). Each throws an OamError whose message names the source (a
 * file or variable) and the claim; none does I/O except through `lookups`.
 */
import type { ApprovalStep } from '../access-file/model.ts';
import { compileReasonPattern } from '../access-file/reason-pattern.ts';
import { OamError } from '../errors.ts';
import { formatDuration } from '../report/format.ts';
import type { GitlabClaims } from '../token/claims.ts';
import { COMPONENT_AUDIENCE_PREFIX, EVIDENCE_AUDIENCE, type TokenVerifier, type VerifiedToken } from '../token/types.ts';
import { type ApprovalLookups, NO_API_HINT } from './lookups.ts';

/** Longest reason accepted; it is shown in the note and the audit record. */
export const MAX_REASON_LENGTH = 500;

const BINDING_CLAIMS = [
  ['project_id', 'project'],
  ['pipeline_id', 'pipeline'],
  ['sha', 'commit'],
] as const;

/**
 * Verify an evidence token (signature, issuer, audience `oam-grant`; not its
 * `exp`). Token errors become ERR_APPROVAL_INVALID: on evidence they mean the
 * record is forged, tampered or from elsewhere, not that this job's token is bad.
 */
export async function verifyEvidenceToken(verifier: TokenVerifier, token: string, source: string): Promise<VerifiedToken> {
  try {
    return await verifier.verify(token, { audience: EVIDENCE_AUDIENCE, purpose: 'evidence', source });
  } catch (error) {
    if (error instanceof OamError && error.code.startsWith('ERR_TOKEN_')) {
      throw new OamError('ERR_APPROVAL_INVALID', `${error.message} (${error.code})`, {
        hint: 'evidence must carry the ID token GitLab issued to the request or approve job of this pipeline; rerun those jobs',
        cause: error,
      });
    }
    throw error;
  }
}

/** The evidence token must come from this project, this pipeline and this commit. */
export function checkBinding(evidence: GitlabClaims, own: GitlabClaims, source: string): void {
  for (const [claim, noun] of BINDING_CLAIMS) {
    const theirs = evidence[claim];
    const ours = own[claim];
    if (ours === undefined) {
      throw new OamError('ERR_APPROVAL_INVALID', `this job's token has no ${claim} claim to bind ${source} to`);
    }
    if (theirs !== ours) {
      const what = theirs === undefined ? `has no ${claim} claim (this ${noun}'s is ${ours})` : `${claim} ${theirs} differs from this ${noun}'s ${ours}`;
      throw new OamError('ERR_APPROVAL_INVALID', `${source}: ${what}`, {
        hint: 'approvals count only in the pipeline and at the commit they were given for: run the request and approve jobs in this pipeline',
      });
    }
  }
}

/**
 * The components' request and approve jobs mint their evidence token for
 * `[oam-grant, oam-grant:component:<name>]`. The `component` field of an
 * evidence file is not signed; this audience is, so a request or approval
 * given for one component cannot be relabelled for another. A token with no
 * component audience (a hand-written job, as design.md allows) is accepted.
 */
export function checkComponentAudience(evidence: GitlabClaims, component: string, source: string): void {
  const scoped = evidence.aud.filter((a) => a.startsWith(COMPONENT_AUDIENCE_PREFIX));
  if (scoped.length > 0 && !scoped.includes(`${COMPONENT_AUDIENCE_PREFIX}${component}`)) {
    throw new OamError('ERR_APPROVAL_INVALID', `${source}: the token was minted for ${scoped.join(', ')}, not for component ${component}`, {
      hint: "evidence counts only for the component its job was for: run this component's request and approve jobs",
    });
  }
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: detecting them is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * The reason is text a person typed (a line of the approver's comment, or a
 * Run-form variable): bounded, single line, required and matching
 * `reasonPattern` as the step says. Returns it trimmed.
 */
export function checkReason(step: ApprovalStep, reason: string | undefined, source: string): string {
  const text = (reason ?? '').trim();
  if (text === '') {
    if (step.requireReason) {
      throw new OamError('ERR_APPROVAL_REASON', `${source}: step ${step.name} requires a reason and none was given`, {
        hint: `comment "oam-grant approve ${step.component}: <reason>" (e.g. the ticket id) on the merge request yourself, then run the approve job again`,
      });
    }
    return '';
  }
  if (text.length > MAX_REASON_LENGTH) {
    throw new OamError('ERR_APPROVAL_REASON', `${source}: the reason is ${text.length} characters long, more than ${MAX_REASON_LENGTH}`, {
      hint: 'give a short reason, e.g. a ticket id and a few words',
    });
  }
  if (CONTROL.test(text)) {
    throw new OamError('ERR_APPROVAL_REASON', `${source}: the reason contains control characters or line breaks`, {
      hint: 'give the reason on one line of plain text',
    });
  }
  if (step.reasonPattern !== undefined) {
    if (!compileReasonPattern(step.reasonPattern).test(text)) {
      throw new OamError('ERR_APPROVAL_REASON', `${source}: the reason does not match reasonPattern ${JSON.stringify(step.reasonPattern)} of step ${step.name}`, {
        hint: `comment "oam-grant approve ${step.component}: <reason>" again with a reason in the expected form (e.g. a ticket id), then run the approve job again`,
      });
    }
  }
  return text;
}

/** How an approver qualified: named in `approvers.users`, or a member of a group. */
export type ApproverMatch = { readonly via: 'user'; readonly login: string } | { readonly via: 'group'; readonly group: string };

export function describeMatch(match: ApproverMatch): string {
  return match.via === 'user' ? 'listed in approvers.users' : `member of ${match.group}`;
}

/** GitLab's Developer role: the least access an approver group member must have (Guests and Reporters do not approve). */
export const MIN_APPROVER_ACCESS_LEVEL = 30;

const ACCESS_LEVEL_NAMES: Readonly<Record<number, string>> = {
  0: 'No access',
  5: 'Minimal access',
  10: 'Guest',
  15: 'Planner',
  20: 'Reporter',
  30: 'Developer',
  40: 'Maintainer',
  50: 'Owner',
};

export function describeAccessLevel(level: number): string {
  const name = ACCESS_LEVEL_NAMES[level];
  return name ? `${name} (${level})` : `access level ${level}`;
}

/**
 * The approver is named in `approvers.users`, or is an active direct member
 * of one of `approvers.groups` with at least Developer access. Inherited
 * memberships do not count: a member of `acme` is not thereby an approver for
 * `acme/sre`.
 */
export async function checkEligibility(
  step: ApprovalStep,
  approver: GitlabClaims,
  lookups: ApprovalLookups,
  source: string,
): Promise<ApproverMatch> {
  const login = approver.user_login;
  if (!login) throw new OamError('ERR_APPROVER_NOT_ALLOWED', `${source}: the token has no user_login claim`);
  const listed = step.approvers.users.find((user) => user.toLowerCase() === login.toLowerCase());
  if (listed !== undefined) return { via: 'user', login };
  const problems: string[] = [];
  let hint: string | undefined;
  for (const group of step.approvers.groups) {
    if (!approver.user_id) {
      problems.push(`cannot check ${group}: the token has no user_id claim`);
      continue;
    }
    const member = await lookups.groupMembership(group, approver.user_id);
    if (!member.ok) {
      problems.push(`cannot check membership of ${group}: ${member.why}`);
      hint ??= member.hint;
      continue;
    }
    const m = member.value;
    if (m === undefined) continue;
    if (m.state !== 'active') {
      problems.push(`the membership of ${group} is not active (${m.state})`);
    } else if (m.accessLevel < MIN_APPROVER_ACCESS_LEVEL) {
      problems.push(`${describeAccessLevel(m.accessLevel)} of ${group}, below ${describeAccessLevel(MIN_APPROVER_ACCESS_LEVEL)}`);
    } else {
      return { via: 'group', group };
    }
  }
  const users = step.approvers.users.length > 0 ? step.approvers.users.join(', ') : 'none';
  const groups =
    step.approvers.groups.length > 0
      ? `${step.approvers.groups.join(', ')} (direct members, ${describeAccessLevel(MIN_APPROVER_ACCESS_LEVEL)} or higher)`
      : 'none';
  const unchecked = problems.length > 0 ? `; ${problems.join('; ')}` : '';
  throw new OamError(
    'ERR_APPROVER_NOT_ALLOWED',
    `${source}: ${login} may not approve step ${step.name} (approvers.users: ${users}; approvers.groups: ${groups})${unchecked}`,
    {
      hint: hint ?? 'ask one of the listed approvers to run the approve job, or add the person to the step (or directly to a listed group) in a reviewed merge request',
    },
  );
}

export interface People {
  /** The request token's claims: who triggered the pipeline that asks. */
  readonly requester: GitlabClaims;
}

function samePerson(a: GitlabClaims, b: GitlabClaims): boolean | undefined {
  // user_id is stable; logins can be renamed, so they decide only without ids.
  if (a.user_id && b.user_id) return a.user_id === b.user_id;
  if (a.user_login && b.user_login) return a.user_login.toLowerCase() === b.user_login.toLowerCase();
  return undefined;
}

function selfError(source: string, message: string, hint: string): OamError {
  return new OamError('ERR_APPROVAL_SELF', `${source}: ${message}`, { hint });
}

const OTHER_PERSON_HINT = 'separation of duties: someone else from the approvers must run the approve job';

/**
 * GitLab's private commit email, `<user id>-<username>@users.noreply.<host>`
 * (Gitlab::PrivateCommitEmail with the default `commit_email_hostname`):
 * web-UI commits of a user who hides their email carry it. Matched by the id,
 * as GitLab does, so a renamed user still matches. An instance with another
 * `commit_email_hostname` is not covered (docs/approval.md).
 */
export function isPrivateCommitEmailOf(email: string, approver: GitlabClaims): boolean {
  if (!approver.user_id) return false;
  let host: string;
  try {
    host = new URL(approver.iss).hostname.toLowerCase();
  } catch {
    return false;
  }
  const at = email.lastIndexOf('@');
  if (at < 0 || email.slice(at + 1).toLowerCase() !== `users.noreply.${host}`) return false;
  return /^([0-9]+)-/.exec(email.slice(0, at))?.[1] === approver.user_id;
}

/** Separation of duties: the approver is none of the step's `forbid` people. */
export async function checkSeparation(
  step: ApprovalStep,
  approver: GitlabClaims,
  people: People,
  lookups: ApprovalLookups,
  source: string,
): Promise<void> {
  const who = approver.user_login ?? `user ${approver.user_id ?? '?'}`;
  for (const forbidden of step.forbid) {
    if (forbidden === 'requester') {
      const same = samePerson(approver, people.requester);
      if (same === undefined) throw selfError(source, `cannot tell whether ${who} is the requester: the tokens carry no user_id or user_login`, OTHER_PERSON_HINT);
      if (same) throw selfError(source, `${who} requested this access and may not approve it (forbid: requester)`, OTHER_PERSON_HINT);
    } else if (forbidden === 'mrAuthor') {
      const authors = await lookups.mergeRequestAuthors();
      if (!authors.ok) {
        throw selfError(source, `cannot check that ${who} is not the merge request author: ${authors.why}`, authors.hint ?? NO_API_HINT);
      }
      for (const { mergeRequest, author } of authors.value) {
        const same = approver.user_id ? approver.user_id === author.id : approver.user_login?.toLowerCase() === author.username.toLowerCase();
        if (same) throw selfError(source, `${who} wrote merge request !${mergeRequest.iid} and may not approve it (forbid: mrAuthor)`, OTHER_PERSON_HINT);
      }
    } else {
      const email = approver.raw.user_email;
      if (typeof email !== 'string' || email === '') {
        throw selfError(source, `cannot check that ${who} authored no commit: the token has no user_email claim`, OTHER_PERSON_HINT);
      }
      const emails = await lookups.commitAuthorEmails();
      if (!emails.ok) {
        throw selfError(source, `cannot check that ${who} authored no commit: ${emails.why}`, emails.hint ?? NO_API_HINT);
      }
      const own = new Set([email.toLowerCase()]);
      if (approver.user_id) {
        const shown = await lookups.userEmails(approver.user_id);
        if (!shown.ok) {
          throw selfError(source, `cannot check that ${who} authored no commit: ${shown.why}`, shown.hint ?? NO_API_HINT);
        }
        for (const e of shown.value) own.add(e.toLowerCase());
      }
      const authored = emails.value.find((e) => own.has(e) || isPrivateCommitEmailOf(e, approver));
      if (authored !== undefined) {
        throw selfError(source, `${who} authored or committed a commit of this change and may not approve it (forbid: commitAuthor)`, OTHER_PERSON_HINT);
      }
    }
  }
}

/** The approval came after the request, within the step's `timeout`. */
export function checkTimeout(step: ApprovalStep, requestIat: number, approvalIat: number, source: string): void {
  if (approvalIat < requestIat) {
    throw new OamError('ERR_APPROVAL_INVALID', `${source}: the approval (iat ${approvalIat}) precedes the request (iat ${requestIat})`, {
      hint: 'an approval counts only for a request made before it: run the approve job again',
    });
  }
  const waited = approvalIat - requestIat;
  if (waited > step.timeoutSeconds) {
    throw new OamError(
      'ERR_APPROVAL_EXPIRED',
      `${source}: approved ${formatDuration(waited)} after the request, but step ${step.name} allows ${formatDuration(step.timeoutSeconds)} (timeout)`,
      { hint: 'the request ran out: run the pipeline again to make a new request' },
    );
  }
}

/** The approval is still fresh enough to be used (`validFor`). */
export function checkValidFor(step: ApprovalStep, approvalIat: number, nowSeconds: number, source: string): void {
  const age = nowSeconds - approvalIat;
  if (age > step.validForSeconds) {
    throw new OamError(
      'ERR_APPROVAL_EXPIRED',
      `${source}: approved ${formatDuration(age)} ago, but step ${step.name} accepts approvals for ${formatDuration(step.validForSeconds)} (validFor)`,
      { hint: 'run the approve job again, then the grant job' },
    );
  }
}
