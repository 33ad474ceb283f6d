/**
 * File hygiene for evidence and records that travel between jobs as
 * artifacts: anyone who can push can also shape an artifact. The out-dir
 * lies in the workspace (lib/workspace-path.ts) with no symbolic link from
 * the workspace down; reads refuse links, oversized files and anything that
 * is not a regular file (a FIFO would block the job forever); writes are
 * atomic (a half-written evidence file must never be read as a whole one).
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { OamError } from '../errors.ts';
import { writeFileAtomic } from '../lib/atomic-file.ts';
import { checkDirectories, describeFileKind, isNotFound, locateInWorkspace, UnsafeFileError, type WorkspacePath } from '../lib/workspace-path.ts';

export { UnsafeFileError } from '../lib/workspace-path.ts';

/** Evidence files are a few KiB; anything larger is not ours. */
export const MAX_EVIDENCE_BYTES = 64 * 1024;

/** The out-dir's path in the workspace (`root`, the job's directory). */
export function locateOutDir(outDir: string, root: string = process.cwd()): WorkspacePath {
  return locateInWorkspace(outDir, root);
}

/** Records are written inside the workspace only: anywhere else, the next job never sees them, and other jobs on the runner might. */
function outDirForWriting(outDir: string, root: string): WorkspacePath {
  const located = locateOutDir(outDir, root);
  if (!located.inside) {
    throw new OamError('ERR_USAGE', `--out-dir (OAM_OUT_DIR) ${outDir} is outside the job's workspace ${root}`, {
      hint: 'give a path inside the project directory, such as the default .oam-grant',
    });
  }
  return located;
}

/** A file below the out-dir, located with the out-dir's rules. */
function fileIn(dir: WorkspacePath, path: string, root: string): { absolute: string; shown: string } {
  const absolute = resolve(root, path);
  const rel = relative(dir.absolute, absolute);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) throw new Error(`${path} is not below the out-dir`);
  return { absolute, shown: dir.show(absolute) };
}

/**
 * Every directory from the workspace down to `dir` is a real one (not a
 * link); false when one does not exist (nothing to read there).
 */
export async function checkOutDirPath(outDir: WorkspacePath, dir: string): Promise<boolean> {
  return checkDirectories(outDir.checkFrom, dir, { create: false, show: outDir.show });
}

/**
 * Read a small regular file below the out-dir. Each directory on the way is
 * checked, then the file is opened without following a link (O_NOFOLLOW)
 * and without waiting for a writer (O_NONBLOCK: a FIFO would otherwise block
 * the open forever), and fstat on the open descriptor (no check-then-open
 * race) must show a regular file. Returns undefined when it does not exist.
 */
export async function readSmallFile(outDir: WorkspacePath, path: string, root: string = process.cwd(), maxBytes = MAX_EVIDENCE_BYTES): Promise<string | undefined> {
  const { absolute, shown } = fileIn(outDir, path, root);
  if (!(await checkOutDirPath(outDir, dirname(absolute)))) return undefined;
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(absolute, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new UnsafeFileError(shown, 'is a symbolic link');
    // open(2) answers ENXIO for a socket (and for a device without a driver).
    if (code === 'ENXIO') throw new UnsafeFileError(shown, 'is a socket or a device, not a regular file');
    throw error;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new UnsafeFileError(shown, `is ${describeFileKind(stats)}, not a regular file`);
    if (stats.size > maxBytes) throw new UnsafeFileError(shown, `is ${stats.size} bytes, more than the ${maxBytes} allowed`);
    const buffer = Buffer.alloc(stats.size);
    const { bytesRead } = await handle.read(buffer, 0, stats.size, 0);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
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
  // An UnsafeFileError has no errno code: its message ("<path>: is a symbolic link") is the description.
  const code = error instanceof Error ? (error as NodeJS.ErrnoException).code : undefined;
  if (code) return `${FS_REASONS[code] ?? 'file system error'} (${code})`;
  return error instanceof Error ? error.message : 'unknown error';
}

/**
 * Checked before anything is exchanged (grant, exec), so an out-dir that
 * cannot take the audit record fails before credentials exist: outside the
 * workspace is ERR_USAGE, a link on the way ERR_EXPORT_FAILED.
 */
export async function checkOutDirWritable(outDir: string, root: string = process.cwd()): Promise<void> {
  const dir = outDirForWriting(outDir, root);
  try {
    await checkDirectories(root, dir.absolute, { create: false, show: dir.show });
  } catch (error) {
    throw new OamError('ERR_EXPORT_FAILED', `cannot write records below --out-dir ${outDir}: ${describeFsError(error)}`, {
      hint: `make --out-dir (${outDir}) a writable directory of the job's workspace, with no symbolic link on the way`,
      cause: error,
    });
  }
}

/**
 * Write a record (evidence, audit record, metrics) below `outDir`
 * atomically, creating the folders on the way, none of them through a link.
 * An out-dir outside the workspace is ERR_USAGE; any other failure is
 * ERR_EXPORT_FAILED naming the file.
 */
export async function writeOutFile(outDir: string, path: string, content: string, what: string, root: string = process.cwd()): Promise<void> {
  const dir = outDirForWriting(outDir, root);
  try {
    const { absolute } = fileIn(dir, path, root);
    await checkDirectories(root, dirname(absolute), { create: true, show: dir.show });
    await writeFileAtomic(absolute, content, { mode: 0o644, durable: false });
  } catch (error) {
    throw new OamError('ERR_EXPORT_FAILED', `cannot write the ${what} ${path}: ${describeFsError(error)}`, {
      hint: `make --out-dir (${outDir}) a writable directory of the job's workspace, with no symbolic link on the way`,
      cause: error,
    });
  }
}

