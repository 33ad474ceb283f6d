import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Policy } from '../../src/access-file/model.ts';
import { OamError } from '../../src/errors.ts';
import { assertAllowed, evaluatePolicies } from '../../src/policy/evaluate.ts';
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
    ['ref glob release/* matches release/1.2', conditions({ refs: ['main', 'release/*'] }), { ref: 'release/1.2' }, true],
    ['ref glob release/* does not cross /', conditions({ refs: ['release/*'] }), { ref: 'release/a/b' }, false],
    ['ref glob release/** crosses /', conditions({ refs: ['release/**'] }), { ref: 'release/a/b' }, true],
    ['refTypes tag vs a branch', conditions({ refTypes: ['tag'] }), {}, false],
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
