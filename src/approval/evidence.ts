/**
 * Request and approval evidence: the JSON files the request and approve jobs
 * leave for the grant job. Only `token` is signed (by GitLab); every other
 * field is a convenience that grant recomputes or re-checks, never trusts.
 */
import { readdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { OamError } from '../errors.ts';
import { CREDENTIAL_TRAIT_TYPES, type CredentialTraitType } from '../access-file/model.ts';
import type { RequestedAccess, RequestedCredential } from '../providers/requested-access.ts';
import type { CommentLocation, ReasonSource } from './reason-comment.ts';
import { isNotFound, type WorkspacePath } from '../lib/workspace-path.ts';
import { checkOutDirPath, describeFsError, locateOutDir, readSmallFile, UnsafeFileError, writeOutFile } from './safe-files.ts';

export interface RequestEvidence {
  readonly version: 1;
  readonly kind: 'request';
  readonly component: string;
  /** The request job's own ID token, audience `oam-grant`. */
  readonly token: string;
  readonly requested: RequestedAccess;
  readonly accessFileDigest: string;
  readonly createdAt: string;
}

export interface ApprovalEvidence {
  readonly version: 1;
  readonly kind: 'approval';
  readonly component: string;
  /** Name of the jit-approval step this approval satisfies. */
  readonly step: string;
  /** The approve job's own ID token, audience `oam-grant`: names who pressed Run. */
  readonly token: string;
  /** The reason as checked by the approve job; unsigned, re-checked by grant. */
  readonly reason: string;
  /**
   * Where the reason came from: the approver's comment (which grant reads
   * again by id and re-checks), the Run-form variable, or nowhere.
   */
  readonly reasonSource: ReasonSource;
  readonly createdAt: string;
}

/** An evidence file and where it was read from, for messages that name it. */
export interface Located<T> {
  readonly path: string;
  readonly evidence: T;
}

export const REQUEST_FILE = 'request.json';
export const APPROVALS_DIR = 'approvals';

export function requestEvidencePath(outDir: string): string {
  return join(outDir, REQUEST_FILE);
}

export function approvalEvidencePath(outDir: string, jobId: string): string {
  if (!/^[0-9]{1,20}$/.test(jobId)) throw new OamError('ERR_APPROVAL_INVALID', `job_id ${JSON.stringify(jobId)} is not a GitLab job id`);
  return join(outDir, APPROVALS_DIR, `${jobId}.json`);
}

const EVIDENCE_HINT = 'evidence files are written by the request and approve jobs only; rerun the pipeline instead of editing them';

function invalid(path: string, message: string, cause?: unknown, hint = EVIDENCE_HINT): OamError {
  return new OamError('ERR_APPROVAL_INVALID', `${path}: ${message}`, { hint, cause });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function stringField(record: Record<string, unknown>, name: string, path: string, maxLength = 16 * 1024): string {
  const value = record[name];
  if (typeof value !== 'string') throw invalid(path, `field ${name} is missing or not a string`);
  if (value.length > maxLength) throw invalid(path, `field ${name} is longer than ${maxLength} characters`);
  return value;
}

function parseJson(text: string, path: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalid(path, 'is not valid JSON', error);
  }
  if (!isRecord(value)) throw invalid(path, 'is not a JSON object');
  if (value.version !== 1) throw invalid(path, `version ${JSON.stringify(value.version)} is not supported (expected 1)`);
  return value;
}

function optionalDuration(record: Record<string, unknown>, name: string, path: string): number | undefined {
  const value = record[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalid(path, `field ${name} is not an integer`);
  return value;
}

/** Unknown fields are refused: a field this version does not compare would be a field nobody checks. */
function onlyFields(record: Record<string, unknown>, allowed: readonly string[], where: string, path: string): void {
  const extra = Object.keys(record).find((key) => !allowed.includes(key));
  if (extra !== undefined) throw invalid(path, `field ${where}.${extra} is not part of the evidence format`);
}

function parseRequestedCredential(value: unknown, path: string, i: number): RequestedCredential {
  const where = `requested.credentials[${i}]`;
  if (!isRecord(value)) throw invalid(path, `field ${where} is not an object`);
  onlyFields(value, ['provider', 'identity', 'region', 'durationSeconds', 'scopeDigest', 'scopeSummary'], where, path);
  const provider = value.provider;
  if (typeof provider !== 'string' || !(CREDENTIAL_TRAIT_TYPES as readonly string[]).includes(provider)) {
    throw invalid(path, `field ${where}.provider ${JSON.stringify(provider)} is not supported`);
  }
  const region = value.region;
  if (region !== undefined && typeof region !== 'string') throw invalid(path, `field ${where}.region is not a string`);
  const durationSeconds = optionalDuration(value, 'durationSeconds', path);
  return {
    provider: provider as CredentialTraitType,
    identity: stringField(value, 'identity', path),
    ...(region === undefined ? {} : { region }),
    ...(durationSeconds === undefined ? {} : { durationSeconds }),
    scopeDigest: stringField(value, 'scopeDigest', path),
    scopeSummary: stringField(value, 'scopeSummary', path),
  };
}

function parseRequested(value: unknown, path: string): RequestedAccess {
  if (!isRecord(value)) throw invalid(path, 'field requested is missing or not an object');
  onlyFields(value, ['component', 'credentials', 'durationSeconds', 'scopeDigest', 'scopeSummary'], 'requested', path);
  const credentials = value.credentials;
  if (!Array.isArray(credentials) || credentials.length === 0 || credentials.length > CREDENTIAL_TRAIT_TYPES.length) {
    throw invalid(path, 'field requested.credentials is not a list of 1 to 5 credentials');
  }
  const durationSeconds = optionalDuration(value, 'durationSeconds', path);
  return {
    component: stringField(value, 'component', path),
    credentials: credentials.map((c, i) => parseRequestedCredential(c, path, i)),
    ...(durationSeconds === undefined ? {} : { durationSeconds }),
    scopeDigest: stringField(value, 'scopeDigest', path),
    scopeSummary: stringField(value, 'scopeSummary', path),
  };
}

export function parseRequestEvidence(text: string, path: string): RequestEvidence {
  const record = parseJson(text, path);
  if (record.kind !== 'request') throw invalid(path, `kind ${JSON.stringify(record.kind)} is not "request"`);
  return {
    version: 1,
    kind: 'request',
    component: stringField(record, 'component', path),
    token: stringField(record, 'token', path),
    requested: parseRequested(record.requested, path),
    accessFileDigest: stringField(record, 'accessFileDigest', path),
    createdAt: stringField(record, 'createdAt', path),
  };
}

const IID = /^[0-9]{1,12}$/;
const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
const DISCUSSION_ID = /^[0-9A-Za-z]{1,64}$/;
const PROJECT_ID = /^[0-9]{1,20}$/;

function locationField(location: Record<string, unknown>, name: string, pattern: RegExp, path: string): string {
  const value = location[name];
  if (typeof value === 'string' && pattern.test(value)) return value;
  const what = value === undefined ? 'is missing' : `${JSON.stringify(value).slice(0, 80)} is malformed`;
  throw invalid(path, `field reasonSource.location.${name} ${what}`);
}

function parseCommentLocation(value: unknown, path: string): CommentLocation {
  if (!isRecord(value)) throw invalid(path, 'field reasonSource.location is missing or not an object');
  if (value.kind === 'merge-request') {
    return { kind: 'merge-request', projectId: locationField(value, 'projectId', PROJECT_ID, path), iid: locationField(value, 'iid', IID, path) };
  }
  if (value.kind === 'commit') {
    return {
      kind: 'commit',
      projectId: locationField(value, 'projectId', PROJECT_ID, path),
      sha: locationField(value, 'sha', SHA, path),
      discussionId: locationField(value, 'discussionId', DISCUSSION_ID, path),
    };
  }
  throw invalid(path, `field reasonSource.location.kind ${JSON.stringify(value.kind)} is not merge-request or commit`);
}

function parseReasonSource(value: unknown, path: string): ReasonSource {
  if (!isRecord(value)) throw invalid(path, 'field reasonSource is missing or not an object');
  switch (value.kind) {
    case 'none':
      return { kind: 'none' };
    case 'variable':
      return { kind: 'variable', variable: stringField(value, 'variable', path, 128) };
    case 'comment': {
      const noteId = value.noteId;
      if (typeof noteId !== 'number' || !Number.isSafeInteger(noteId) || noteId <= 0) throw invalid(path, 'field reasonSource.noteId is not a note id');
      return { kind: 'comment', noteId, location: parseCommentLocation(value.location, path), createdAt: stringField(value, 'createdAt', path, 64) };
    }
    default:
      throw invalid(path, `field reasonSource.kind ${JSON.stringify(value.kind)} is not comment, variable or none`);
  }
}

export function parseApprovalEvidence(text: string, path: string): ApprovalEvidence {
  const record = parseJson(text, path);
  if (record.kind !== 'approval') throw invalid(path, `kind ${JSON.stringify(record.kind)} is not "approval"`);
  return {
    version: 1,
    kind: 'approval',
    component: stringField(record, 'component', path),
    step: stringField(record, 'step', path),
    token: stringField(record, 'token', path),
    reason: stringField(record, 'reason', path),
    reasonSource: parseReasonSource(record.reasonSource, path),
    createdAt: stringField(record, 'createdAt', path),
  };
}

/** Any failure to read evidence is ERR_APPROVAL_INVALID naming the file: the evidence cannot be trusted as it is. */
function unreadable(path: string, error: unknown): OamError {
  if (error instanceof UnsafeFileError) return invalid(error.path, error.reason, error);
  return invalid(path, `cannot be read: ${describeFsError(error)}`, error, 'check that the job can read --out-dir, where the artifacts of the request and approve jobs are unpacked');
}

async function readEvidenceText(outDir: WorkspacePath, path: string, root: string): Promise<string | undefined> {
  try {
    return await readSmallFile(outDir, path, root);
  } catch (error) {
    throw unreadable(path, error);
  }
}

/**
 * The request evidence, or undefined when the request job left none.
 * `root` is the job's workspace (its directory), where checks start.
 */
export async function readRequestEvidence(outDir: string, root: string = process.cwd()): Promise<Located<RequestEvidence> | undefined> {
  const path = requestEvidencePath(outDir);
  const text = await readEvidenceText(locateOutDir(outDir, root), path, root);
  return text === undefined ? undefined : { path, evidence: parseRequestEvidence(text, path) };
}

/** The names in the approvals directory; none when it (or the out-dir) does not exist. */
async function listApprovalFiles(outDir: WorkspacePath, dir: string, root: string): Promise<string[]> {
  try {
    if (!(await checkOutDirPath(outDir, resolve(root, dir)))) return [];
    return await readdir(resolve(root, dir));
  } catch (error) {
    if (isNotFound(error)) return [];
    throw unreadable(dir, error);
  }
}

/**
 * Every approval evidence file, in job id order. A file whose name is not
 * `<job_id>.json` is refused rather than skipped: the directory holds only
 * what approve jobs wrote, so anything else was placed there by hand.
 */
export async function readApprovalEvidence(outDir: string, root: string = process.cwd()): Promise<Located<ApprovalEvidence>[]> {
  const located = locateOutDir(outDir, root);
  const dir = join(outDir, APPROVALS_DIR);
  const names = (await listApprovalFiles(located, dir, root)).filter((name) => !name.startsWith('.'));
  const found: Located<ApprovalEvidence>[] = [];
  for (const name of names) {
    const path = join(dir, name);
    if (!/^[0-9]{1,20}\.json$/.test(name)) throw invalid(path, 'is not named <job_id>.json');
    const text = await readEvidenceText(located, path, root);
    if (text === undefined) continue;
    found.push({ path, evidence: parseApprovalEvidence(text, path) });
  }
  return found.sort((a, b) => compareJobFiles(a.path, b.path));
}

/** Both paths end in `<job_id>.json` (checked above): their ids compared as numbers of any length. */
function compareJobFiles(a: string, b: string): number {
  const id = (path: string): bigint => BigInt(basename(path, '.json'));
  const diff = id(a) - id(b);
  return diff < 0n ? -1 : diff > 0n ? 1 : 0;
}

export async function writeRequestEvidence(outDir: string, evidence: RequestEvidence, root: string = process.cwd()): Promise<string> {
  const path = requestEvidencePath(outDir);
  await writeOutFile(outDir, path, `${JSON.stringify(evidence, null, 2)}\n`, 'request evidence', root);
  return path;
}

export async function writeApprovalEvidence(outDir: string, jobId: string, evidence: ApprovalEvidence, root: string = process.cwd()): Promise<string> {
  const path = approvalEvidencePath(outDir, jobId);
  await writeOutFile(outDir, path, `${JSON.stringify(evidence, null, 2)}\n`, 'approval evidence', root);
  return path;
}
