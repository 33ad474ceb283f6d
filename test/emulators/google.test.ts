/**
 * The Google emulator speaks STS and IAM Credentials as Google documents them,
 * tested with plain fetch (not oam-grant's client), so the provider's tests
 * rest on a server that behaves like Google rather than like our client.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { compileCel } from './cel.ts';
import { type GoogleEmulator, startGoogle } from './google.ts';
import { type Issuer, startIssuer } from './issuer.ts';

const WIP = 'projects/123456789/locations/global/workloadIdentityPools/gitlab/providers/gitlab-ci';
const POOL = 'projects/123456789/locations/global/workloadIdentityPools/gitlab';
const AUD = `https://iam.googleapis.com/${WIP}`;
const SA = 'deployer@my-project.iam.gserviceaccount.com';
const MAPPING = { 'google.subject': 'assertion.sub', 'attribute.project_path': 'assertion.project_path', 'attribute.ref': 'assertion.ref' };

describe('compileCel', () => {
  const ctx = { assertion: { project_path: 'acme/payments', ref: 'release/1.2', ref_protected: 'true' } };
  const cases: [string, boolean][] = [
    ["assertion.project_path == 'acme/payments'", true],
    ["assertion.project_path == 'acme/other'", false],
    ["assertion.project_path != 'acme/other'", true],
    ["assertion.project_path == 'acme/payments' && assertion.ref == 'main'", false],
    ["assertion.ref == 'main' || assertion.ref.startsWith('release/')", true],
    ["assertion.ref.matches('^release/[^/]*$')", true],
    ["assertion.ref.matches('^release/[^/]*/x$')", false],
    ["(assertion.ref == 'main' || assertion.ref == 'dev') && true", false],
    ["assertion.ref_protected == \"true\" && !(assertion.ref == 'main')", true],
    ["assertion.project_path in ['acme/x', 'acme/payments']", true],
    // A missing claim is a CEL error, which rejects; it never compares equal.
    ["assertion.environment == 'production'", false],
    ["!(assertion.environment == 'production')", false],
    ["assertion.ref == 'it\\'s'", false],
  ];
  for (const [source, expected] of cases) {
    it(`${source} -> ${expected}`, () => assert.equal(compileCel(source)(ctx), expected));
  }
  it('refuses what it cannot read, instead of passing it', () => {
    for (const source of ['size(assertion.ref) > 3', "assertion.ref.lowerAscii() == 'x'", "request.time == 'x'", "assertion.ref == 'x' &&"]) {
      assert.throws(() => compileCel(source), /CEL:/, source);
    }
  });
});

