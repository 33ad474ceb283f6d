/**
 * Tools some tests need from the machine (Debian's AWS CLI as a real consumer
 * of credentials, rsync for gitlab-ci-local), found the way `.ci/run` finds
 * them. Off CI a missing tool skips those tests with the install hint; on CI
 * (`CI` set) it fails them, naming the tool, so nothing is quietly skipped.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `command -v name`: an executable file of that name in a PATH folder. */
function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && executable(join(dir, name)));
}

const TOOLS = {
  // The AWS CLI at Debian's path exactly: the tests prove what that binary accepts.
  aws: { label: 'awscli (/usr/bin/aws)', present: () => executable('/usr/bin/aws'), apt: 'awscli' },
  rsync: { label: 'rsync', present: () => onPath('rsync'), apt: 'rsync' },
} as const;

export type Tool = keyof typeof TOOLS;

/**
 * Why a test that needs `tools` cannot run here, or false when all are present.
 * Throws on CI instead: a skip there would hide a broken `.ci/run`.
 */
export function missingToolsReason(...tools: Tool[]): string | false {
  const missing = tools.filter((tool) => !TOOLS[tool].present());
  if (missing.length === 0) return false;
  const reason = `needs ${missing.map((t) => TOOLS[t].label).join(' and ')}: apt-get install -y ${missing.map((t) => TOOLS[t].apt).join(' ')} (.ci/run installs them)`;
  if (process.env.CI) throw new Error(`CI is set, so this test may not be skipped: ${reason}`);
  return reason;
}
