/**
 * The approval reason as the approver writes it: a line of their own comment
 * on the merge request (or, without one, on the commit),
 *
 *     oam-grant approve deploy-prod: OPS-123 hotfix for the login outage
 *
 * GitLab's Run form may not offer variables at all (new GitLab.com projects
 * let no one set pipeline variables), and a variable does not say who set it:
 * the pipeline's creator can set one for every job. A note does: the API
 * names its author by the same user id the approve job's signed token carries.
 */

/** The command words, matched case-insensitively at the start of a line. */
export const APPROVE_COMMAND = 'oam-grant approve';

/** Where a note lives, so that the grant can read it again by id. */
export type CommentLocation =
  | { readonly kind: 'merge-request'; readonly projectId: string; readonly iid: string }
  | { readonly kind: 'commit'; readonly projectId: string; readonly sha: string; readonly discussionId: string };

/** Where approvers of this change comment: the note's MR, else the pipeline's commit (no discussion yet). */
export type CommentPlace =
  | { readonly kind: 'merge-request'; readonly projectId: string; readonly iid: string }
  | { readonly kind: 'commit'; readonly projectId: string; readonly sha: string };

/** Where an approval's reason came from, as the approval evidence records it. */
export type ReasonSource =
  | { readonly kind: 'none' }
  /** The Run-form variable: unsigned, and possibly set by whoever created the pipeline. */
  | { readonly kind: 'variable'; readonly variable: string }
  | { readonly kind: 'comment'; readonly noteId: number; readonly location: CommentLocation; readonly createdAt: string };

/** The label the note and the audit record give a reason from a variable. */
export const VARIABLE_REASON_LABEL = 'reason from a pipeline variable (unsigned)';

/** What the approver types, up to the reason: `oam-grant approve deploy-prod:`. */
export function approveCommandFor(component: string): string {
  return `${APPROVE_COMMAND} ${component}:`;
}

const COMMAND_LINE = /^[ \t]*oam-grant[ \t]+approve[ \t]+([^\s:]+)[ \t]*:(.*)$/i;

/**
 * The reason a comment gives for `component`: the rest of its first line that
 * reads `oam-grant approve <component>: <reason>` (command words and
 * component name in any case, leading blanks allowed; a quoted line `> ...`
 * does not count). Undefined when no line approves this component; `''`
 * when the line gives no reason.
 *
 * @example reasonInComment('LGTM\noam-grant approve deploy-prod: OPS-1 hotfix', 'deploy-prod') // 'OPS-1 hotfix'
 */
export function reasonInComment(body: string, component: string): string | undefined {
  for (const line of body.split(/\r\n|\r|\n/)) {
    const match = COMMAND_LINE.exec(line);
    if (match && match[1]?.toLowerCase() === component.toLowerCase()) return (match[2] ?? '').trim();
  }
  return undefined;
}

/** `merge request !7` or `commit 1234567890ab`: where approvers comment. */
export function describePlace(place: CommentPlace | CommentLocation): string {
  return place.kind === 'merge-request' ? `merge request !${place.iid}` : `commit ${place.sha.slice(0, 12)}`;
}

/** How the note and the audit record name the reason's origin. */
export function describeReasonSource(source: ReasonSource): string {
  switch (source.kind) {
    case 'none':
      return 'no reason';
    case 'variable':
      return VARIABLE_REASON_LABEL;
    case 'comment':
      return `the approver's comment ${source.noteId} on ${describePlace(source.location)}`;
  }
}
