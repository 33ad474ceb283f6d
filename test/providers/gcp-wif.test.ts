import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { GcpWifTrait } from '../../src/access-file/model.ts';
import { OamError } from '../../src/errors.ts';
import { httpGet } from '../../src/lib/http.ts';
import { Logger } from '../../src/lib/log.ts';
import { exportedNames } from '../../src/providers/export-names.ts';
import { gcpWifProvider, isTransientGoogleError, parseGoogleError } from '../../src/providers/gcp-wif.ts';
import type { VerifiedToken } from '../../src/token/types.ts';
import { IssuerTokenVerifier } from '../../src/token/verify.ts';
import { GCP_ATTRIBUTE_MAPPING } from '../../src/trust/gcp-wif.ts';
import { type GoogleEmulator, startGoogle } from '../emulators/google.ts';
import { type Issuer, startIssuer } from '../emulators/issuer.ts';
import { listenLoopback, sendJson } from '../emulators/server.ts';
import { type DripServer, startDripServer } from '../helpers/drip-server.ts';

const WIP = 'projects/123456789/locations/global/workloadIdentityPools/gitlab/providers/gitlab-ci';
const POOL = 'projects/123456789/locations/global/workloadIdentityPools/gitlab';
const AUD = `https://iam.googleapis.com/${WIP}`;
const SA = 'deployer@my-project.iam.gserviceaccount.com';
const CONDITION = "assertion.project_path == 'acme/payments' && assertion.ref_type == 'branch' && assertion.ref == 'main'";

function gcpTrait(overrides: Partial<GcpWifTrait> = {}): GcpWifTrait {
  return {
    type: 'gcp-wif',
    workloadIdentityProvider: WIP,
    serviceAccount: SA,
    durationSeconds: 900,
    scopes: ['https://www.googleapis.com/auth/cloud-platform'],
    stsEndpoint: 'https://sts.googleapis.com',
    iamCredentialsEndpoint: 'https://iamcredentials.googleapis.com',
    exportPrefix: '',
    ...overrides,
  };
}

