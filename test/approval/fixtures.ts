/** Shared builders for approval unit tests: claims and steps as the model holds them. */
import type { ApprovalStep } from '../../src/access-file/model.ts';
import type { ApprovalLookups, Lookup } from '../../src/approval/lookups.ts';
import { type GitlabClaims, toGitlabClaims } from '../../src/token/claims.ts';

export function claims(overrides: Record<string, unknown> = {}): GitlabClaims {
  return toGitlabClaims({
    iss: 'http://127.0.0.1:1',
    sub: 'project_path:acme/payments:ref_type:branch:ref:main',
    aud: 'oam-grant',
    iat: 1_700_000_000,
    exp: 1_700_000_300,
    project_id: '1217',
    project_path: 'acme/payments',
    pipeline_id: '1002',
    job_id: '500',
    sha: 'a'.repeat(40),
    user_id: '42',
    user_login: 'dev',
    user_email: 'dev@example.com',
    ...overrides,
  });
}

export function step(overrides: Partial<ApprovalStep> = {}): ApprovalStep {
  return {
    type: 'jit-approval',
    name: 'approve-deploy-prod',
    pointer: '/spec/workflow/steps/0',
    component: 'deploy-prod',
    timeoutSeconds: 7200,
    approvers: { users: ['alice', 'bob'], groups: [] },
    minApprovals: 1,
    forbid: ['requester', 'mrAuthor'],
    requireReason: false,
    validForSeconds: 1800,
    ...overrides,
  };
}

/** Lookups answering from fixed facts; `unavailable` plays "no OAM_GITLAB_TOKEN". */
export function lookups(facts: {
  members?: Record<string, string[]>;
  mrAuthor?: { id: string; username: string };
  commitEmails?: string[];
  unavailable?: boolean;
} = {}): ApprovalLookups & { asked: string[] } {
  const asked: string[] = [];
  const noApi = { ok: false, why: 'no OAM_GITLAB_TOKEN, so the GitLab API cannot be asked' } as const;
  return {
    asked,
    async isActiveGroupMember(group, userId): Promise<Lookup<boolean>> {
      asked.push(`member ${group} ${userId}`);
      if (facts.unavailable) return noApi;
      return { ok: true, value: (facts.members?.[group] ?? []).includes(userId) };
    },
    async mergeRequestAuthor() {
      asked.push('mrAuthor');
      if (facts.unavailable) return noApi;
      return { ok: true, value: facts.mrAuthor };
    },
    async commitAuthorEmails() {
      asked.push('commitEmails');
      if (facts.unavailable) return noApi;
      return { ok: true, value: facts.commitEmails ?? [] };
    },
  };
}
