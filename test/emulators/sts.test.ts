import assert from 'node:assert/strict';
import { request } from 'node:http';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  AssumeRoleWithWebIdentityCommand,
  type AssumeRoleWithWebIdentityCommandInput,
  GetCallerIdentityCommand,
  STSClient,
} from '@aws-sdk/client-sts';
import { type Issuer, startIssuer } from './issuer.ts';
import { type StsEmulator, startSts, stringLike } from './sts.ts';
import { missingToolsReason } from '../helpers/tools.ts';

const ROLE = 'arn:aws:iam::123456789012:role/ci-deploy';
const AWS_CLI = '/usr/bin/aws';

interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}

describe('sts emulator', () => {
  let issuer: Issuer;
  let sts: StsEmulator;
  // One attempt: the SDK would otherwise retry throttling and 5xx, hiding what the emulator sent.
  const client = () => new STSClient({ endpoint: sts.url, region: 'us-east-1', maxAttempts: 1 });
  const assume = async (input: Partial<AssumeRoleWithWebIdentityCommandInput> = {}) =>
    client().send(
      new AssumeRoleWithWebIdentityCommand({
        RoleArn: ROLE,
        RoleSessionName: 'GitLabRunner-1217-1000001',
        WebIdentityToken: input.WebIdentityToken ?? (await issuer.mint()),
        ...input,
      }),
    );
  const callerIdentity = (credentials: Creds) =>
    new STSClient({ endpoint: sts.url, region: 'us-east-1', maxAttempts: 1, credentials }).send(
      new GetCallerIdentityCommand({}),
    );
  const rejects = async (promise: Promise<unknown>, name: string, message?: string | RegExp) => {
    const err: unknown = await promise.then(
      () => assert.fail(`expected ${name}`),
      (e: unknown) => e,
    );
    assert.ok(err instanceof Error);
    assert.equal(err.name, name, err.message);
    if (typeof message === 'string') assert.equal(err.message, message);
    else if (message) assert.match(err.message, message);
  };
  const credsOf = async (input: Partial<AssumeRoleWithWebIdentityCommandInput> = {}): Promise<Creds> => {
    const { Credentials } = await assume(input);
    return {
      accessKeyId: Credentials!.AccessKeyId!,
      secretAccessKey: Credentials!.SecretAccessKey!,
      sessionToken: Credentials!.SessionToken!,
    };
  };

  before(async () => {
    issuer = await startIssuer();
    sts = await startSts({
      providers: [{ issuerUrl: issuer.url, audiences: ['sts.amazonaws.com'] }],
      roles: [
        {
          arn: ROLE,
          trust: {
            issuerUrl: issuer.url,
            audience: 'sts.amazonaws.com',
            subPatterns: [
              'project_path:acme/payments:ref_type:branch:ref:main',
              'project_path:acme/payments:ref_type:tag:ref:v*',
            ],
          },
        },
        {
          arn: 'arn:aws:iam::123456789012:role/long',
          maxSessionDuration: 43200,
          trust: { issuerUrl: issuer.url, audience: 'sts.amazonaws.com', subPatterns: ['*'] },
        },
      ],
    });
  });
  after(async () => {
    await sts.close();
    await issuer.close();
  });

  it('assumes a role with a GitLab token, as the SDK sees it', async () => {
    const before = Date.now();
    const out = await assume({ DurationSeconds: 900 });
    const c = out.Credentials!;
    assert.match(c.AccessKeyId!, /^ASIA[A-Z0-9]{16}$/);
    assert.equal(c.SecretAccessKey!.length, 40);
    assert.ok(c.SessionToken!.length > 300);
    assert.ok(c.Expiration instanceof Date);
    const ttl = c.Expiration.getTime() - before;
    // Expiration has whole seconds, so it may land up to a second either side of before + 900 s.
    assert.ok(ttl > 898_000 && ttl < 901_000, `ttl ${ttl}`);
    assert.equal(out.AssumedRoleUser?.Arn, 'arn:aws:sts::123456789012:assumed-role/ci-deploy/GitLabRunner-1217-1000001');
    assert.match(out.AssumedRoleUser!.AssumedRoleId!, /^AROA[A-Z0-9]{17}:GitLabRunner-1217-1000001$/);
    assert.equal(out.SubjectFromWebIdentityToken, 'project_path:acme/payments:ref_type:branch:ref:main');
    assert.equal(out.Provider, issuer.url);
    assert.equal(out.Audience, 'sts.amazonaws.com');
    assert.equal(out.PackedPolicySize, undefined);
    const last = sts.issued.at(-1)!;
    assert.equal(last.accessKeyId, c.AccessKeyId);
    assert.equal(last.roleArn, ROLE);
    assert.deepEqual(last.policyArns, []);
    const call = sts.calls.at(-1)!;
    assert.equal(call.action, 'AssumeRoleWithWebIdentity');
    assert.equal(call.status, 200);
    assert.equal(call.params.DurationSeconds, '900');
  });

  it('honours a tag pattern and records the session policy', async () => {
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: ['s3:PutObject'], Resource: ['arn:aws:s3:::releases/*'] }],
    });
    const out = await assume({
      WebIdentityToken: await issuer.mint({ ref: 'v1.4.0', ref_type: 'tag' }),
      Policy: JSON.stringify(JSON.parse(policy), null, 2),
      PolicyArns: [{ arn: 'arn:aws:iam::aws:policy/ReadOnlyAccess' }],
    });
    assert.equal(out.SubjectFromWebIdentityToken, 'project_path:acme/payments:ref_type:tag:ref:v1.4.0');
    assert.ok((out.PackedPolicySize ?? 0) > 0);
    assert.deepEqual(sts.issued.at(-1)!.policyArns, ['arn:aws:iam::aws:policy/ReadOnlyAccess']);
    assert.deepEqual(JSON.parse(sts.issued.at(-1)!.policy!), JSON.parse(policy));
  });

  it('maps every refusal to the SDK error AWS would produce', async () => {
    const farPast = Math.floor(Date.now() / 1000) - 7200;
    const cases: [string, Partial<AssumeRoleWithWebIdentityCommandInput>, string, string | RegExp][] = [
      ['forged', { WebIdentityToken: await issuer.mintForged() }, 'InvalidIdentityTokenException', /signature/],
      ['alg none', { WebIdentityToken: await issuer.mintAlgNone() }, 'InvalidIdentityTokenException', /signature/],
      ['hs256', { WebIdentityToken: await issuer.mintHs256WithPublicKey() }, 'InvalidIdentityTokenException', /signature/],
      ['unknown kid', { WebIdentityToken: await issuer.mint({}, { kid: 'gone' }) }, 'InvalidIdentityTokenException', /kid/],
      ['garbage', { WebIdentityToken: 'not-a-jwt' }, 'InvalidIdentityTokenException', /not a valid JWT/],
      [
        'other issuer',
        { WebIdentityToken: await issuer.mint({}, { iss: 'https://gitlab.com' }) },
        'InvalidIdentityTokenException',
        'No OpenIDConnect provider found in your account for https://gitlab.com',
      ],
      [
        'wrong audience',
        { WebIdentityToken: await issuer.mint({}, { aud: 'oam-grant' }) },
        'InvalidIdentityTokenException',
        'Incorrect token audience',
      ],
      ['expired', { WebIdentityToken: await issuer.mint({}, { iat: farPast }) }, 'ExpiredTokenException', /^Token expired/],
      [
        'feature branch',
        { WebIdentityToken: await issuer.mint({ ref: 'feature/x' }) },
        'AccessDenied',
        'Not authorized to perform sts:AssumeRoleWithWebIdentity',
      ],
      ['unknown role', { RoleArn: 'arn:aws:iam::123456789012:role/nope' }, 'AccessDenied', /Not authorized/],
      ['malformed role', { RoleArn: 'arn:aws:iam::123456789012:user/alice' }, 'ValidationError', 'Request ARN is invalid'],
      [
        'session name',
        { RoleSessionName: 'has space' },
        'ValidationError',
        "1 validation error detected: Value 'has space' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
      ],
      [
        'short duration',
        { DurationSeconds: 60 },
        'ValidationError',
        "1 validation error detected: Value '60' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900",
      ],
      [
        'over role max',
        { DurationSeconds: 7200 },
        'ValidationError',
        'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.',
      ],
      ['bad policy json', { Policy: '{"Version":' }, 'MalformedPolicyDocumentException', 'Syntax errors in policy.'],
      [
        'policy too large',
        {
          Policy: JSON.stringify({
            Version: '2012-10-17',
            Statement: [{ Effect: 'Allow', Action: ['s3:GetObject'], Resource: [`arn:aws:s3:::${'b'.repeat(2100)}/*`] }],
          }),
        },
        'PackedPolicyTooLargeException',
        /^Packed policy consumes 1\d\d% of allotted space/,
      ],
      [
        'eleven policy arns',
        { PolicyArns: Array.from({ length: 11 }, (_, i) => ({ arn: `arn:aws:iam::aws:policy/P${i}` })) },
        'ValidationError',
        /at 'policyArns' failed to satisfy constraint: Member must have length less than or equal to 10/,
      ],
    ];
    for (const [label, input, name, message] of cases) {
      await rejects(assume(input), name, message).catch((err: unknown) => {
        throw new Error(`${label}: ${err instanceof Error ? err.message : String(err)}`);
      });
    }
  });

  it('accepts whitespace a packed policy does not count', async () => {
    const statement = { Effect: 'Allow', Action: ['s3:GetObject'], Resource: [`arn:aws:s3:::${'b'.repeat(1900)}/*`] };
    const pretty = JSON.stringify({ Version: '2012-10-17', Statement: [statement] }, null, 8);
    const policy = `${pretty}${' '.repeat(300)}`;
    assert.ok(policy.length > 2048, 'as sent, the policy is over the limit');
    const out = await assume({ Policy: policy });
    assert.ok((out.PackedPolicySize ?? 0) <= 100);
  });

  it('allows up to 12 hours when the role does', async () => {
    const out = await assume({ RoleArn: 'arn:aws:iam::123456789012:role/long', DurationSeconds: 43200 });
    assert.ok(out.Credentials!.Expiration!.getTime() - Date.now() > 43_000_000);
  });

  it('verifies SigV4 on GetCallerIdentity with the issued credentials', async () => {
    const creds = await credsOf();
    const who = await callerIdentity(creds);
    assert.equal(who.Arn, 'arn:aws:sts::123456789012:assumed-role/ci-deploy/GitLabRunner-1217-1000001');
    assert.equal(who.Account, '123456789012');
    assert.match(who.UserId!, /^AROA[A-Z0-9]{17}:GitLabRunner-1217-1000001$/);

    await rejects(
      // Change the last character for sure (a secret may already end in the replacement).
      callerIdentity({ ...creds, secretAccessKey: `${creds.secretAccessKey.slice(0, -1)}${creds.secretAccessKey.endsWith('x') ? 'y' : 'x'}` }),
      'SignatureDoesNotMatch',
      /^The request signature we calculated does not match/,
    );
    await rejects(
      callerIdentity({ ...creds, sessionToken: 'forged' }),
      'InvalidClientTokenId',
      'The security token included in the request is invalid.',
    );
    await rejects(
      callerIdentity({ ...creds, accessKeyId: 'ASIAAAAAAAAAAAAAAAAA' }),
      'InvalidClientTokenId',
      'The security token included in the request is invalid.',
    );
    const unsigned = await fetch(sts.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Action=GetCallerIdentity&Version=2011-06-15',
    });
    assert.equal(unsigned.status, 403);
    assert.match(await unsigned.text(), /<Code>MissingAuthenticationToken<\/Code>/);
    assert.ok(unsigned.headers.get('x-amzn-requestid'));
  });

  it('refuses expired credentials', async () => {
    const local = await startSts({
      providers: [{ issuerUrl: issuer.url, audiences: ['sts.amazonaws.com'] }],
      roles: [{ arn: ROLE, trust: { issuerUrl: issuer.url, audience: 'sts.amazonaws.com', subPatterns: ['*'] } }],
    });
    try {
      const c = new STSClient({ endpoint: local.url, region: 'us-east-1', maxAttempts: 1 });
      const { Credentials } = await c.send(
        new AssumeRoleWithWebIdentityCommand({
          RoleArn: ROLE,
          RoleSessionName: 's1',
          WebIdentityToken: await issuer.mint(),
          DurationSeconds: 900,
        }),
      );
      local.advanceClock(901);
      const signed = new STSClient({
        endpoint: local.url,
        region: 'us-east-1',
        maxAttempts: 1,
        credentials: {
          accessKeyId: Credentials!.AccessKeyId!,
          secretAccessKey: Credentials!.SecretAccessKey!,
          sessionToken: Credentials!.SessionToken!,
        },
      });
      await rejects(
        signed.send(new GetCallerIdentityCommand({})),
        'ExpiredToken',
        'The security token included in the request is expired',
      );
    } finally {
      await local.close();
    }
  });

  it('passes /usr/bin/aws sts get-caller-identity', async (t) => {
    const missing = missingToolsReason('aws');
    if (missing) {
      t.skip(missing);
      return;
    }
    const creds = await credsOf();
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      AWS_ACCESS_KEY_ID: creds.accessKeyId,
      AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
      AWS_SESSION_TOKEN: creds.sessionToken,
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    const run = promisify(execFile);
    const { stdout } = await run(AWS_CLI, ['sts', 'get-caller-identity', '--endpoint-url', sts.url, '--output', 'json'], {
      env,
    });
    const who = JSON.parse(stdout) as { Arn: string; Account: string };
    assert.equal(who.Arn, 'arn:aws:sts::123456789012:assumed-role/ci-deploy/GitLabRunner-1217-1000001');
    assert.equal(who.Account, '123456789012');

    const wrong = await run(AWS_CLI, ['sts', 'get-caller-identity', '--endpoint-url', sts.url], {
      env: { ...env, AWS_SECRET_ACCESS_KEY: 'x'.repeat(40) },
    }).then(
      () => assert.fail('expected the CLI to fail'),
      (e: { code?: number; stderr?: string }) => e,
    );
    assert.equal(wrong.code, 254);
    assert.match(wrong.stderr ?? '', /\(SignatureDoesNotMatch\) when calling the GetCallerIdentity operation/);
  });

  it('assumes a role through /usr/bin/aws unsigned', async (t) => {
    const missing = missingToolsReason('aws');
    if (missing) {
      t.skip(missing);
      return;
    }
    const { stdout } = await promisify(execFile)(
      AWS_CLI,
      [
        'sts',
        'assume-role-with-web-identity',
        '--endpoint-url',
        sts.url,
        '--role-arn',
        ROLE,
        '--role-session-name',
        'cli',
        '--web-identity-token',
        await issuer.mint(),
        '--output',
        'json',
      ],
      {
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: process.env.HOME ?? '/tmp',
          AWS_DEFAULT_REGION: 'us-east-1',
          AWS_CONFIG_FILE: '/dev/null',
          AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
          AWS_EC2_METADATA_DISABLED: 'true',
        },
      },
    );
    const out = JSON.parse(stdout) as { Credentials: { AccessKeyId: string; Expiration: string } };
    assert.match(out.Credentials.AccessKeyId, /^ASIA/);
    assert.match(out.Credentials.Expiration, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|\+00:00)$/);
  });

  it('injects faults, one request each, in order', async () => {
    const token = await issuer.mint();
    sts.injectFaults(
      { kind: 'throttle' },
      { kind: 'idp-communication' },
      { kind: 'status', status: 500 },
      { kind: 'status', status: 503 },
      { kind: 'reset' },
    );
    await rejects(assume({ WebIdentityToken: token }), 'Throttling', 'Rate exceeded');
    await rejects(assume({ WebIdentityToken: token }), 'IDPCommunicationErrorException', /Couldn't retrieve verification key/);
    await rejects(assume({ WebIdentityToken: token }), 'InternalFailure');
    await rejects(assume({ WebIdentityToken: token }), 'ServiceUnavailable');
    const reset: unknown = await assume({ WebIdentityToken: token }).then(
      () => assert.fail('expected a reset'),
      (e: unknown) => e,
    );
    assert.match(String((reset as { code?: string }).code ?? reset), /ECONNRESET|socket hang up/);
    assert.deepEqual(
      sts.calls.slice(-5).map((c) => [c.status, c.errorCode]),
      [
        [400, 'Throttling'],
        [400, 'IDPCommunicationError'],
        [500, 'InternalFailure'],
        [503, 'ServiceUnavailable'],
        [0, 'reset'],
      ],
    );
    await assume({ WebIdentityToken: token });
  });

  it('delays a response past a client timeout', async () => {
    sts.injectFaults({ kind: 'delay', ms: 1_500 });
    const started = Date.now();
    await rejects(
      client().send(
        new AssumeRoleWithWebIdentityCommand({ RoleArn: ROLE, RoleSessionName: 'slow', WebIdentityToken: await issuer.mint() }),
        { abortSignal: AbortSignal.timeout(100) },
      ),
      'AbortError',
    );
    // Well under the delay, with room for a loaded CI machine.
    assert.ok(Date.now() - started < 1_200);
  });

  it('records an abandoned call once, when it arrived, and issues nothing for it', async () => {
    sts.injectFaults({ kind: 'delay', ms: 400 });
    const calls = sts.calls.length;
    const issued = sts.issued.length;
    const body = new URLSearchParams({ Action: 'AssumeRoleWithWebIdentity', Version: '2011-06-15', RoleArn: ROLE, RoleSessionName: 'gone', WebIdentityToken: await issuer.mint() }).toString();
    const req = request(sts.url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    req.on('error', () => undefined);
    req.end(body);
    // The client gives up once the call has arrived: deterministic, however loaded the machine.
    for (let waited = 0; sts.calls.length === calls && waited < 5_000; waited += 10) await new Promise((done) => setTimeout(done, 10));
    assert.equal(sts.calls.length, calls + 1, 'counted in the test that made it');
    req.destroy();
    await new Promise((done) => setTimeout(done, 700));
    assert.equal(sts.calls.length, calls + 1, 'no later entry when the delayed answer comes due');
    assert.deepEqual([sts.calls.at(-1)?.status, sts.calls.at(-1)?.errorCode], [0, 'abandoned']);
    assert.equal(sts.issued.length, issued);
  });

  it('fetches discovery once and picks up a rotated key', async () => {
    // Another emulator in this file fetched discovery too; count this one's by the time it started.
    const discoveries = () =>
      issuer.requests.filter((r) => r.userAgent === 'sts-emulator' && r.path === '/.well-known/openid-configuration')
        .length;
    const before = discoveries();
    assert.ok(before >= 1);
    await issuer.rotate();
    await assume({ WebIdentityToken: await issuer.mint() });
    await assume({ WebIdentityToken: await issuer.mint({}, { signWith: 'previous' }) });
    assert.equal(discoveries(), before);
  });

  it('matches sub like IAM StringLike', () => {
    assert.equal(stringLike('project_path:acme/*:ref_type:branch:ref:main', 'project_path:acme/a/b:ref_type:branch:ref:main'), true);
    assert.equal(stringLike('ref:v?', 'ref:v1'), true);
    assert.equal(stringLike('ref:v?', 'ref:v10'), false);
    assert.equal(stringLike('ref:main', 'ref:Main'), false);
    assert.equal(stringLike('a.b', 'axb'), false);
  });
});
