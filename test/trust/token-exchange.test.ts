import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Policy, TokenExchangeTrait } from '../../src/access-file/model.ts';
import { compileRefGlob } from '../../src/access-file/glob.ts';
import { trustScopeOf } from '../../src/policy/trust-scope.ts';
import { tokenExchangeTrust } from '../../src/trust/token-exchange.ts';
import { accessFile, component } from '../helpers/model.ts';

const conditions = (properties: Record<string, unknown>): Policy =>
  ({ type: 'gitlab-conditions', name: 'p', pointer: '/spec/policies/0', ...properties }) as Policy;

const trait = (overrides: Partial<TokenExchangeTrait> = {}): TokenExchangeTrait => ({
  type: 'token-exchange',
  issuer: 'https://sts.example.com/realms/ci',
  clientId: 'gitlab-ci',
  audience: 'https://api.example.com',
  scope: 'deploy',
  requestedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
  exportAs: 'API_TOKEN',
  exportPrefix: '',
  ...overrides,
});

function build(policies: Policy[], overrides: Partial<TokenExchangeTrait> = {}) {
  const t = trait(overrides);
  const c = component('deploy', { traits: [t] });
  const file = accessFile({ components: [c], policies });
  return tokenExchangeTrust({ trait: t, component: c, scope: trustScopeOf(file, c, undefined), issuer: 'https://gitlab.example.com/', audience: t.issuer });
}

type Config = { client: Record<string, unknown>; subjectToken: Record<string, unknown>; issue: Record<string, unknown> } & Record<string, unknown>;

describe('tokenExchangeTrust', () => {
  it('describes the issuer, audience, client, target and the subjects of the file, branches only without refTypes', () => {
    const { config, warnings, notes } = build([conditions({ projectPaths: ['acme/payments'], refs: ['main', 'release/*'] })]);
    const c = config as Config;
    assert.equal(c.authorizationServer, 'https://sts.example.com/realms/ci');
    assert.equal(c.grantType, 'urn:ietf:params:oauth:grant-type:token-exchange');
    assert.deepEqual(c.client, { clientId: 'gitlab-ci', tokenEndpointAuthMethod: 'none', grantTypes: ['urn:ietf:params:oauth:grant-type:token-exchange'] });
    assert.deepEqual(c.subjectToken, {
      tokenType: 'urn:ietf:params:oauth:token-type:jwt',
      issuer: 'https://gitlab.example.com',
      discovery: 'https://gitlab.example.com/.well-known/openid-configuration',
      signingAlgorithms: ['RS256'],
      audience: 'https://sts.example.com/realms/ci',
      subjects: ['project_path:acme/payments:ref_type:branch:ref:main', 'project_path:acme/payments:ref_type:branch:ref:release/*'],
      subjectPatterns: ['^project_path:acme\\/payments:ref_type:branch:ref:main$', '^project_path:acme\\/payments:ref_type:branch:ref:release\\/[^/]*$'],
      claims: { project_path: ['acme/payments'], ref_type: ['branch'], ref: ['main', 'release/*'] },
    });
    assert.deepEqual(c.issue, { requestedTokenType: 'urn:ietf:params:oauth:token-type:access_token', audience: 'https://api.example.com', scope: 'deploy', maxLifetimeSeconds: 43_200 });
    assert.deepEqual(warnings, []);
    assert.ok(notes.some((n) => /admits branches only/.test(n)), notes.join('\n'));
    assert.ok(notes.some((n) => /the concrete configuration depends on the server/.test(n)), notes.join('\n'));
    assert.ok(notes.some((n) => /client_id gitlab-ci is a public client: it names the caller, it does not authenticate it/.test(n)), notes.join('\n'));
  });

  it('admits tags only where the file names them, with the warning to protect them', () => {
    const { config, warnings } = build([conditions({ projectPaths: ['acme/payments'], refTypes: ['tag'], refs: ['v*'] })]);
    assert.deepEqual((config as Config).subjectToken.subjects, ['project_path:acme/payments:ref_type:tag:ref:v*']);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /admits tags matching v\*.*protect those tags/);
  });

  it('writes subject patterns that match exactly what the file admits', () => {
    const { config } = build([conditions({ projectPaths: ['acme/pay.ments'], refs: ['release/*', 'hotfix/**'] })]);
    const patterns = ((config as Config).subjectToken.subjectPatterns as string[]).map((p) => new RegExp(p, 'u'));
    const admits = (sub: string) => patterns.some((p) => p.test(sub));
    assert.equal(admits('project_path:acme/pay.ments:ref_type:branch:ref:release/1.2'), true);
    assert.equal(admits('project_path:acme/pay.ments:ref_type:branch:ref:hotfix/a/b'), true);
    assert.equal(admits('project_path:acme/pay.ments:ref_type:branch:ref:release/1/2'), false, '* stays within a segment');
    assert.equal(admits('project_path:acme/payXments:ref_type:branch:ref:release/1'), false, 'the project is literal');
    assert.equal(admits('project_path:acme/pay.ments:ref_type:tag:ref:release/1'), false, 'no tags');
    assert.equal(compileRefGlob('release/*').test('release/1.2'), true);
  });

  it('adds ref_protected where the file requires it, and the credential-limits cap as the longest lifetime', () => {
    const caps = { type: 'credential-limits', name: 'caps', pointer: '/spec/policies/1', maxDurationSeconds: 1800 } as Policy;
    const { config } = build([conditions({ projectPaths: ['acme/payments'], refs: ['main'], refProtected: true }), caps]);
    const c = config as Config;
    assert.deepEqual(c.subjectToken.claims, { project_path: ['acme/payments'], ref_type: ['branch'], ref: ['main'], ref_protected: ['true'] });
    assert.equal(c.issue.maxLifetimeSeconds, 1800);
  });

  it('says when the server must allow exchange without a client', () => {
    const { config, notes } = build([conditions({ projectPaths: ['acme/payments'], refs: ['main'] })], { clientId: undefined });
    assert.equal((config as Config).client.clientId, null);
    assert.ok(notes.some((n) => /anyone holding a matching ID token could exchange it/.test(n)), notes.join('\n'));
  });

  it('is never wider than the file: no refs, no configuration', () => {
    assert.throws(() => build([conditions({ projectPaths: ['acme/payments'], refProtected: true })]), /would admit every branch and tag/);
  });
});
