/** request and approve: the human gate (wired to src/approval once it lands). */
import { OamError } from '../errors.ts';
import type { Deps } from './deps.ts';

export async function runRequestCommand(_deps: Deps): Promise<number> {
  throw new OamError('ERR_USAGE', 'request is not available in this build');
}

export async function runApproveCommand(_deps: Deps): Promise<number> {
  throw new OamError('ERR_USAGE', 'approve is not available in this build');
}
