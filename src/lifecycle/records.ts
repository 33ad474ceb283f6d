/**
 * The records a grant's life leaves after the grant job: one file per job
 * that refreshed (`refreshes-<job>.json`, so artifacts of several jobs handed
 * to the close job side by side do not overwrite each other) and the close
 * job's `closed.json`. Like audit.json they hold no token and no credential:
 * identities, session names and times only.
 */
import { join } from 'node:path';
import { locateOutDir, readSmallFile, writeOutFile } from '../approval/safe-files.ts';
import { OamError } from '../errors.ts';

export const CLOSED_FILE = 'closed.json';
export const REFRESH_PREFIX = 'refreshes-';

/** One issuance by `oam-grant credentials`. */
export interface RefreshEvent {
  readonly at: string;
  readonly identity: string;
  readonly sessionName: string;
  readonly expiresAt: string;
}

export interface RefreshRecord {
  readonly version: 1;
  readonly component: string;
  readonly pipelineId: string;
  readonly jobId: string;
  readonly refreshes: readonly RefreshEvent[];
}

export function refreshFileName(jobId: string): string {
  // A job id is digits in GitLab; anything else would make a path of a claim.
  if (!/^[0-9]{1,20}$/.test(jobId)) throw new OamError('ERR_TOKEN_INVALID', `the token's job_id ${JSON.stringify(jobId)} is not a job id`, { hint: 'use the job\'s own GitLab ID token' });
  return `${REFRESH_PREFIX}${jobId}.json`;
}

/** Reads a JSON record below the out-dir; undefined when absent; ERR_APPROVAL_INVALID when it is not JSON. */
export async function readRecord(outDir: string, name: string): Promise<unknown> {
  const path = join(outDir, name);
  const text = await readSmallFile(locateOutDir(outDir), path, process.cwd(), 1024 * 1024);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new OamError('ERR_APPROVAL_INVALID', `${path} is not JSON`, { hint: 'hand the grant job\'s artifacts on unchanged' });
  }
}

/** Appends one issuance to this job's refresh record (best effort is not enough: the close job counts them). */
export async function appendRefresh(outDir: string, base: Omit<RefreshRecord, 'refreshes' | 'version'>, event: RefreshEvent): Promise<number> {
  const name = refreshFileName(base.jobId);
  const previous = (await readRecord(outDir, name)) as Partial<RefreshRecord> | undefined;
  const refreshes = [...(Array.isArray(previous?.refreshes) ? previous.refreshes : []), event];
  const record: RefreshRecord = { version: 1, ...base, refreshes };
  await writeOutFile(outDir, join(outDir, name), `${JSON.stringify(record, null, 2)}\n`, 'refresh record');
  return refreshes.length;
}

export async function writeRecord(outDir: string, name: string, record: unknown, what: string): Promise<string> {
  const path = join(outDir, name);
  await writeOutFile(outDir, path, `${JSON.stringify(record, null, 2)}\n`, what);
  return path;
}