describe('gcpWifProvider', () => {
  let issuer: Issuer;
  let google: GoogleEmulator;
  const logged: string[] = [];
  const log = new Logger({ sink: { write: (t) => void logged.push(t) } });
  const noSleep = async () => {};

  before(async () => {
    issuer = await startIssuer();
    google = await startGoogle({
      providers: [{ name: WIP, issuerUri: issuer.url, attributeMapping: GCP_ATTRIBUTE_MAPPING, attributeCondition: CONDITION }],
      serviceAccounts: [
        { email: SA, workloadIdentityUsers: [`principalSet://iam.googleapis.com/${POOL}/attribute.project_path/acme/payments`] },
        { email: 'unbound@my-project.iam.gserviceaccount.com', workloadIdentityUsers: [`principalSet://iam.googleapis.com/${POOL}/attribute.project_path/acme/other`] },
      ],
    });
  });
  beforeEach(() => {
    logged.length = 0;
  });
  after(async () => {
    await google.close();
    await issuer.close();
  });

  const local = (overrides: Partial<GcpWifTrait> = {}) => gcpTrait({ stsEndpoint: google.stsUrl, iamCredentialsEndpoint: google.iamCredentialsUrl, ...overrides });

  async function token(claims: Record<string, unknown> = { ref: 'main', ref_type: 'branch' }, aud = AUD): Promise<VerifiedToken> {
    const raw = await issuer.mint(claims, { aud });
    return new IssuerTokenVerifier({ issuer: issuer.url, get: httpGet }).verify(raw, { audience: aud, purpose: 'exchange', source: 'OAM_ID_TOKEN_GCP_WIF' });
  }

  const exchange = async (t: VerifiedToken, trait = local(), extra: { maxDurationSeconds?: number; timeouts?: { connectMs: number; requestMs: number; totalMs?: number } } = {}) =>
    gcpWifProvider.exchange({ trait, token: t, sessionName: 'acme.payments@p1.j2', env: {}, log, sleep: noSleep, ...extra });

  const callsDuring = async (fn: () => Promise<unknown>) => {
    const from = google.calls.length;
    await fn();
    return google.calls.slice(from);
  };

  it('defaults the ID token audience to https://iam.googleapis.com/<provider>', () => {
    assert.equal(gcpWifProvider.defaultAudience(gcpTrait()), AUD);
  });

  it('exchanges at STS, then generates the service account token for durationSeconds, and exports it', async () => {
    const t = await token();
    const from = google.calls.length;
    const issued = await exchange(t, local({ projectId: 'my-project', durationSeconds: 600 }));
    const [stsCall, iamCall] = google.calls.slice(from);
    assert.equal(stsCall?.path, '/v1/token');
    assert.equal(stsCall?.headers['content-type'], 'application/json');
    assert.equal(stsCall?.headers.authorization, undefined, 'STS asks for no Authorization header');
    assert.deepEqual(stsCall?.body, {
      audience: `//iam.googleapis.com/${WIP}`,
      grantType: 'urn:ietf:params:oauth:grant-type:token-exchange',
      requestedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
      scope: 'https://www.googleapis.com/auth/cloud-platform',
      subjectTokenType: 'urn:ietf:params:oauth:token-type:jwt',
      subjectToken: t.raw,
    });
    const federated = google.federatedTokens.at(-1)!;
    assert.equal(iamCall?.path, `/v1/projects/-/serviceAccounts/${SA}:generateAccessToken`);
    assert.equal(iamCall?.headers.authorization, `Bearer ${federated.token}`);
    assert.deepEqual(iamCall?.body, { scope: ['https://www.googleapis.com/auth/cloud-platform'], lifetime: '600s' });

    const saToken = google.accessTokens.at(-1)!;
    assert.deepEqual(
      issued.variables.map(([k]) => k),
      exportedNames(local({ projectId: 'my-project' })),
    );
    assert.deepEqual(issued.variables, [
      ['CLOUDSDK_AUTH_ACCESS_TOKEN', saToken.token],
      ['GOOGLE_OAUTH_ACCESS_TOKEN', saToken.token],
      ['CLOUDSDK_CORE_PROJECT', 'my-project'],
      ['GOOGLE_CLOUD_PROJECT', 'my-project'],
    ]);
    assert.equal(issued.identity, SA);
    assert.equal(issued.sessionName, '');
    assert.equal(issued.revoke, undefined, "Google's tokens cannot be revoked by their holder");
    assert.equal(issued.expiresAt.getTime(), saToken.expiresAt.getTime());
    assert.ok(Math.abs(issued.expiresAt.getTime() - (Date.now() + 600_000)) < 5_000);
    assert.ok(issued.secrets.includes(saToken.token) && issued.secrets.includes(federated.token));
    assert.ok(!issued.secrets.includes(t.raw), 'the ID token is not an issued secret');
  });

  it('without serviceAccount exports the federated token, for Google\'s lifetime, as the federated principal', async () => {
    const issued = await exchange(await token(), local({ serviceAccount: undefined }));
    const federated = google.federatedTokens.at(-1)!;
    assert.deepEqual(issued.variables, [
      ['CLOUDSDK_AUTH_ACCESS_TOKEN', federated.token],
      ['GOOGLE_OAUTH_ACCESS_TOKEN', federated.token],
    ]);
    assert.equal(issued.identity, `principal://iam.googleapis.com/${POOL}/subject/project_path:acme/payments:ref_type:branch:ref:main`);
    assert.ok(Math.abs(issued.expiresAt.getTime() - (Date.now() + 3_600_000)) < 5_000);
  });

  it('refuses a federated token that would outlive the credential-limits cap (it cannot be shortened or revoked)', async () => {
    await assert.rejects(exchange(await token(), local({ serviceAccount: undefined }), { maxDurationSeconds: 900 }), (error: unknown) => {
      assert.ok(error instanceof OamError);
      assert.equal(error.code, 'ERR_POLICY_DENIED');
      assert.match(error.message, /federated token for 3600 s, longer than the credential-limits cap of 900 s .*not exported/);
      assert.match(error.hint ?? '', /set serviceAccount/);
      return true;
    });
    // With a service account the token lives durationSeconds, which the policy already held to the cap.
    await exchange(await token(), local(), { maxDurationSeconds: 900 });
  });

  const permanent: { name: string; claims?: Record<string, unknown>; aud?: string; trait?: Partial<GcpWifTrait>; service: 'sts' | 'iamcredentials'; message: RegExp; hint: RegExp }[] = [
    {
      name: 'the attribute condition (unauthorized_client)',
      claims: { ref: 'feature/x', ref_type: 'branch' },
      service: 'sts',
      message: /^Google STS refused the token exchange for projects\/123456789\/.*\/providers\/gitlab-ci: unauthorized_client: The given credential is rejected by the attribute condition\.$/,
      hint: /attribute condition must admit .*project_path "acme\/payments", ref_type "branch", ref "feature\/x", ref_protected "true".*oam-grant trust-policy/,
    },
    {
      name: 'another audience (invalid_grant)',
      aud: 'https://gitlab.example.com',
      service: 'sts',
      message: /invalid_grant: The audience in ID Token \[https:\/\/gitlab\.example\.com\] does not match/,
      hint: /allowed audiences must include .*aud "https:\/\/gitlab\.example\.com"/,
    },
    {
      name: 'an unknown provider (invalid_target)',
      trait: { workloadIdentityProvider: `${POOL}/providers/nope` },
      aud: `https://iam.googleapis.com/${POOL}/providers/nope`,
      service: 'sts',
      message: /invalid_target: /,
      hint: /no enabled provider .*project number, not its id/,
    },
    {
      name: 'a service account without the binding (PERMISSION_DENIED)',
      trait: { serviceAccount: 'unbound@my-project.iam.gserviceaccount.com' },
      service: 'iamcredentials',
      message: /^Google IAM Credentials refused generateAccessToken for unbound@my-project\.iam\.gserviceaccount\.com: PERMISSION_DENIED: Permission 'iam\.serviceAccounts\.getAccessToken' denied/,
      hint: new RegExp(`grant roles/iam\\.workloadIdentityUser on unbound@.* to principalSet://iam\\.googleapis\\.com/${POOL}/attribute\\.project_path/acme/payments`),
    },
  ];
  for (const p of permanent) {
    it(`fails at once on ${p.name}, with the token's claims and what to fix`, async () => {
      const t = await token(p.claims, p.aud);
      let failure: unknown;
      const calls = await callsDuring(async () => {
        try {
          await exchange(t, local(p.trait));
        } catch (error) {
          failure = error;
        }
      });
      assert.ok(failure instanceof OamError, String(failure));
      assert.equal(failure.code, 'ERR_EXCHANGE_FAILED');
      assert.equal(failure.exitCode, 1);
      assert.match(failure.message, p.message);
      assert.match(failure.hint ?? '', p.hint);
      assert.equal(calls.filter((c) => c.service === p.service).length, 1, 'a refusal is not retried');
      assert.ok(!failure.message.includes(t.raw) && !(failure.hint ?? '').includes(t.raw));
    });
  }

  it('retries 429, 5xx, resets and an issuer Google could not reach, then succeeds', async () => {
    google.injectFaults(
      { kind: 'status', status: 429, service: 'sts' },
      { kind: 'issuer-unreachable' },
      { kind: 'reset', service: 'sts' },
      { kind: 'status', status: 500, service: 'sts' },
      { kind: 'status', status: 503, service: 'iamcredentials' },
    );
    const t = await token();
    const from = google.calls.length;
    const issued = await exchange(t);
    assert.equal(issued.identity, SA);
    assert.deepEqual(
      google.calls.slice(from).map((c) => `${c.service} ${c.error ?? c.status}`),
      ['sts RESOURCE_EXHAUSTED', 'sts invalid_grant', 'sts reset', 'sts INTERNAL', 'sts 200', 'iamcredentials UNAVAILABLE', 'iamcredentials 200'],
    );
    assert.ok(logged.some((l) => /Google STS answered RESOURCE_EXHAUSTED \(attempt 1\); retrying/.test(l)), logged.join(''));
    assert.ok(logged.some((l) => /Google IAM Credentials answered UNAVAILABLE \(attempt 1\); retrying/.test(l)));
    assert.equal(google.calls.slice(from).filter((c) => c.path === '/v1/token').length, 5, 'the service account step did not repeat the exchange');
  });

  it('retries an answer that does not come within the attempt deadline', async () => {
    google.injectFaults({ kind: 'delay', ms: 2_000, service: 'sts' });
    const started = Date.now();
    const issued = await exchange(await token(), local(), { timeouts: { connectMs: 1_000, requestMs: 300 } });
    assert.equal(issued.identity, SA);
    assert.ok(logged.some((l) => /Google STS answered TimeoutError \(attempt 1\); retrying/.test(l)), logged.join(''));
    assert.ok(Date.now() - started < 1_800, 'the retry did not wait for the slow answer');
  });

  it('gives up after five transient answers with ERR_EXCHANGE_FAILED', async () => {
    google.injectFaults(...Array.from({ length: 5 }, () => ({ kind: 'status' as const, status: 503 as const, service: 'iamcredentials' as const })));
    await assert.rejects(exchange(await token()), (error: unknown) => {
      assert.ok(error instanceof OamError);
      assert.equal(error.code, 'ERR_EXCHANGE_FAILED');
      assert.match(error.message, /^Google IAM Credentials stayed unavailable for deployer@my-project\.iam\.gserviceaccount\.com after retries: UNAVAILABLE: /);
      assert.match(error.hint ?? '', /re-run the job later/);
      return true;
    });
  });

  it('says when Google cannot reach the issuer, after retries', async () => {
    google.injectFaults(...Array.from({ length: 5 }, () => ({ kind: 'issuer-unreachable' as const })));
    await assert.rejects(exchange(await token()), (error: unknown) => {
      assert.ok(error instanceof OamError);
      assert.match(error.message, /stayed unavailable .* invalid_grant: Error connecting to the given credential's issuer\./);
      assert.match(error.hint ?? '', new RegExp(`could not fetch ${issuer.url.replace(/[.]/g, '\\.')}/\\.well-known/openid-configuration .*reachable from Google`));
      return true;
    });
  });

  it('refuses an endpoint that is plain http off loopback, before sending anything', async () => {
    for (const trait of [local({ stsEndpoint: 'http://sts.example.com' }), local({ iamCredentialsEndpoint: 'http://iamcredentials.example.com' })]) {
      const t = await token();
      let failure: unknown;
      const calls = await callsDuring(() => exchange(t, trait).catch((error: unknown) => (failure = error)));
      assert.ok(failure instanceof OamError, String(failure));
      assert.equal(failure.code, 'ERR_METADATA_INVALID');
      assert.match(failure.message, /^gcp-wif (stsEndpoint|iamCredentialsEndpoint): http:\/\/\S+ must use https/);
      assert.equal(calls.length, 0);
    }
  });

  it('never puts a token in a message, a hint or the log', async () => {
    const failures: unknown[] = [];
    const t = await token();
    google.injectFaults({ kind: 'status', status: 503, service: 'sts' });
    for (const trait of [local({ serviceAccount: 'unbound@my-project.iam.gserviceaccount.com' }), local({ serviceAccount: undefined })]) {
      await exchange(t, trait, { maxDurationSeconds: 900 }).catch((e: unknown) => failures.push(e));
    }
    assert.equal(failures.length, 2);
    const tokens = [t.raw, ...google.federatedTokens.map((f) => f.token), ...google.accessTokens.map((a) => a.token)];
    for (const failure of failures) {
      assert.ok(failure instanceof OamError);
      for (const secret of tokens) assert.ok(!failure.message.includes(secret) && !(failure.hint ?? '').includes(secret));
    }
    for (const line of logged) for (const secret of tokens) assert.ok(!line.includes(secret));
  });
});

describe('gcpWifProvider against a misbehaving server', () => {
  let issuer: Issuer;
  let drip: DripServer;
  let answer: (path: string) => { status: number; body: unknown };
  let server: Awaited<ReturnType<typeof listenLoopback>>;
  let token: VerifiedToken;
  const log = new Logger({ sink: { write: () => {} } });

  before(async () => {
    issuer = await startIssuer();
    drip = await startDripServer();
    server = await listenLoopback((req, res) => {
      const { status, body } = answer(req.url ?? '');
      sendJson(res, status, body);
    });
    token = await new IssuerTokenVerifier({ issuer: issuer.url, get: httpGet }).verify(await issuer.mint({}, { aud: AUD }), { audience: AUD, purpose: 'exchange', source: 'OAM_ID_TOKEN' });
  });
  after(async () => {
    await server.close();
    await drip.close();
    await issuer.close();
  });

  const exchange = (trait: GcpWifTrait, timeouts?: { connectMs: number; requestMs: number; totalMs?: number }) =>
    gcpWifProvider.exchange({ trait, token, sessionName: 's', env: {}, log, sleep: async () => {}, ...(timeouts ? { timeouts } : {}) });
  const FEDERATED = { access_token: `ya29.d.${'f'.repeat(40)}`, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: 3600 };

  it('refuses a service account token that lives longer than durationSeconds', async () => {
    answer = (path) =>
      path === '/v1/token' ? { status: 200, body: FEDERATED } : { status: 200, body: { accessToken: `ya29.c.${'s'.repeat(40)}`, expireTime: new Date(Date.now() + 7_200_000).toISOString() } };
    await assert.rejects(exchange(gcpTrait({ stsEndpoint: server.url, iamCredentialsEndpoint: server.url })), (error: unknown) => {
      assert.ok(error instanceof OamError);
      assert.equal(error.code, 'ERR_EXCHANGE_FAILED');
      assert.match(error.message, /longer than durationSeconds 900 allows; it was not exported/);
      return true;
    });
  });

  it('refuses answers without a usable token', async () => {
    for (const body of [{}, { ...FEDERATED, access_token: 'has a space in it, which no token has' }, { ...FEDERATED, expires_in: '3600' }]) {
      answer = () => ({ status: 200, body });
      await assert.rejects(exchange(gcpTrait({ stsEndpoint: server.url, serviceAccount: undefined })), (error: unknown) => error instanceof OamError && /without a usable access_token/.test(error.message));
    }
  });

  it('keeps the tokens out of a message even when Google echoes them', async () => {
    answer = (path) =>
      path === '/v1/token'
        ? { status: 200, body: FEDERATED }
        : { status: 400, body: { error: { code: 400, status: 'INVALID_ARGUMENT', message: `bad request: ${FEDERATED.access_token} for ${token.raw}` } } };
    await assert.rejects(exchange(gcpTrait({ stsEndpoint: server.url, iamCredentialsEndpoint: server.url })), (error: unknown) => {
      assert.ok(error instanceof OamError);
      assert.match(error.message, /INVALID_ARGUMENT: bad request: \[MASKED\] for \[MASKED\]$/);
      return true;
    });
  });

  it('ends at the total budget against a server that drips its answer', async () => {
    const started = Date.now();
    await assert.rejects(exchange(gcpTrait({ stsEndpoint: drip.url }), { connectMs: 1_000, requestMs: 250, totalMs: 900 }), (error: unknown) => {
      assert.ok(error instanceof OamError);
      assert.equal(error.code, 'ERR_EXCHANGE_FAILED');
      assert.match(error.message, /^Google STS stayed unavailable for deployer@my-project\.iam\.gserviceaccount\.com after retries: TimeoutError: no complete answer within/);
      return true;
    });
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 2_000, `${elapsed} ms`);
    await drip.allClosed();
  });
});

describe('Google error answers', () => {
  it('reads both shapes, and tells transient from permanent', () => {
    const sts = parseGoogleError('STS', 400, Buffer.from('{"error":"invalid_grant","error_description":"ID Token issued at 1 is stale to sign-in."}'));
    assert.deepEqual([sts.code, sts.description], ['invalid_grant', 'ID Token issued at 1 is stale to sign-in.']);
    assert.equal(isTransientGoogleError(sts), false);
    const api = parseGoogleError('IAM Credentials', 403, Buffer.from('{"error":{"code":403,"message":"denied","status":"PERMISSION_DENIED"}}'));
    assert.deepEqual([api.code, api.description], ['PERMISSION_DENIED', 'denied']);
    assert.equal(isTransientGoogleError(api), false);
    assert.equal(isTransientGoogleError(parseGoogleError('STS', 502, Buffer.from('<html>bad gateway</html>'))), true);
    assert.equal(isTransientGoogleError(parseGoogleError('STS', 429, Buffer.from(''))), true);
    assert.equal(isTransientGoogleError(parseGoogleError('STS', 400, Buffer.from('{"error":"invalid_grant","error_description":"Error connecting to the given credential\'s issuer."}'))), true);
  });
});
