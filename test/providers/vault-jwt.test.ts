import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { VaultJwtTrait } from '../../src/access-file/model.ts';
import { OamError } from '../../src/errors.ts';
import { httpGet } from '../../src/lib/http.ts';
import { Logger } from '../../src/lib/log.ts';
import type { ExchangeInput, IssuedCredentials } from '../../src/providers/types.ts';
import { isTransientVaultError, VAULT_TTL_CEILING_SECONDS, VaultApiError, vaultJwtProvider } from '../../src/providers/vault-jwt.ts';
import type { VerifiedToken } from '../../src/token/types.ts';
import { IssuerTokenVerifier } from '../../src/token/verify.ts';
import { type Issuer, startIssuer } from '../emulators/issuer.ts';
import { type LoopbackServer, listenLoopback, sendJson } from '../emulators/server.ts';
import { startVault, type VaultEmulator, type VaultRole } from '../emulators/vault.ts';

const AUD = 'https://vault.example.com';
const GOOD: VaultRole = {
  name: 'ci-deploy',
  userClaim: 'user_email',
  boundAudiences: [AUD],
  boundClaimsType: 'glob',
  boundClaims: { project_path: ['acme/payments'], ref_type: ['branch'], ref: ['main'], ref_protected: 'true' },
  tokenTtl: 900,
  tokenMaxTtl: 900,
  tokenExplicitMaxTtl: 900,
  tokenPolicies: ['deploy'],
};
const role = (name: string, extra: Partial<VaultRole>): VaultRole => ({ ...GOOD, name, ...extra });

function vaultTrait(address: string, overrides: Partial<VaultJwtTrait> = {}): VaultJwtTrait {
  return { type: 'vault-jwt', address, role: 'ci-deploy', mount: 'jwt', exportPrefix: '', ...overrides };
}

