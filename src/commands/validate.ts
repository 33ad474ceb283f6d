import { loadAccessFile } from '../access-file/load.ts';
import { AccessFileError } from '../errors.ts';
import { sanitizeLine } from '../lib/log.ts';
import type { Deps } from './deps.ts';

/** Prints every problem as `FILE:LINE:COL error[CODE]: message` (one per line, on stdout) and exits 2 if any. */
export async function runValidate(deps: Deps): Promise<number> {
  try {
    const file = await loadAccessFile(deps.options.file);
    deps.out(
      `${file.path}: valid (${file.components.length} component${file.components.length === 1 ? '' : 's'}, ` +
        `${file.policies.length} polic${file.policies.length === 1 ? 'y' : 'ies'}, ${file.steps.length} approval step${file.steps.length === 1 ? '' : 's'})\n`,
    );
    return 0;
  } catch (error) {
    if (!(error instanceof AccessFileError)) throw error;
    for (const p of error.problems) deps.out(`${sanitizeLine(p.file)}:${p.line}:${p.col} error[${error.code}]: ${sanitizeLine(p.message)}\n`);
    deps.log.line(`${error.problems.length} problem${error.problems.length === 1 ? '' : 's'} in ${deps.options.file}`);
    return 2;
  }
}
