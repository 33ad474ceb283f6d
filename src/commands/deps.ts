import type { CiContext, Env } from '../context.ts';
import type { HttpGet } from '../lib/http.ts';
import type { Logger } from '../lib/log.ts';
import type { Options } from '../options.ts';
import type { TokenVerifier } from '../token/types.ts';

/** Everything a command touches outside itself, passed in so tests inject their own. */
export interface Deps {
  readonly options: Options;
  readonly env: Env;
  readonly ctx: CiContext;
  readonly log: Logger;
  /** stdout: the command's result (plan, trust policy); logs go to `log`. */
  readonly out: (text: string) => void;
  /** stdout without the redactor: only `credentials` writes here, its JSON being the secret it hands over. */
  readonly secretOut?: (text: string) => void;
  readonly now: () => Date;
  readonly get: HttpGet;
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * The verifier for an issuer (the access file's `spec.gitlab`), created on
   * first use and kept for the process: only commands that verify tokens need one.
   */
  readonly verifier: (issuer: string) => TokenVerifier;
}
