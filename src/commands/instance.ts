/**
 * The GitLab instance comes from the reviewed access file. GitLab's own
 * variables may only agree with it: whoever runs a pipeline or presses Run
 * on a manual job may be allowed to set variables, even over predefined ones,
 * and an issuer or API host of their choosing would let them sign their own
 * approvals or collect the API token.
 */
import type { AccessFile } from '../access-file/model.ts';
import { sameServiceUrl } from '../access-file/service-url.ts';
import type { Env } from '../context.ts';
import { OamError } from '../errors.ts';

/** Each variable that names the instance, and the field of the file it must agree with. */
const INSTANCE_VARIABLES = [
  { variable: 'OAM_ISSUER', field: 'issuer' },
  { variable: 'CI_SERVER_URL', field: 'url' },
  { variable: 'CI_API_V4_URL', field: 'apiUrl' },
] as const;

const FIELD_NAMES = { issuer: 'spec.gitlab.issuer', url: 'spec.gitlab.url', apiUrl: 'spec.gitlab.url + /api/v4' } as const;

/** Refuses (ERR_USAGE, exit 2) any of OAM_ISSUER, CI_SERVER_URL, CI_API_V4_URL that names another instance than `file`. */
export function checkInstanceVariables(file: AccessFile, env: Env): void {
  for (const { variable, field } of INSTANCE_VARIABLES) {
    const value = env[variable]?.trim();
    if (!value) continue;
    const expected = file.gitlab[field];
    if (sameServiceUrl(value, expected)) continue;
    const stated = file.gitlab.stated
      ? `${FIELD_NAMES[field]}: ${expected}`
      : `it names no instance, so ${expected} is assumed`;
    throw new OamError('ERR_USAGE', `${variable} ${JSON.stringify(value)} names another GitLab instance than ${file.path} (${stated})`, {
      hint: file.gitlab.stated
        ? `the instance is trusted only as the reviewed access file states it; unset ${variable}, or change spec.gitlab in a reviewed merge request`
        : `state the instance in ${file.path}: spec: { gitlab: { url: <your GitLab URL> } } (a variable cannot choose whose tokens are trusted)`,
    });
  }
}
