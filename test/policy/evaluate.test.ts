import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CredentialTrait, Policy } from '../../src/access-file/model.ts';
import { OamError } from '../../src/errors.ts';
import { assertAllowed, durationCapFor, evaluatePolicies } from '../../src/policy/evaluate.ts';
import { toGitlabClaims } from '../../src/token/claims.ts';
import { accessFile, awsTrait, component } from '../helpers/model.ts';

const protectedMain = toGitlabClaims({
  ref: 'main', ref_type: 'branch', ref_protected: 'true', environment: 'production', pipeline_source: 'push', project_path: 'acme/payments',
});

const conditions = (properties: Omit<Extract<Policy, { type: 'gitlab-conditions' }>, 'type' | 'name' | 'pointer'>): Policy => ({
  type: 'gitlab-conditions', name: 'protected-only', pointer: '/spec/policies/0', ...properties,
});

describe('evaluatePolicies', () => {
  const cases: [string, Policy, Record<string, unknown>, boolean][] = [
    ['refProtected holds', conditions({ refProtected: true }), {}, true],
    ['refProtected on an unprotected ref', conditions({ refProtected: true }), { ref_protected: 'false' }, false],
    ['refProtected false demands an unprotected ref', conditions({ refProtected: false }), {}, false],
    ['refProtected false on an unprotected ref', conditions({ refProtected: false }), { ref_protected: 'false' }, true],
    ['refProtected with the claim absent', conditions({ refProtected: true }), { ref_protected: undefined }, false],
    ['refs ** with the ref claim absent', conditions({ refs: ['**'] }), { ref: undefined }, false],
    ['ref glob release/* matches release/1.2', conditions({ refs: ['main', 'release/*'] }), { ref: 'release/1.2' }, true],
    ['ref glob release/* does not cross /', conditions({ refs: ['release/*'] }), { ref: 'release/a/b' }, false],
    ['ref glob release/** crosses /', conditions({ refs: ['release/**'] }), { ref: 'release/a/b' }, true],
    ['refTypes tag vs a branch', conditions({ refTypes: ['tag'] }), {}, false],
    ['refTypes with the ref_type claim absent', conditions({ refTypes: ['branch', 'tag'] }), { ref_type: undefined }, false],
    ['environments: the second of two', conditions({ environments: ['staging', 'production'] }), {}, true],
    ['environments: a prefix of the name is not the name', conditions({ environments: ['prod'] }), {}, false],
    ['environments match', conditions({ environments: ['production'] }), {}, true],
    ['environment claim absent', conditions({ environments: ['production'] }), { environment: undefined }, false],
    ['pipelineSources', conditions({ pipelineSources: ['web'] }), {}, false],
    ['projectPaths of a fork', conditions({ projectPaths: ['acme/payments'] }), { project_path: 'mallory/payments' }, false],
    ['every given field must hold', conditions({ refProtected: true, refs: ['main'], refTypes: ['branch'] }), {}, true],
    ['no fields: nothing to deny', conditions({}), {}, true],
  ];
  for (const [name, policy, overrides, allowed] of cases) {
    it(`${allowed ? 'allows' : 'denies'}: ${name}`, () => {
      const claims = toGitlabClaims({ ...protectedMain.raw, ...overrides });
      const decision = evaluatePolicies(accessFile({ policies: [policy] }), component(), [awsTrait()], claims);
      assert.equal(decision.allowed, allowed);
    });
  }

  it('skips policies for other components and names them', () => {
    const policy = conditions({ componentNames: ['other'], refProtected: true });
    const decision = evaluatePolicies(accessFile({ policies: [policy] }), component(), [awsTrait()], toGitlabClaims({ ref_protected: 'false' }));
    assert.equal(decision.allowed, true);
    assert.deepEqual(decision.skipped, ['protected-only']);
    assert.equal(decision.results.length, 0);
  });

  it("checks the component's environment against the environment claim", () => {
    const c = component('deploy-prod', { environment: 'production' });
    assert.equal(evaluatePolicies(accessFile(), c, [awsTrait()], protectedMain).allowed, true);
    assert.equal(evaluatePolicies(accessFile(), c, [awsTrait()], toGitlabClaims({ environment: 'staging' })).allowed, false);
  });

  it('can leave the component environment to the grant job (request and approve run elsewhere)', () => {
    const c = component('deploy-prod', { environment: 'production' });
    const claims = toGitlabClaims({ environment: 'oam-grant' });
    assert.equal(evaluatePolicies(accessFile(), c, [awsTrait()], claims, { checkComponentEnvironment: false }).allowed, true);
    assert.equal(evaluatePolicies(accessFile(), c, [awsTrait()], claims).allowed, false);
  });

  it('applies credential-limits to the requested duration', () => {
    const caps: Policy = { type: 'credential-limits', name: 'caps', pointer: '/spec/policies/0', maxDurationSeconds: 3600 };
    assert.equal(evaluatePolicies(accessFile({ policies: [caps] }), component(), [awsTrait({ durationSeconds: 3600 })], protectedMain).allowed, true);
    assert.equal(evaluatePolicies(accessFile({ policies: [caps] }), component(), [awsTrait({ durationSeconds: 7200 })], protectedMain).allowed, false);
  });

  // Only the lifetimes the file sets are checked here; the others (a federated Google token, Entra's, Vault's TTL) at the exchange.
  const gcp = (overrides: Partial<Extract<CredentialTrait, { type: 'gcp-wif' }>> = {}): CredentialTrait => ({
    type: 'gcp-wif', workloadIdentityProvider: 'projects/1/locations/global/workloadIdentityPools/p/providers/g', durationSeconds: 3600, scopes: [],
    stsEndpoint: 'https://sts.googleapis.com', iamCredentialsEndpoint: 'https://iamcredentials.googleapis.com', exportPrefix: '', ...overrides,
  });
  const vault: CredentialTrait = { type: 'vault-jwt', address: 'https://vault.example.com', role: 'ci', mount: 'jwt', exportPrefix: '' };
  const limitCases: [string, CredentialTrait[], number | undefined, { claim: string; expected: string; actual: string; ok: boolean }[]][] = [
    ['aws-sts at the cap', [awsTrait({ durationSeconds: 1800 })], 1800, [{ claim: 'aws-sts durationSeconds', expected: 'at most 1800', actual: '1800', ok: true }]],
    ['aws-sts one second over', [awsTrait({ durationSeconds: 1801 })], 1800, [{ claim: 'aws-sts durationSeconds', expected: 'at most 1800', actual: '1801', ok: false }]],
    ['gcp-wif with a service account', [gcp({ serviceAccount: 'sa@p.iam.gserviceaccount.com' })], 1800, [{ claim: 'gcp-wif durationSeconds', expected: 'at most 1800', actual: '3600', ok: false }]],
    ['gcp-wif federated only (its durationSeconds means nothing)', [gcp()], 1800, []],
    ['vault-jwt (no durationSeconds)', [vault], 1800, []],
    ['a policy without a cap', [awsTrait({ durationSeconds: 43200 })], undefined, []],
    ['each trait on its own', [vault, awsTrait({ durationSeconds: 900 }), gcp({ serviceAccount: 'sa@p.iam.gserviceaccount.com', durationSeconds: 600 })], 900, [
      { claim: 'aws-sts durationSeconds', expected: 'at most 900', actual: '900', ok: true },
      { claim: 'gcp-wif durationSeconds', expected: 'at most 900', actual: '600', ok: true },
    ]],
  ];
  for (const [name, traits, max, checks] of limitCases) {
    it(`credential-limits checks: ${name}`, () => {
      const caps: Policy = { type: 'credential-limits', name: 'caps', pointer: '/spec/policies/0', ...(max === undefined ? {} : { maxDurationSeconds: max }) };
      const decision = evaluatePolicies(accessFile({ policies: [caps] }), component(), traits, protectedMain);
      assert.deepEqual(decision.results, [{ name: 'caps', type: 'credential-limits', pointer: '/spec/policies/0', checks: checks.map((c) => ({ field: 'maxDurationSeconds', ...c })), ok: checks.every((c) => c.ok) }]);
      assert.equal(decision.allowed, checks.every((c) => c.ok));
    });
  }

  it('reports what each condition compared', () => {
    const policy = conditions({ refProtected: false, refs: ['main', 'release/*'], refTypes: ['branch'], environments: ['production'], pipelineSources: ['push', 'web'], projectPaths: ['acme/payments'] });
    const decision = evaluatePolicies(accessFile({ policies: [policy] }), component(), [awsTrait()], protectedMain);
    assert.deepEqual(decision.results[0]?.checks, [
      { field: 'refProtected', claim: 'ref_protected', expected: '"false"', actual: 'true', ok: false },
      { field: 'refs', claim: 'ref', expected: 'matching "main" or "release/*"', actual: 'main', ok: true },
      { field: 'refTypes', claim: 'ref_type', expected: 'one of "branch"', actual: 'branch', ok: true },
      { field: 'environments', claim: 'environment', expected: 'one of "production"', actual: 'production', ok: true },
      { field: 'pipelineSources', claim: 'pipeline_source', expected: 'one of "push" or "web"', actual: 'push', ok: true },
      { field: 'projectPaths', claim: 'project_path', expected: 'one of "acme/payments"', actual: 'acme/payments', ok: true },
    ]);
    assert.equal(decision.allowed, false);
  });
});

