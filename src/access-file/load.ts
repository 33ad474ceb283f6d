/**
 * Loads the access file: read (bounded), decode (strict UTF-8), parse (one
 * YAML document, positions kept), validate (schema + semantic checks, every
 * problem at once), then build the typed model with defaults applied.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { AccessFileError, type FileProblem } from '../errors.ts';
import { buildAccessFile } from './build-model.ts';
import type { AccessFile } from './model.ts';
import { ProblemList } from './problems.ts';
import { checkSchema } from './schema-problems.ts';
import { checkSemantics } from './semantic-checks.ts';
import { decodeUtf8, LIMITS, readYaml } from './yaml-source.ts';

export { findComponent } from './lookup.ts';

export interface LoadOptions {
  /** Reads the file; defaults to a bounded read of a regular file. Injected by tests. */
  readFile?: (path: string) => Promise<Buffer>;
}

const SIZE_HINT = `keep the access file under ${LIMITS.maxBytes / 1024} KiB`;

function fileProblem(path: string, message: string): FileProblem {
  return { file: path, line: 1, col: 1, path: '', message };
}

function tooLarge(path: string, size: number): AccessFileError {
  return new AccessFileError([fileProblem(path, `file is ${size} bytes; the limit is ${LIMITS.maxBytes}`)], { hint: SIZE_HINT });
}

/** Reads at most one byte past the limit, from a regular file only (no FIFO, device or directory). */
export async function readBounded(path: string): Promise<Buffer> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'ENOTREG' });
    if (stat.size > LIMITS.maxBytes) throw tooLarge(path, stat.size);
    const buffer = Buffer.alloc(LIMITS.maxBytes + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > LIMITS.maxBytes) throw tooLarge(path, length);
    }
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}

function readFailure(path: string, error: unknown): AccessFileError {
  const code = error !== null && typeof error === 'object' && 'code' in error ? String(error.code) : '';
  const reasons: Record<string, string> = {
    ENOENT: 'file not found',
    EACCES: 'cannot read the file (permission denied)',
    EISDIR: 'is a directory, not a file',
    ENOTREG: 'is not a regular file',
  };
  const message = reasons[code] ?? `cannot read the file${code ? ` (${code.toLowerCase()})` : ''}`;
  const hint =
    code === 'ENOENT'
      ? 'create the access file, or point --file (OAM_FILE) at it; the default is .gitlab/oam.yaml'
      : 'check the --file (OAM_FILE) path and that the job can read it';
  return new AccessFileError([fileProblem(path, message)], { hint, cause: error });
}

/**
 * Reads, validates and types the access file at `path`.
 * Throws AccessFileError (ERR_METADATA_INVALID) listing every problem found.
 *
 * @example
 * const file = await loadAccessFile('.gitlab/oam.yaml');
 * const component = findComponent(file, 'deploy-prod');
 */
export async function loadAccessFile(path: string, options: LoadOptions = {}): Promise<AccessFile> {
  let bytes: Buffer;
  try {
    bytes = await (options.readFile ?? readBounded)(path);
  } catch (error) {
    if (error instanceof AccessFileError) throw error;
    throw readFailure(path, error);
  }
  return parseAccessFile(bytes, path);
}

/**
 * Validates and types access file content; `path` names it in messages.
 * Throws AccessFileError (ERR_METADATA_INVALID) listing every problem found.
 */
export function parseAccessFile(text: string | Buffer, path: string): AccessFile {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  if (bytes.length > LIMITS.maxBytes) throw tooLarge(path, bytes.length);
  const decoded = decodeUtf8(bytes, path);
  if (!decoded.ok) throw new AccessFileError(decoded.problems);

  const parsed = readYaml(decoded.text, path);
  if (!parsed.ok) throw new AccessFileError(parsed.problems);

  const list = new ProblemList(path, parsed.source);
  checkSchema(parsed.source.value, list);
  checkSemantics(parsed.source.value, list);
  if (list.problems.length > 0) throw new AccessFileError(list.sorted());

  return buildAccessFile(parsed.source.value, {
    path,
    digest: createHash('sha256').update(bytes).digest('hex'),
    positions: parsed.source.positions,
  });
}
