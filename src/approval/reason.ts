/**
 * The approval reason: found by the approve job in the approver's own
 * comment (author = the signed `user_id` of the approve job's token, written
 * after the request and not after the approval), and read again by id by the
 * grant job, which re-checks author, time and text. A Run-form
 * OAM_APPROVAL_REASON is a labelled fallback where no comment is found, and
 * only where the step accepts it.
 */
import type { ApprovalStep } from '../access-file/model.ts';
import { OamError } from '../errors.ts';
import type { GitlabComment } from '../lib/gitlab-api.ts';
import type { GitlabClaims } from '../token/claims.ts';
import { CLOCK_SKEW_SECONDS } from '../token/verify.ts';
import { checkReason } from './checks.ts';
import { type ApprovalLookups, NO_API_HINT } from './lookups.ts';
import {
  approveCommandFor,
  type CommentLocation,
  type CommentPlace,
  describePlace,
  type ReasonSource,
  reasonInComment,
} from './reason-comment.ts';

/** The Run-form variable that may carry a reason where no comment does. */
export const REASON_VARIABLE = 'OAM_APPROVAL_REASON';

/**
 * How far after the approve token's `iat` a comment may be dated: both times
 * come from GitLab's servers, whose clocks may differ a little (the same
 * allowance as for tokens).
 */
export const COMMENT_SKEW_SECONDS = CLOCK_SKEW_SECONDS;

export interface ApproverReason {
  /** Checked against requireReason, reasonPattern, length and characters; '' when none. */
  readonly reason: string;
  readonly source: ReasonSource;
}

export interface FindReasonInput {
  readonly step: ApprovalStep;
  /** The approve job's own token: `user_id` names the author to look for, `iat` ends the window. */
  readonly approver: GitlabClaims;
  /** The request token's `iat`: the window starts there. */
  readonly requestIat: number;
  readonly lookups: ApprovalLookups;
  /** The value of OAM_APPROVAL_REASON in the approve job, if any. */
  readonly variable: string | undefined;
  /** Names the approver's token in messages (`OAM_EVIDENCE_TOKEN`). */
  readonly source: string;
  /** Told when a comment wins over a variable, or comments could not be read for an optional reason. */
  readonly warn?: (message: string) => void;
}

function reasonError(message: string, hint: string): OamError {
  return new OamError('ERR_APPROVAL_REASON', message, { hint });
}

function invalid(message: string, hint: string): OamError {
  return new OamError('ERR_APPROVAL_INVALID', message, { hint });
}

function commandExample(step: ApprovalStep): string {
  const what = step.reasonPattern !== undefined ? `<reason matching ${step.reasonPattern}>` : '<reason>';
  return `${approveCommandFor(step.component)} ${what}`;
}

function commentHint(step: ApprovalStep, place: CommentPlace | undefined): string {
  const where = place ? describePlace(place) : 'the merge request (or the commit)';
  return `comment "${commandExample(step)}" on ${where} yourself, then run the approve job again`;
}

const REASON_API_HINT =
  "set OAM_GITLAB_TOKEN (a project or group access token with scope api, Reporter or higher) so oam-grant can read the approver's comment";

/**
 * Whether a note was written after the request and not after the approval
 * (plus the skew). An undated note is not: Date.parse gives NaN, and NaN is
 * neither after nor before anything.
 */
function writtenInWindow(createdAt: string, requestIat: number, approvalIat: number): boolean {
  const at = Date.parse(createdAt);
  return at >= requestIat * 1000 && at <= (approvalIat + COMMENT_SKEW_SECONDS) * 1000;
}

function newest(a: GitlabComment, b: GitlabComment): GitlabComment {
  const ta = Date.parse(a.createdAt);
  const tb = Date.parse(b.createdAt);
  if (ta !== tb) return ta > tb ? a : b;
  return a.id > b.id ? a : b;
}

function locationOf(place: CommentPlace, note: GitlabComment): CommentLocation | undefined {
  if (place.kind === 'merge-request') return place;
  return note.discussionId ? { ...place, discussionId: note.discussionId } : undefined;
}

/**
 * The approver's newest comment at the comment place that approves this
 * component and was written in the window, or undefined.
 */
function findComment(
  comments: readonly GitlabComment[],
  input: FindReasonInput,
  authorId: string,
  place: CommentPlace,
): { note: GitlabComment; location: CommentLocation } | undefined {
  let best: { note: GitlabComment; location: CommentLocation } | undefined;
  for (const note of comments) {
    if (note.system || note.authorId !== authorId) continue;
    if (reasonInComment(note.body, input.step.component) === undefined) continue;
    if (!writtenInWindow(note.createdAt, input.requestIat, input.approver.iat)) continue;
    const location = locationOf(place, note);
    if (!location) continue;
    if (!best || newest(best.note, note) === note) best = { note, location };
  }
  return best;
}

/**
 * The approve job's reason: the approver's own comment if there is one, else
 * the variable where the step accepts it, else none. Throws
 * ERR_APPROVAL_REASON when the step's reason rules are not met.
 */
