import type { GitlabClaims } from '../token/claims.ts';

/** AWS: 2-64 characters of `[\w+=,.@-]`. */
const MAX = 64;

function slug(value: string): string {
  return value.replace(/\//g, '.').replace(/[^\w+=,.@-]/g, '-');
}

/**
 * `<project path>@p<pipeline>.j<job>`, e.g. `acme.payments@p1001.j829489`: it
 * shows in CloudTrail, so it names the project, pipeline and job. The project
 * part is shortened from the left (the project name is the telling end) so the
 * ids always fit.
 */
export function sessionNameFor(claims: GitlabClaims): string {
  const suffix = `@p${slug(claims.pipeline_id ?? '0')}.j${slug(claims.job_id ?? '0')}`.slice(0, MAX - 2);
  const project = slug(claims.project_path ?? `project-${claims.project_id ?? 'unknown'}`);
  const room = MAX - suffix.length;
  const head = project.length > room ? project.slice(project.length - room) : project;
  return `${head}${suffix}`.padEnd(2, '-');
}
