import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Policy, VaultJwtTrait } from '../../src/access-file/model.ts';
import { OamError } from '../../src/errors.ts';
import { trustScopeOf } from '../../src/policy/trust-scope.ts';
import { toVaultGlob, vaultJwtTrustConfig } from '../../src/trust/vault-jwt.ts';
import { goGlob } from '../emulators/vault.ts';
import { matchesRefGlob } from '../../src/access-file/glob.ts';
import { accessFile, component } from '../helpers/model.ts';

const TRAIT: VaultJwtTrait = { type: 'vault-jwt', address: 'https://vault.example.com', role: 'ci-deploy', mount: 'jwt', exportPrefix: '' };
const ROLE = 'auth/jwt/role/ci-deploy';

const conditions = (properties: Record<string, unknown>): Policy => ({ type: 'gitlab-conditions', name: 'p', pointer: '/spec/policies/0', ...properties }) as Policy;
const limits = (maxDurationSeconds: number, componentNames?: string[]): Policy =>
  ({ type: 'credential-limits', name: 'cap', pointer: '/spec/policies/1', maxDurationSeconds, ...(componentNames ? { componentNames } : {}) }) as Policy;

function build(policies: Policy[], trait: VaultJwtTrait = TRAIT) {
  const c = component('deploy-prod', { traits: [trait] });
  const file = accessFile({ components: [c], policies });
  return vaultJwtTrustConfig({ trait, component: c, scope: trustScopeOf(file, c, undefined), issuer: 'https://gitlab.example.com/', audience: 'https://vault.example.com' });
}
type Role = { bound_claims: Record<string, unknown>; token_ttl: number; token_max_ttl: number; token_explicit_max_ttl: number } & Record<string, unknown>;
const roleOf = (config: Record<string, unknown>, path = ROLE) => config[path] as Role;

