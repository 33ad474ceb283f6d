/**
 * The core path through the built bundle against the loopback emulators:
 * token -> access file -> conditions -> STS -> dotenv, and every way it can
 * be refused. Each refusal must leave no dotenv behind and exchange nothing.
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type EmbeddedDefault, startEmbeddedDefault } from '../emulators/index.ts';
import { capturedOutputs, parseDotenv, readTree, runCli, runProgram, workspace } from '../helpers/cli.ts';
import { withInstance } from '../helpers/access-file.ts';
import { missingToolsReason } from '../helpers/tools.ts';

const ACCESS_FILE = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: payments-api
spec:
  components:
    - name: deploy-prod
      type: gitlab-job
      traits:
        - type: aws-sts
          properties:
            roleArn: arn:aws:iam::123456789012:role/ci-deploy
            region: eu-west-1
            sessionPolicy:
              Version: "2012-10-17"
              Statement: [{Effect: Allow, Action: ["s3:PutObject"], Resource: ["arn:aws:s3:::releases/*"]}]
    - name: prefixed
      type: gitlab-job
      traits:
        - type: aws-sts
          properties:
            roleArn: arn:aws:iam::123456789012:role/ci-deploy
            exportPrefix: PROD_
    - name: audited
      type: gitlab-job
      traits:
        - type: aws-sts
          properties: {roleArn: "arn:aws:iam::123456789012:role/ci-deploy"}
        - type: mr-audit
          properties: {required: true}
  policies:
    - name: protected-main
      type: gitlab-conditions
      properties:
        refProtected: true
        refs: ["main"]
        projectPaths: ["acme/payments"]
`;

const MAIN = { ref: 'main', ref_type: 'branch', ref_protected: 'true' };
const API_TOKEN = 'glpat-grant-test-0001';

describe('grant through the bundle', () => {
  let world: EmbeddedDefault;
  let dir: string;
  const exchangeTokens: string[] = [];
  const issuedSecrets = () => [...world.sts.issued.flatMap((c) => [c.secretAccessKey, c.sessionToken]), ...exchangeTokens, 'glpat-exec-test-0001', API_TOKEN];

  before(async () => {
    world = await startEmbeddedDefault();
    dir = workspace(withInstance(ACCESS_FILE, world.issuer.url));
  });
  after(async () => {
    // No output of any run, and no file but the dotenv files, may hold an issued secret.
    const secrets = issuedSecrets();
    assert.ok(secrets.length > 0);
    for (const output of capturedOutputs) for (const s of secrets) assert.ok(!output.includes(s), 'a secret reached stdout or stderr');
    for (const file of readTree(dir)) {
      if (file.path.endsWith('.env')) continue;
      for (const s of secrets) assert.ok(!file.text.includes(s), `a secret reached ${file.path}`);
    }
    await world.close();
  });

  const env = (token: string, extra: Record<string, string> = {}) => {
    if (token) exchangeTokens.push(token);
    return envFor(token, extra);
  };
  const envFor = (token: string, extra: Record<string, string>) => ({
    CI_SERVER_URL: world.issuer.url,
    // The narrowing guard asks the API which branch is the default one.
    OAM_GITLAB_TOKEN: API_TOKEN,
    OAM_ID_TOKEN: token,
    AWS_ENDPOINT_URL_STS: world.sts.url,
    ...extra,
  });

  it('grants on protected main: dotenv by GitLab rules, 0600, usable by the AWS CLI', async (t) => {
    const token = await world.issuer.mint(MAIN);
    const result = await runCli(['grant', '--component', 'deploy-prod'], { cwd: dir, env: env(token) });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /ok: granted deploy-prod: arn:aws:sts::123456789012:assumed-role\/ci-deploy\/acme.payments@p/);
    const path = join(dir, 'oam-grant.env');
    assert.equal(lstatSync(path).mode & 0o777, 0o600);
    const text = readFileSync(path, 'utf8');
    assert.match(text, /^([A-Za-z0-9_]+=[^\n]+\n)+$/, 'KEY=value lines only, no blanks, no comments');
    assert.ok(!/["'#]/.test(text), 'no quotes or comments');
    const vars = parseDotenv(text);
    assert.deepEqual(Object.keys(vars), ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'OAM_GRANT_EXPIRES_AT']);
    const issued = world.sts.issued.at(-1)!;
    assert.equal(vars.AWS_SECRET_ACCESS_KEY, issued.secretAccessKey);
    assert.equal(vars.OAM_GRANT_EXPIRES_AT, issued.expiration.toISOString());
    assert.equal(issued.subject, 'project_path:acme/payments:ref_type:branch:ref:main');

    const missing = missingToolsReason('aws');
    if (missing) {
      t.skip(`${missing}: the AWS CLI consumer check did not run`);
      return;
    }
    const aws = await runProgram('/usr/bin/aws', ['sts', 'get-caller-identity', '--endpoint-url', world.sts.url, '--output', 'json'], {
      cwd: dir,
      env: { HOME: dir, AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null', AWS_EC2_METADATA_DISABLED: 'true', ...vars },
    });
    assert.equal(aws.status, 0, aws.stderr);
    assert.match(JSON.parse(aws.stdout).Arn, /^arn:aws:sts::123456789012:assumed-role\/ci-deploy\//);
  });

  it('applies exportPrefix to every variable', async () => {
    const result = await runCli(['grant', '--component', 'prefixed', '--dotenv', 'prefixed.env'], { cwd: dir, env: env(await world.issuer.mint(MAIN)) });
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(Object.keys(parseDotenv(readFileSync(join(dir, 'prefixed.env'), 'utf8'))), ['PROD_AWS_ACCESS_KEY_ID', 'PROD_AWS_SECRET_ACCESS_KEY', 'PROD_AWS_SESSION_TOKEN', 'PROD_OAM_GRANT_EXPIRES_AT']);
  });

  const now = () => Math.floor(Date.now() / 1000);
  const tokenRefusals: [string, () => Promise<string>, string, number][] = [
    ['a forged key', () => world.issuer.mintForged(MAIN), 'ERR_TOKEN_INVALID', 3],
    ['alg none', () => world.issuer.mintAlgNone(MAIN), 'ERR_TOKEN_INVALID', 3],
    ['HS256 keyed with the public key', () => world.issuer.mintHs256WithPublicKey(MAIN), 'ERR_TOKEN_INVALID', 3],
    ['an expired token', () => world.issuer.mint(MAIN, { iat: now() - 900, exp: now() - 60 }), 'ERR_TOKEN_EXPIRED', 3],
    ['a future nbf', () => world.issuer.mint(MAIN, { nbf: now() + 600, exp: now() + 900 }), 'ERR_TOKEN_EXPIRED', 3],
    ['a wrong issuer', () => world.issuer.mint(MAIN, { iss: 'https://gitlab.example.com' }), 'ERR_TOKEN_ISSUER', 3],
    ['a wrong audience', () => world.issuer.mint(MAIN, { aud: 'https://vault.example.com' }), 'ERR_TOKEN_AUDIENCE', 3],
    ['an unknown kid', () => world.issuer.mint(MAIN, { kid: 'unknown' }), 'ERR_TOKEN_INVALID', 3],
    ['an empty token variable', async () => '', 'ERR_TOKEN_MISSING', 3],
  ];
  for (const [name, make, code, status] of tokenRefusals) {
    it(`refuses ${name} with ${code}, exchanging nothing and writing nothing`, async () => {
      const before = world.sts.calls.length;
      const dotenv = `refused-${code}.env`;
      const result = await runCli(['grant', '--component', 'deploy-prod', '--dotenv', dotenv], { cwd: dir, env: env(await make()) });
      assert.equal(result.status, status, result.stderr);
      assert.match(result.stderr, new RegExp(`^error\\[${code}\\]: `, 'm'));
      assert.match(result.stderr, /^hint: /m);
      assert.equal(world.sts.calls.length, before, 'nothing sent to STS');
      assert.equal(existsSync(join(dir, dotenv)), false);
    });
  }

  it('refetches the keys once when the token names a key the first fetch did not have (rotation)', async () => {
    await world.issuer.rotate({ keepOld: true, hiddenForFetches: 1 });
    const before = world.issuer.requests.filter((r) => r.path === '/oauth/discovery/keys' && r.userAgent === 'oam-grant').length;
    const result = await runCli(['grant', '--component', 'deploy-prod', '--dotenv', 'rotated.env'], { cwd: dir, env: env(await world.issuer.mint(MAIN)) });
    assert.equal(result.status, 0, result.stderr);
    const fetches = world.issuer.requests.filter((r) => r.path === '/oauth/discovery/keys' && r.userAgent === 'oam-grant').length - before;
    assert.equal(fetches, 2, 'one fetch without the new key, one refetch that finds it');
  });

  it('denies an unprotected branch by policy, naming policy, claim, seen and expected', async () => {
    const before = world.sts.calls.length;
    const token = await world.issuer.mint({ ref: 'feature/x', ref_type: 'branch', ref_protected: 'false' });
    const result = await runCli(['grant', '--component', 'deploy-prod', '--dotenv', 'denied.env'], { cwd: dir, env: env(token) });
    assert.equal(result.status, 3);
    assert.match(result.stderr, /error\[ERR_POLICY_DENIED\]: policy "protected-main" denies: ref_protected is "false", refProtected expects "true"; ref is "feature\/x", refs expects matching "main" \(\.gitlab\/oam\.yaml:\d+:\d+\)/);
    assert.equal(world.sts.calls.length, before);
    assert.equal(existsSync(join(dir, 'denied.env')), false);
  });

  it('retries a throttled STS and still grants', async () => {
    world.sts.injectFaults({ kind: 'throttle' }, { kind: 'status', status: 503 });
    const result = await runCli(['grant', '--component', 'deploy-prod', '--dotenv', 'retried.env'], { cwd: dir, env: env(await world.issuer.mint(MAIN)) });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /retrying in \d+ ms/);
  });

  it('fails at once when STS refuses, with exit 1 and a hint', async () => {
    // STS knows the issuer only with audience sts.amazonaws.com: another audience is refused as AWS does.
    const other = await world.issuer.mint(MAIN, { aud: 'other-audience' });
    const before = world.sts.calls.length;
    const refused = await runCli(['grant', '--component', 'deploy-prod', '--dotenv', 'refused.env', '--audience', 'other-audience'], { cwd: dir, env: env(other) });
    assert.equal(refused.status, 1, refused.stderr);
    assert.match(refused.stderr, /error\[ERR_EXCHANGE_FAILED\]: STS refused AssumeRoleWithWebIdentity .*InvalidIdentityToken/);
    assert.match(refused.stderr, /hint: register .* as an IAM OIDC identity provider/);
    assert.equal(world.sts.calls.length - before, 1, 'a permanent refusal is not retried');
  });

  it('refuses a dotenv path that is a symlink before anything is exchanged', async () => {
    writeFileSync(join(dir, 'victim'), 'keep');
    symlinkSync(join(dir, 'victim'), join(dir, 'link.env'));
    const before = world.sts.calls.length;
    const result = await runCli(['grant', '--component', 'deploy-prod', '--dotenv', 'link.env'], { cwd: dir, env: env(await world.issuer.mint(MAIN)) });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /error\[ERR_EXPORT_FAILED\]: .*link\.env is a symbolic link/);
    assert.equal(readFileSync(join(dir, 'victim'), 'utf8'), 'keep');
    assert.equal(world.sts.calls.length, before);
  });

  it('refuses the evidence audience as an exchange audience', async () => {
    const token = await world.issuer.mint(MAIN, { aud: 'oam-grant' });
    const result = await runCli(['grant', '--component', 'deploy-prod', '--audience', 'oam-grant', '--dotenv', 'aud.env'], { cwd: dir, env: env(token) });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /error\[ERR_USAGE\]: --audience oam-grant is reserved for evidence tokens/);
  });

  it('fails before the exchange when a required audit note cannot be posted (no API token)', async () => {
    const before = world.sts.calls.length;
    const result = await runCli(['grant', '--component', 'audited', '--dotenv', 'audited.env'], { cwd: dir, env: env(await world.issuer.mint(MAIN), { OAM_GITLAB_TOKEN: '' }) });
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, /error\[ERR_REPORT_FAILED\]: mr-audit is required for audited, but OAM_GITLAB_TOKEN is not set/);
    assert.equal(world.sts.calls.length, before);
    assert.equal(existsSync(join(dir, 'audited.env')), false);
  });

  it('exec runs the command with the credentials in its environment only and passes its status on', async () => {
    // Every variable that is or embeds the job token or the API token stays out of the child; other variables pass.
    const carriers = ['OAM_ID_TOKEN', 'OAM_GITLAB_TOKEN', 'CI_JOB_TOKEN', 'CI_REPOSITORY_URL', 'CI_REGISTRY_PASSWORD', 'CI_DEPENDENCY_PROXY_PASSWORD', 'CI_JOB_JWT_V2', 'MY_CLONE_URL', 'MY_API_HEADER'];
    const script = `const e=process.env; process.stdout.write([!!e.AWS_SECRET_ACCESS_KEY, e.AWS_REGION, e.CI_PROJECT_PATH, ...${JSON.stringify(carriers)}.filter((n) => n in e)].join(",")); process.exit(7)`;
    const jobToken = 'job-token-0001-abcdef';
    const result = await runCli(['exec', '--component', 'deploy-prod', '--dotenv', 'exec.env', '--', process.execPath, '-e', script], {
      cwd: dir,
      env: env(await world.issuer.mint(MAIN), {
        OAM_GITLAB_TOKEN: 'glpat-exec-test-0001',
        // No CI_JOB_TOKEN itself (a pipeline may unset it): the predefined carriers are known by name.
        CI_REPOSITORY_URL: `https://gitlab-ci-token:${jobToken}@gitlab.example.com/acme/payments.git`,
        CI_REGISTRY_PASSWORD: jobToken,
        CI_DEPENDENCY_PROXY_PASSWORD: jobToken,
        CI_JOB_JWT_V2: 'eyJhbGciOiJSUzI1NiJ9.e30.sig',
        MY_CLONE_URL: 'https://oauth2:glpat-exec-test-0001@gitlab.example.com/x.git',
        MY_API_HEADER: 'PRIVATE-TOKEN: glpat-exec-test-0001',
        CI_PROJECT_PATH: 'acme/payments',
        CI_API_V4_URL: `${world.issuer.url}/api/v4`,
      }),
    });
    assert.equal(result.status, 7, result.stderr);
    assert.equal(result.stdout, 'true,eu-west-1,acme/payments');
    assert.equal(existsSync(join(dir, 'exec.env')), false, 'exec writes no dotenv');
  });

  it('names an unknown component with exit 2 and lists the known ones', async () => {
    const result = await runCli(['grant', '--component', 'nope'], { cwd: dir, env: env(await world.issuer.mint(MAIN)) });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /error\[ERR_COMPONENT_UNKNOWN\]: .*nope/);
    assert.match(result.stderr, /deploy-prod/);
  });
});
