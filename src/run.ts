/**
 * The commands, each a short sequence of steps with its dependencies passed in.
 */
import type { CommandName } from './options.ts';
import type { Deps } from './commands/deps.ts';
import { runExec, runGrant } from './commands/grant.ts';
import { runPlan } from './commands/plan.ts';
import { runTrustPolicy } from './commands/trust-policy.ts';
import { runValidate } from './commands/validate.ts';
import { runTest } from './commands/test.ts';
import { runApprove } from './commands/approve.ts';
import { runRequest } from './commands/request.ts';
import { runCredentials } from './commands/credentials.ts';
import { runClose } from './commands/close.ts';

const COMMAND_HANDLERS: Record<CommandName, (deps: Deps) => Promise<number>> = {
  validate: runValidate,
  test: runTest,
  plan: runPlan,
  request: runRequest,
  approve: runApprove,
  grant: runGrant,
  exec: runExec,
  credentials: runCredentials,
  close: runClose,
  'trust-policy': runTrustPolicy,
};

export function runCommand(command: CommandName, deps: Deps): Promise<number> {
  return COMMAND_HANDLERS[command](deps);
}
