/**
 * The RFC 8693 emulator speaks the protocol as the RFCs write it: checked with
 * plain HTTP for the wire shapes, and with openid-client (an independent,
 * certified client) for discovery, the exchange and revocation.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { type Issuer, startIssuer } from './issuer.ts';
import { globMatch, startTokenExchange, TOKEN_EXCHANGE, TOKEN_TYPE, type TokenExchangeServer } from './token-exchange.ts';

const MAIN = 'project_path:acme/payments:ref_type:branch:ref:main';

describe('token exchange emulator', () => {
  let issuer: Issuer;
  let server: TokenExchangeServer;
  const defaults = {
    metadata: 'openid-configuration' as const,
    subPatterns: [MAIN],
    requiredClaims: {} as Record<string, string>,
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
    subjectTokenError: 'invalid_request' as 'invalid_request' | 'invalid_grant',
    tokenFormat: 'opaque' as const,
    omitExpiresIn: false,
    issuedTokenType: undefined,
    refreshToken: false,
  };

  before(async () => {
    issuer = await startIssuer();
    server = await startTokenExchange({ trustedIssuers: [issuer.url], ...defaults, issuerPath: '/realms/ci' });
  });
  beforeEach(() => server.configure(defaults));
  after(async () => {
    await server.close();
    await issuer.close();
  });

  const subjectToken = (claims: Record<string, unknown> = {}, opts: Parameters<Issuer['mint']>[1] = {}) => issuer.mint(claims, { aud: server.issuer, ...opts });

  async function post(path: string, form: Record<string, string | string[]>, headers: Record<string, string> = {}) {
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(form)) for (const value of Array.isArray(v) ? v : [v]) body.append(k, value);
    const res = await fetch(`${server.issuer}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
    const text = await res.text();
    return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
  }

  const exchangeForm = async (extra: Record<string, string | string[]> = {}) => ({
    grant_type: TOKEN_EXCHANGE,
    subject_token: await subjectToken(),
    subject_token_type: TOKEN_TYPE.jwt,
    client_id: 'ci',
    ...extra,
  });

  it('serves OpenID Connect Discovery at <issuer>/.well-known/openid-configuration, and nothing at the RFC 8414 path', async () => {
    const res = await fetch(`${server.issuer}/.well-known/openid-configuration`);
    assert.equal(res.status, 200);
    const meta = (await res.json()) as Record<string, unknown>;
    assert.equal(meta.issuer, server.issuer);
    assert.equal(meta.token_endpoint, `${server.issuer}/token`);
    assert.deepEqual(meta.grant_types_supported, [TOKEN_EXCHANGE]);
    assert.equal((await fetch(`${server.origin}/.well-known/oauth-authorization-server/realms/ci`)).status, 404);
  });

  it('serves RFC 8414 metadata with the well-known segment before the issuer path', async () => {
    server.configure({ metadata: 'oauth-authorization-server' });
    assert.equal((await fetch(`${server.issuer}/.well-known/openid-configuration`)).status, 404);
    const res = await fetch(`${server.origin}/.well-known/oauth-authorization-server/realms/ci`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { issuer: string }).issuer, server.issuer);
  });

  it('exchanges through openid-client: discovery, the RFC 8693 answer, revocation', async () => {
    const config = await client.discovery(new URL(server.issuer), 'ci', undefined, client.None(), { execute: [client.allowInsecureRequests] });
    const answer = await client.genericGrantRequest(config, TOKEN_EXCHANGE, {
      subject_token: await subjectToken(),
      subject_token_type: TOKEN_TYPE.jwt,
      requested_token_type: TOKEN_TYPE.accessToken,
      audience: 'https://api.example.com',
      scope: 'deploy',
    });
    assert.equal(answer.issued_token_type, TOKEN_TYPE.accessToken);
    assert.equal(answer.token_type, 'bearer');
    assert.equal(answer.expires_in, 900);
    assert.equal(answer.scope, 'deploy');
    const issued = server.issued.at(-1)!;
    assert.equal(issued.token, answer.access_token);
    assert.equal(issued.subject, MAIN);
    assert.equal(issued.clientId, 'ci');
    const use = () => fetch(`${server.issuer}/resource`, { headers: { authorization: `Bearer ${answer.access_token}` } });
    assert.equal((await use()).status, 200);
    await client.tokenRevocation(config, answer.access_token, { token_type_hint: 'access_token' });
    assert.equal(issued.revoked, true);
    assert.equal((await use()).status, 401);
  });

  it('answers with Cache-Control: no-store, and N_A for a token that is not an access token', async () => {
    const res = await post('/token', await exchangeForm({ requested_token_type: TOKEN_TYPE.jwt }));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.json?.issued_token_type, TOKEN_TYPE.jwt);
    assert.equal(res.json?.token_type, 'N_A');
  });

  it('issues JWTs signed with the key its metadata names, when asked to', async () => {
    server.configure({ tokenFormat: 'jwt' });
    const res = await post('/token', await exchangeForm({ audience: 'https://api.example.com' }));
    const keys = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
    const { payload } = await jwtVerify(String(res.json?.access_token), keys, { issuer: server.issuer, audience: 'https://api.example.com' });
    assert.equal(payload.sub, MAIN);
    assert.equal(payload.exp! - payload.iat!, 900);
  });

  it('without client_id, exchanges unless it requires a client', async () => {
    const { client_id: _, ...form } = await exchangeForm();
    assert.equal((await post('/token', form)).status, 200);
    server.configure({ requireClient: true });
    const res = await post('/token', form);
    assert.equal(res.status, 401);
    assert.equal(res.json?.error, 'invalid_client');
  });

  const refusals: [string, () => Promise<Record<string, string | string[]>>, number, string, Partial<typeof defaults>?][] = [
    ['another grant type', async () => ({ ...(await exchangeForm()), grant_type: 'client_credentials' }), 400, 'unsupported_grant_type'],
    ['token exchange switched off', () => exchangeForm(), 400, 'unsupported_grant_type', { tokenExchange: false }],
    ['an unknown client', async () => ({ ...(await exchangeForm()), client_id: 'nobody' }), 401, 'invalid_client'],
    ['a client not allowed to exchange', async () => ({ ...(await exchangeForm()), client_id: 'web' }), 400, 'unauthorized_client'],
    ['no subject_token', async () => ({ grant_type: TOKEN_EXCHANGE, subject_token_type: TOKEN_TYPE.jwt }), 400, 'invalid_request'],
    ['an unsupported subject_token_type', () => exchangeForm({ subject_token_type: TOKEN_TYPE.accessToken }), 400, 'invalid_request'],
    ['an actor token (delegation)', async () => exchangeForm({ actor_token: await subjectToken(), actor_token_type: TOKEN_TYPE.jwt }), 400, 'invalid_request'],
    ['an unsupported requested_token_type', () => exchangeForm({ requested_token_type: TOKEN_TYPE.refreshToken }), 400, 'invalid_request'],
    ['a resource with a fragment', () => exchangeForm({ resource: 'https://api.example.com/v1#x' }), 400, 'invalid_request'],
    ['a repeated scope', () => exchangeForm({ scope: ['deploy', 'read'] }), 400, 'invalid_request'],
    ['a forged subject token', async () => exchangeForm({ subject_token: await issuer.mintForged({}, { aud: server.issuer }) }), 400, 'invalid_request'],
    ['a subject token for another audience', async () => exchangeForm({ subject_token: await issuer.mint({}, { aud: 'sts.amazonaws.com' }) }), 400, 'invalid_request'],
    ['an expired subject token', async () => exchangeForm({ subject_token: await subjectToken({}, { iat: 1_700_000_000, exp: 1_700_000_300 }) }), 400, 'invalid_request'],
    ['a subject the policy does not admit', async () => exchangeForm({ subject_token: await subjectToken({ ref: 'feature/x' }) }), 400, 'invalid_request'],
    ['that subject, from a server answering invalid_grant', async () => exchangeForm({ subject_token: await subjectToken({ ref: 'feature/x' }) }), 400, 'invalid_grant', { subjectTokenError: 'invalid_grant' }],
    ['a claim the policy requires, missing', () => exchangeForm(), 400, 'invalid_request', { requiredClaims: { environment: 'production' } }],
    ['an audience it does not issue for', () => exchangeForm({ audience: 'https://other.example.com' }), 400, 'invalid_target'],
    ['a resource it does not issue for', () => exchangeForm({ resource: 'https://api.example.com/admin' }), 400, 'invalid_target'],
    ['a scope it does not grant', () => exchangeForm({ scope: 'deploy admin' }), 400, 'invalid_scope'],
  ];
  for (const [name, form, status, error, settings] of refusals) {
    it(`refuses ${name}: HTTP ${status} ${error}, as RFC 6749 section 5.2 shapes it`, async () => {
      if (settings) server.configure(settings);
      const before = server.issued.length;
      const res = await post('/token', await form());
      assert.equal(res.status, status);
      assert.equal(res.json?.error, error);
      assert.equal(typeof res.json?.error_description, 'string');
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(res.headers.get('content-type'), 'application/json');
      assert.equal(server.issued.length, before, 'nothing issued');
      assert.equal(server.calls.at(-1)?.error, error);
    });
  }

  it('challenges a Basic Authorization header (RFC 6749 section 5.2: 401 with WWW-Authenticate), and on request', async () => {
    const basic = await post('/token', await exchangeForm(), { authorization: `Basic ${Buffer.from('ci:secret').toString('base64')}` });
    assert.equal(basic.status, 401);
    assert.match(basic.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    assert.equal((await post('/token', await exchangeForm({ client_id: 'nobody' }))).headers.get('www-authenticate'), null);
    server.configure({ challengeInvalidClient: true });
    assert.match((await post('/token', await exchangeForm({ client_id: 'nobody' }))).headers.get('www-authenticate') ?? '', /^Basic/);
  });

  it('answers revocation with 200 for unknown tokens too (RFC 7009 section 2.2)', async () => {
    const res = await post('/revoke', { token: 'never-issued', client_id: 'ci' });
    assert.equal(res.status, 200);
  });

  it('answers as configured: no expires_in, another issued_token_type, a refresh token', async () => {
    server.configure({ omitExpiresIn: true, issuedTokenType: TOKEN_TYPE.refreshToken, refreshToken: true });
    const res = await post('/token', await exchangeForm());
    assert.equal(res.json?.expires_in, undefined);
    assert.equal(res.json?.issued_token_type, TOKEN_TYPE.refreshToken);
    assert.equal(typeof res.json?.refresh_token, 'string');
  });

  it('consumes each fault at its endpoint, records calls as they arrive, echoes the subject token when told to', async () => {
    server.injectFaults({ kind: 'status', status: 503, endpoint: 'metadata' }, { kind: 'oauth-error', error: 'temporarily_unavailable', status: 400 }, { kind: 'echo-subject-token' });
    const form = await exchangeForm();
    const busy = await post('/token', form);
    assert.deepEqual([busy.status, busy.json?.error], [400, 'temporarily_unavailable']);
    const echoed = await post('/token', form);
    assert.ok(String(echoed.json?.error_description).includes(String(form.subject_token)));
    assert.equal((await fetch(`${server.issuer}/.well-known/openid-configuration`)).status, 503);
    assert.equal((await fetch(`${server.issuer}/.well-known/openid-configuration`)).status, 200);
    server.injectFaults({ kind: 'delay', ms: 300 });
    const pending = post('/token', form);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(server.calls.at(-1)?.error, 'pending', 'recorded on arrival');
    assert.equal((await pending).status, 200);
  });

  it('matches sub patterns with * as any run', () => {
    assert.equal(globMatch('project_path:acme/*:ref_type:branch:ref:main', MAIN), true);
    assert.equal(globMatch('project_path:acme/payments:ref_type:branch:ref:mai', MAIN), false);
    assert.equal(globMatch('project_path:acme/payments:ref_type:branch:ref:m.in', MAIN), false);
  });
});
