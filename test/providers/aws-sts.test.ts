import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { OamError } from '../../src/errors.ts';
import { httpGet } from '../../src/lib/http.ts';
import { Logger } from '../../src/lib/log.ts';
import { awsStsProvider, chooseStsEndpoint, defaultRegionFor } from '../../src/providers/aws-sts.ts';
import { IssuerTokenVerifier } from '../../src/token/verify.ts';
import type { VerifiedToken } from '../../src/token/types.ts';
import { type Issuer, startIssuer } from '../emulators/issuer.ts';
import { type StsEmulator, startSts } from '../emulators/sts.ts';
import { awsTrait } from '../helpers/model.ts';

const ROLE = 'arn:aws:iam::123456789012:role/ci-deploy';

describe('awsStsProvider', () => {
  let issuer: Issuer;
  let sts: StsEmulator;
  const logged: string[] = [];
  const log = new Logger({ sink: { write: (t) => void logged.push(t) } });
  const noSleep = async () => {};

  before(async () => {
    issuer = await startIssuer();
    sts = await startSts({
      providers: [{ issuerUrl: issuer.url, audiences: ['sts.amazonaws.com'] }],
      roles: [{ arn: ROLE, trust: { issuerUrl: issuer.url, audience: 'sts.amazonaws.com', subPatterns: ['project_path:acme/payments:ref_type:branch:ref:main'] } }],
    });
  });
  // Each test reads only its own log lines.
  beforeEach(() => {
    logged.length = 0;
  });
  after(async () => {
    await sts.close();
    await issuer.close();
  });

  async function token(claims: Record<string, unknown> = { ref: 'main', ref_type: 'branch' }): Promise<VerifiedToken> {
    const raw = await issuer.mint(claims);
    return new IssuerTokenVerifier({ issuer: issuer.url, get: httpGet }).verify(raw, { audience: 'sts.amazonaws.com', purpose: 'exchange', source: 'OAM_ID_TOKEN' });
  }

  const exchange = async (t: VerifiedToken, trait = awsTrait({ region: 'eu-west-1' })) =>
    awsStsProvider.exchange({ trait, token: t, sessionName: 'acme.payments@p1.j2', env: { AWS_ENDPOINT_URL_STS: sts.url }, log, sleep: noSleep });

  it('exchanges the token and passes duration, session policy and policy ARNs through', async () => {
    const trait = awsTrait({
      region: 'eu-west-1',
      durationSeconds: 1800,
      sessionPolicy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:PutObject'], Resource: ['arn:aws:s3:::releases/*'] }] },
      policyArns: ['arn:aws:iam::aws:policy/ReadOnlyAccess'],
    });
    const issued = await exchange(await token(), trait);
    const call = sts.issued.at(-1)!;
    assert.equal(call.roleArn, ROLE);
    assert.equal(call.sessionName, 'acme.payments@p1.j2');
    assert.deepEqual(JSON.parse(call.policy ?? 'null'), trait.sessionPolicy);
    assert.deepEqual(call.policyArns, ['arn:aws:iam::aws:policy/ReadOnlyAccess']);
    assert.equal(issued.identity, 'arn:aws:sts::123456789012:assumed-role/ci-deploy/acme.payments@p1.j2');
    assert.deepEqual(issued.variables.map(([k]) => k), ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_DEFAULT_REGION']);
    assert.equal(issued.variables[1]?.[1], call.secretAccessKey);
    assert.ok(Math.abs(issued.expiresAt.getTime() - (Date.now() + 1800_000)) < 10_000);
    assert.ok(issued.secrets.includes(call.secretAccessKey) && issued.secrets.includes(call.sessionToken));
  });

  it('retries throttling, IdP trouble, 5xx and resets, then succeeds', async () => {
    sts.injectFaults({ kind: 'throttle' }, { kind: 'idp-communication' }, { kind: 'status', status: 503 }, { kind: 'reset' });
    const before = sts.calls.length;
    await exchange(await token());
    assert.equal(sts.calls.length - before, 5, 'four faults, then the success');
    assert.ok(logged.some((l) => /STS answered Throttling \(attempt 1\); retrying/.test(l)));
  });

  it("does not let the SDK read AWS's endpoint variables or config itself", async () => {
    // The variables the provider is given name no endpoint; the process's own do, as a pipeline variable would.
    const before = sts.calls.length;
    const saved = process.env.AWS_ENDPOINT_URL_STS;
    process.env.AWS_ENDPOINT_URL_STS = sts.url;
    try {
      await assert.rejects(
        awsStsProvider.exchange({ trait: awsTrait({ region: 'eu-west-1' }), token: await token(), sessionName: 's', env: {}, log, sleep: noSleep, timeouts: { connectMs: 300, requestMs: 300, totalMs: 600 } }),
        (error: unknown) => error instanceof OamError && error.code === 'ERR_EXCHANGE_FAILED',
      );
    } finally {
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_STS;
      else process.env.AWS_ENDPOINT_URL_STS = saved;
    }
    assert.equal(sts.calls.length, before, 'the token went nowhere near the host the variable names');
  });

  it('retries an answer that does not come within the request timeout', async () => {
    sts.injectFaults({ kind: 'delay', ms: 3_000 });
    const t = await token();
    const started = Date.now();
    const issued = await awsStsProvider.exchange({
      trait: awsTrait(),
      token: t,
      sessionName: 'acme.payments@p1.j3',
      env: { AWS_ENDPOINT_URL_STS: sts.url },
      log,
      sleep: noSleep,
      timeouts: { connectMs: 1_000, requestMs: 300 },
    });
    assert.ok(issued.identity.endsWith('/acme.payments@p1.j3'));
    assert.ok(logged.some((l) => /STS answered TimeoutError \(attempt 1\); retrying/.test(l)), logged.join(''));
    assert.ok(Date.now() - started < 2_500, 'the retry did not wait for the slow answer');
  });

  it('gives up on persistent throttling with ERR_EXCHANGE_FAILED', async () => {
    sts.injectFaults(...Array.from({ length: 5 }, () => ({ kind: 'throttle' as const })));
    await assert.rejects(exchange(await token()), (error: unknown) => {
      assert.ok(error instanceof OamError);
      assert.equal(error.code, 'ERR_EXCHANGE_FAILED');
      assert.match(error.message, /STS stayed unavailable .* after retries: Throttling/);
      return true;
    });
  });

  it('fails at once on AccessDenied, with the claims the trust policy must allow', async () => {
    const before = sts.calls.length;
    await assert.rejects(exchange(await token({ ref: 'feature/x', ref_type: 'branch' })), (error: unknown) => {
      assert.ok(error instanceof OamError);
      assert.equal(error.code, 'ERR_EXCHANGE_FAILED');
      assert.match(error.message, /STS refused AssumeRoleWithWebIdentity for arn:aws:iam::123456789012:role\/ci-deploy: AccessDenied/);
      assert.match(error.hint ?? '', /sub "project_path:acme\/payments:ref_type:branch:ref:feature\/x", aud "sts.amazonaws.com"/);
      assert.match(error.hint ?? '', /oam-grant trust-policy/);
      return true;
    });
    assert.equal(sts.calls.length - before, 1);
  });

  it('fails at once on a duration the role does not allow (ValidationError)', async () => {
    const before = sts.calls.length;
    await assert.rejects(exchange(await token(), awsTrait({ durationSeconds: 7200 })), (error: unknown) => error instanceof OamError && /ValidationError/.test(error.message) && /maximum session duration/.test(error.hint ?? ''));
    assert.equal(sts.calls.length - before, 1);
  });

  it('fails at once on PackedPolicyTooLarge', async () => {
    const statements = Array.from({ length: 40 }, (_, i) => ({ Effect: 'Allow', Action: [`s3:GetObject${i}`], Resource: [`arn:aws:s3:::bucket-${i}/*`] }));
    await assert.rejects(exchange(await token(), awsTrait({ sessionPolicy: { Version: '2012-10-17', Statement: statements } })), (error: unknown) => error instanceof OamError && /PackedPolicyTooLarge/.test(error.message) && /shorten sessionPolicy/.test(error.hint ?? ''));
  });

  it('never puts the web identity token in an error', async () => {
    const t = await token({ ref: 'feature/x' });
    await assert.rejects(exchange(t), (error: unknown) => error instanceof OamError && !error.message.includes(t.raw) && !(error.hint ?? '').includes(t.raw));
  });
});

describe('chooseStsEndpoint', () => {
  const LOOPBACK = 'http://127.0.0.1:9';
  it('takes the access file\'s stsEndpoint, else AWS\'s own endpoint', () => {
    assert.deepEqual(chooseStsEndpoint({ stsEndpoint: 'https://vpce-1.sts.eu-west-1.vpce.amazonaws.com' }, {}), { endpoint: 'https://vpce-1.sts.eu-west-1.vpce.amazonaws.com' });
    assert.deepEqual(chooseStsEndpoint({}, {}), { endpoint: undefined });
  });
  it('lets AWS_ENDPOINT_URL_STS, then AWS_ENDPOINT_URL, point at loopback only', () => {
    assert.deepEqual(chooseStsEndpoint({}, { AWS_ENDPOINT_URL_STS: `${LOOPBACK}/`, AWS_ENDPOINT_URL: 'https://x.example' }), { endpoint: LOOPBACK });
    assert.deepEqual(chooseStsEndpoint({ stsEndpoint: 'https://sts.example.com' }, { AWS_ENDPOINT_URL: 'http://localhost:4566' }), { endpoint: 'http://localhost:4566' });
  });
  it('ignores a variable that points anywhere else, and says which', () => {
    for (const value of ['https://sts.attacker.example', 'http://sts.example.com', 'not a url']) {
      assert.deepEqual(chooseStsEndpoint({ stsEndpoint: 'https://sts.eu-west-1.amazonaws.com' }, { AWS_ENDPOINT_URL_STS: value }), {
        endpoint: 'https://sts.eu-west-1.amazonaws.com',
        ignored: { variable: 'AWS_ENDPOINT_URL_STS', value },
      });
    }
    assert.deepEqual(chooseStsEndpoint({}, { AWS_ENDPOINT_URL: 'https://sts.attacker.example' }).endpoint, undefined);
  });
});

describe('defaultRegionFor', () => {
  it("follows the role ARN's partition", () => {
    assert.equal(defaultRegionFor('arn:aws:iam::123456789012:role/r'), 'us-east-1');
    assert.equal(defaultRegionFor('arn:aws-cn:iam::123456789012:role/r'), 'cn-north-1');
    assert.equal(defaultRegionFor('arn:aws-us-gov:iam::123456789012:role/r'), 'us-gov-west-1');
  });
});