export async function findApproverReason(input: FindReasonInput): Promise<ApproverReason> {
  const { step, approver, lookups, source } = input;
  const place = lookups.commentPlace;
  const authorId = approver.user_id;
  const comments = authorId ? await lookups.comments() : undefined;
  const found = comments?.ok && authorId && place ? findComment(comments.value, input, authorId, place) : undefined;
  const variable = input.variable?.trim() ?? '';

  if (found) {
    const where = `comment ${found.note.id} on ${describePlace(found.location)}`;
    if (variable !== '') input.warn?.(`${REASON_VARIABLE} is ignored: the approver's ${where} gives the reason`);
    const reason = checkReason(step, reasonInComment(found.note.body, step.component), where);
    return { reason, source: { kind: 'comment', noteId: found.note.id, location: found.location, createdAt: found.note.createdAt } };
  }

  if (step.requireReason) {
    // A required reason must be the approver's own words: a variable may have been set by whoever created the pipeline.
    if (!authorId) {
      throw reasonError(`${source}: step ${step.name} requires a reason, but the token has no user_id claim to find the approver's comment by`, 'run the approve job in GitLab, whose ID tokens name the user');
    }
    if (comments && !comments.ok) {
      throw reasonError(
        `${source}: step ${step.name} requires a reason in the approver's comment, which cannot be read: ${comments.why}`,
        comments.hint === undefined || comments.hint === NO_API_HINT ? REASON_API_HINT : comments.hint,
      );
    }
  } else if (comments && !comments.ok) {
    input.warn?.(`the approver's comments cannot be read (${comments.why}); the reason is optional, so the approval goes on without it`);
  }

  if (variable !== '') {
    if (!step.acceptReasonVariable) {
      throw reasonError(
        `${REASON_VARIABLE}: step ${step.name} accepts a reason only from the approver's own comment (acceptReasonVariable: false)${place ? `, and there is none by ${approver.user_login ?? `user ${authorId}`} on ${describePlace(place)} since the request` : ''}`,
        commentHint(step, place),
      );
    }
    return { reason: checkReason(step, variable, REASON_VARIABLE), source: { kind: 'variable', variable: REASON_VARIABLE } };
  }

  if (step.requireReason) {
    const where = place ? ` on ${describePlace(place)}` : '';
    throw reasonError(
      `${source}: step ${step.name} requires a reason, and ${approver.user_login ?? `user ${authorId}`} wrote no comment "${approveCommandFor(step.component)} <reason>"${where} between the request and pressing Run`,
      commentHint(step, place),
    );
  }
  return { reason: checkReason(step, '', source), source: { kind: 'none' } };
}

export interface RecordedReasonInput {
  readonly step: ApprovalStep;
  /** The approval's verified token. */
  readonly approver: GitlabClaims;
  readonly requestIat: number;
  readonly reason: string;
  readonly source: ReasonSource;
  readonly lookups: ApprovalLookups;
  /** The evidence file, for messages. */
  readonly path: string;
}

const RECOMMENT_HINT = 'the approver must comment again (their reason as a new comment) and run the approve job again, then the grant job';

/**
 * The grant's re-check of a recorded reason, trusting nothing unsigned: a
 * comment is read again by id and must still be the approver's, written in
 * the window, and still say the reason approved. Edits are judged by the
 * current text only: GitLab moves a note's `updated_at` for emoji reactions
 * and resolution too, so a timestamp would let anyone void an approval.
 */
export async function verifyRecordedReason(input: RecordedReasonInput): Promise<string> {
  const { step, source, path, lookups } = input;
  switch (source.kind) {
    case 'none':
      if (input.reason !== '') throw invalid(`${path}: a reason without a source`, 'evidence files are written by the approve job only; rerun it instead of editing them');
      return checkReason(step, '', path);
    case 'variable':
      if (source.variable !== REASON_VARIABLE) {
        throw invalid(`${path}: reason source variable ${JSON.stringify(source.variable)} is not ${REASON_VARIABLE}`, 'evidence files are written by the approve job only');
      }
      if (!step.acceptReasonVariable) {
        throw reasonError(`${path}: the reason comes from ${REASON_VARIABLE}, but step ${step.name} accepts only the approver's own comment (acceptReasonVariable: false)`, commentHint(step, lookups.commentPlace));
      }
      return checkReason(step, input.reason, `${path} (${REASON_VARIABLE})`);
    case 'comment':
      return verifyCommentReason(input, source);
  }
}

async function verifyCommentReason(input: RecordedReasonInput, source: Extract<ReasonSource, { kind: 'comment' }>): Promise<string> {
  const { step, approver, path, lookups } = input;
  const where = `${path}: comment ${source.noteId} on ${describePlace(source.location)}`;
  if (!lookups.isOfThisChange(source.location)) {
    throw invalid(`${where} is not on a merge request of this change or on its commit`, 'a reason counts only where the request note asks for it: the approver comments there and runs the approve job again');
  }
  const read = await lookups.comment(source.location, source.noteId);
  if (!read.ok) {
    throw reasonError(`${where} cannot be read again: ${read.why}`, read.hint === undefined || read.hint === NO_API_HINT ? REASON_API_HINT : read.hint);
  }
  const note = read.value;
  if (!note) throw reasonError(`${where} no longer exists (deleted after the approval)`, RECOMMENT_HINT);
  const approverName = `${approver.user_login ?? '?'} (user ${approver.user_id ?? '?'})`;
  if (note.system || !approver.user_id || note.authorId !== approver.user_id) {
    throw invalid(
      `${where} was written by ${note.system ? 'GitLab (a system note)' : `${note.authorUsername || '?'} (user ${note.authorId})`}, not by the approver ${approverName}`,
      'the reason must be the approver\'s own comment; evidence files are written by the approve job only',
    );
  }
  if (!writtenInWindow(note.createdAt, input.requestIat, approver.iat)) {
    throw invalid(
      `${where} was written at ${note.createdAt}, not between the request (${new Date(input.requestIat * 1000).toISOString()}) and the approval (${new Date(approver.iat * 1000).toISOString()})`,
      'a reason counts only when written for this request, before pressing Run: comment again and run the approve job again',
    );
  }
  const current = reasonInComment(note.body, step.component);
  if (current !== input.reason.trim()) {
    throw reasonError(`${where} was edited after the approval: it no longer gives the reason that was approved`, RECOMMENT_HINT);
  }
  return checkReason(step, current, where);
}
