import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Policy } from '../../src/access-file/model.ts';
import { buildTrustPolicy } from '../../src/commands/trust-policy.ts';
import { OamError } from '../../src/errors.ts';
import { accessFile, awsTrait, component } from '../helpers/model.ts';

const conditions = (properties: Record<string, unknown>): Policy =>
  ({ type: 'gitlab-conditions', name: 'p', pointer: '/spec/policies/0', ...properties }) as Policy;

describe('buildTrustPolicy', () => {
  it('pins the provider, the audience and sub patterns from project, ref types and refs', () => {
    const file = accessFile({ policies: [conditions({ projectPaths: ['acme/payments'], refTypes: ['branch'], refs: ['main', 'release/**'], refProtected: true })] });
    const { policy, notes } = buildTrustPolicy(file, component(), awsTrait(), 'https://gitlab.example.com', 'sts.amazonaws.com', undefined);
    assert.deepEqual(policy, {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'OamGrantdeployprod',
          Effect: 'Allow',
          Principal: { Federated: 'arn:aws:iam::123456789012:oidc-provider/gitlab.example.com' },
          Action: 'sts:AssumeRoleWithWebIdentity',
          Condition: {
            StringEquals: { 'gitlab.example.com:aud': 'sts.amazonaws.com' },
            StringLike: {
              'gitlab.example.com:sub': ['project_path:acme/payments:ref_type:branch:ref:main', 'project_path:acme/payments:ref_type:branch:ref:release/*'],
            },
          },
        },
      ],
    });
    assert.ok(notes.some((n) => /ref_protected cannot be expressed/.test(n)));
  });

  it('falls back to CI_PROJECT_PATH for the project', () => {
    const file = accessFile({ policies: [conditions({ refs: ['main'] })] });
    const { policy } = buildTrustPolicy(file, component(), awsTrait(), 'https://gitlab.com', 'sts.amazonaws.com', 'acme/payments');
    const statement = (policy.Statement as Record<string, Record<string, Record<string, unknown>>>[])[0]!;
    assert.deepEqual(statement.Condition!.StringLike, { 'gitlab.com:sub': ['project_path:acme/payments:ref_type:branch:ref:main', 'project_path:acme/payments:ref_type:tag:ref:main'] });
  });

  it('refuses to print a policy that admits every ref', () => {
    assert.throws(
      () => buildTrustPolicy(accessFile({ policies: [conditions({ refProtected: true })] }), component(), awsTrait(), 'https://gitlab.com', 'sts.amazonaws.com', 'acme/payments'),
      (e: unknown) => e instanceof OamError && e.code === 'ERR_USAGE' && /would admit every branch and tag/.test(e.message) && /add refs/.test(e.hint ?? ''),
    );
  });

  it('keeps the partition and a self-managed issuer path', () => {
    const file = accessFile({ policies: [conditions({ refs: ['main'] })] });
    const { policy } = buildTrustPolicy(file, component(), awsTrait({ roleArn: 'arn:aws-us-gov:iam::123456789012:role/x' }), 'https://example.com/gitlab/', 'sts.amazonaws.com', 'a/b');
    const statement = (policy.Statement as Record<string, Record<string, unknown>>[])[0]!;
    assert.deepEqual(statement.Principal, { Federated: 'arn:aws-us-gov:iam::123456789012:oidc-provider/example.com/gitlab' });
  });

  it('needs a project path', () => {
    const file = accessFile({ policies: [conditions({ refs: ['main'] })] });
    assert.throws(() => buildTrustPolicy(file, component(), awsTrait(), 'https://gitlab.com', 'sts.amazonaws.com', undefined), (e: unknown) => e instanceof OamError && e.code === 'ERR_USAGE' && /no project path/.test(e.message));
  });
});
