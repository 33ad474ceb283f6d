import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { AzureFederatedTrait } from '../../src/access-file/model.ts';
import { OamError } from '../../src/errors.ts';
import { httpGet } from '../../src/lib/http.ts';
import { Logger } from '../../src/lib/log.ts';
import { exportedNames } from '../../src/providers/export-names.ts';
import { azureFederatedProvider, cleanDescription, tokenEndpointFor } from '../../src/providers/azure-federated.ts';
import type { VerifiedToken } from '../../src/token/types.ts';
import { IssuerTokenVerifier } from '../../src/token/verify.ts';
import { type EntraEmulator, startEntra } from '../emulators/entra.ts';
import { type Issuer, startIssuer } from '../emulators/issuer.ts';

const TENANT = '11111111-2222-3333-4444-555555555555';
const CLIENT = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const OBJECT = '99999999-8888-7777-6666-555555555555';
const SUBSCRIPTION = '33333333-3333-3333-3333-333333333333';
const AUD = 'api://AzureADTokenExchange';
const MAIN = 'project_path:acme/payments:ref_type:branch:ref:main';

function azureTrait(authorityHost: string, overrides: Partial<AzureFederatedTrait> = {}): AzureFederatedTrait {
  return { type: 'azure-federated', tenantId: TENANT, clientId: CLIENT, scope: 'https://management.azure.com/.default', authorityHost, exportPrefix: '', ...overrides };
}

