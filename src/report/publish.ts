/**
 * Post the note: find this pipeline's note for the component by its marker
 * and edit it, or create it; without a merge request, the same in a
 * discussion on the commit. Only a note the API token's own user wrote is
 * ours: the marker is visible in any note's source, so anyone can post a
 * copy of it, and a Maintainer's token could even edit that copy. When
 * posting is impossible the summary goes to the job log, and a `required`
 * audit turns that into ERR_REPORT_FAILED.
 */
import { OamError } from '../errors.ts';
import { type GitlabApi, GitlabApiError, type GitlabNote } from '../lib/gitlab-api.ts';
import type { Logger } from '../lib/log.ts';
import { NO_API_HINT } from '../approval/lookups.ts';
import type { MergeRequestRef } from '../approval/merge-requests.ts';
import { isNoteFor, renderNote, renderSummary } from './render-note.ts';
import type { ReportState } from './report-state.ts';

export interface PublishInput {
  readonly api: GitlabApi | undefined;
  readonly state: ReportState;
  /** The pipeline's project: the commit discussion goes here. */
  readonly projectId: string | undefined;
  /** The MR the note goes to, in the MR's own project (not the fork's in a fork MR pipeline). */
  readonly mergeRequest: MergeRequestRef | undefined;
  readonly commitSha: string | undefined;
  /** The component's mr-audit trait says `required: true`: failing to post is an error. */
  readonly required: boolean;
  /** Warnings shown under the note's headline (the job logs them itself). */
  readonly notices?: readonly string[];
  readonly log: Logger;
}

export type PublishResult =
  | { readonly kind: 'note-created'; readonly noteId: number }
  | { readonly kind: 'note-edited'; readonly noteId: number }
  | { readonly kind: 'commit-discussion-created'; readonly discussionId: string; readonly noteId: number }
  | { readonly kind: 'commit-discussion-edited'; readonly discussionId: string; readonly noteId: number }
  | { readonly kind: 'logged'; readonly why: string };

/** Our note for this pipeline and component: the marker opens it and the token's own user wrote it. */
function isOurs(note: GitlabNote, input: PublishInput, ownUserId: string): boolean {
  return note.authorId === ownUserId && isNoteFor(note.body, input.state.pipelineId, input.state.component);
}

/** A 404 on edit: our note was deleted between the list and the edit, so we write it again. */
function isGone(error: unknown): boolean {
  return error instanceof GitlabApiError && error.status === 404;
}

async function postNote(api: GitlabApi, input: PublishInput, projectId: string, iid: string, body: string): Promise<PublishResult> {
  const me = await api.currentUser();
  const notes = await api.listMergeRequestNotes(projectId, iid);
  const existing = notes.filter((note) => isOurs(note, input, me.id)).pop();
  if (existing) {
    try {
      const edited = await api.editMergeRequestNote(projectId, iid, existing.id, body);
      return { kind: 'note-edited', noteId: edited.id };
    } catch (error) {
      if (!isGone(error)) throw error;
    }
  }
  const created = await api.createMergeRequestNote(projectId, iid, body);
  return { kind: 'note-created', noteId: created.id };
}

/** No merge request: one discussion on the commit per pipeline and component, its first note edited like the MR note. */
async function postCommitDiscussion(api: GitlabApi, input: PublishInput, projectId: string, sha: string, body: string): Promise<PublishResult> {
  const me = await api.currentUser();
  const discussions = await api.listCommitDiscussions(projectId, sha);
  const existing = discussions.filter((d) => d.notes[0] !== undefined && isOurs(d.notes[0], input, me.id)).pop();
  const first = existing?.notes[0];
  if (existing && first) {
    try {
      const edited = await api.editCommitDiscussionNote(projectId, sha, existing.id, first.id, body);
      return { kind: 'commit-discussion-edited', discussionId: existing.id, noteId: edited.id };
    } catch (error) {
      if (!isGone(error)) throw error;
    }
  }
  const created = await api.createCommitDiscussion(projectId, sha, body);
  return { kind: 'commit-discussion-created', discussionId: created.id, noteId: created.notes[0]?.id ?? 0 };
}

/** What to do about a failed post: fix the token's access, or retry when GitLab itself failed. */
function hintFor(status: number | undefined): string {
  if (status === 401 || status === 403) return 'check that OAM_GITLAB_TOKEN is valid, has scope api and may comment on this project';
  // GitLab answers 404 for a project the token's user cannot read (find_project!), as for a missing one: retrying cannot help.
  if (status === 404) return "check that OAM_GITLAB_TOKEN's user can see this project and its merge request or commit: GitLab answers 404 for what it may not see";
  return 'the GitLab API kept failing; retry the job';
}

function fail(input: PublishInput, why: string, hint: string, cause?: unknown): PublishResult {
  input.log.info(renderSummary(input.state));
  if (input.required) {
    throw new OamError('ERR_REPORT_FAILED', `the audit note for ${input.state.component} could not be posted: ${why}`, {
      hint: `${hint} (the mr-audit trait says required: true, so nothing is exported without it)`,
      cause,
    });
  }
  input.log.warn(`audit note not posted: ${why}; the summary above and the audit record stand in for it`);
  return { kind: 'logged', why };
}

/**
 * Render and post the note for `state`. Resolves with what was done; throws
 * ERR_REPORT_FAILED only when `required` and the note could not be posted.
 */
export async function publishReport(input: PublishInput): Promise<PublishResult> {
  const { api, projectId, mergeRequest, commitSha, log } = input;
  if (!api) return fail(input, 'no OAM_GITLAB_TOKEN', NO_API_HINT);
  const body = renderNote(input.state, input.notices);
  try {
    if (mergeRequest) {
      const result = await postNote(api, input, mergeRequest.projectId, mergeRequest.iid, body);
      log.info(`${result.kind === 'note-edited' ? 'updated' : 'created'} the audit note on merge request !${mergeRequest.iid}`);
      return result;
    }
    if (!projectId) return fail(input, 'CI_PROJECT_ID is unset', 'run inside a GitLab job');
    if (commitSha) {
      const result = await postCommitDiscussion(api, input, projectId, commitSha, body);
      const verb = result.kind === 'commit-discussion-edited' ? 'updated' : 'created';
      log.info(`no merge request in this pipeline: ${verb} the audit note on commit ${commitSha.slice(0, 12)}`);
      return result;
    }
    return fail(input, 'neither a merge request nor a commit to comment on', 'run in a merge request or branch pipeline');
  } catch (error) {
    if (!(error instanceof GitlabApiError)) throw error;
    return fail(input, error.message, hintFor(error.status), error);
  }
}