describe('vaultJwtProvider', () => {
  let issuer: Issuer;
  let vault: VaultEmulator;
  const logged: string[] = [];
  const log = new Logger({ sink: { write: (t) => void logged.push(t) } });
  const noSleep = async () => {};
  const seen: string[] = [];

  before(async () => {
    issuer = await startIssuer();
    const roles = [
      GOOD,
      role('long', { tokenTtl: 3600, tokenMaxTtl: 3600, tokenExplicitMaxTtl: 3600 }),
      role('defaults', { tokenTtl: undefined, tokenMaxTtl: undefined, tokenExplicitMaxTtl: undefined }),
      role('renewable', { tokenTtl: 600, tokenMaxTtl: undefined, tokenExplicitMaxTtl: undefined }),
      role('periodic', { tokenTtl: undefined, tokenExplicitMaxTtl: undefined, tokenPeriod: 300 }),
      role('bare', { tokenTtl: 600, tokenExplicitMaxTtl: undefined, tokenNoDefaultPolicy: true }),
      role('batch', { tokenType: 'batch', tokenTtl: 600, tokenExplicitMaxTtl: undefined }),
      role('oidc', { roleType: 'oidc' }),
    ];
    vault = await startVault({
      mounts: [
        { oidcDiscoveryUrl: issuer.url, boundIssuer: issuer.url, roles },
        { path: 'gitlab', namespace: 'team-a', oidcDiscoveryUrl: issuer.url, boundIssuer: issuer.url, roles: [GOOD] },
      ],
    });
  });
  beforeEach(() => {
    logged.length = 0;
  });
  after(async () => {
    // No log line of any test held a Vault token or an ID token.
    const secrets = [...vault.tokens.map((t) => t.clientToken), ...seen];
    for (const line of logged) for (const s of secrets) assert.ok(!line.includes(s), 'a secret reached the log');
    await vault.close();
    await issuer.close();
  });

  async function token(claims: Record<string, unknown> = {}): Promise<VerifiedToken> {
    const raw = await issuer.mint(claims, { aud: AUD });
    seen.push(raw);
    return new IssuerTokenVerifier({ issuer: issuer.url, get: httpGet }).verify(raw, { audience: AUD, purpose: 'exchange', source: 'OAM_ID_TOKEN_VAULT_JWT' });
  }

  const exchange = async (overrides: Partial<ExchangeInput<VaultJwtTrait>> & { role?: string; trait?: VaultJwtTrait } = {}) =>
    vaultJwtProvider.exchange({
      trait: overrides.trait ?? vaultTrait(vault.url, { role: overrides.role ?? 'ci-deploy' }),
      token: overrides.token ?? (await token()),
      sessionName: 'acme.payments@p1.j2',
      env: {},
      log,
      sleep: noSleep,
      ...(overrides.maxDurationSeconds !== undefined ? { maxDurationSeconds: overrides.maxDurationSeconds } : {}),
      ...(overrides.timeouts ? { timeouts: overrides.timeouts } : {}),
    });

  /** Asserts the refusal and that its message and hint hold no secret. */
  const refusal = async (promise: Promise<IssuedCredentials>, code: string, message: RegExp, hint?: RegExp): Promise<OamError> => {
    const error: unknown = await promise.then(
      () => assert.fail('expected a refusal'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof OamError, String(error));
    assert.equal(error.code, code, error.message);
    assert.match(error.message, message);
    if (hint) assert.match(error.hint ?? '', hint);
    for (const s of [...vault.tokens.map((t) => t.clientToken), ...seen]) {
      assert.ok(!error.message.includes(s) && !(error.hint ?? '').includes(s), 'a secret in the message');
    }
    return error;
  };

  it('logs in, exports VAULT_ADDR and VAULT_TOKEN, and names role and accessor', async () => {
    const issued = await exchange();
    const t = vault.tokens.at(-1)!;
    assert.deepEqual(issued.variables, [
      ['VAULT_ADDR', vault.url],
      ['VAULT_TOKEN', t.clientToken],
    ]);
    assert.deepEqual(issued.secrets, [t.clientToken]);
    assert.equal(issued.sessionName, t.accessor);
    assert.equal(issued.identity, `${vault.url} auth/jwt role ci-deploy, accessor ${t.accessor}`);
    assert.ok(Math.abs(issued.expiresAt.getTime() - (Date.now() + 900_000)) < 5_000);
    assert.deepEqual(vault.calls.slice(-2).map((c) => c.path), ['auth/jwt/login', 'auth/token/lookup-self']);
    assert.equal(t.claims.ref, 'main');
  });

  it('revoke ends the token with revoke-self, once', async () => {
    const issued = await exchange();
    const t = vault.tokens.at(-1)!;
    assert.ok(vault.liveTokens().includes(t));
    await issued.revoke?.();
    assert.ok(t.revoked);
    const calls = vault.calls.length;
    await issued.revoke?.();
    assert.equal(vault.calls.length, calls, 'a second revoke asks nothing');
  });

  it('sends X-Vault-Namespace and exports VAULT_NAMESPACE; revoke-self goes to the same namespace', async () => {
    const issued = await exchange({ trait: vaultTrait(vault.url, { mount: 'gitlab', namespace: 'team-a' }) });
    assert.deepEqual(issued.variables.map(([k]) => k), ['VAULT_ADDR', 'VAULT_TOKEN', 'VAULT_NAMESPACE']);
    assert.equal(issued.variables[2]?.[1], 'team-a');
    assert.equal(vault.tokens.at(-1)?.namespace, 'team-a');
    await issued.revoke?.();
    assert.equal(vault.tokens.at(-1)?.revoked, true);
    assert.equal(vault.calls.at(-1)?.namespace, 'team-a');
  });

  const permanent: [string, () => Promise<IssuedCredentials>, RegExp, RegExp][] = [
    ['an unknown role', () => exchange({ role: 'nope' }), /refused the JWT login of role nope .*: HTTP 400: role "nope" could not be found/, /create role nope at auth\/jwt/],
    [
      'a ref outside bound_claims',
      async () => exchange({ token: await token({ ref: 'feature/x' }) }),
      /HTTP 400: error validating claims: claim "ref" does not match any associated bound claim values/,
      /bound_claims must admit this token: iss ".*", aud "https:\/\/vault.example.com", sub "project_path:acme\/payments:ref_type:branch:ref:feature\/x", project_path "acme\/payments", ref_type "branch", ref "feature\/x", ref_protected "true"; .*oam-grant trust-policy/,
    ],
    ['a mount that does not exist', () => exchange({ trait: vaultTrait(vault.url, { mount: 'nope' }) }), /HTTP 403: permission denied/, /nothing is mounted at auth\/nope/],
    ['a namespace mount without its namespace', () => exchange({ trait: vaultTrait(vault.url, { mount: 'gitlab' }) }), /HTTP 403: permission denied/, /check mount and namespace/],
    ['an oidc role', () => exchange({ role: 'oidc' }), /role with oidc role_type is not allowed/, /role_type=jwt/],
  ];
  for (const [name, attempt, message, hint] of permanent) {
    it(`fails at once on ${name}, with a hint`, async () => {
      const before = vault.calls.length;
      const issuedBefore = vault.tokens.length;
      await refusal(attempt(), 'ERR_EXCHANGE_FAILED', message, hint);
      assert.equal(vault.calls.length - before, 1, 'no retry');
      assert.equal(vault.tokens.length, issuedBefore);
    });
  }

  it('retries sealed, throttled, not-yet-consistent and reset answers, then succeeds', async () => {
    vault.injectFaults({ kind: 'status', status: 503 }, { kind: 'status', status: 429 }, { kind: 'status', status: 412 }, { kind: 'reset' });
    const before = vault.calls.length;
    await exchange();
    assert.equal(vault.calls.length - before, 6, 'four faults, the login, the lookup');
    assert.ok(logged.some((l) => /Vault answered HTTP 503: Vault is sealed to the login \(attempt 1\); retrying/.test(l)), logged.join(''));
  });

  it("retries a login that failed because Vault could not fetch GitLab's keys", async () => {
    const fresh = await startVault({ mounts: [{ oidcDiscoveryUrl: issuer.url, boundIssuer: issuer.url, roles: [GOOD] }] });
    try {
      const t = await token();
      issuer.injectFaults({ status: 503, times: 1, pathIncludes: '/oauth/discovery/keys' });
      const issued = await exchange({ trait: vaultTrait(fresh.url), token: t });
      assert.equal(fresh.calls.filter((c) => c.path === 'auth/jwt/login').length, 2);
      assert.equal(fresh.calls[0]?.status, 400);
      assert.ok(issued.variables[1]?.[1]);
    } finally {
      await fresh.close();
    }
  });

  it('retries an answer that does not come within the attempt deadline, and the abandoned request issues nothing', async () => {
    vault.injectFaults({ kind: 'delay', ms: 1_500 });
    const tokensBefore = vault.tokens.length;
    const started = Date.now();
    await exchange({ timeouts: { connectMs: 1_000, requestMs: 300 } });
    assert.ok(Date.now() - started < 1_400, 'did not wait for the slow answer');
    assert.ok(logged.some((l) => /TimeoutError.*\(attempt 1\); retrying/.test(l)), logged.join(''));
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(vault.tokens.length - tokensBefore, 1);
  });

  it('gives up on a sealed Vault after its attempts, with ERR_EXCHANGE_FAILED and an unseal hint', async () => {
    vault.seal();
    try {
      const before = vault.calls.length;
      await refusal(exchange(), 'ERR_EXCHANGE_FAILED', /Vault stayed unavailable for the JWT login of role ci-deploy .* after retries: HTTP 503: Vault is sealed/, /unseal/);
      assert.equal(vault.calls.length - before, 5);
    } finally {
      vault.unseal();
    }
  });

  it('gives up within the total budget when every answer is late', async () => {
    vault.injectFaults(...Array.from({ length: 10 }, () => ({ kind: 'delay' as const, ms: 2_000 })));
    const started = Date.now();
    await refusal(exchange({ timeouts: { connectMs: 1_000, requestMs: 250, totalMs: 800 } }), 'ERR_EXCHANGE_FAILED', /stayed unavailable .*TimeoutError/, /re-run the job later/);
    assert.ok(Date.now() - started < 1_500, `took ${Date.now() - started} ms`);
    vault.clearFaults();
  });

  it('refuses and revokes a token whose TTL exceeds the credential-limits cap (ERR_POLICY_DENIED)', async () => {
    await refusal(
      exchange({ role: 'long', maxDurationSeconds: 900 }),
      'ERR_POLICY_DENIED',
      /Vault role long issued a token with a TTL of 3600 s, longer than the credential-limits cap of 900 s/,
      /token_ttl, token_max_ttl and token_explicit_max_ttl of Vault role long to at most 900 s/,
    );
    const t = vault.tokens.at(-1)!;
    assert.equal(t.role, 'long');
    assert.ok(t.revoked, 'revoked at once');
    assert.equal(vault.calls.at(-1)?.path, 'auth/token/revoke-self');
    assert.ok(logged.some((l) => /revoked the refused Vault token/.test(l)));
  });

  it("refuses Vault's default 32-day TTL even without a cap (12 h ceiling)", async () => {
    await refusal(exchange({ role: 'defaults' }), 'ERR_POLICY_DENIED', new RegExp(`TTL of 2764800 s, longer than oam-grant's ceiling of ${VAULT_TTL_CEILING_SECONDS} s`), /at most 43200 s/);
    assert.ok(vault.tokens.at(-1)!.revoked);
  });

  it('accepts a TTL within the cap when an explicit max TTL bounds renewal', async () => {
    const issued = await exchange({ maxDurationSeconds: 900 });
    assert.ok(issued.expiresAt.getTime() <= Date.now() + 900_000);
  });

  it('refuses a renewable token without an explicit max TTL under a cap, and revokes it', async () => {
    await refusal(exchange({ role: 'renewable', maxDurationSeconds: 900 }), 'ERR_POLICY_DENIED', /renewable without an explicit max TTL, so it could be renewed past the credential-limits cap of 900 s/, /token_explicit_max_ttl/);
    assert.ok(vault.tokens.at(-1)!.revoked);
  });

  it('refuses a periodic token under a cap', async () => {
    await refusal(exchange({ role: 'periodic', maxDurationSeconds: 900 }), 'ERR_POLICY_DENIED', /periodic \(300 s\)/);
    assert.ok(vault.tokens.at(-1)!.revoked);
  });

  it('only warns about renewal without a cap', async () => {
    const issued = await exchange({ role: 'renewable' });
    assert.ok(issued.revoke);
    assert.ok(logged.some((l) => /renewable without an explicit max TTL: whoever holds it may renew it/.test(l)), logged.join(''));
  });

  it('fails closed when the token may not look itself up under a cap (no default policy), saying it could not revoke it', async () => {
    await refusal(exchange({ role: 'bare', maxDurationSeconds: 900 }), 'ERR_EXCHANGE_FAILED', /did not tell how far the token of role bare can be renewed \(lookup-self: HTTP 403: permission denied\)/, /token_no_default_policy=false/);
    assert.ok(!vault.tokens.at(-1)!.revoked);
    assert.ok(logged.some((l) => /could not be revoked .*expires in 600 s/.test(l)), logged.join(''));
  });

  it('exports a batch token without revoke (Vault cannot revoke batch tokens)', async () => {
    const issued = await exchange({ role: 'batch', maxDurationSeconds: 900 });
    assert.equal(issued.revoke, undefined);
    assert.equal(issued.sessionName, 'batch token');
    assert.match(issued.identity, /role batch, batch token$/);
  });
});

describe('isTransientVaultError', () => {
  const cases: [string, unknown, boolean][] = [
    ['503 sealed', new VaultApiError('auth/jwt/login', 503, ['Vault is sealed']), true],
    ['500', new VaultApiError('p', 500, ['internal error']), true],
    ['429', new VaultApiError('p', 429, []), true],
    ['412', new VaultApiError('p', 412, []), true],
    ['501 not initialised', new VaultApiError('p', 501, ['Vault is not initialized']), false],
    ['400 keys unreachable', new VaultApiError('p', 400, ['error validating token: error verifying token signature: fetching keys oidc: get keys failed: 503']), true],
    ['400 claims', new VaultApiError('p', 400, ['error validating claims: claim "ref" does not match any associated bound claim values']), false],
    ['403', new VaultApiError('p', 403, ['permission denied']), false],
    ['a reset', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), true],
  ];
  for (const [name, error, expected] of cases) {
    it(`${name}: ${expected ? 'transient' : 'permanent'}`, () => assert.equal(isTransientVaultError(error), expected));
  }
});

