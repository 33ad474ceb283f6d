/**
 * GitLab ID token claims as GitLab sends them: strings, including "true" and
 * "false" for `ref_protected`. Only the claims oam-grant reads are typed; the
 * rest stay reachable through `raw`.
 */
export interface GitlabClaims {
  readonly iss: string;
  readonly sub: string;
  readonly aud: readonly string[];
  readonly iat: number;
  readonly exp: number;
  readonly nbf?: number;
  readonly jti?: string;
  readonly project_id?: string;
  readonly project_path?: string;
  readonly namespace_path?: string;
  readonly pipeline_id?: string;
  readonly pipeline_source?: string;
  readonly job_id?: string;
  readonly ref?: string;
  readonly ref_type?: string;
  readonly ref_protected?: string;
  readonly sha?: string;
  readonly user_login?: string;
  readonly user_id?: string;
  readonly environment?: string;
  readonly environment_protected?: string;
  readonly job_project_path?: string;
  readonly raw: Readonly<Record<string, unknown>>;
}

/** The claims read as strings: absent and non-string claims both read as undefined. */
const STRING_CLAIMS = [
  'project_id',
  'project_path',
  'namespace_path',
  'pipeline_id',
  'pipeline_source',
  'job_id',
  'ref',
  'ref_type',
  'ref_protected',
  'sha',
  'user_login',
  'user_id',
  'environment',
  'environment_protected',
  'job_project_path',
  'jti',
] as const;

/** Narrow a verified JWT payload into typed claims. The caller has checked iss/aud/exp. */
export function toGitlabClaims(payload: Readonly<Record<string, unknown>>): GitlabClaims {
  const aud = payload.aud;
  const claims: Record<string, unknown> = {
    iss: String(payload.iss ?? ''),
    sub: String(payload.sub ?? ''),
    aud: Array.isArray(aud) ? aud.map(String) : typeof aud === 'string' ? [aud] : [],
    iat: typeof payload.iat === 'number' ? payload.iat : 0,
    exp: typeof payload.exp === 'number' ? payload.exp : 0,
    raw: payload,
  };
  if (typeof payload.nbf === 'number') claims.nbf = payload.nbf;
  for (const name of STRING_CLAIMS) {
    const value = payload[name];
    // GitLab sends ids as strings; tolerate numbers so a self-managed quirk does not deny.
    if (typeof value === 'string') claims[name] = value;
    else if (typeof value === 'number') claims[name] = String(value);
  }
  return claims as unknown as GitlabClaims;
}

/** Where the job runs: in a fork MR pipeline run in the parent project, job_project_id (project_id names the fork). */
export function jobProjectOf(claims: GitlabClaims): string | undefined {
  const jobProjectId = claims.raw.job_project_id;
  return typeof jobProjectId === 'string' || typeof jobProjectId === 'number' ? String(jobProjectId) : claims.project_id;
}
