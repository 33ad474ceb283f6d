/**
 * Where the job's files may be: its workspace, the directory it runs in. On
 * GitLab that is CI_PROJECT_DIR, where every job starts and where artifacts
 * are unpacked and collected. The variable itself is not read: a pipeline
 * variable may override it, and must not be able to move the workspace (to
 * `/`, say, so that /tmp counts as inside).
 *
 * Artifacts are shaped by whoever can push, and may carry symbolic links. A
 * link anywhere between the workspace and a file (`.oam-grant`, the
 * component's folder, `approvals`) would send evidence, records or
 * credentials elsewhere, so every component below the workspace is lstat'ed
 * and a link refused. The workspace and its parents are the runner's.
 * Files are then opened without following links (O_NOFOLLOW), so the last
 * component cannot be swapped for a link between the check and the open.
 */
import { lstat, mkdir } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';

/** A path that is unsafe to read or write, and why. */
export class UnsafeFileError extends Error {
  readonly path: string;
  readonly reason: string;
  constructor(path: string, reason: string) {
    super(`${path}: ${reason}`);
    this.name = 'UnsafeFileError';
    this.path = path;
    this.reason = reason;
  }
}

/** A path resolved against the workspace, and how to show its components in messages. */
export interface WorkspacePath {
  /** Absolute and normalized: no `.`, `..` or repeated separators left for the kernel to resolve. */
  readonly absolute: string;
  /** False when the path lies outside the workspace. */
  readonly inside: boolean;
  /** Checks of the path's components start below this directory. */
  readonly checkFrom: string;
  /** A component as the user would recognise it: relative when they gave a relative path. */
  readonly show: (absolute: string) => string;
}

function isWithin(root: string, absolute: string): boolean {
  const rel = relative(root, absolute);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/**
 * Resolves `path` against the workspace `root`. A path outside it may still
 * be read (the user chose it; no artifact can put one there), and its checks
 * then start at its own parent.
 */
export function locateInWorkspace(path: string, root: string): WorkspacePath {
  const absolute = resolve(root, path);
  const inside = isWithin(root, absolute);
  return {
    absolute,
    inside,
    checkFrom: inside ? root : dirname(absolute),
    show: (component) => (isAbsolute(path) ? component : relative(root, component) || '.'),
  };
}

/** A file system error saying the path does not exist. */
export function isNotFound(error: unknown): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === 'ENOENT';
}

/**
 * Every directory from below `from` down to `dir`, inclusive, must be a real
 * directory: a symbolic link or anything else is refused. With `create`,
 * missing ones are made one at a time (never through a link). Returns false
 * when one is missing and `create` is off: nothing below it exists.
 */
export async function checkDirectories(from: string, dir: string, options: { create: boolean; show: (absolute: string) => string }): Promise<boolean> {
  const rel = relative(from, dir);
  if (rel === '') return true;
  let current = from;
  for (const part of rel.split(sep)) {
    current = resolve(current, part);
    let stats = await lstat(current).catch((error: unknown) => {
      if (isNotFound(error)) return undefined;
      throw error;
    });
    if (stats === undefined) {
      if (!options.create) return false;
      await mkdir(current).catch((error: unknown) => {
        // Made meanwhile by someone else: the lstat below judges what it is.
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      });
      stats = await lstat(current);
    }
    if (stats.isSymbolicLink()) throw new UnsafeFileError(options.show(current), 'is a symbolic link');
    if (!stats.isDirectory()) throw new UnsafeFileError(options.show(current), 'is not a directory');
  }
  return true;
}

/** What a file system entry is, for a message refusing it. */
export function describeFileKind(stats: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSymbolicLink(): boolean }): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a named pipe (FIFO)';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}