/**
 * Answers no real Vault gives a JWT login, from a scripted loopback server:
 * the provider must fail closed on them, and keep secrets out of messages
 * even when a server echoes them.
 */
describe('vaultJwtProvider against answers a JWT login should never get', () => {
  let issuer: Issuer;
  let server: LoopbackServer;
  let next: { status: number; body: unknown } = { status: 200, body: {} };
  const paths: string[] = [];
  const log = new Logger({ sink: { write: () => undefined } });

  before(async () => {
    issuer = await startIssuer();
    server = await listenLoopback((req, res) => {
      paths.push(req.url ?? '');
      if (req.url === '/v1/auth/token/revoke-self') return void res.writeHead(204).end();
      sendJson(res, next.status, next.body);
    });
  });
  after(async () => {
    await server.close();
    await issuer.close();
  });

  const attempt = async (answer: { status: number; body: unknown }, raw?: string) => {
    next = answer;
    paths.length = 0;
    const jwt = raw ?? (await issuer.mint({}, { aud: AUD }));
    const token = await new IssuerTokenVerifier({ issuer: issuer.url, get: httpGet }).verify(jwt, { audience: AUD, purpose: 'exchange', source: 'OAM_ID_TOKEN' });
    return vaultJwtProvider.exchange({ trait: vaultTrait(server.url), token, sessionName: 's', env: {}, log, sleep: async () => {}, maxDurationSeconds: 900 });
  };
  const auth = (extra: Record<string, unknown>) => ({ status: 200, body: { auth: { client_token: 'hvs.odd-token-0001', accessor: 'acc', lease_duration: 600, renewable: false, ...extra } } });

  it('refuses a token without expiry (lease_duration 0) and revokes it', async () => {
    await assert.rejects(attempt(auth({ lease_duration: 0 })), (e: unknown) => e instanceof OamError && e.code === 'ERR_POLICY_DENIED' && /with no expiry/.test(e.message));
    assert.deepEqual(paths, ['/v1/auth/jwt/login', '/v1/auth/token/revoke-self']);
  });

  it('refuses an answer without a client token or lease', async () => {
    for (const body of [{}, { auth: null }, { auth: { client_token: '', lease_duration: 60 } }, { auth: { client_token: 'hvs.x', lease_duration: 'soon' } }]) {
      await assert.rejects(attempt({ status: 200, body }), (e: unknown) => e instanceof OamError && e.code === 'ERR_EXCHANGE_FAILED' && /without a client token and its lease duration/.test(e.message));
    }
  });

  it('names login MFA, which a job cannot answer', async () => {
    await assert.rejects(attempt({ status: 200, body: { auth: { client_token: '', mfa_requirement: { mfa_request_id: 'x' } } } }), (e: unknown) => e instanceof OamError && /asks for MFA/.test(e.message) && /exempt/.test(e.hint ?? ''));
  });

  it('does not follow a redirect (a standby without request forwarding), and says so', async () => {
    await assert.rejects(attempt({ status: 307, body: {} }), (e: unknown) => e instanceof OamError && /HTTP 307/.test(e.message) && /does not follow redirects/.test(e.hint ?? ''));
    assert.equal(paths.length, 1);
  });

  it('keeps the ID token out of the message even when Vault echoes it', async () => {
    const jwt = await issuer.mint({}, { aud: AUD });
    await assert.rejects(attempt({ status: 400, body: { errors: [`error parsing token: ${jwt}`] } }, jwt), (e: unknown) => e instanceof OamError && !e.message.includes(jwt) && e.message.includes('[MASKED]'));
  });
});
