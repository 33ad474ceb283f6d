/**
 * Every failure oam-grant reports carries one of these codes (design.md, section 3).
 * The code is the stable contract; messages may improve over time.
 */
export type ErrorCode =
  | 'ERR_USAGE'
  | 'ERR_METADATA_INVALID'
  | 'ERR_COMPONENT_UNKNOWN'
  | 'ERR_TOKEN_MISSING'
  | 'ERR_TOKEN_INVALID'
  | 'ERR_TOKEN_EXPIRED'
  | 'ERR_TOKEN_AUDIENCE'
  | 'ERR_TOKEN_ISSUER'
  | 'ERR_POLICY_DENIED'
  | 'ERR_APPROVAL_MISSING'
  | 'ERR_APPROVAL_INVALID'
  | 'ERR_APPROVAL_SELF'
  | 'ERR_APPROVER_NOT_ALLOWED'
  | 'ERR_APPROVAL_EXPIRED'
  | 'ERR_APPROVAL_REASON'
  | 'ERR_EXCHANGE_FAILED'
  | 'ERR_EXPORT_FAILED'
  | 'ERR_REPORT_FAILED';

/** Exit status: 0 done, 1 runtime failure, 2 usage or invalid access file, 3 denied. */
export type ExitCode = 0 | 1 | 2 | 3;

const EXIT_BY_CODE: Record<ErrorCode, ExitCode> = {
  ERR_USAGE: 2,
  ERR_METADATA_INVALID: 2,
  ERR_COMPONENT_UNKNOWN: 2,
  ERR_TOKEN_MISSING: 3,
  ERR_TOKEN_INVALID: 3,
  ERR_TOKEN_EXPIRED: 3,
  ERR_TOKEN_AUDIENCE: 3,
  ERR_TOKEN_ISSUER: 3,
  ERR_POLICY_DENIED: 3,
  ERR_APPROVAL_MISSING: 3,
  ERR_APPROVAL_INVALID: 3,
  ERR_APPROVAL_SELF: 3,
  ERR_APPROVER_NOT_ALLOWED: 3,
  ERR_APPROVAL_EXPIRED: 3,
  ERR_APPROVAL_REASON: 3,
  ERR_EXCHANGE_FAILED: 1,
  ERR_EXPORT_FAILED: 1,
  ERR_REPORT_FAILED: 1,
};

export function exitCodeFor(code: ErrorCode): ExitCode {
  return EXIT_BY_CODE[code];
}

export interface OamErrorOptions {
  /** What to do next; printed as `hint: ...`. */
  hint?: string;
  /** The foreign error this one translates (never printed unless --debug). */
  cause?: unknown;
  /**
   * Overrides the code's usual exit status where the same code covers both a
   * refusal and an outage: an issuer whose keys cannot be fetched is a runtime
   * failure (1), not a denial (3).
   */
  exitCode?: ExitCode;
}

/**
 * The one error type the CLI prints. Messages are short, lower-case, name the
 * file, field or claim at fault, and never contain a secret.
 */
export class OamError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly #exitCode: ExitCode | undefined;

  constructor(code: ErrorCode, message: string, options: OamErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OamError';
    this.code = code;
    this.hint = options.hint;
    this.#exitCode = options.exitCode;
  }

  get exitCode(): ExitCode {
    return this.#exitCode ?? exitCodeFor(this.code);
  }
}

/** A problem in the access file, located at a node. */
export interface FileProblem {
  file: string;
  line: number;
  col: number;
  /** JSON-pointer-like path of the offending node, e.g. `/spec/components/0/name`. */
  path: string;
  message: string;
}

/** ERR_METADATA_INVALID with every problem found, so `validate` can list them all at once. */
export class AccessFileError extends OamError {
  readonly problems: readonly FileProblem[];

  constructor(problems: readonly FileProblem[], options: OamErrorOptions = {}) {
    const first = problems[0];
    const summary = first
      ? `${first.file}:${first.line}:${first.col}: ${first.message}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`
      : 'access file is invalid';
    super('ERR_METADATA_INVALID', summary, {
      hint: options.hint ?? 'run `oam-grant validate` to list every problem with its location',
      cause: options.cause,
    });
    this.problems = problems;
  }
}

export function isOamError(value: unknown): value is OamError {
  return value instanceof OamError;
}