describe('durationCapFor', () => {
  const cap = (name: string, maxDurationSeconds: number | undefined, componentNames?: string[]): Policy => ({
    type: 'credential-limits', name, pointer: '/spec/policies/0',
    ...(maxDurationSeconds === undefined ? {} : { maxDurationSeconds }), ...(componentNames ? { componentNames } : {}),
  });
  const cases: [string, Policy[], number | undefined][] = [
    ['no policies', [], undefined],
    ['only gitlab-conditions', [conditions({ refProtected: true })], undefined],
    ['one cap', [cap('a', 3600)], 3600],
    ['the shortest of several', [cap('a', 3600), cap('b', 1200), cap('c', 2400)], 1200],
    ['a shorter cap for another component does not apply', [cap('a', 3600), cap('b', 900, ['other'])], 3600],
    ['a cap naming this component applies', [cap('a', 3600), cap('b', 900, ['other', 'deploy-prod'])], 900],
    ['a policy without a cap is no cap', [cap('a', undefined), cap('b', 2400)], 2400],
  ];
  for (const [name, policies, expected] of cases) {
    it(`${name}: ${expected}`, () => assert.equal(durationCapFor(accessFile({ policies }), component()), expected));
  }
});

describe('assertAllowed', () => {
  it('names the policy, the claim, the value seen and the value expected, with the location', () => {
    const file = accessFile({ policies: [conditions({ refProtected: true, refs: ['main'] })] });
    const decision = evaluatePolicies(file, component(), [awsTrait()], toGitlabClaims({ ref: 'feature/x', ref_protected: 'false' }));
    assert.throws(
      () => assertAllowed(decision, file),
      (error: unknown) => {
        assert.ok(error instanceof OamError);
        assert.equal(error.code, 'ERR_POLICY_DENIED');
        assert.equal(
          error.message,
          'policy "protected-only" denies: ref_protected is "false", refProtected expects "true"; ref is "feature/x", refs expects matching "main" (.gitlab/oam.yaml:20:7)',
        );
        assert.equal(error.exitCode, 3);
        return true;
      },
    );
  });

  it('names only the failing checks of the first failing policy', () => {
    const file = accessFile({ policies: [conditions({ refs: ['main'], refTypes: ['tag'], environments: ['staging'] }), { ...conditions({ projectPaths: ['x/y'] }), name: 'second', pointer: '/spec/policies/1' }] });
    const decision = evaluatePolicies(file, component(), [awsTrait()], protectedMain);
    assert.throws(() => assertAllowed(decision, file), {
      code: 'ERR_POLICY_DENIED',
      message: 'policy "protected-only" denies: ref_type is "branch", refTypes expects one of "tag"; environment is "production", environments expects one of "staging" (.gitlab/oam.yaml:20:7)',
      hint: 'run this job where the conditions hold (e.g. a protected branch), or change the policy in a reviewed merge request',
    });
  });

  it("names the component when its own environment denies, and leaves out a location the file does not have", () => {
    const c = component('deploy-prod', { environment: 'production', pointer: '/spec/components/3' });
    const file = accessFile({ components: [c] });
    const decision = evaluatePolicies(file, c, [awsTrait()], toGitlabClaims({ environment: 'staging' }));
    assert.throws(() => assertAllowed(decision, file), {
      code: 'ERR_POLICY_DENIED',
      message: 'component deploy-prod denies: environment is "staging", environment expects "production"',
    });
  });

  it('tells to lower the duration when a credential-limits cap denies', () => {
    const caps: Policy = { type: 'credential-limits', name: 'caps', pointer: '/spec/policies/0', maxDurationSeconds: 900 };
    const file = accessFile({ policies: [caps] });
    const decision = evaluatePolicies(file, component(), [awsTrait({ durationSeconds: 3600 })], protectedMain);
    assert.throws(() => assertAllowed(decision, file), {
      code: 'ERR_POLICY_DENIED',
      message: 'policy "caps" denies: aws-sts durationSeconds is "3600", maxDurationSeconds expects at most 900 (.gitlab/oam.yaml:20:7)',
      hint: 'lower durationSeconds in the trait, or raise the cap',
    });
  });

  it('says when a claim is absent', () => {
    const file = accessFile({ policies: [conditions({ environments: ['production'] })] });
    const decision = evaluatePolicies(file, component(), [awsTrait()], toGitlabClaims({}));
    assert.throws(() => assertAllowed(decision, file), /environment is absent, environments expects one of "production"/);
  });

  it('passes an allowed decision', () => {
    const file = accessFile({ policies: [conditions({ refProtected: true })] });
    assertAllowed(evaluatePolicies(file, component(), [awsTrait()], protectedMain), file);
  });
});
