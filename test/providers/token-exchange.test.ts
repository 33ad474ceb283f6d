import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { TokenExchangeTrait } from '../../src/access-file/model.ts';
import { OamError } from '../../src/errors.ts';
import { httpGet } from '../../src/lib/http.ts';
import { Logger } from '../../src/lib/log.ts';
import { exchangeParameters, peekJwtClaims, SUBJECT_TOKEN_TYPE, tokenExchangeProvider, tokenLifetime } from '../../src/providers/token-exchange.ts';
import type { ExchangeInput } from '../../src/providers/types.ts';
import type { VerifiedToken } from '../../src/token/types.ts';
import { IssuerTokenVerifier } from '../../src/token/verify.ts';
import { type Issuer, startIssuer } from '../emulators/issuer.ts';
import { startTokenExchange, TOKEN_EXCHANGE, TOKEN_TYPE, type TokenExchangeFault, type TokenExchangeServer, type TokenExchangeSettings } from '../emulators/token-exchange.ts';

const MAIN = 'project_path:acme/payments:ref_type:branch:ref:main';

function trait(issuer: string, overrides: Partial<TokenExchangeTrait> = {}): TokenExchangeTrait {
  return { type: 'token-exchange', issuer, clientId: 'ci', requestedTokenType: TOKEN_TYPE.accessToken, exportAs: 'API_TOKEN', exportPrefix: '', ...overrides };
}

