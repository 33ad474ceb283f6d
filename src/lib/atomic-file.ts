/**
 * Readers see the old file or the new one, never a torn one: write a
 * temporary file in the same folder (created with O_EXCL|O_NOFOLLOW, so
 * nothing planted there is followed), then rename it over the target.
 * `durable` adds an fsync before the rename (the credentials); records that a
 * re-run writes again skip it, as every job pays for it. Errors are the file
 * system's own; callers translate them.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** `.<name>.<12 hex digits>.tmp`: the temporary file's name is this many bytes longer than the target's. */
export const TEMP_NAME_EXTRA_BYTES = 18;

export async function writeFileAtomic(path: string, text: string, options: { mode: number; durable: boolean }): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, options.mode);
    await handle.writeFile(text, 'utf8');
    if (options.durable) await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temp, path);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}
