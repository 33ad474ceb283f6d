/**
 * Flags and their environment variables (design.md, section 3): the flag wins,
 * then the variable, then the default.
 */
import { parseArgs } from 'node:util';
import { OamError } from './errors.ts';
import type { Env } from './context.ts';

export const COMMANDS = ['validate', 'test', 'plan', 'request', 'approve', 'grant', 'exec', 'credentials', 'close', 'trust-policy'] as const;
export type CommandName = (typeof COMMANDS)[number];

export interface Options {
  readonly command: CommandName;
  readonly file: string;
  /** `test`: the policy tests; undefined = beside the access file (`oam.yaml` -> `oam.test.yaml`). */
  readonly tests: string | undefined;
  readonly component: string | undefined;
  readonly tokenVar: string;
  readonly evidenceTokenVar: string;
  readonly outDir: string;
  readonly dotenv: string;
  /** Undefined = the provider's usual audience. */
  readonly audience: string | undefined;
  readonly json: boolean;
  readonly debug: boolean;
  /** `exec`: the command after `--`. */
  readonly execArgs: readonly string[];
}

/** Flag name -> environment variable and default. */
export const FLAGS = {
  file: { env: 'OAM_FILE', default: '.gitlab/oam.yaml' },
  tests: { env: 'OAM_TESTS', default: undefined },
  component: { env: 'OAM_COMPONENT', default: undefined },
  'token-var': { env: 'OAM_TOKEN_VAR', default: 'OAM_ID_TOKEN' },
  'evidence-token-var': { env: 'OAM_EVIDENCE_TOKEN_VAR', default: 'OAM_EVIDENCE_TOKEN' },
  'out-dir': { env: 'OAM_OUT_DIR', default: '.oam-grant' },
  dotenv: { env: 'OAM_DOTENV', default: 'oam-grant.env' },
  audience: { env: 'OAM_AUDIENCE', default: undefined },
} as const;

export type ParsedArgs = { kind: 'help'; command?: string } | { kind: 'version' } | { kind: 'run'; options: Options };

/** Variable names must be names: they are looked up in the environment, never evaluated. */
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function usage(message: string): OamError {
  return new OamError('ERR_USAGE', message, { hint: 'run `oam-grant --help` for the commands and flags' });
}

export function parseOptions(argv: readonly string[], env: Env): ParsedArgs {
  const terminator = argv.indexOf('--');
  const own = terminator === -1 ? [...argv] : argv.slice(0, terminator);
  const execArgs = terminator === -1 ? [] : argv.slice(terminator + 1);
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(own);
  } catch (error) {
    throw usage((error as Error).message.replace(/\. To specify .*$/s, '').toLowerCase());
  }
  const { values, positionals } = parsed;
  if (values.version) return { kind: 'version' };
  const [command, ...extra] = positionals;
  if (values.help || command === undefined || command === 'help') return { kind: 'help', ...(extra[0] ? { command: extra[0] } : {}) };
  if (!(COMMANDS as readonly string[]).includes(command)) throw usage(`unknown command ${JSON.stringify(command)}`);
  if (extra.length > 0) throw usage(`unexpected argument ${JSON.stringify(extra[0])}${command === 'exec' ? ' (put the command after --)' : ''}`);
  if (command !== 'exec' && execArgs.length > 0) throw usage(`${command} takes no command after --`);

  const pick = (flag: keyof typeof FLAGS): string | undefined => {
    const fromFlag = values[flag];
    if (typeof fromFlag === 'string') return fromFlag;
    const fromEnv = env[FLAGS[flag].env];
    if (fromEnv !== undefined && fromEnv.trim() !== '') return fromEnv.trim();
    return FLAGS[flag].default;
  };
  const required = (flag: keyof typeof FLAGS): string => {
    const value = pick(flag);
    if (value === undefined || value === '') throw usage(`--${flag} (or ${FLAGS[flag].env}) is empty`);
    return value;
  };
  const options: Options = {
    command: command as CommandName,
    file: required('file'),
    tests: pick('tests'),
    component: pick('component'),
    tokenVar: required('token-var'),
    evidenceTokenVar: required('evidence-token-var'),
    outDir: required('out-dir'),
    dotenv: required('dotenv'),
    audience: pick('audience'),
    json: values.json === true,
    debug: values.debug === true || env.OAM_DEBUG === 'true',
    execArgs,
  };
  if (options.tests === '') throw usage('--tests is empty');
  for (const [flag, value] of [['token-var', options.tokenVar], ['evidence-token-var', options.evidenceTokenVar]] as const) {
    if (!VARIABLE_NAME.test(value)) throw usage(`--${flag}: ${JSON.stringify(value)} is not a variable name`);
  }
  // validate and test read every component of the file.
  if (command !== 'validate' && command !== 'test' && !options.component) {
    throw new OamError('ERR_USAGE', `${command} needs --component (or OAM_COMPONENT)`, { hint: 'name the component of the access file this job acts for' });
  }
  if (command === 'exec' && execArgs.length === 0) {
    throw new OamError('ERR_USAGE', 'exec needs a command after --', { hint: 'oam-grant exec --component it-tests -- npx jest' });
  }
  return { kind: 'run', options };
}

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      file: { type: 'string' },
      tests: { type: 'string' },
      component: { type: 'string' },
      'token-var': { type: 'string' },
      'evidence-token-var': { type: 'string' },
      'out-dir': { type: 'string' },
      dotenv: { type: 'string' },
      audience: { type: 'string' },
      json: { type: 'boolean' },
      debug: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
}
