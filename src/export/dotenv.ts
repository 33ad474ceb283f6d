/**
 * The dotenv hand-off, by GitLab's rules: `KEY=value` lines only (no quotes,
 * comments, blank lines or multi-line values), at most 5 KB, keys of
 * [A-Za-z0-9_]. Written atomically with mode 0600, never through a symlink,
 * and only after every other step succeeded.
 */
import { constants } from 'node:fs';
import { access, lstat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { TEMP_NAME_EXTRA_BYTES, writeFileAtomic } from '../lib/atomic-file.ts';
import { checkDirectories, describeFileKind, locateInWorkspace, UnsafeFileError } from '../lib/workspace-path.ts';
import { OamError } from '../errors.ts';

/** GitLab's `dotenv_size` limit. */
export const DOTENV_MAX_BYTES = 5120;
/** Self-managed GitLab's default `dotenv_variables` limit (GitLab.com allows more). */
export const DOTENV_MAX_VARIABLES = 20;

const KEY = /^[A-Za-z0-9_]{1,255}$/;

function exportError(message: string, hint: string): OamError {
  return new OamError('ERR_EXPORT_FAILED', message, { hint });
}

/** Applies `exportPrefix` (validated by the access file schema) to each name. */
export function prefixVariables(variables: readonly (readonly [string, string])[], prefix: string): [string, string][] {
  return variables.map(([name, value]) => [`${prefix}${name}`, value]);
}

/** Renders the file's text, refusing anything GitLab would reject or alter. Messages name keys, never values. */
/**
 * The limits that names alone decide (how many, valid, distinct), checked
 * before any credential exists; sizes are checked again once values are known.
 */
export function checkDotenvNames(names: readonly string[], file = 'the dotenv file'): void {
  renderDotenv(
    names.map((name) => [name, 'x'] as const),
    file,
  );
}

export function renderDotenv(variables: readonly (readonly [string, string])[], file = 'the dotenv file'): string {
  if (variables.length > DOTENV_MAX_VARIABLES) {
    throw exportError(`${file}: ${variables.length} variables exceed GitLab's default limit of ${DOTENV_MAX_VARIABLES}`, 'export fewer variables');
  }
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const [key, value] of variables) {
    if (!KEY.test(key)) throw exportError(`${file}: ${JSON.stringify(key)} is not a valid variable name ([A-Za-z0-9_])`, 'fix exportPrefix in the access file');
    if (seen.has(key)) throw exportError(`${file}: ${key} would be written twice`, 'use a distinct exportPrefix');
    seen.add(key);
    // GitLab trims spaces, keeps quotes, and expands `$` later (the values are stored raw: false).
    if (/[\r\n\0]/.test(value) || value !== value.trim() || value.includes('$') || value === '') {
      throw exportError(`${file}: the value of ${key} cannot be written as a dotenv value`, 'this is a provider answer oam-grant cannot pass on safely; report it');
    }
    lines.push(`${key}=${value}`);
  }
  const text = `${lines.join('\n')}\n`;
  const size = Buffer.byteLength(text, 'utf8');
  if (size > DOTENV_MAX_BYTES) {
    throw exportError(`${file}: ${size} bytes exceed GitLab's dotenv limit of ${DOTENV_MAX_BYTES}`, 'shorten exportPrefix or split the grant');
  }
  return text;
}

/**
 * The dotenv path in the workspace: inside it (anywhere else GitLab never
 * collects it, and on a shell runner other jobs might read it), with no
 * symbolic link from the workspace down, and not itself a link or anything
 * but a regular file. Returns the absolute path to write.
 */
async function checkDotenvPath(path: string, root: string): Promise<string> {
  const located = locateInWorkspace(path, root);
  if (!located.inside) {
    throw new OamError('ERR_USAGE', `--dotenv (OAM_DOTENV) ${path} is outside the job's workspace ${root}`, {
      hint: 'give a path inside the project directory, such as the default oam-grant.env, so that artifacts:reports:dotenv can collect it',
    });
  }
  const shown = located.show(located.absolute);
  try {
    if (!(await checkDirectories(root, dirname(located.absolute), { create: false, show: located.show }))) {
      throw exportError(`${located.show(dirname(located.absolute))}: cannot write there (ENOENT)`, 'create the folder first, or choose another --dotenv path');
    }
  } catch (error) {
    if (error instanceof UnsafeFileError) throw exportError(`${error.path} ${reasonForLink(error.reason)}`, 'remove the link or choose another --dotenv path');
    if (error instanceof OamError) throw error;
    throw exportError(`${path}: cannot inspect (${(error as NodeJS.ErrnoException).code ?? 'error'})`, 'check the path given with --dotenv');
  }
  const existing = await lstat(located.absolute).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw exportError(`${shown}: cannot inspect (${error.code ?? error.message})`, 'check the path given with --dotenv');
  });
  if (existing?.isSymbolicLink()) throw exportError(`${shown} is a symbolic link; refusing to write credentials through it`, 'remove the link or choose another --dotenv path');
  if (existing && !existing.isFile()) throw exportError(`${shown} exists and is ${describeFileKind(existing)}, not a regular file`, 'choose another --dotenv path');
  return located.absolute;
}

/** The longest file name Linux file systems (ext4, xfs, overlayfs) take. */
const NAME_MAX_BYTES = 255;

function reasonForLink(reason: string): string {
  return reason === 'is a symbolic link' ? 'is a symbolic link; refusing to write credentials through it' : reason;
}

/**
 * Checked before the exchange, so a dotenv path that cannot be written is found
 * before credentials exist and before the note announces them. `root` is the
 * job's workspace (its directory).
 */
export async function checkDotenvTarget(path: string, root: string = process.cwd()): Promise<void> {
  const absolute = await checkDotenvPath(path, root);
  // The atomic write's temporary file has a longer name: past the file system's 255 bytes it could not be created.
  if (Buffer.byteLength(basename(absolute)) + TEMP_NAME_EXTRA_BYTES > NAME_MAX_BYTES) {
    throw exportError(`${path}: the file name is too long (at most ${NAME_MAX_BYTES - TEMP_NAME_EXTRA_BYTES} bytes, for the temporary file written first)`, 'choose a shorter --dotenv name');
  }
  try {
    await access(dirname(absolute), constants.W_OK);
  } catch (error) {
    throw exportError(`${dirname(path)}: cannot write there (${(error as NodeJS.ErrnoException).code ?? 'error'})`, 'check the path given with --dotenv');
  }
}

/**
 * Writes the dotenv file atomically with mode 0600, after the same checks as
 * checkDotenvTarget: a link at the target or on the way is refused rather
 * than followed or replaced.
 */
export async function writeDotenvFile(path: string, text: string, root: string = process.cwd()): Promise<void> {
  const absolute = await checkDotenvPath(path, root);
  try {
    await writeFileAtomic(absolute, text, { mode: 0o600, durable: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw exportError(`${path}: cannot write (${code})`, 'check that the job can write to the project directory');
  }
}