describe('azureFederatedProvider', () => {
  let issuer: Issuer;
  let entra: EntraEmulator;
  const logged: string[] = [];
  const log = new Logger({ sink: { write: (t) => void logged.push(t) } });
  const noSleep = async () => {};

  before(async () => {
    issuer = await startIssuer();
    entra = await startEntra({
      tenants: [
        {
          tenantId: TENANT,
          apps: [
            { clientId: CLIENT, objectId: OBJECT, federatedCredentials: [{ name: 'acme-payments-main', issuer: issuer.url, subject: MAIN, audiences: [AUD] }] },
            { clientId: 'dddddddd-0000-0000-0000-000000000000', disabled: true, federatedCredentials: [{ name: 'main', issuer: issuer.url, subject: MAIN, audiences: [AUD] }] },
          ],
        },
      ],
    });
  });
  beforeEach(() => {
    logged.length = 0;
    entra.clearFaults();
  });
  after(async () => {
    await entra.close();
    await issuer.close();
  });

  async function token(claims: Record<string, unknown> = {}, aud = AUD): Promise<VerifiedToken> {
    const raw = await issuer.mint(claims, { aud });
    return new IssuerTokenVerifier({ issuer: issuer.url, get: httpGet }).verify(raw, { audience: aud, purpose: 'exchange', source: 'OAM_ID_TOKEN' });
  }

  const exchange = (t: VerifiedToken, trait = azureTrait(entra.url), extra: { maxDurationSeconds?: number; timeouts?: { connectMs: number; requestMs: number; totalMs?: number } } = {}) =>
    azureFederatedProvider.exchange({ trait, token: t, sessionName: 'acme.payments@p1.j2', env: {}, log, sleep: noSleep, ...extra });

  /** Asserts ERR_EXCHANGE_FAILED for a permanent refusal: one call, the code in the message, the hint. */
  async function refused(t: VerifiedToken, trait: AzureFederatedTrait, code: string, hint: RegExp): Promise<OamError> {
    const before = entra.calls.length;
    let caught: OamError | undefined;
    await assert.rejects(exchange(t, trait), (error: unknown) => {
      assert.ok(error instanceof OamError);
      caught = error;
      return true;
    });
    assert.equal(caught!.code, 'ERR_EXCHANGE_FAILED');
    assert.match(caught!.message, new RegExp(`^Entra ID refused the client credentials grant for ${trait.clientId}@${trait.tenantId}: AADSTS${code} \\(`));
    assert.match(caught!.message, /\(trace ID [0-9a-f-]{36}, correlation ID [0-9a-f-]{36}\)$/);
    assert.match(caught!.hint ?? '', hint);
    assert.equal(entra.calls.length - before, 1, 'a refusal is not retried');
    assert.ok(!caught!.message.includes(t.raw) && !(caught!.hint ?? '').includes(t.raw), 'the ID token is in no message');
    return caught!;
  }

  it('exchanges the token and exports exactly the names of export-names.ts, in order', async () => {
    const t = await token();
    const trait = azureTrait(entra.url, { subscriptionId: SUBSCRIPTION });
    const started = Date.now();
    const issued = await exchange(t, trait);
    const call = entra.calls.at(-1)!;
    assert.deepEqual(call.params, {
      client_id: CLIENT,
      scope: 'https://management.azure.com/.default',
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: t.raw,
    });
    const granted = entra.issued.at(-1)!;
    assert.deepEqual(
      issued.variables.map(([name]) => name),
      exportedNames(trait),
    );
    assert.deepEqual(Object.fromEntries(issued.variables), {
      AZURE_CLIENT_ID: CLIENT,
      AZURE_TENANT_ID: TENANT,
      AZURE_SUBSCRIPTION_ID: SUBSCRIPTION,
      ARM_CLIENT_ID: CLIENT,
      ARM_TENANT_ID: TENANT,
      ARM_SUBSCRIPTION_ID: SUBSCRIPTION,
      AZURE_ACCESS_TOKEN: granted.accessToken,
    });
    assert.equal(issued.identity, `${CLIENT}@${TENANT} (object ${OBJECT})`);
    assert.equal(issued.sessionName, call.correlationId, 'the correlation ID Entra logs the sign-in under');
    assert.ok(Math.abs(issued.expiresAt.getTime() - (started + 3599_000)) < 5_000);
    assert.ok(issued.expiresAt.getTime() <= granted.expiresAt.getTime() + 1000, 'never later than Entra says');
    assert.ok(issued.secrets.includes(granted.accessToken) && issued.secrets.includes(t.raw));
    assert.equal(issued.revoke, undefined, 'Entra access tokens cannot be revoked');
  });

  it('gives exec alone the ID token, for tools that sign in with it themselves; the variables never hold it', async () => {
    const t = await token();
    const issued = await exchange(t, azureTrait(entra.url));
    assert.deepEqual(issued.execOnlyVariables, [
      ['AZURE_FEDERATED_TOKEN', t.raw],
      ['ARM_OIDC_TOKEN', t.raw],
      ['ARM_USE_OIDC', 'true'],
    ]);
    assert.ok(issued.variables.every(([, value]) => !value.includes(t.raw)));
    assert.deepEqual(
      issued.variables.map(([name]) => name),
      ['AZURE_CLIENT_ID', 'AZURE_TENANT_ID', 'ARM_CLIENT_ID', 'ARM_TENANT_ID', 'AZURE_ACCESS_TOKEN'],
    );
  });

  it('fails at once when no federated credential matches, printing the claims next to what Entra needs', async () => {
    const t = await token({ ref: 'feature/x' });
    const error = await refused(t, azureTrait(entra.url), '700213', /needs a federated identity credential with issuer "http:\/\/127\.0\.0\.1:\d+", subject "project_path:acme\/payments:ref_type:branch:ref:feature\/x" and audience "api:\/\/AzureADTokenExchange"/);
    assert.match(error.message, /invalid_client\): No matching federated identity record found for presented assertion subject 'project_path:acme\/payments:ref_type:branch:ref:feature\/x'/);
    assert.match(error.hint ?? '', /project_path acme\/payments, ref_type branch, ref feature\/x/);
    assert.match(error.hint ?? '', /oam-grant trust-policy --component/);
    // The same hint for a wrong audience.
    await refused(await token({}, 'sts.amazonaws.com'), azureTrait(entra.url), '700212', /audience "sts.amazonaws.com"/);
  });

  const refusals: { name: string; trait: (url: string) => AzureFederatedTrait; code: string; hint: RegExp }[] = [
    { name: 'an unknown client ID', trait: (url) => azureTrait(url, { clientId: 'ffffffff-0000-0000-0000-000000000000' }), code: '700016', hint: /no application with client ID ffffffff-0000-0000-0000-000000000000 in tenant/ },
    { name: 'an unknown tenant', trait: (url) => azureTrait(url, { tenantId: '00000000-0000-0000-0000-000000000009' }), code: '90002', hint: /is not known at http:\/\/127\.0\.0\.1:\d+: check tenantId, and authorityHost for a sovereign cloud/ },
    { name: 'a scope of no known resource', trait: (url) => azureTrait(url, { scope: 'https://nope.example.com/.default' }), code: '500011', hint: /resource of scope https:\/\/nope.example.com\/.default is not known/ },
    { name: 'a disabled service principal', trait: (url) => azureTrait(url, { clientId: 'dddddddd-0000-0000-0000-000000000000' }), code: '7000112', hint: /is disabled in tenant/ },
  ];
  for (const { name, trait, code, hint } of refusals) {
    it(`fails at once on ${name} (AADSTS${code})`, async () => {
      await refused(await token(), trait(entra.url), code, hint);
    });
  }

  it('fails at once on an expired ID token (AADSTS700024)', async () => {
    const t = await token();
    entra.advanceClock(600);
    try {
      await refused(t, azureTrait(entra.url), '700024', /outside its validity/);
    } finally {
      entra.advanceClock(-600);
    }
  });

  it('retries throttling, 5xx, AADSTS50166 and resets, then succeeds', async () => {
    entra.injectFaults({ kind: 'throttle' }, { kind: 'status', status: 503 }, { kind: 'external-oidc' }, { kind: 'reset' });
    const before = entra.calls.length;
    const issued = await exchange(await token());
    assert.equal(entra.calls.length - before, 5, 'four faults, then the success');
    assert.equal(issued.sessionName, entra.calls.at(-1)!.correlationId);
    assert.ok(entra.calls.slice(before).every((c) => c.correlationId === issued.sessionName), 'one correlation ID for every attempt');
    assert.ok(logged.some((l) => /Entra ID answered AADSTS90055 \(temporarily_unavailable\): There are too many incoming requests.*\(attempt 1\); retrying/.test(l)), logged.join(''));
    assert.ok(logged.some((l) => /AADSTS50166 \(invalid_request\): Request to External OIDC endpoint failed\. .*\(attempt 3\)/.test(l)), logged.join(''));
  });

  it('retries an answer that does not come within the attempt deadline', async () => {
    entra.injectFaults({ kind: 'delay', ms: 3_000 });
    const started = Date.now();
    const issued = await exchange(await token(), azureTrait(entra.url), { timeouts: { connectMs: 1_000, requestMs: 300 } });
    assert.match(issued.identity, new RegExp(`^${CLIENT}@`));
    assert.ok(logged.some((l) => /Entra ID answered TimeoutError: .*\(attempt 1\); retrying/.test(l)), logged.join(''));
    assert.ok(Date.now() - started < 2_500, 'the retry did not wait for the slow answer');
  });

  it('gives up on a persistent 503 after five attempts, naming the last answer', async () => {
    entra.injectFaults(...Array.from({ length: 5 }, () => ({ kind: 'status' as const, status: 503 as const })));
    const before = entra.calls.length;
    await assert.rejects(exchange(await token()), (error: unknown) => {
      assert.ok(error instanceof OamError);
      assert.equal(error.code, 'ERR_EXCHANGE_FAILED');
      assert.match(error.message, /^Entra ID stayed unavailable for .* after retries: AADSTS90033 \(temporarily_unavailable\)/);
      assert.match(error.hint ?? '', /re-run the job later/);
      return true;
    });
    assert.equal(entra.calls.length - before, 5);
  });

  it('gives up when the total budget runs out first', async () => {
    // Two attempts fit: 400 ms, then what is left of 700 ms (sleep is instant here).
    entra.injectFaults(...Array.from({ length: 2 }, () => ({ kind: 'delay' as const, ms: 4_000 })));
    const before = entra.calls.length;
    const started = Date.now();
    await assert.rejects(exchange(await token(), azureTrait(entra.url), { timeouts: { connectMs: 500, requestMs: 400, totalMs: 700 } }), (error: unknown) => {
      assert.ok(error instanceof OamError);
      assert.match(error.message, /stayed unavailable .* TimeoutError: no complete answer within 700 ms/);
      return true;
    });
    assert.ok(Date.now() - started < 3_000, 'within the budget, not after the slow answers');
    assert.equal(entra.calls.length - before, 2);
    // The emulator gives up on both abandoned answers; nothing was issued for them.
    await new Promise((resolve) => setTimeout(resolve, 4_200));
    assert.deepEqual(entra.calls.slice(before).map((c) => c.errorCode), ['abandoned', 'abandoned']);
  });

  it('says the issuer must be reachable when AADSTS50166 persists', async () => {
    entra.injectFaults(...Array.from({ length: 5 }, () => ({ kind: 'external-oidc' as const })));
    await assert.rejects(exchange(await token()), (error: unknown) => error instanceof OamError && /AADSTS50166/.test(error.message) && /must be reachable from the internet/.test(error.hint ?? ''));
  });

  it('refuses a token that lives longer than the credential-limits cap, with ERR_POLICY_DENIED', async () => {
    await assert.rejects(exchange(await token(), azureTrait(entra.url), { maxDurationSeconds: 900 }), (error: unknown) => {
      assert.ok(error instanceof OamError);
      assert.equal(error.code, 'ERR_POLICY_DENIED');
      assert.match(error.message, /token valid for 3599 s, longer than the credential-limits cap of 900 s .* not exported/);
      assert.match(error.hint ?? '', /token lifetime policy \(AccessTokenLifetime\)/);
      return true;
    });
    const issued = await exchange(await token(), azureTrait(entra.url), { maxDurationSeconds: 3600 });
    assert.ok(issued.expiresAt.getTime() - Date.now() <= 3600_000);
  });

  it('never repeats the ID token, even when Entra\'s description quotes it', async () => {
    const t = await token();
    entra.injectFaults({ kind: 'error', status: 400, error: 'invalid_request', code: 50027, message: `JWT token is invalid or malformed: ${t.raw} (also ${t.raw.slice(0, 60)}.x)` });
    await assert.rejects(exchange(t), (error: unknown) => {
      assert.ok(error instanceof OamError);
      assert.ok(!error.message.includes(t.raw) && !error.message.includes(t.raw.slice(0, 40)), error.message);
      assert.match(error.message, /AADSTS50027 \(invalid_request\): JWT token is invalid or malformed: \[token\]/);
      return true;
    });
  });

  it('never logs the ID token, even when a retried answer quotes it', async () => {
    const t = await token();
    entra.injectFaults({ kind: 'error', status: 503, error: 'temporarily_unavailable', code: 90033, message: `Try again with ${t.raw}` });
    const issued = await exchange(t);
    assert.ok(logged.some((l) => /AADSTS90033 \(temporarily_unavailable\): Try again with \[token\] \(trace ID .*\(attempt 1\)/.test(l)), logged.join(''));
    for (const secret of [t.raw, ...issued.secrets]) assert.ok(logged.every((l) => !l.includes(secret)));
  });

  it('refuses an answer that is not a usable token response', async () => {
    // A plain HTTP server that answers 200 with something a dotenv could not carry.
    const { createServer } = await import('node:http');
    const server = createServer((_, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token_type: 'Bearer', expires_in: 3599, access_token: 'has $dollar and spaces' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      await assert.rejects(exchange(await token(), azureTrait(`http://127.0.0.1:${port}`)), (error: unknown) => error instanceof OamError && /answered without a usable access token/.test(error.message));
    } finally {
      server.close();
    }
  });
});

describe('tokenEndpointFor', () => {
  it('builds <authorityHost>/<tenant>/oauth2/v2.0/token, keeping a path', () => {
    assert.equal(tokenEndpointFor({ authorityHost: 'https://login.microsoftonline.com', tenantId: TENANT }).href, `https://login.microsoftonline.com/${TENANT}/oauth2/v2.0/token`);
    assert.equal(tokenEndpointFor({ authorityHost: 'https://proxy.example.com/entra/', tenantId: TENANT }).href, `https://proxy.example.com/entra/${TENANT}/oauth2/v2.0/token`);
  });
  it('refuses plain http off loopback and credentials in the URL', () => {
    for (const authorityHost of ['http://login.example.com', 'https://u:p@login.example.com', 'ftp://login.example.com']) {
      assert.throws(() => tokenEndpointFor({ authorityHost, tenantId: TENANT }), (e: unknown) => e instanceof OamError && e.code === 'ERR_METADATA_INVALID' && /authorityHost/.test(e.message));
    }
  });
});

describe('cleanDescription', () => {
  it('keeps one line without the trace tail, the AADSTS prefix or a JWT, bounded', () => {
    assert.equal(cleanDescription('AADSTS70011: The scope x is not valid.\r\nTrace ID: 1\r\nCorrelation ID: 2\r\nTimestamp: 3', ''), 'The scope x is not valid.');
    assert.equal(cleanDescription('AADSTS700212: No match for eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln now. Trace ID: 1 Correlation ID: 2', ''), 'No match for [token] now.');
    assert.equal(cleanDescription('x'.repeat(400), '').length, 300);
  });
});
