import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Issuer, startIssuer } from './issuer.ts';
import { goGlob, startVault, type VaultEmulator, type VaultRole } from './vault.ts';

const AUD = 'https://vault.example.com';

describe('goGlob (ryanuber/go-glob)', () => {
  // Cases from go-glob's own tests and Vault's bound_claims docs: `*` spans '/', and nothing else is special.
  const cases: [string, string, boolean][] = [
    ['main', 'main', true],
    ['main', 'mainx', false],
    ['*', '', true],
    ['*', 'anything/at/all', true],
    ['release/*', 'release/1.2', true],
    ['release/*', 'release/1.2/hotfix', true],
    ['release/*', 'release', false],
    ['*-prod', 'eu-prod', true],
    ['a*b*c', 'axxbyyc', true],
    ['a*b*c', 'axxbyy', false],
    ['v1.?', 'v1.2', false],
    ['v1.?', 'v1.?', true],
    ['', '', true],
    ['', 'x', false],
  ];
  for (const [pattern, subject, expected] of cases) {
    it(`${JSON.stringify(pattern)} ${expected ? 'matches' : 'does not match'} ${JSON.stringify(subject)}`, () => {
      assert.equal(goGlob(pattern, subject), expected);
    });
  }
});

describe('vault emulator', () => {
  let issuer: Issuer;
  let vault: VaultEmulator;

  before(async () => {
    issuer = await startIssuer();
    const roles: VaultRole[] = [
      {
        name: 'ci-deploy',
        userClaim: 'user_email',
        boundAudiences: [AUD],
        boundClaimsType: 'glob',
        boundClaims: { project_path: ['acme/payments'], ref_type: ['branch'], ref: ['main', 'release/*'], ref_protected: 'true' },
        tokenTtl: 900,
        tokenMaxTtl: 900,
        tokenExplicitMaxTtl: 900,
        tokenPolicies: ['deploy'],
      },
      { name: 'defaults', userClaim: 'user_email', boundAudiences: [AUD] },
      { name: 'exact', userClaim: 'user_email', boundAudiences: [AUD], boundClaims: { ref: 'release/*' } },
      { name: 'no-aud', userClaim: 'user_email' },
      { name: 'oidc', userClaim: 'user_email', roleType: 'oidc', boundAudiences: [AUD] },
      { name: 'batch', userClaim: 'user_email', boundAudiences: [AUD], tokenType: 'batch', tokenTtl: 600 },
      { name: 'periodic', userClaim: 'user_email', boundAudiences: [AUD], tokenPeriod: 300 },
      { name: 'bare', userClaim: 'user_email', boundAudiences: [AUD], tokenNoDefaultPolicy: true, tokenPolicies: ['deploy'] },
      { name: 'bad-user-claim', userClaim: 'email', boundAudiences: [AUD] },
    ];
    vault = await startVault({
      mounts: [
        { oidcDiscoveryUrl: issuer.url, boundIssuer: issuer.url, roles },
        { path: 'gitlab', namespace: 'team-a', oidcDiscoveryUrl: issuer.url, boundIssuer: issuer.url, roles: [roles[0]!] },
      ],
    });
  });
  after(async () => {
    await vault.close();
    await issuer.close();
  });

  const call = async (method: string, path: string, opts: { body?: unknown; token?: string; namespace?: string } = {}) => {
    const headers: Record<string, string> = {};
    if (opts.token) headers['x-vault-token'] = opts.token;
    if (opts.namespace) headers['x-vault-namespace'] = opts.namespace;
    const res = await fetch(`${vault.url}/v1/${path}`, { method, headers, ...(opts.body ? { body: JSON.stringify(opts.body) } : {}) });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
  };
  const login = async (role: string, jwt: string, path = 'auth/jwt/login', namespace?: string) =>
    call('POST', path, { body: { role, jwt }, ...(namespace ? { namespace } : {}) });
  const token = (claims: Record<string, unknown> = {}, aud: string | string[] = AUD) => issuer.mint(claims, { aud });
  type Auth = { client_token: string; accessor: string; lease_duration: number; renewable: boolean; policies: string[]; token_type: string };
  const authOf = (json: Record<string, unknown> | undefined) => json?.auth as Auth;

  it('logs in with the shape of Vault\'s sample response, and counts the token as live', async () => {
    const before = vault.liveTokens().length;
    const { status, json } = await login('ci-deploy', await token());
    assert.equal(status, 200, JSON.stringify(json));
    const auth = authOf(json);
    assert.match(auth.client_token, /^hvs\.[A-Za-z0-9]{90}$/);
    assert.match(auth.accessor, /^[A-Za-z0-9]{24}$/);
    assert.deepEqual(auth.policies, ['default', 'deploy']);
    assert.equal(auth.lease_duration, 900);
    assert.equal(auth.renewable, true);
    assert.equal(auth.token_type, 'service');
    assert.equal(json?.lease_id, '');
    assert.equal(vault.liveTokens().length, before + 1);
    assert.equal(vault.calls.at(-1)?.path, 'auth/jwt/login');
  });

  it('glob bound claims: `*` spans a slash; exact bound claims take `*` literally; role names are lower-cased', async () => {
    assert.equal((await login('CI-Deploy', await token({ ref: 'release/1.2/hotfix' }))).status, 200);
    assert.equal((await login('exact', await token({ ref: 'release/1.2' }))).status, 400);
    assert.equal((await login('exact', await token({ ref: 'release/*' }))).status, 200);
  });

  const refusals: [string, () => Promise<{ status: number; json?: Record<string, unknown> }>, number, string][] = [
    ['an unknown role', async () => login('nope', await token()), 400, 'role "nope" could not be found'],
    ['an oidc role', async () => login('oidc', await token()), 400, 'role with oidc role_type is not allowed'],
    ['no jwt', async () => call('POST', 'auth/jwt/login', { body: { role: 'ci-deploy' } }), 400, 'missing token'],
    ['a ref outside bound_claims', async () => login('ci-deploy', await token({ ref: 'feature/x' })), 400, 'error validating claims: claim "ref" does not match any associated bound claim values'],
    ['an unprotected ref', async () => login('ci-deploy', await token({ ref_protected: 'false' })), 400, 'error validating claims: claim "ref_protected" does not match any associated bound claim values'],
    ['a missing bound claim', async () => login('ci-deploy', await token({ ref_protected: undefined })), 400, 'error validating claims: claim "ref_protected" is missing'],
    ['another audience', async () => login('ci-deploy', await token({}, 'sts.amazonaws.com')), 400, 'error validating token: invalid audience (aud) claim: audience claim does not match any expected audience'],
    ['an audience the role does not bind', async () => login('no-aud', await token()), 400, 'audience claim found in JWT but no audiences bound to the role'],
    ['another issuer', async () => login('ci-deploy', await issuer.mint({}, { aud: AUD, iss: 'https://gitlab.example.com' })), 400, 'error validating token: invalid issuer (iss) claim'],
    ['a forged signature', async () => login('ci-deploy', await issuer.mintForged({}, { aud: AUD })), 400, 'error validating token: error verifying token signature: failed to verify id token signature'],
    ['HS256 keyed with the public key', async () => login('ci-deploy', await issuer.mintHs256WithPublicKey({}, { aud: AUD })), 400, 'error validating token: error verifying token signature: failed to verify id token signature'],
    ['an expired token', async () => login('ci-deploy', await issuer.mint({}, { aud: AUD, iat: Math.floor(Date.now() / 1000) - 900, exp: Math.floor(Date.now() / 1000) - 300 })), 400, 'error validating token: invalid expiration time (exp) claim: token is expired'],
    ['a user claim the token lacks', async () => login('bad-user-claim', await token()), 400, 'claim "email" not found in token'],
    ['a mount that does not exist', async () => login('ci-deploy', await token(), 'auth/nope/login'), 403, 'permission denied'],
    ['the namespace\'s mount without the namespace', async () => login('ci-deploy', await token(), 'auth/gitlab/login'), 403, 'permission denied'],
  ];
  for (const [name, attempt, status, message] of refusals) {
    it(`refuses ${name}: ${status} ${message}`, async () => {
      const before = vault.tokens.length;
      const answer = await attempt();
      assert.equal(answer.status, status);
      assert.deepEqual(answer.json, { errors: [message] });
      assert.equal(vault.tokens.length, before, 'no token issued');
    });
  }

  it('accepts an expired token within the 60 s clock skew leeway', async () => {
    const now = Math.floor(Date.now() / 1000);
    assert.equal((await login('ci-deploy', await issuer.mint({}, { aud: AUD, iat: now - 300, exp: now - 30 }))).status, 200);
  });

  it('takes the namespace from X-Vault-Namespace or the path, and keeps tokens in theirs', async () => {
    const viaHeader = await login('ci-deploy', await token(), 'auth/gitlab/login', 'team-a/');
    assert.equal(viaHeader.status, 200);
    const viaPath = await login('ci-deploy', await token(), 'team-a/auth/gitlab/login');
    assert.equal(viaPath.status, 200);
    const t = authOf(viaHeader.json).client_token;
    assert.equal((await call('GET', 'auth/token/lookup-self', { token: t })).status, 403, 'not in the root namespace');
    assert.equal((await call('GET', 'auth/token/lookup-self', { token: t, namespace: 'team-a' })).status, 200);
    assert.equal(vault.calls.at(-1)?.namespace, 'team-a');
  });

  it('lookup-self reports explicit_max_ttl, period and ttl; revoke-self answers 204 and ends the token', async () => {
    const auth = authOf((await login('ci-deploy', await token())).json);
    const looked = await call('GET', 'auth/token/lookup-self', { token: auth.client_token });
    assert.equal(looked.status, 200);
    const data = looked.json?.data as Record<string, unknown>;
    assert.equal(data.accessor, auth.accessor);
    assert.equal(data.explicit_max_ttl, 900);
    assert.equal(data.renewable, true);
    assert.ok(Number(data.ttl) <= 900 && Number(data.ttl) > 890);
    const live = vault.liveTokens().length;
    const revoked = await call('POST', 'auth/token/revoke-self', { token: auth.client_token });
    assert.deepEqual(revoked, { status: 204, json: undefined });
    assert.equal(vault.liveTokens().length, live - 1);
    assert.deepEqual(await call('POST', 'auth/token/revoke-self', { token: auth.client_token }), { status: 403, json: { errors: ['permission denied'] } });
    assert.equal((await call('GET', 'auth/token/lookup-self', { token: 'hvs.not-a-token' })).status, 403);
  });

  it("gives Vault's default TTL (768 h) without token_ttl, a periodic token its period, a batch token no accessor", async () => {
    assert.equal(authOf((await login('defaults', await token())).json).lease_duration, 768 * 3600);
    const periodic = authOf((await login('periodic', await token())).json);
    assert.equal(periodic.lease_duration, 300);
    const looked = (await call('GET', 'auth/token/lookup-self', { token: periodic.client_token })).json?.data as Record<string, unknown>;
    assert.equal(looked.period, 300);
    assert.equal(looked.explicit_max_ttl, 0);
    const batch = authOf((await login('batch', await token())).json);
    assert.match(batch.client_token, /^hvb\./);
    assert.equal(batch.accessor, '');
    assert.equal(batch.renewable, false);
    assert.deepEqual(await call('POST', 'auth/token/revoke-self', { token: batch.client_token }), { status: 400, json: { errors: ['batch tokens cannot be revoked'] } });
  });

  it('a token without the default policy may not look itself up or revoke itself', async () => {
    const bare = authOf((await login('bare', await token())).json);
    assert.deepEqual(bare.policies, ['deploy']);
    assert.equal((await call('GET', 'auth/token/lookup-self', { token: bare.client_token })).status, 403);
    assert.equal((await call('POST', 'auth/token/revoke-self', { token: bare.client_token })).status, 403);
  });

  it('expires tokens by its clock', async () => {
    const auth = authOf((await login('ci-deploy', await token())).json);
    vault.advanceClock(901);
    try {
      assert.ok(!vault.liveTokens().some((t) => t.clientToken === auth.client_token));
      assert.equal((await call('GET', 'auth/token/lookup-self', { token: auth.client_token })).status, 403);
    } finally {
      vault.advanceClock(-901);
    }
  });

  it('answers 503 "Vault is sealed" while sealed, on every path', async () => {
    vault.seal();
    try {
      assert.deepEqual(await login('ci-deploy', await token()), { status: 503, json: { errors: ['Vault is sealed'] } });
      assert.equal((await call('GET', 'auth/token/lookup-self', { token: 'x' })).status, 503);
    } finally {
      vault.unseal();
    }
  });

  it('injects faults one request each, in order, recording each call when it arrives', async () => {
    vault.injectFaults({ kind: 'status', status: 429 }, { kind: 'status', status: 412 }, { kind: 'reset' });
    const jwt = await token();
    assert.equal((await login('ci-deploy', jwt)).status, 429);
    assert.equal((await login('ci-deploy', jwt)).status, 412);
    await assert.rejects(login('ci-deploy', jwt));
    assert.equal(vault.calls.at(-1)?.error, 'reset');
    assert.equal((await login('ci-deploy', jwt)).status, 200);
  });

  it("answers 400 \"fetching keys\" when the issuer's keys cannot be fetched, and recovers when they can", async () => {
    const fresh = await startVault({ mounts: [{ oidcDiscoveryUrl: issuer.url, boundIssuer: issuer.url, roles: [{ name: 'r', userClaim: 'user_email', boundAudiences: [AUD] }] }] });
    try {
      issuer.injectFaults({ status: 503, times: 1, pathIncludes: '/oauth/discovery/keys' });
      const jwt = await token();
      const failed = await fetch(`${fresh.url}/v1/auth/jwt/login`, { method: 'POST', body: JSON.stringify({ role: 'r', jwt }) });
      assert.equal(failed.status, 400);
      assert.match(((await failed.json()) as { errors: string[] }).errors[0] ?? '', /^error validating token: error verifying token signature: fetching keys /);
      const ok = await fetch(`${fresh.url}/v1/auth/jwt/login`, { method: 'POST', body: JSON.stringify({ role: 'r', jwt }) });
      assert.equal(ok.status, 200);
    } finally {
      await fresh.close();
    }
  });
});
