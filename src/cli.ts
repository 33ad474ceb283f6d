/**
 * argv + env -> options -> a command. The only place that prints errors and
 * sets the exit code.
 */
import { readCiContext } from './context.ts';
import { isOamError, OamError } from './errors.ts';
import { httpGetFor } from './lib/http.ts';
import { Logger, sanitizeLine } from './lib/log.ts';
import { redact, registerSecret } from './lib/redact.ts';
import { COMMANDS, parseOptions } from './options.ts';
import { runCommand } from './run.ts';
import { IssuerTokenVerifier } from './token/verify.ts';
import { normalizeIssuer } from './token/discovery.ts';
import type { TokenVerifier } from './token/types.ts';

declare const OAM_GRANT_VERSION: string | undefined;
export const VERSION = typeof OAM_GRANT_VERSION === 'string' ? OAM_GRANT_VERSION : '0.0.0-dev';

const HELP = `oam-grant ${VERSION}: just-in-time cloud credentials for GitLab CI jobs

usage: oam-grant <command> [flags]

commands:
  validate                     check the access file; print each problem as FILE:LINE:COL error[CODE]: message
  test                         run the policy tests beside the access file (offline); exit 1 if a case fails
  plan --component C           show what grant would do here (claims, policies, approvals, role, scope); exchanges nothing
  request --component C        record a request (evidence + merge request note)
  approve --component C        in the manual approve job: record the approval of the person who pressed Run
  grant --component C          verify everything, exchange the token, write the dotenv file and the audit record
  exec --component C -- CMD    like grant, but run CMD with the credentials in its environment only
  credentials --component C    AWS credential_process: a fresh grant as JSON on stdout, no dotenv, no note (refresh for long jobs)
  close --component C          in the last job: revoke what can be revoked, record when each grant ended; exit 3 if one outlived its approval
  trust-policy --component C   print the cloud-side trust configuration (IAM trust policy, GCP provider, Entra credential, Vault role...) that matches the access file

flags (each also an environment variable; the flag wins):
  --file PATH                  OAM_FILE                access file (.gitlab/oam.yaml)
  --tests PATH                 OAM_TESTS               test: policy tests (beside the access file: .gitlab/oam.test.yaml)
  --component NAME             OAM_COMPONENT           component of the access file
  --token-var NAME             OAM_TOKEN_VAR           variable holding the exchange token (OAM_ID_TOKEN; NAME_<TYPE> per trait when a component has several)
  --evidence-token-var NAME    OAM_EVIDENCE_TOKEN_VAR  variable holding the oam-grant token (OAM_EVIDENCE_TOKEN)
  --out-dir DIR                OAM_OUT_DIR             evidence in, audit record out (.oam-grant)
  --dotenv PATH                OAM_DOTENV              dotenv file written by grant (oam-grant.env)
  --audience AUD               OAM_AUDIENCE            audience of the exchange token (aws-sts: sts.amazonaws.com)
  --json                                               plan: print JSON
  --debug                      OAM_DEBUG=true          print error causes
  -h, --help / -v, --version

exit codes: 0 done, 1 runtime failure, 2 usage or invalid access file, 3 denied
`;

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const defaultIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

function describeCause(error: unknown, depth = 0): string {
  if (depth > 3 || !(error instanceof Error)) return '';
  const own = `  cause: ${error.name}: ${error.message}\n`;
  return own + describeCause((error as { cause?: unknown }).cause, depth + 1);
}

export function formatError(error: OamError, debug: boolean): string {
  // One line each: a message quoting user input must not be able to fake further lines.
  let text = `error[${error.code}]: ${sanitizeLine(error.message)}\n`;
  if (error.hint) text += `hint: ${sanitizeLine(error.hint)}\n`;
  if (debug) text += describeCause(error.cause);
  return redact(text);
}

export async function main(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, rawIo: CliIo = defaultIo): Promise<number> {
  // Everything printed passes the redactor, whichever stream and whoever writes it.
  const io: CliIo = { stdout: (text) => rawIo.stdout(redact(text)), stderr: (text) => rawIo.stderr(redact(text)) };
  let debug = env.OAM_DEBUG === 'true';
  try {
    const parsed = parseOptions(argv, env);
    if (parsed.kind === 'version') {
      io.stdout(`${VERSION}\n`);
      return 0;
    }
    if (parsed.kind === 'help') {
      if (parsed.command && !(COMMANDS as readonly string[]).includes(parsed.command)) throw new OamError('ERR_USAGE', `unknown command ${JSON.stringify(parsed.command)}`);
      io.stdout(HELP);
      return 0;
    }
    const { options } = parsed;
    debug = options.debug;
    // Whatever a foreign error message might echo, these never reach the output.
    // The per-trait exchange tokens of a component with several credentials (OAM_ID_TOKEN_VAULT_JWT...) too.
    const perTrait = Object.keys(env).filter((name) => name.startsWith(`${options.tokenVar}_`));
    for (const name of [options.tokenVar, ...perTrait, options.evidenceTokenVar, 'OAM_GITLAB_TOKEN', 'CI_JOB_TOKEN']) {
      const value = env[name];
      if (value) registerSecret(value);
    }
    const ctx = readCiContext(env);
    const log = new Logger({ sink: { write: io.stderr }, gitlab: ctx.inGitlabJob, color: ctx.inGitlabJob || process.stderr.isTTY === true });
    const get = httpGetFor(env);
    const verifiers = new Map<string, IssuerTokenVerifier>();
    const verifierFor = (issuer: string): TokenVerifier => {
      const key = normalizeIssuer(issuer);
      let verifier = verifiers.get(key);
      if (!verifier) {
        verifier = new IssuerTokenVerifier({ issuer: key, get });
        verifiers.set(key, verifier);
      }
      return verifier;
    };
    return await runCommand(options.command, {
      options,
      env,
      ctx,
      log,
      out: io.stdout,
      secretOut: rawIo.stdout,
      now: () => new Date(),
      get,
      verifier: verifierFor,
    });
  } catch (error) {
    if (isOamError(error)) {
      io.stderr(formatError(error, debug));
      return error.exitCode;
    }
    // A bug, not a user error: say so plainly, without dumping objects that might hold secrets.
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    io.stderr(redact(`error[INTERNAL]: ${message}\nhint: this is a bug in oam-grant; re-run with --debug and report it\n`));
    if (debug && error instanceof Error && error.stack) io.stderr(redact(`${error.stack}\n`));
    return 1;
  }
}
