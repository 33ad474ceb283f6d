import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { AccessFile, AwsStsTrait, Component, Policy } from '../../src/access-file/model.ts';
import { OamError } from '../../src/errors.ts';
import { trustScopeOf } from '../../src/policy/trust-scope.ts';
import { awsTrustPolicy } from '../../src/trust/aws-sts.ts';
import { runCli, workspace } from '../helpers/cli.ts';
import { accessFile, awsTrait, component } from '../helpers/model.ts';

const conditions = (properties: Record<string, unknown>): Policy =>
  ({ type: 'gitlab-conditions', name: 'p', pointer: '/spec/policies/0', ...properties }) as Policy;

/** What `trust-policy` prints for one aws-sts trait: the file's trust scope through the IAM builder. */
function buildTrustPolicy(file: AccessFile, component: Component, trait: AwsStsTrait, issuer: string, audience: string, projectPath: string | undefined) {
  const { config, warnings, notes } = awsTrustPolicy({ trait, component, scope: trustScopeOf(file, component, projectPath), issuer, audience });
  return { policy: config, warnings: [...warnings], notes: [...notes] };
}

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
    assert.ok(notes.some((n) => /^refProtected is checked by oam-grant only where the cloud cannot read the ref_protected claim/.test(n)));
  });

  it('falls back to CI_PROJECT_PATH for the project', () => {
    const file = accessFile({ policies: [conditions({ refs: ['main'] })] });
    const { policy } = buildTrustPolicy(file, component(), awsTrait(), 'https://gitlab.com', 'sts.amazonaws.com', 'acme/payments');
    const statement = (policy.Statement as Record<string, Record<string, Record<string, unknown>>>[])[0]!;
    assert.deepEqual(statement.Condition!.StringLike, { 'gitlab.com:sub': 'project_path:acme/payments:ref_type:branch:ref:main' });
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

describe('buildTrustPolicy: tags', () => {
  const subjectsOf = (policy: Record<string, unknown>): string[] => {
    const statement = (policy.Statement as Record<string, Record<string, Record<string, string | string[]>>>[])[0]!;
    return [statement.Condition!.StringLike!['gitlab.com:sub']!].flat();
  };
  const build = (refTypes: string[] | undefined) =>
    buildTrustPolicy(accessFile({ policies: [conditions({ refs: ['main', 'release/*'], ...(refTypes ? { refTypes } : {}) })] }), component(), awsTrait(), 'https://gitlab.com', 'sts.amazonaws.com', 'acme/payments');
  const P = 'project_path:acme/payments';

  it('admits branches only when the file names no refTypes (a pushed tag would skip the gate)', () => {
    const { policy, warnings, notes } = build(undefined);
    assert.deepEqual(subjectsOf(policy), [`${P}:ref_type:branch:ref:main`, `${P}:ref_type:branch:ref:release/*`]);
    assert.deepEqual(warnings, []);
    assert.ok(notes.some((n) => /sets no refTypes: the configuration admits branches only/.test(n)));
  });

  const withTags = [
    { refTypes: ['tag'], subjects: [`${P}:ref_type:tag:ref:main`, `${P}:ref_type:tag:ref:release/*`] },
    {
      refTypes: ['branch', 'tag'],
      subjects: [`${P}:ref_type:branch:ref:main`, `${P}:ref_type:branch:ref:release/*`, `${P}:ref_type:tag:ref:main`, `${P}:ref_type:tag:ref:release/*`],
    },
  ];
  for (const { refTypes, subjects } of withTags) {
    it(`admits tags with refTypes [${refTypes.join(', ')}], and warns that they must be protected`, () => {
      const { policy, warnings } = build(refTypes);
      assert.deepEqual(subjectsOf(policy), subjects);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /^the configuration admits tags matching main, release\/\* \(refTypes names tag\), and the cloud cannot see ref_protected: /);
      assert.match(warnings[0]!, /Settings > Repository > Protected tags/);
    });
  }

  it('refuses refTypes that leave no ref', () => {
    const file = accessFile({ policies: [conditions({ refs: ['main'], refTypes: ['branch'] }), conditions({ name: 'q', refTypes: ['tag'] })] });
    assert.throws(
      () => buildTrustPolicy(file, component(), awsTrait(), 'https://gitlab.com', 'sts.amazonaws.com', 'acme/payments'),
      (e: unknown) => e instanceof OamError && e.code === 'ERR_USAGE' && /refTypes .* have nothing in common/.test(e.message),
    );
  });
});

describe('trust-policy advice', () => {
  // GitLab's ProjectCiCdSetting::ALLOWED_SUB_CLAIM_COMPONENTS: anything else is refused by the API.
  const SUB_COMPONENTS = new Set(['project_path', 'ref_type', 'ref']);

  /** Every snake_case name in a sentence about the configurable sub must be one GitLab accepts. */
  function assertSubAdvice(text: string, where: string): void {
    for (const sentence of text.split(/(?<=[.;])\s+|\n\n/)) {
      if (!/ci_id_token_sub_claim_components|sub claim components/.test(sentence)) continue;
      const names = (sentence.match(/\b[a-z]+(?:_[a-z0-9]+)+\b/g) ?? []).filter((n) => n !== 'ci_id_token_sub_claim_components');
      for (const name of names) assert.ok(SUB_COMPONENTS.has(name), `${where} names ${name} as a sub claim part: ${sentence}`);
    }
    assert.doesNotMatch(text, /\b(add|put|include)\b[^.;]*\bto the sub\b/i, `${where} advises adding to the sub claim`);
  }

  it('names no sub claim part other than project_path, ref_type and ref', () => {
    const scenarios: Record<string, unknown>[] = [
      { refs: ['main'] },
      { refs: ['main'], refProtected: true, refTypes: ['branch', 'tag'], environments: ['prod'], pipelineSources: ['push'] },
      { refs: ['**'], refTypes: ['tag'] },
    ];
    for (const properties of scenarios) {
      const file = accessFile({ policies: [conditions(properties)] });
      const { warnings, notes } = buildTrustPolicy(file, component(), awsTrait(), 'https://gitlab.com', 'sts.amazonaws.com', 'acme/payments');
      for (const text of [...warnings, ...notes]) assertSubAdvice(text, `a note for ${JSON.stringify(properties)}`);
      assert.ok(notes.some((n) => /ci_id_token_sub_claim_components/.test(n)));
    }
  });

  it('and neither do the README and docs/', () => {
    for (const page of ['README.md', ...readdirSync('docs').map((f) => join('docs', f))]) assertSubAdvice(readFileSync(page, 'utf8'), page);
  });
});

describe('oam-grant trust-policy (bundle)', () => {
  const file = (refTypes: string) => `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: trust}
spec:
  components:
    - name: deploy
      type: gitlab-job
      traits:
        - {type: aws-sts, properties: {roleArn: "arn:aws:iam::123456789012:role/ci-deploy"}}
  policies:
    - name: releases
      type: gitlab-conditions
      properties: {projectPaths: [acme/payments], refs: ["v*"]${refTypes}}
`;
  const run = (refTypes: string) => runCli(['trust-policy', '--component', 'deploy'], { cwd: workspace(file(refTypes)), env: { OAM_ISSUER: 'https://gitlab.com' } });

  it('prints branch patterns only without refTypes', async () => {
    const result = await run('');
    assert.equal(result.status, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).Statement[0].Condition.StringLike['gitlab.com:sub'], 'project_path:acme/payments:ref_type:branch:ref:v*');
    assert.doesNotMatch(result.stderr, /warning:/);
  });

  it('prints tag patterns with refTypes [tag], and a warning on stderr', async () => {
    const result = await run(', refTypes: [tag]');
    assert.equal(result.status, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).Statement[0].Condition.StringLike['gitlab.com:sub'], 'project_path:acme/payments:ref_type:tag:ref:v*');
    assert.match(result.stderr, /^warning: the configuration admits tags matching v\* .*Protected tags/m);
  });
});