describe('tokenExchangeProvider', () => {
  let issuer: Issuer;
  let server: TokenExchangeServer;
  const logged: string[] = [];
  const log = new Logger({ sink: { write: (t) => void logged.push(t) } });
  const noSleep = async () => {};
  const defaults: Partial<TokenExchangeSettings> = {
    metadata: 'openid-configuration',
    metadataOverrides: {},
    subPatterns: [MAIN],
    requiredClaims: {},
    clients: [
      { id: 'ci', grantTypes: [TOKEN_EXCHANGE] },
      { id: 'web', grantTypes: ['authorization_code'] },
    ],
    requireClient: false,
    challengeInvalidClient: false,
    audiences: ['https://api.example.com'],
    resources: ['https://api.example.com/v1'],
    scopes: ['deploy', 'read'],
    tokenExchange: true,
    subjectTokenError: 'invalid_request',
    lifetimeSeconds: 900,
    tokenFormat: 'opaque',
    omitExpiresIn: false,
    issuedTokenType: undefined,
    refreshToken: false,
  };

  before(async () => {
    issuer = await startIssuer();
    server = await startTokenExchange({ trustedIssuers: [issuer.url], subPatterns: [MAIN], issuerPath: '/realms/ci' });
  });
  beforeEach(() => {
    logged.length = 0;
    server.clearFaults();
    server.configure(defaults);
  });
  after(async () => {
    await server.close();
    await issuer.close();
  });

  async function token(claims: Record<string, unknown> = {}): Promise<VerifiedToken> {
    const raw = await issuer.mint(claims, { aud: server.issuer });
    return new IssuerTokenVerifier({ issuer: issuer.url, get: httpGet }).verify(raw, { audience: server.issuer, purpose: 'exchange', source: 'OAM_ID_TOKEN' });
  }

  const exchange = async (overrides: Partial<TokenExchangeTrait> = {}, extra: Partial<ExchangeInput<TokenExchangeTrait>> = {}) =>
    tokenExchangeProvider.exchange({ trait: trait(server.issuer, overrides), token: await token(), sessionName: 'acme.payments@p1.j2', env: {}, log, sleep: noSleep, ...extra });
  const tokenCalls = () => server.calls.filter((c) => c.endpoint === 'token').length;

  it('defaults the ID token audience to the issuer', () => {
    assert.equal(tokenExchangeProvider.defaultAudience(trait('https://sts.example.com')), 'https://sts.example.com');
  });

  it('exchanges the ID token as an RFC 8693 jwt subject token and exports the issued token under exportAs', async () => {
    const t = await token();
    const issued = await tokenExchangeProvider.exchange({
      trait: trait(server.issuer, { audience: 'https://api.example.com', resource: 'https://api.example.com/v1', scope: 'deploy' }),
      token: t,
      sessionName: 'acme.payments@p1.j2',
      env: {},
      log,
    });
    const call = server.calls.filter((c) => c.endpoint === 'token').at(-1)!;
    assert.deepEqual(call.params, {
      subject_token: t.raw,
      subject_token_type: SUBJECT_TOKEN_TYPE,
      requested_token_type: TOKEN_TYPE.accessToken,
      audience: 'https://api.example.com',
      resource: 'https://api.example.com/v1',
      scope: 'deploy',
      grant_type: TOKEN_EXCHANGE,
      client_id: 'ci',
    });
    assert.equal(call.authorization, undefined, 'a public client sends no credentials');
    assert.equal(call.userAgent, 'oam-grant');
    const minted = server.issued.at(-1)!;
    assert.deepEqual(issued.variables, [['API_TOKEN', minted.token]]);
    assert.deepEqual(issued.secrets, [minted.token]);
    assert.ok(Math.abs(issued.expiresAt.getTime() - (Date.now() + 900_000)) < 5_000, 'expires_in from now');
    assert.equal(issued.identity, server.issuer);
    assert.equal(issued.sessionName, '');
    assert.ok(issued.revoke, 'the metadata names a revocation_endpoint');
    await issued.revoke();
    assert.equal(minted.revoked, true);
    const revocation = server.calls.at(-1)!;
    assert.deepEqual([revocation.endpoint, revocation.params.token_type_hint, revocation.params.client_id], ['revocation', 'access_token', 'ci']);
  });

  it('names the issued JWT subject, takes its jti as the session and its exp as the expiry', async () => {
    server.configure({ tokenFormat: 'jwt', omitExpiresIn: true, lifetimeSeconds: 600 });
    const issued = await exchange();
    const claims = peekJwtClaims(server.issued.at(-1)!.token)!;
    assert.equal(issued.identity, `${server.issuer} as ${MAIN}`);
    assert.equal(issued.sessionName, claims.jti);
    assert.equal(issued.expiresAt.getTime(), Number(claims.exp) * 1000);
  });

  it('sends no client_id without clientId', async () => {
    await exchange({ clientId: undefined });
    assert.equal('client_id' in server.calls.at(-1)!.params, false);
  });

  it('falls back to RFC 8414 metadata when the server has no OpenID Connect discovery', async () => {
    server.configure({ metadata: 'oauth-authorization-server' });
    const before = server.calls.length;
    await exchange();
    assert.deepEqual(
      server.calls.slice(before).map((c) => [c.path, c.status]),
      [
        ['/realms/ci/.well-known/openid-configuration', 404],
        ['/.well-known/oauth-authorization-server/realms/ci', 200],
        ['/realms/ci/token', 200],
      ],
    );
  });

  const refusals: [string, Partial<TokenExchangeSettings>, Partial<TokenExchangeTrait>, Record<string, unknown>, string, RegExp][] = [
    ['a subject the server does not admit (RFC 8693: invalid_request)', {}, {}, { ref: 'feature/x' }, 'invalid_request', /malformed request and for a subject token .* sub "project_path:acme\/payments:ref_type:branch:ref:feature\/x", project_path "acme\/payments", ref "feature\/x", ref_type "branch".*oam-grant trust-policy/],
    ['that subject, from a server answering invalid_grant', { subjectTokenError: 'invalid_grant' }, {}, { ref: 'feature/x' }, 'invalid_grant', /^the server must trust ID tokens of http:\/\/127\.0\.0\.1:\d+ .*with audience "http:\/\/127\.0\.0\.1:\d+\/realms\/ci".*sub "project_path:acme\/payments:ref_type:branch:ref:feature\/x"/],
    ['no client where the server wants one', { requireClient: true }, { clientId: undefined }, {}, 'invalid_client', /register a public client .* and set clientId in the token-exchange trait/],
    ['an unknown client, with a WWW-Authenticate challenge', { challengeInvalidClient: true }, { clientId: 'nobody' }, {}, 'invalid_client', /does not accept client_id "nobody" without a secret: register it as a public client/],
    ['a client not allowed to exchange', {}, { clientId: 'web' }, {}, 'unauthorized_client', /client "web" may not use the token-exchange grant/],
    ['a server without token exchange', { tokenExchange: false }, {}, {}, 'unsupported_grant_type', /does not offer RFC 8693 token exchange/],
    ['an audience the server does not issue for', {}, { audience: 'https://other.example.com' }, {}, 'invalid_target', /will not issue a token for audience "https:\/\/other\.example\.com"/],
    ['a scope the server does not grant', {}, { scope: 'deploy admin' }, {}, 'invalid_scope', /will not grant scope "deploy admin"/],
  ];
  for (const [name, settings, overrides, claims, code, hint] of refusals) {
    it(`fails at once on ${name}: ${code}, with a hint`, async () => {
      server.configure(settings);
      const t = await token(claims);
      const before = tokenCalls();
      await assert.rejects(
        tokenExchangeProvider.exchange({ trait: trait(server.issuer, overrides), token: t, sessionName: 's', env: {}, log, sleep: noSleep }),
        (error: unknown) => {
          assert.ok(error instanceof OamError, String(error));
          assert.equal(error.code, 'ERR_EXCHANGE_FAILED');
          assert.equal(error.exitCode, 1);
          assert.match(error.message, new RegExp(`^token exchange at ${server.issuer} refused: the token endpoint answered HTTP 40[01] ${code}: \\S`));
          assert.match(error.hint ?? '', hint);
          assert.ok(!error.message.includes(t.raw) && !(error.hint ?? '').includes(t.raw), 'no token in message or hint');
          return true;
        },
      );
      assert.equal(tokenCalls() - before, 1, 'a refusal is not retried');
    });
  }

  const beforeTheToken: [string, Partial<TokenExchangeSettings>, RegExp, RegExp][] = [
    ['metadata naming another issuer', { metadataOverrides: { issuer: 'http://127.0.0.1:9/elsewhere' } }, /names issuer "http:\/\/127\.0\.0\.1:9\/elsewhere", not http/, /exactly as its metadata names it/],
    ['a plain-http token endpoint off loopback', { metadataOverrides: { token_endpoint: 'http://sts.example.com/token' } }, /names token_endpoint "http:\/\/sts\.example\.com\/token": http:\/\/sts\.example\.com must use https/, /nothing was sent there/],
    ['a plain-http revocation endpoint off loopback', { metadataOverrides: { revocation_endpoint: 'http://sts.example.com/revoke' } }, /names revocation_endpoint/, /nothing was sent there/],
    ['metadata without a token endpoint', { metadataOverrides: { token_endpoint: undefined } }, /names no token_endpoint/, /offers RFC 8693 token exchange/],
  ];
  for (const [name, settings, message, hint] of beforeTheToken) {
    it(`refuses ${name} before sending the token anywhere`, async () => {
      server.configure(settings);
      const before = tokenCalls();
      await assert.rejects(exchange(), (error: unknown) => error instanceof OamError && error.code === 'ERR_EXCHANGE_FAILED' && message.test(error.message) && hint.test(error.hint ?? ''));
      assert.equal(tokenCalls(), before);
    });
  }

  it('refuses a plain-http issuer off loopback before any request, whatever the model holds', async () => {
    const before = server.calls.length;
    await assert.rejects(
      tokenExchangeProvider.exchange({ trait: trait('http://sts.example.com'), token: await token(), sessionName: 's', env: {}, log, sleep: noSleep }),
      (error: unknown) => error instanceof OamError && error.code === 'ERR_METADATA_INVALID' && /must use https/.test(error.message),
    );
    assert.equal(server.calls.length, before);
  });

  it('does not follow a redirect with the token', async () => {
    server.injectFaults({ kind: 'redirect', location: `${server.issuer}/elsewhere` });
    await assert.rejects(exchange(), (error: unknown) => error instanceof OamError && /the token endpoint answered HTTP 307$/.test(error.message));
    assert.equal(server.calls.filter((c) => c.path.endsWith('/elsewhere')).length, 0);
  });

  it('shows a hostile error answer as one clean line', async () => {
    server.injectFaults({ kind: 'oauth-error', error: 'bad\ncode', status: 400, description: `\u001b[31mred\nsecond line ${'x'.repeat(500)}` });
    await assert.rejects(exchange(), (error: unknown) => {
      assert.ok(error instanceof OamError, String(error));
      assert.match(error.message, /answered HTTP 400: \?\[31mred second line x+\.\.\.$/);
      assert.ok(error.message.length < 500, 'bounded');
      assert.match(error.hint ?? '', /without an OAuth error/);
      return true;
    });
  });

  it('says so when neither metadata document exists', async () => {
    await assert.rejects(
      tokenExchangeProvider.exchange({ trait: trait(`${server.origin}/nowhere`), token: await token(), sessionName: 's', env: {}, log, sleep: noSleep }),
      /no authorization server metadata at http:\/\/127\.0\.0\.1:\d+\/nowhere/,
    );
  });

  const unfit: [string, Partial<TokenExchangeSettings>, number | undefined, string, RegExp][] = [
    ['another issued_token_type', { issuedTokenType: TOKEN_TYPE.refreshToken }, undefined, 'ERR_EXCHANGE_FAILED', /answered issued_token_type "urn:ietf:params:oauth:token-type:refresh_token", not the requested urn:ietf:params:oauth:token-type:access_token/],
    ['no issued_token_type', { issuedTokenType: null }, undefined, 'ERR_EXCHANGE_FAILED', /answered issued_token_type \(none\)/],
    ['no expires_in and no JWT', { omitExpiresIn: true }, undefined, 'ERR_EXCHANGE_FAILED', /without expires_in that is not a JWT with exp: its lifetime is unknown/],
    ['a lifetime over the credential-limits cap', { lifetimeSeconds: 3600 }, 1800, 'ERR_POLICY_DENIED', /valid for 3600 s, longer than the credential-limits cap of 1800 s$/],
    ['a JWT lifetime over the cap', { tokenFormat: 'jwt', lifetimeSeconds: 3600, omitExpiresIn: true }, 1800, 'ERR_POLICY_DENIED', /valid for 3600 s/],
    ['a lifetime over 12 h without a cap', { lifetimeSeconds: 43_201 }, undefined, 'ERR_POLICY_DENIED', /valid for 43201 s, longer than oam-grant's ceiling of 43200 s \(no credential-limits cap applies\)/],
    ['no lifetime left', { lifetimeSeconds: 0 }, undefined, 'ERR_EXCHANGE_FAILED', /issued a token that expired at/],
  ];
  for (const [name, settings, cap, code, message] of unfit) {
    it(`refuses an issued token with ${name}, and revokes it`, async () => {
      server.configure(settings);
      await assert.rejects(exchange({}, cap === undefined ? {} : { maxDurationSeconds: cap }), (error: unknown) => error instanceof OamError && error.code === code && message.test(error.message));
      assert.equal(server.issued.at(-1)!.revoked, true);
      assert.ok(logged.some((l) => /the issued token was not exported; it was revoked/.test(l)), logged.join(''));
    });
  }

  it('keeps to the cap and the ceiling exactly, and says when an unfit token cannot be revoked', async () => {
    server.configure({ lifetimeSeconds: 1800 });
    await exchange({}, { maxDurationSeconds: 1800 });
    server.configure({ lifetimeSeconds: 43_200 });
    await exchange();
    server.configure({ omitExpiresIn: true, metadataOverrides: { revocation_endpoint: undefined } });
    await assert.rejects(exchange(), /lifetime is unknown/);
    assert.equal(server.issued.at(-1)!.revoked, false);
    assert.ok(logged.some((l) => /offers no revocation_endpoint, so it stays valid until it expires/.test(l)), logged.join(''));
  });

  it('offers no revoke without a revocation_endpoint', async () => {
    server.configure({ metadataOverrides: { revocation_endpoint: undefined } });
    assert.equal((await exchange()).revoke, undefined);
  });

  const transient: [string, TokenExchangeFault[]][] = [
    ['429', [{ kind: 'status', status: 429 }]],
    ['503 and 502', [{ kind: 'status', status: 503 }, { kind: 'status', status: 502 }]],
    ['temporarily_unavailable with 400', [{ kind: 'oauth-error', error: 'temporarily_unavailable', status: 400 }]],
    ['server_error with 500', [{ kind: 'oauth-error', error: 'server_error', status: 500 }]],
    ['a connection reset', [{ kind: 'reset' }]],
    ['a 503 from the metadata endpoint', [{ kind: 'status', status: 503, endpoint: 'metadata' }]],
  ];
  for (const [name, faults] of transient) {
    it(`retries ${name}, then exchanges`, async () => {
      server.injectFaults(...faults);
      const issued = await exchange();
      assert.equal(issued.variables[0]?.[1], server.issued.at(-1)!.token);
      assert.ok(logged.some((l) => /token exchange at .*\(attempt 1\); retrying in \d+ ms/.test(l)), logged.join(''));
    });
  }

  it('retries an answer that does not come within the attempt deadline', async () => {
    server.injectFaults({ kind: 'delay', ms: 3_000 });
    const started = Date.now();
    await exchange({}, { timeouts: { connectMs: 1_000, requestMs: 300 } });
    assert.ok(logged.some((l) => /no complete answer within 300 ms \(attempt 1\)/.test(l)), logged.join(''));
    assert.ok(Date.now() - started < 2_500, 'the retry did not wait for the slow answer');
  });

  it('gives up after five transient answers, with ERR_EXCHANGE_FAILED and a hint to re-run', async () => {
    server.injectFaults(...Array.from({ length: 5 }, () => ({ kind: 'status' as const, status: 503 as const })));
    const before = tokenCalls();
    await assert.rejects(exchange(), (error: unknown) => {
      assert.ok(error instanceof OamError, String(error));
      assert.match(error.message, /^token exchange at .* stayed unavailable after retries: OAuthRefusal: the token endpoint answered HTTP 503$/);
      assert.match(error.hint ?? '', /re-run the job later/);
      return true;
    });
    assert.equal(tokenCalls() - before, 5);
  });

  it('stops within the total budget', async () => {
    server.injectFaults(...Array.from({ length: 5 }, () => ({ kind: 'delay' as const, ms: 2_000 })));
    const started = Date.now();
    await assert.rejects(exchange({}, { timeouts: { connectMs: 1_000, requestMs: 400, totalMs: 900 } }), /stayed unavailable after retries: TimeoutError: no complete answer within (900|400) ms/);
    assert.ok(Date.now() - started < 1_500, 'within the budget');
  });

  it('masks the subject token where a server repeats it in its error', async () => {
    server.injectFaults({ kind: 'echo-subject-token' });
    const t = await token();
    await assert.rejects(tokenExchangeProvider.exchange({ trait: trait(server.issuer), token: t, sessionName: 's', env: {}, log, sleep: noSleep }), (error: unknown) => {
      assert.ok(error instanceof OamError, String(error));
      assert.match(error.message, /invalid_request: cannot use subject_token \[MASKED\]/);
      assert.ok(!error.message.includes(t.raw), 'the subject token is masked');
      return true;
    });
  });

  it('never logs the issued token or the subject token', async () => {
    server.injectFaults({ kind: 'status', status: 503 });
    const t = await token();
    const issued = await tokenExchangeProvider.exchange({ trait: trait(server.issuer), token: t, sessionName: 's', env: {}, log, sleep: noSleep });
    const text = logged.join('');
    assert.ok(text.length > 0, 'the retry was logged');
    assert.ok(!text.includes(t.raw) && !text.includes(issued.variables[0]![1]), 'no token in the log');
  });

  it('masks the issued token where the revocation endpoint repeats it', async () => {
    const issued = await exchange();
    server.injectFaults({ kind: 'echo-subject-token', endpoint: 'revocation' });
    await assert.rejects(issued.revoke!(), (error: unknown) => {
      assert.ok(error instanceof Error, String(error));
      assert.match(error.message, /answered HTTP 400 invalid_request: cannot use subject_token \[MASKED\]$/);
      assert.ok(!error.message.includes(issued.variables[0]![1]), 'no token in the message');
      return true;
    });
  });

  it('reports a failed revocation without the token', async () => {
    const issued = await exchange();
    server.injectFaults({ kind: 'oauth-error', error: 'invalid_request', status: 400, endpoint: 'revocation' });
    await assert.rejects(issued.revoke!(), (error: unknown) => {
      assert.ok(error instanceof Error, String(error));
      assert.match(error.message, /^revocation at http:\/\/127\.0\.0\.1:\d+\/realms\/ci\/revoke answered HTTP 400 invalid_request/);
      assert.ok(!error.message.includes(issued.variables[0]![1]), 'no token in the message');
      return true;
    });
  });
});

describe('token exchange helpers', () => {
  it('builds the RFC 8693 parameters from the trait', () => {
    assert.deepEqual(exchangeParameters(trait('https://sts.example.com'), 'jwt'), {
      subject_token: 'jwt',
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    });
  });

  it('reads a JWT payload for display, and nothing else', () => {
    const payload = Buffer.from(JSON.stringify({ sub: 'svc', exp: 2 })).toString('base64url');
    assert.deepEqual(peekJwtClaims(`e30.${payload}.sig`), { sub: 'svc', exp: 2 });
    assert.equal(peekJwtClaims('opaque-token'), undefined);
    assert.equal(peekJwtClaims('a.b.c.d.e'), undefined, 'an encrypted JWT is opaque here');
    assert.equal(peekJwtClaims('a.!!!.c'), undefined);
  });

  it('takes the earliest expiry and the longest lifetime', () => {
    const now = 1_000_000_000_000;
    assert.deepEqual(tokenLifetime({ expires_in: 600 }, undefined, now), { expiresAt: new Date(now + 600_000), seconds: 600 });
    assert.deepEqual(tokenLifetime({ expires_in: 600 }, { iat: 1_000_000_000, exp: 1_000_003_600 }, now), { expiresAt: new Date(now + 600_000), seconds: 3600 });
    assert.deepEqual(tokenLifetime({}, { exp: 1_000_000_300 }, now), { expiresAt: new Date(1_000_000_300_000), seconds: 300 });
    assert.equal(tokenLifetime({}, { sub: 'x' }, now), undefined);
  });
});