describe('vaultJwtTrustConfig', () => {
  it('writes the auth config and a role as narrow as the file', () => {
    const { config, warnings } = build([conditions({ projectPaths: ['acme/payments'], refTypes: ['branch'], refs: ['main'], refProtected: true }), limits(1200)]);
    assert.deepEqual(config, {
      'auth/jwt/config': { oidc_discovery_url: 'https://gitlab.example.com', bound_issuer: 'https://gitlab.example.com' },
      [ROLE]: {
        role_type: 'jwt',
        user_claim: 'user_email',
        bound_audiences: ['https://vault.example.com'],
        bound_claims_type: 'glob',
        bound_claims: { project_path: ['acme/payments'], ref_type: ['branch'], ref: ['main'], ref_protected: 'true' },
        token_type: 'service',
        token_ttl: 1200,
        token_max_ttl: 1200,
        token_explicit_max_ttl: 1200,
        token_policies: ['<policy for deploy-prod>'],
      },
    });
    assert.deepEqual(warnings, []);
  });

  it('admits branches only when the file names no refTypes, and says so', () => {
    const { config, warnings, notes } = build([conditions({ projectPaths: ['acme/payments'], refs: ['main'] })]);
    assert.deepEqual(roleOf(config).bound_claims.ref_type, ['branch']);
    assert.deepEqual(warnings, []);
    assert.ok(notes.some((n) => /sets no refTypes: the configuration admits branches only/.test(n)));
  });

  it('admits tags only where refTypes names them, with the unprotected-tag warning unless ref_protected is bound', () => {
    const open = build([conditions({ projectPaths: ['acme/payments'], refTypes: ['branch', 'tag'], refs: ['v*'] })]);
    assert.deepEqual(roleOf(open.config).bound_claims.ref_type, ['branch', 'tag']);
    assert.equal(roleOf(open.config).bound_claims.ref_protected, undefined);
    assert.equal(open.warnings.length, 1);
    assert.match(open.warnings[0]!, /admits tags matching v\*.*protect those tags/);
    assert.ok(open.notes.some((n) => /requires no refProtected, so the role admits unprotected refs/.test(n)));

    const guarded = build([conditions({ projectPaths: ['acme/payments'], refTypes: ['tag'], refs: ['v*'], refProtected: true })]);
    assert.equal(roleOf(guarded.config).bound_claims.ref_protected, 'true');
    assert.deepEqual(guarded.warnings, [], 'Vault reads ref_protected: an unprotected tag is refused');
    assert.ok(guarded.notes.some((n) => /tags are admitted only when protected/.test(n)));
  });

  it('binds refProtected false as the file requires it', () => {
    assert.equal(roleOf(build([conditions({ projectPaths: ['a/b'], refs: ['main'], refProtected: false })]).config).bound_claims.ref_protected, 'false');
  });

  it('refuses policies that require refProtected both true and false', () => {
    assert.throws(
      () => build([conditions({ projectPaths: ['a/b'], refs: ['main'], refProtected: true }), { ...conditions({ refProtected: false }), name: 'q' } as Policy]),
      (e: unknown) => e instanceof OamError && e.code === 'ERR_USAGE' && /refProtected both true and false/.test(e.message),
    );
  });

  it('takes the shortest credential-limits cap that applies, else 15 minutes', () => {
    const capped = roleOf(build([conditions({ projectPaths: ['a/b'], refs: ['main'] }), limits(3600), { ...limits(1800), name: 'tighter' } as Policy, { ...limits(900, ['other']), name: 'elsewhere' } as Policy]).config);
    assert.deepEqual([capped.token_ttl, capped.token_max_ttl, capped.token_explicit_max_ttl], [1800, 1800, 1800]);
    const { config, notes } = build([conditions({ projectPaths: ['a/b'], refs: ['main'] })]);
    assert.deepEqual([roleOf(config).token_ttl, roleOf(config).token_explicit_max_ttl], [900, 900]);
    assert.ok(notes.some((n) => /no credential-limits cap applies: the token TTLs are 900 s/.test(n)));
  });

  it('refuses a component without refs, as every trust configuration does', () => {
    assert.throws(() => build([conditions({ projectPaths: ['a/b'], refProtected: true })]), (e: unknown) => e instanceof OamError && /would admit every branch and tag/.test(e.message));
  });

  it("says where Vault's glob is wider than the file's", () => {
    const { config, notes } = build([conditions({ projectPaths: ['a/b'], refs: ['release/*', 'hotfix/**', 'v1.?'] })]);
    assert.deepEqual(roleOf(config).bound_claims.ref, ['release/*', 'hotfix/*', 'v1.*']);
    assert.ok(notes.some((n) => /Vault's glob `\*` also matches '\/'/.test(n)));
    assert.ok(notes.some((n) => /Vault's glob has no `\?`/.test(n)));
    const exact = build([conditions({ projectPaths: ['a/b'], refs: ['main', 'hotfix/**'] })]);
    assert.ok(!exact.notes.some((n) => /glob/.test(n)), 'no width note where Vault matches the same refs');
  });

  it('names the mount, the role and the namespace in the paths and the vault write line', () => {
    const trait = { ...TRAIT, mount: 'gitlab', namespace: 'team-a', role: 'deployer' };
    const { config, notes } = build([conditions({ projectPaths: ['a/b'], refs: ['main'] })], trait);
    assert.deepEqual(Object.keys(config), ['auth/gitlab/config', 'auth/gitlab/role/deployer']);
    assert.ok(notes.some((n) => n.startsWith('apply it with: vault write -namespace=team-a auth/gitlab/config oidc_discovery_url=https://gitlab.example.com bound_issuer=https://gitlab.example.com')));
    assert.ok(notes.some((n) => n.includes(`jq '."auth/gitlab/role/deployer"' | vault write -namespace=team-a auth/gitlab/role/deployer -`)));
  });
});

describe('toVaultGlob', () => {
  // Whatever our glob admits, the translated one admits too (never narrower, so never a surprise refusal), for refs GitLab could send.
  const refs = ['main', 'release/1.2', 'release/1.2/hotfix', 'v1.2', 'v1.23', 'hotfix/a/b', 'feature-x'];
  const globs = ['main', 'release/*', 'release/**', 'v1.?', 'v*', 'hotfix/**', '*-x', '**'];
  for (const glob of globs) {
    it(`${glob} -> ${toVaultGlob(glob)} admits every ref the file's glob admits`, () => {
      for (const ref of refs) if (matchesRefGlob(glob, ref)) assert.ok(goGlob(toVaultGlob(glob), ref), `${ref} lost`);
    });
  }
});
