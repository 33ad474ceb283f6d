/**
 * File hygiene for evidence and records that travel between jobs as
 * artifacts: anyone who can push can also shape an artifact, so reads refuse
 * symlinks and oversized files, and writes are atomic (a half-written
 * evidence file must never be read as a whole one).
 */
import { constants } from 'node:fs';
import { lstat, mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { OamError } from '../errors.ts';
import { writeFileAtomic } from '../lib/atomic-file.ts';

/** Evidence files are a few KiB; anything larger is not ours. */
export const MAX_EVIDENCE_BYTES = 64 * 1024;

export class UnsafeFileError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'UnsafeFileError';
    this.path = path;
  }
}

/** True when the path exists and is not a symlink to a directory elsewhere. */
export async function isRealDirectory(path: string): Promise<boolean> {
  try {
    const stats = await lstat(path);
    if (stats.isSymbolicLink()) throw new UnsafeFileError(path, 'is a symbolic link');
    return stats.isDirectory();
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

export function isNotFound(error: unknown): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === 'ENOENT';
}

/**
 * Read a small regular file without following a symlink at its last
 * component (O_NOFOLLOW, so there is no check-then-open race).
 * Returns undefined when the file does not exist.
 */
export async function readSmallFile(path: string, maxBytes = MAX_EVIDENCE_BYTES): Promise<string | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw new UnsafeFileError(path, 'is a symbolic link');
    throw error;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new UnsafeFileError(path, 'is not a regular file');
    if (stats.size > maxBytes) throw new UnsafeFileError(path, `is ${stats.size} bytes, more than the ${maxBytes} allowed`);
    const buffer = Buffer.alloc(stats.size);
    const { bytesRead } = await handle.read(buffer, 0, stats.size, 0);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** Create the directory (and parents); refuse when it exists as a symlink. */
export async function ensureDirectory(path: string): Promise<void> {
  if (await isRealDirectory(path)) return;
  await mkdir(path, { recursive: true });
  if (!(await isRealDirectory(path))) throw new UnsafeFileError(path, 'is not a directory');
}

/** A record (evidence, audit, metrics) written atomically, its folder created first. */
async function writeRecordFile(path: string, content: string): Promise<void> {
  await ensureDirectory(dirname(path));
  await writeFileAtomic(path, content, { mode: 0o644, durable: false });
}

const FS_REASONS: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  ENOTDIR: 'a parent is not a directory',
  EISDIR: 'is a directory',
  EEXIST: 'exists and is not a directory',
  EIO: 'input/output error',
};

/** A file system failure in words, naming the errno code but never dumping the error object. */
export function describeFsError(error: unknown): string {
  if (error instanceof UnsafeFileError) return error.message;
  const code = error instanceof Error ? (error as NodeJS.ErrnoException).code : undefined;
  if (code) return `${FS_REASONS[code] ?? 'file system error'} (${code})`;
  return error instanceof Error ? error.message : 'unknown error';
}

/**
 * The out-dir itself must be a real directory (or not exist yet): a symlink
 * planted there by a shaped artifact would redirect every read and write.
 */
export async function assertOutDirNotSymlink(outDir: string): Promise<void> {
  try {
    if ((await lstat(outDir)).isSymbolicLink()) throw new UnsafeFileError(outDir, 'is a symbolic link');
  } catch (error) {
    if (isNotFound(error)) return;
    throw error;
  }
}

/**
 * Write a record (evidence, audit record, metrics) below `outDir`
 * atomically. Any failure becomes ERR_EXPORT_FAILED naming the file.
 */
export async function writeOutFile(outDir: string, path: string, content: string, what: string): Promise<void> {
  try {
    await assertOutDirNotSymlink(outDir);
    await writeRecordFile(path, content);
  } catch (error) {
    throw new OamError('ERR_EXPORT_FAILED', `cannot write the ${what} ${path}: ${describeFsError(error)}`, {
      hint: `make --out-dir (${outDir}) a writable directory of the job's workspace, not a symbolic link`,
      cause: error,
    });
  }
}