describe('Google emulator', () => {
  let issuer: Issuer;
  let google: GoogleEmulator;

  before(async () => {
    issuer = await startIssuer();
    google = await startGoogle({
      providers: [
        { name: WIP, issuerUri: issuer.url, attributeMapping: MAPPING, attributeCondition: "assertion.project_path == 'acme/payments' && assertion.ref == 'main'" },
        { name: `${POOL}/providers/disabled`, issuerUri: issuer.url, attributeMapping: MAPPING, disabled: true },
      ],
      serviceAccounts: [{ email: SA, workloadIdentityUsers: [`principalSet://iam.googleapis.com/${POOL}/attribute.project_path/acme/payments`] }],
    });
  });
  after(async () => {
    await google.close();
    await issuer.close();
  });

  const exchangeBody = async (claims: Record<string, unknown> = {}, aud = AUD) => ({
    audience: `//iam.googleapis.com/${WIP}`,
    grantType: 'urn:ietf:params:oauth:grant-type:token-exchange',
    requestedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
    scope: 'https://www.googleapis.com/auth/cloud-platform',
    subjectTokenType: 'urn:ietf:params:oauth:token-type:jwt',
    subjectToken: await issuer.mint(claims, { aud }),
  });
  const sts = (body: unknown, form = false) =>
    fetch(`${google.stsUrl}/v1/token`, {
      method: 'POST',
      headers: { 'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json' },
      body: form ? new URLSearchParams(body as Record<string, string>).toString() : JSON.stringify(body),
    });
  const generate = (token: string, body: unknown = { scope: ['https://www.googleapis.com/auth/cloud-platform'], lifetime: '600s' }, email = SA) =>
    fetch(`${google.iamCredentialsUrl}/v1/projects/-/serviceAccounts/${email}:generateAccessToken`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });

  it('exchanges a JSON request (camelCase) for a federated token', async () => {
    const res = await sts(await exchangeBody());
    assert.equal(res.status, 200);
    const answer = (await res.json()) as Record<string, unknown>;
    assert.equal(answer.token_type, 'Bearer');
    assert.equal(answer.issued_token_type, 'urn:ietf:params:oauth:token-type:access_token');
    assert.equal(answer.expires_in, 3600);
    const issued = google.federatedTokens.at(-1)!;
    assert.equal(answer.access_token, issued.token);
    assert.equal(issued.principal, `principal://iam.googleapis.com/${POOL}/subject/project_path:acme/payments:ref_type:branch:ref:main`);
    assert.equal(issued.attributes['attribute.project_path'], 'acme/payments');
  });

  it('takes the form encoding with snake_case names too, as google-auth-library sends it', async () => {
    const b = await exchangeBody();
    const form = { audience: b.audience, grant_type: b.grantType, requested_token_type: b.requestedTokenType, scope: b.scope, subject_token_type: b.subjectTokenType, subject_token: b.subjectToken };
    assert.equal((await sts(form, true)).status, 200);
  });

  const refusals: { name: string; body: () => Promise<unknown>; error: string; description: RegExp }[] = [
    { name: 'an audience that is not a provider name', body: async () => ({ ...(await exchangeBody()), audience: WIP }), error: 'invalid_request', description: /^Invalid value for "audience"/ },
    {
      name: 'a disabled provider',
      body: async () => ({ ...(await exchangeBody()), audience: `//iam.googleapis.com/${POOL}/providers/disabled` }),
      error: 'invalid_target',
      description: /pool or provider is disabled or deleted/,
    },
    { name: 'a token for another audience', body: () => exchangeBody({}, 'sts.amazonaws.com'), error: 'invalid_grant', description: /^The audience in ID Token \[sts\.amazonaws\.com\] does not match/ },
    { name: 'a forged signature', body: async () => ({ ...(await exchangeBody()), subjectToken: await issuer.mintForged({}, { aud: AUD }) }), error: 'invalid_grant', description: /signature/ },
    { name: 'an expired token', body: async () => ({ ...(await exchangeBody()), subjectToken: await issuer.mint({}, { aud: AUD, iat: 1_000, exp: 1_300 }) }), error: 'invalid_grant', description: /stale to sign-in/ },
    { name: 'a token the attribute condition refuses', body: () => exchangeBody({ ref: 'feature/x' }), error: 'unauthorized_client', description: /^The given credential is rejected by the attribute condition\.$/ },
    {
      name: 'a google.subject over 127 bytes',
      body: () => exchangeBody({ project_path: `acme/${'p'.repeat(100)}` }),
      error: 'invalid_request',
      description: /google\.subject exceeds the 127 bytes limit/,
    },
    { name: 'no scope', body: async () => ({ ...(await exchangeBody()), scope: '' }), error: 'invalid_request', description: /"scope"/ },
  ];
  for (const r of refusals) {
    it(`refuses ${r.name} with HTTP 400 ${r.error}`, async () => {
      const res = await sts(await r.body());
      assert.equal(res.status, 400);
      const answer = (await res.json()) as { error: string; error_description: string };
      assert.equal(answer.error, r.error);
      assert.match(answer.error_description, r.description);
    });
  }

  it('generates a service account token for a bound principalSet, with the lifetime asked for', async () => {
    await sts(await exchangeBody());
    const federated = google.federatedTokens.at(-1)!.token;
    const res = await generate(federated);
    assert.equal(res.status, 200);
    const answer = (await res.json()) as { accessToken: string; expireTime: string };
    assert.match(answer.expireTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(Math.abs(Date.parse(answer.expireTime) - (Date.now() + 600_000)) < 5_000);
    assert.equal(google.accessTokens.at(-1)!.token, answer.accessToken);
  });

  it('answers PERMISSION_DENIED, in the Google API error shape, without a binding or for an unknown account', async () => {
    const other = await startGoogle({
      providers: [{ name: WIP, issuerUri: issuer.url, attributeMapping: MAPPING }],
      serviceAccounts: [{ email: SA, workloadIdentityUsers: [`principalSet://iam.googleapis.com/${POOL}/attribute.project_path/acme/other`] }],
    });
    try {
      const exchanged = await fetch(`${other.stsUrl}/v1/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(await exchangeBody()) });
      const { access_token } = (await exchanged.json()) as { access_token: string };
      for (const email of [SA, 'nobody@my-project.iam.gserviceaccount.com']) {
        const res = await fetch(`${other.iamCredentialsUrl}/v1/projects/-/serviceAccounts/${email}:generateAccessToken`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${access_token}` },
          body: JSON.stringify({ scope: ['https://www.googleapis.com/auth/cloud-platform'] }),
        });
        assert.equal(res.status, 403);
        const body = (await res.json()) as { error: { code: number; status: string; message: string } };
        assert.equal(body.error.code, 403);
        assert.equal(body.error.status, 'PERMISSION_DENIED');
        assert.match(body.error.message, /^Permission 'iam\.serviceAccounts\.getAccessToken' denied on resource \(or it may not exist\)\.$/);
      }
    } finally {
      await other.close();
    }
  });

  it('answers UNAUTHENTICATED for an unknown bearer and INVALID_ARGUMENT for a project instead of "-" or too long a lifetime', async () => {
    assert.equal((await generate('ya29.not-issued')).status, 401);
    await sts(await exchangeBody());
    const federated = google.federatedTokens.at(-1)!.token;
    const wrongProject = await fetch(`${google.iamCredentialsUrl}/v1/projects/my-project/serviceAccounts/${SA}:generateAccessToken`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${federated}` },
      body: JSON.stringify({ scope: ['https://www.googleapis.com/auth/cloud-platform'] }),
    });
    assert.equal(wrongProject.status, 400);
    const tooLong = await generate(federated, { scope: ['https://www.googleapis.com/auth/cloud-platform'], lifetime: '7200s' });
    assert.equal(tooLong.status, 400);
    assert.equal(((await tooLong.json()) as { error: { status: string } }).error.status, 'INVALID_ARGUMENT');
  });

  it('records calls on arrival and consumes faults per service, in order', async () => {
    google.injectFaults({ kind: 'status', status: 503, service: 'iamcredentials' }, { kind: 'status', status: 429 }, { kind: 'issuer-unreachable' });
    const before = google.calls.length;
    const first = await sts(await exchangeBody());
    assert.equal(first.status, 429, 'the iamcredentials fault is skipped by an STS call');
    const second = await sts(await exchangeBody());
    assert.equal(second.status, 400);
    assert.equal(((await second.json()) as { error_description: string }).error_description, "Error connecting to the given credential's issuer.");
    await sts(await exchangeBody());
    const federated = google.federatedTokens.at(-1)!.token;
    assert.equal((await generate(federated)).status, 503);
    assert.equal((await generate(federated)).status, 200);
    assert.deepEqual(
      google.calls.slice(before).map((c) => [c.service, c.status, c.error]),
      [
        ['sts', 429, 'RESOURCE_EXHAUSTED'],
        ['sts', 400, 'invalid_grant'],
        ['sts', 200, undefined],
        ['iamcredentials', 503, 'UNAVAILABLE'],
        ['iamcredentials', 200, undefined],
      ],
    );
  });
});
