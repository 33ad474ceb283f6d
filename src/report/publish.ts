/**
 * Post the note: find this pipeline's note for the component by its marker
 * and edit it, or create it; without a merge request, comment on the commit
 * (commit comments cannot be edited, so each event adds one). When posting
 * is impossible the summary goes to the job log, and a `required` audit turns
 * that into ERR_REPORT_FAILED.
 */
import { OamError } from '../errors.ts';
import { type GitlabApi, GitlabApiError } from '../lib/gitlab-api.ts';
import type { Logger } from '../lib/log.ts';
import { NO_API_HINT } from '../approval/lookups.ts';
import type { MergeRequestRef } from '../approval/merge-requests.ts';
import { isNoteFor, renderNote, renderSummary } from './render-note.ts';
import type { ReportState } from './report-state.ts';

export interface PublishInput {
  readonly api: GitlabApi | undefined;
  readonly state: ReportState;
  /** The pipeline's project: commit comments go here. */
  readonly projectId: string | undefined;
  /** The MR the note goes to, in the MR's own project (not the fork's in a fork MR pipeline). */
  readonly mergeRequest: MergeRequestRef | undefined;
  readonly commitSha: string | undefined;
  /** The component's mr-audit trait says `required: true`: failing to post is an error. */
  readonly required: boolean;
  readonly log: Logger;
}

export type PublishResult =
  | { readonly kind: 'note-created'; readonly noteId: number }
  | { readonly kind: 'note-edited'; readonly noteId: number }
  | { readonly kind: 'commit-comment' }
  | { readonly kind: 'logged'; readonly why: string };

async function postNote(api: GitlabApi, input: PublishInput, projectId: string, iid: string, body: string): Promise<PublishResult> {
  const { pipelineId, component } = input.state;
  const notes = await api.listMergeRequestNotes(projectId, iid);
  const existing = notes.filter((note) => isNoteFor(note.body, pipelineId, component)).pop();
  if (existing) {
    try {
      const edited = await api.editMergeRequestNote(projectId, iid, existing.id, body);
      return { kind: 'note-edited', noteId: edited.id };
    } catch (error) {
      // Someone else's note can carry our marker (it is visible in the note's source); we
      // cannot edit it and must not trust it, so we write our own.
      if (!(error instanceof GitlabApiError) || (error.status !== 403 && error.status !== 404)) throw error;
    }
  }
  const created = await api.createMergeRequestNote(projectId, iid, body);
  return { kind: 'note-created', noteId: created.id };
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
  const body = renderNote(input.state);
  try {
    if (mergeRequest) {
      const result = await postNote(api, input, mergeRequest.projectId, mergeRequest.iid, body);
      log.info(`${result.kind === 'note-edited' ? 'updated' : 'created'} the audit note on merge request !${mergeRequest.iid}`);
      return result;
    }
    if (!projectId) return fail(input, 'CI_PROJECT_ID is unset', 'run inside a GitLab job');
    if (commitSha) {
      await api.createCommitComment(projectId, commitSha, body);
      log.info(`no merge request in this pipeline: commented on commit ${commitSha.slice(0, 12)}`);
      return { kind: 'commit-comment' };
    }
    return fail(input, 'neither a merge request nor a commit to comment on', 'run in a merge request or branch pipeline');
  } catch (error) {
    if (!(error instanceof GitlabApiError)) throw error;
    const hint =
      error.status === 401 || error.status === 403
        ? 'check that OAM_GITLAB_TOKEN is valid, has scope api and may comment on this project'
        : 'the GitLab API kept failing; retry the job';
    return fail(input, error.message, hint, error);
  }
}
