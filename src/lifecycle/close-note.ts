/**
 * The "closed" event in the note: a section appended under the grant's note
 * (found by its marker and its author, as publish.ts finds it), replaced when
 * close runs again. Best effort: the closing record is closed.json and the
 * job log; the note is where reviewers look.
 */
import type { GitlabApi, GitlabNote } from '../lib/gitlab-api.ts';
import type { MergeRequestRef } from '../approval/merge-requests.ts';
import { escapeMarkdown } from '../report/escape.ts';
import { isNoteFor } from '../report/render-note.ts';

export const CLOSED_MARKER = '<!-- oam-grant:closed -->';

export interface ClosedLine {
  readonly credential: string;
  readonly ended: string;
}

export interface ClosedSection {
  readonly closedAt: Date;
  readonly refreshes: number;
  readonly lines: readonly ClosedLine[];
  readonly violations: readonly string[];
}

export function renderClosedSection(section: ClosedSection): string {
  const e = (text: string) => escapeMarkdown(text, 400);
  const head = section.violations.length > 0 ? '❌ **Closed: a grant outlived its approval or the file\'s limits**' : '🔒 **Closed**';
  const rows = section.lines.map((l) => `| ${e(l.credential)} | ${e(l.ended)} |`);
  return [
    CLOSED_MARKER,
    `${head} at ${section.closedAt.toISOString()}; refreshes: ${section.refreshes}`,
    '',
    '| Credential | Ended |',
    '|---|---|',
    ...rows,
    ...section.violations.map((v) => `- ${e(v)}`),
  ].join('\n');
}

/** The note body with the closed section put in place of any earlier one. */
export function withClosedSection(body: string, section: string): string {
  const at = body.indexOf(`\n\n${CLOSED_MARKER}`);
  return `${at === -1 ? body : body.slice(0, at)}\n\n${section}`;
}

export interface CloseNoteInput {
  readonly api: GitlabApi;
  readonly pipelineId: string;
  readonly component: string;
  readonly projectId: string | undefined;
  readonly mergeRequest: MergeRequestRef | undefined;
  readonly commitSha: string | undefined;
  readonly section: string;
}

function ours(note: GitlabNote | undefined, input: CloseNoteInput, me: string): note is GitlabNote {
  return note !== undefined && note.authorId === me && isNoteFor(note.body, input.pipelineId, input.component);
}

/** Edits the grant's note; returns where, or undefined when there is no note of ours to edit. */
export async function postClosedSection(input: CloseNoteInput): Promise<string | undefined> {
  const { api, mergeRequest, projectId, commitSha } = input;
  const me = (await api.currentUser()).id;
  if (mergeRequest) {
    const note = (await api.listMergeRequestNotes(mergeRequest.projectId, mergeRequest.iid)).filter((n) => ours(n, input, me)).pop();
    if (!note) return undefined;
    await api.editMergeRequestNote(mergeRequest.projectId, mergeRequest.iid, note.id, withClosedSection(note.body, input.section));
    return `merge request !${mergeRequest.iid}`;
  }
  if (projectId && commitSha) {
    const discussion = (await api.listCommitDiscussions(projectId, commitSha)).filter((d) => ours(d.notes[0], input, me)).pop();
    const first = discussion?.notes[0];
    if (!discussion || !first) return undefined;
    await api.editCommitDiscussionNote(projectId, commitSha, discussion.id, first.id, withClosedSection(first.body, input.section));
    return `commit ${commitSha.slice(0, 12)}`;
  }
  return undefined;
}
