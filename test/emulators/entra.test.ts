import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { type EntraApp, type EntraEmulator, parseClaimsExpression, startEntra, wildcardMatches } from './entra.ts';
import { type Issuer, startIssuer } from './issuer.ts';

const TENANT = '11111111-2222-3333-4444-555555555555';
const CLIENT = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const AUD = 'api://AzureADTokenExchange';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const MAIN = 'project_path:acme/payments:ref_type:branch:ref:main';

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

describe('entra emulator', () => {
  let issuer: Issuer;
  let entra: EntraEmulator;
  const app = (issuerUrl: string): EntraApp => ({
    clientId: CLIENT,
    displayName: 'ci-deploy',
    objectId: '99999999-8888-7777-6666-555555555555',
    federatedCredentials: [
      { name: 'acme-payments-main', issuer: issuerUrl, subject: MAIN, audiences: [AUD] },
      { name: 'acme-payments-releases', issuer: issuerUrl, claimsMatchingExpression: { value: "claims['sub'] matches 'project_path:acme/payments:ref_type:branch:ref:release/*'", languageVersion: 1 }, audiences: [AUD] },
    ],
  });

  before(async () => {
    issuer = await startIssuer();
    entra = await startEntra({
      tenants: [
        {
          tenantId: TENANT,
          apps: [app(issuer.url), { clientId: 'dddddddd-0000-0000-0000-000000000000', disabled: true, federatedCredentials: [{ name: 'main', issuer: issuer.url, subject: MAIN, audiences: [AUD] }] }],
        },
      ],
    });
  });
  after(async () => {
    await entra.close();
    await issuer.close();
  });

  async function post(form: Record<string, string>, { tenant = TENANT, headers = {} as Record<string, string>, method = 'POST' } = {}): Promise<Answer> {
    const res = await fetch(`${entra.url}/${tenant}/oauth2/v2.0/token`, {
      method,
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      ...(method === 'POST' ? { body: new URLSearchParams(form).toString() } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
  }
  const grant = async (assertion: string, extra: Record<string, string> = {}) =>
    post({ client_id: CLIENT, scope: 'https://management.azure.com/.default', grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: assertion, ...extra });
  const mint = (claims: Record<string, unknown> = {}, opts: Parameters<Issuer['mint']>[1] = {}) => issuer.mint(claims, { aud: AUD, ...opts });

  /** Entra's error shape (reference-error-codes.md): error, description with the trace tail, codes, ids, timestamp, error_uri. */
  function assertEntraError(answer: Answer, status: number, error: string, code: number, description: RegExp): void {
    assert.equal(answer.status, status, JSON.stringify(answer.body));
    const b = answer.body;
    assert.equal(b.error, error);
    assert.deepEqual(b.error_codes, [code]);
    assert.match(String(b.error_description), new RegExp(`^AADSTS${code}: `));
    assert.match(String(b.error_description), description);
    assert.match(String(b.error_description), /\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: [0-9a-f-]{36}\r\nTimestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
    assert.match(String(b.timestamp), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
    assert.equal(b.trace_id, answer.headers.get('x-ms-request-id'));
    assert.equal(b.error_uri, `https://login.microsoftonline.com/error?code=${code}`);
  }

  it('issues a Bearer token for an exact subject, shaped like an Entra v1 app-only token', async () => {
    const correlation = '01234567-89ab-cdef-0123-456789abcdef';
    const answer = await grant(await mint(), {});
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(Object.keys(answer.body).sort(), ['access_token', 'expires_in', 'ext_expires_in', 'token_type']);
    assert.equal(answer.body.token_type, 'Bearer');
    assert.equal(answer.body.expires_in, 3599);
    const claims = decodeJwt(String(answer.body.access_token));
    assert.equal(claims.aud, 'https://management.azure.com');
    assert.equal(claims.iss, `https://sts.windows.net/${TENANT}/`);
    assert.equal(claims.appid, CLIENT);
    assert.equal(claims.oid, '99999999-8888-7777-6666-555555555555');
    assert.equal(claims.idtyp, 'app');
    assert.equal(entra.issued.at(-1)?.credential, 'acme-payments-main');
    assert.equal(answer.headers.get('cache-control'), 'no-store, no-cache');

    const echoed = await post(
      { client_id: CLIENT, scope: 'https://graph.microsoft.com/.default', grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: await mint() },
      { headers: { 'client-request-id': correlation, 'return-client-request-id': 'true' } },
    );
    assert.equal(echoed.headers.get('client-request-id'), correlation);
    assert.equal(entra.calls.at(-1)?.correlationId, correlation);
  });

  it('matches a flexible credential with `matches`, where `*` spans "/" as Entra documents', async () => {
    for (const ref of ['release/1.2', 'release/a/b']) assert.equal((await grant(await mint({ ref }))).status, 200, ref);
    assert.equal(entra.issued.at(-1)?.credential, 'acme-payments-releases');
    assertEntraError(await grant(await mint({ ref: 'feature/x' })), 401, 'invalid_client', 700213, /presented assertion subject 'project_path:acme\/payments:ref_type:branch:ref:feature\/x'/);
    assertEntraError(await grant(await mint({ ref: 'release/1', ref_type: 'tag' })), 401, 'invalid_client', 700213, /ref_type:tag/);
  });

  it('matches the subject exactly and case-sensitively', async () => {
    assertEntraError(await grant(await mint({ project_path: 'Acme/payments' })), 401, 'invalid_client', 700213, /subject 'project_path:Acme\/payments/);
  });

  it('refuses an assertion of another issuer, another audience, a bad signature, a past exp', async () => {
    assertEntraError(await grant(await mint({}, { iss: 'https://gitlab.example.com' })), 401, 'invalid_client', 700211, /presented assertion issuer 'https:\/\/gitlab.example.com'/);
    assertEntraError(await grant(await mint({}, { aud: 'sts.amazonaws.com' })), 401, 'invalid_client', 700212, /presented assertion audience 'sts.amazonaws.com'/);
    assertEntraError(await grant(await issuer.mintForged({}, { aud: AUD })), 401, 'invalid_client', 700027, /invalid signature/);
    assertEntraError(await grant(await issuer.mintAlgNone({}, { aud: AUD })), 401, 'invalid_client', 700027, /invalid signature/);
    const past = Math.floor(Date.now() / 1000) - 600;
    assertEntraError(await grant(await mint({}, { iat: past, exp: past + 300 })), 401, 'invalid_client', 700024, /not within its valid time range/);
    assertEntraError(await grant('not-a-jwt'), 400, 'invalid_request', 50027, /invalid or malformed/);
  });

  it('refuses unknown tenants, apps, grant types, scopes and resources, and a disabled app', async () => {
    const token = await mint();
    assertEntraError(await grant(token, { client_id: 'ffffffff-0000-0000-0000-000000000000' }), 400, 'unauthorized_client', 700016, /Application with identifier 'ffffffff-0000-0000-0000-000000000000' was not found in the directory/);
    assertEntraError(await post({ client_id: CLIENT }, { tenant: '00000000-0000-0000-0000-000000000000' }), 400, 'invalid_request', 90002, /Tenant '00000000-0000-0000-0000-000000000000' not found/);
    assertEntraError(await grant(token, { grant_type: 'password' }), 400, 'unsupported_grant_type', 70003, /unsupported grant type/);
    assertEntraError(await grant(token, { scope: 'https://management.azure.com/user_impersonation' }), 400, 'invalid_scope', 1002012, /must have a scope value with \/.default/);
    assertEntraError(await grant(token, { scope: 'https://management.azure.com/.default https://graph.microsoft.com/.default' }), 400, 'invalid_scope', 700022, /more than one resource/);
    assertEntraError(await grant(token, { scope: 'https://nope.example.com/.default' }), 400, 'invalid_resource', 500011, /resource principal named https:\/\/nope.example.com was not found/);
    assertEntraError(await grant(token, { client_assertion_type: 'x' }), 401, 'invalid_client', 7000218, /'client_assertion' or 'client_secret'/);
    assertEntraError(await grant(token, { client_id: 'dddddddd-0000-0000-0000-000000000000' }), 400, 'unauthorized_client', 7000112, /is disabled/);
    assertEntraError(await post({}, { method: 'GET' }), 400, 'invalid_request', 900561, /only accepts POST/);
    assertEntraError(await post({ client_id: CLIENT, scope: 'x/.default', grant_type: 'client_credentials' }), 401, 'invalid_client', 7000218, /client_assertion/);
  });

  it('answers AADSTS50166 when the issuer\'s keys cannot be fetched, and recovers when they can', async () => {
    issuer.injectFaults({ status: 503, times: 1, pathIncludes: 'openid-configuration' });
    const lonely = await startEntra({ tenants: [{ tenantId: TENANT, apps: [app(issuer.url)] }] });
    try {
      const token = await mint();
      const res = async () => {
        const r = await fetch(`${lonely.url}/${TENANT}/oauth2/v2.0/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ client_id: CLIENT, scope: 'https://management.azure.com/.default', grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: token }).toString(),
        });
        return { status: r.status, body: (await r.json()) as Record<string, unknown>, headers: r.headers };
      };
      assertEntraError(await res(), 400, 'invalid_request', 50166, /Request to External OIDC endpoint failed/);
      assert.equal((await res()).status, 200);
    } finally {
      await lonely.close();
    }
  });

  it('injects throttling, 5xx, AADSTS50166, resets and delays, one request each, recorded on arrival', async () => {
    entra.injectFaults({ kind: 'throttle' }, { kind: 'status', status: 503 }, { kind: 'status', status: 500 }, { kind: 'external-oidc' });
    const token = await mint();
    const throttled = await grant(token);
    assert.equal(throttled.status, 429);
    assert.equal(throttled.headers.get('retry-after'), '1');
    assert.equal(throttled.body.error, 'temporarily_unavailable');
    assertEntraError(await grant(token), 503, 'temporarily_unavailable', 90033, /transient error/);
    assertEntraError(await grant(token), 500, 'server_error', 50000, /sign-in service/);
    assertEntraError(await grant(token), 400, 'invalid_request', 50166, /External OIDC/);
    entra.injectFaults({ kind: 'reset' });
    await assert.rejects(grant(token));
    assert.equal(entra.calls.at(-1)?.errorCode, 'reset');
    entra.injectFaults({ kind: 'delay', ms: 1_000 });
    const before = entra.calls.length;
    const pending = grant(token);
    // Waits for the arrival, not a fixed time: a loaded machine may take a while to deliver the request.
    for (const started = Date.now(); entra.calls.length === before && Date.now() - started < 900; ) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(entra.calls.at(-1)?.errorCode, 'pending', 'recorded when it arrives, before it is answered');
    assert.equal((await pending).status, 200);
    assert.equal(entra.calls.at(-1)?.status, 200);
  });

  it('refuses at start a configuration Graph would refuse', async () => {
    const start = (credentials: EntraApp['federatedCredentials']) =>
      startEntra({ tenants: [{ tenantId: TENANT, apps: [{ clientId: CLIENT, federatedCredentials: credentials }] }] }).then((e) => e.close());
    const fic = (name: string, extra: Record<string, unknown> = {}) => ({ name, issuer: issuer.url, subject: `${MAIN}${name}`, audiences: [AUD], ...extra });
    await assert.rejects(start(Array.from({ length: 21 }, (_, i) => fic(`fic-${i}`))), /more than 20/);
    await assert.rejects(start([fic('-bad')]), /name '-bad' is invalid/);
    await assert.rejects(start([fic('ab')]), /name 'ab' is invalid/);
    await assert.rejects(start([fic('two', { audiences: [AUD, 'x'] })]), /exactly one audience/);
    await assert.rejects(start([fic('wild', { subject: 'project_path:acme/*' })]), /wildcards are not supported/);
    await assert.rejects(start([fic('both', { claimsMatchingExpression: { value: "claims['sub'] eq 'x'", languageVersion: 1 } })]), /exactly one of subject/);
    await assert.rejects(start([fic('dup'), { ...fic('dup2'), subject: `${MAIN}dup` }]), /combination already exists/);
    const flexible = { name: 'flex', issuer: 'https://git.example.org', audiences: [AUD], claimsMatchingExpression: { value: "claims['sub'] matches 'x*'", languageVersion: 1 } };
    await assert.rejects(start([flexible]), /not available for issuer https:\/\/git.example.org/);
    await start([{ ...flexible, issuer: 'https://gitlab.com' }, { ...flexible, name: 'flex2', issuer: 'https://gitlab.acme.ca' }]);
    await assert.rejects(start([{ ...flexible, issuer: 'https://gitlab.com', claimsMatchingExpression: { value: "claims['ref'] eq 'main'", languageVersion: 1 } }]), /only sub/);
  });
});

describe('flexible credential expressions', () => {
  it('parse claims[\'sub\'] with matches and eq, joined by and', () => {
    assert.deepEqual(parseClaimsExpression("claims['sub'] matches 'a*' and claims['sub'] eq 'ab'"), [
      { claim: 'sub', operator: 'matches', comparand: 'a*' },
      { claim: 'sub', operator: 'eq', comparand: 'ab' },
    ]);
    assert.match(String(parseClaimsExpression("claims['sub'] like 'a'")), /cannot parse/);
  });
  const table: [string, string, boolean][] = [
    ['ref:release/*', 'ref:release/1', true],
    ['ref:release/*', 'ref:release/a/b', true],
    ['ref:release/*', 'ref:releases/1', false],
    ['ref:v?', 'ref:v1', true],
    ['ref:v?', 'ref:v12', false],
    ['a*b*c', 'aXXbYYc', true],
    ['a*b*c', 'aXXbYY', false],
    ['main', 'main', true],
    ['main', 'Main', false],
  ];
  for (const [pattern, value, expected] of table) {
    it(`${pattern} ${expected ? 'matches' : 'does not match'} ${value}`, () => assert.equal(wildcardMatches(pattern, value), expected));
  }
});
