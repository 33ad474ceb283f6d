import type { CiContext, Env } from '../context.ts';
import { OamError } from '../errors.ts';
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
  readonly now: () => Date;
  readonly get: HttpGet;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Created on first use: only commands that verify tokens need an issuer. */
  readonly verifier: () => TokenVerifier;
}

export function requireIssuer(issuer: string | undefined): string {
  if (!issuer) {
    throw new OamError('ERR_USAGE', 'no issuer: OAM_ISSUER and CI_SERVER_URL are both unset', {
      hint: 'run inside a GitLab job, or set OAM_ISSUER to the GitLab instance URL',
    });
  }
  return issuer;
}
