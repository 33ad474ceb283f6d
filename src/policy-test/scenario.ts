/**
 * A test case as the product's evaluation sees it: the job's claims with the
 * documented defaults filled in, the request and approval claims on one clock
 * (seconds after the request), and the people facts for the lookups. Claims
 * go through toGitlabClaims, as a verified token's would.
 */
import type { AccessFile, Component } from '../access-file/model.ts';
import { type GitlabClaims, toGitlabClaims } from '../token/claims.ts';
import { DEFAULT_AFTER_SECONDS } from './load.ts';
import type { PeopleFacts } from './offline-lookups.ts';
import type { Person, TestApproval, TestCase } from './model.ts';

/** The request's `iat`; every offset of a case counts from it. Fixed, so a run never depends on the clock. */
export const REQUEST_IAT = 1_700_000_000;

/** A protected main branch push pipeline; project_path comes from the access file. */
export const DEFAULT_CLAIMS: Readonly<Record<string, string>> = {
  project_id: '1',
  pipeline_id: '100',
  job_id: '1000',
  pipeline_source: 'push',
  ref: 'main',
  ref_type: 'branch',
  ref_protected: 'true',
  sha: '0123456789abcdef0123456789abcdef01234567',
  user_login: 'developer',
};

export const FALLBACK_PROJECT_PATH = 'group/project';

export interface ApprovalScenario {
  readonly approval: TestApproval;
  readonly claims: GitlabClaims;
}

export interface Scenario {
  /** The evaluated job's token (the grant job's, or the request job's at the request stage). */
  readonly claims: GitlabClaims;
  readonly requester: GitlabClaims;
  readonly approvals: readonly ApprovalScenario[];
  readonly nowSeconds: number;
  readonly people: PeopleFacts;
}

/** The first projectPaths entry of the file's policies, in file order. */
export function defaultProjectPath(file: AccessFile): string {
  for (const policy of file.policies) {
    if (policy.type === 'gitlab-conditions' && policy.projectPaths?.[0] !== undefined) return policy.projectPaths[0];
  }
  return FALLBACK_PROJECT_PATH;
}

/**
 * One id per login (GitLab logins are case-insensitive): a login given an
 * explicit user_id anywhere in the case keeps it everywhere it has none, so
 * "dev" in the claims and "dev" approving are the same person.
 */
function idsOf(testCase: TestCase): (login: string) => string {
  const ids = new Map<string, string>();
  const note = (login: string | null | undefined, id: string | null | undefined): void => {
    if (login && id && !ids.has(login.toLowerCase())) ids.set(login.toLowerCase(), id);
  };
  const claims = testCase.claims;
  note('user_login' in claims ? claims.user_login : DEFAULT_CLAIMS.user_login, claims.user_id);
  for (const p of [testCase.requester, testCase.mrAuthor, ...testCase.approvals]) if (p) note(p.login, p.id);
  return (login) => ids.get(login.toLowerCase()) ?? `login:${login.toLowerCase()}`;
}

const emailOf = (person: Person): string => person.email ?? `${person.login}@example.com`;

function jobClaims(file: AccessFile, component: Component, testCase: TestCase, idOf: (login: string) => string): Record<string, unknown> {
  const given = testCase.claims;
  const values: Record<string, string> = { ...DEFAULT_CLAIMS, project_path: defaultProjectPath(file) };
  if (testCase.stage === 'grant' && component.environment !== undefined) values.environment = component.environment;
  for (const [name, value] of Object.entries(given)) {
    if (value === null) delete values[name];
    else values[name] = value;
  }
  // Claims that follow from others, unless the case says otherwise (null included).
  const derive = (name: string, value: string | undefined): void => {
    if (!(name in given) && value !== undefined) values[name] = value;
  };
  const project = values.project_path;
  derive('namespace_path', project?.includes('/') ? project.slice(0, project.lastIndexOf('/')) : undefined);
  derive('job_project_path', project);
  const login = values.user_login;
  derive('user_id', login === undefined ? undefined : idOf(login));
  derive('user_email', login === undefined ? undefined : `${login}@example.com`);
  return {
    iss: file.gitlab.issuer,
    sub: `project_path:${values.project_path ?? ''}:ref_type:${values.ref_type ?? ''}:ref:${values.ref ?? ''}`,
    aud: [],
    iat: REQUEST_IAT,
    exp: REQUEST_IAT + 300,
    ...values,
  };
}

function personClaims(base: Record<string, unknown>, person: Person, idOf: (login: string) => string, iat: number, jobId: string): GitlabClaims {
  return toGitlabClaims({
    ...base,
    aud: ['oam-grant'],
    iat,
    exp: iat + 300,
    job_id: jobId,
    user_login: person.login,
    user_id: person.id ?? idOf(person.login),
    user_email: emailOf(person),
  });
}

/** The case, ready for the evaluation: claims with defaults, the people and their times. */
export function buildScenario(file: AccessFile, component: Component, testCase: TestCase): Scenario {
  const idOf = idsOf(testCase);
  const raw = jobClaims(file, component, testCase, idOf);
  const claims = toGitlabClaims(raw);
  // The pipeline's own evidence tokens share its project, pipeline and commit.
  const pipeline = { iss: raw.iss, sub: raw.sub, project_id: raw.project_id, project_path: raw.project_path, pipeline_id: raw.pipeline_id, sha: raw.sha };
  const requester = testCase.requester
    ? personClaims(pipeline, testCase.requester, idOf, REQUEST_IAT, '900')
    : toGitlabClaims({ ...raw, aud: ['oam-grant'], job_id: '900' });
  const approvals = testCase.approvals.map((approval, i) => ({
    approval,
    claims: personClaims(pipeline, approval, idOf, REQUEST_IAT + approval.afterSeconds, String(901 + i)),
  }));
  const lastAfter = Math.max(0, ...testCase.approvals.map((a) => a.afterSeconds));
  const memberships = new Map<string, string[]>();
  const userEmails = new Map<string, string[]>();
  for (const { approval, claims: approver } of approvals) {
    const id = approver.user_id ?? '';
    memberships.set(id, [...(memberships.get(id) ?? []), ...approval.groups]);
    userEmails.set(id, [...(userEmails.get(id) ?? []), ...approval.emails]);
  }
  const mrAuthor = testCase.mrAuthor;
  return {
    claims,
    requester,
    approvals,
    nowSeconds: REQUEST_IAT + (testCase.nowSeconds ?? lastAfter + DEFAULT_AFTER_SECONDS),
    people: {
      memberships,
      ...(mrAuthor ? { mrAuthor: { id: mrAuthor.id ?? idOf(mrAuthor.login), username: mrAuthor.login } } : {}),
      projectId: claims.project_id ?? '1',
      commitEmails: testCase.commitAuthors,
      userEmails,
    },
  };
}
