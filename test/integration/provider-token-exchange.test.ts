/**
 * The token-exchange provider through the built bundle, against the embedded
 * default (issuer, GitLab API, STS) and an RFC 8693 authorization server on
 * loopback: validate, plan, grant (dotenv, note, audit record), exec (revoked
 * when the command ends), trust-policy, a failing exchange next to an AWS
 * role (all or nothing), and which lazy chunks each grant compiles.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TokenExchangeTrait } from '../../src/access-file/model.ts';
import { grantVariableNames } from '../../src/providers/export-names.ts';
import { DEFAULT_ROLE_ARN, DEFAULT_SHA, type EmbeddedDefault, startEmbeddedDefault, startTokenExchange, TOKEN_TYPE, type TokenExchangeServer } from '../emulators/index.ts';
import { withInstance } from '../helpers/access-file.ts';
import { CLI, capturedOutputs, parseDotenv, readTree, runCli, runProgram, workspace } from '../helpers/cli.ts';

const API_TOKEN = 'glpat-token-exchange-0001';
const MAIN = { ref: 'main', ref_type: 'branch', ref_protected: 'true' };
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

const accessFile = (issuer: string) => `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: api-deploy
spec:
  components:
    - name: api
      type: gitlab-job
      traits:
        - type: token-exchange
          properties:
            issuer: ${issuer}
            clientId: gitlab-ci
            audience: https://api.example.com
            scope: deploy
            exportAs: EXAMPLE_API_TOKEN
        - type: mr-audit
          properties: {required: true}
    - name: both
      type: gitlab-job
      traits:
        - type: aws-sts
          properties: {roleArn: "${DEFAULT_ROLE_ARN}"}
        - type: token-exchange
          properties: {issuer: "${issuer}", clientId: gitlab-ci, scope: admin, exportAs: EXAMPLE_API_TOKEN}
    - name: aws-only
      type: gitlab-job
      traits:
        - type: aws-sts
          properties: {roleArn: "${DEFAULT_ROLE_ARN}"}
  policies:
    - name: protected-main
      type: gitlab-conditions
      properties:
        refProtected: true
        refs: ["main"]
        projectPaths: ["acme/payments"]
`;

/**
 * Preloaded into the bundle's process: names every lazy chunk the loader
 * compiles (src/lib/lazy-module.ts runs each as a vm.Script named `<bundle>#<chunk>`).
 */
const TRACE_CHUNKS = `data:text/javascript,${encodeURIComponent(
  "import vm from 'node:vm'; import { syncBuiltinESMExports } from 'node:module';" +
    'const Script = vm.Script;' +
    "vm.Script = class extends Script { constructor(source, options) { super(source, options); process.stderr.write('compiled chunk ' + String(options && options.filename).split('#')[1] + '\\n'); } };" +
    'syncBuiltinESMExports();',
)}`;

describe('token-exchange through the bundle', () => {
  let world: EmbeddedDefault;
  let tx: TokenExchangeServer;
  let dir: string;
  const subjectTokens: string[] = [];

  before(async () => {
    world = await startEmbeddedDefault({ gitlab: { tokens: [API_TOKEN] } });
    tx = await startTokenExchange({
      trustedIssuers: [world.issuer.url],
      subPatterns: ['project_path:acme/payments:ref_type:branch:ref:main'],
      clients: [{ id: 'gitlab-ci', grantTypes: [TOKEN_EXCHANGE] }],
      audiences: ['https://api.example.com'],
      scopes: ['deploy'],
    });
    dir = workspace(withInstance(accessFile(tx.issuer), world.issuer.url));
  });
  after(async () => {
    // No output of any run, and no file but the dotenv files, may hold an issued token or an ID token.
    const secrets = [...tx.issued.map((t) => t.token), ...world.sts.issued.flatMap((c) => [c.secretAccessKey, c.sessionToken]), ...subjectTokens, API_TOKEN];
    assert.ok(tx.issued.length > 0, 'something was issued');
    for (const output of capturedOutputs) for (const s of secrets) assert.ok(!output.includes(s), 'a secret reached stdout or stderr');
    for (const file of readTree(dir)) {
      if (file.path.endsWith('.env')) continue;
      for (const s of secrets) assert.ok(!file.text.includes(s), `a secret reached ${file.path}`);
    }
    await tx.close();
    await world.close();
  });

  const mint = async (aud: string) => {
    const token = await world.issuer.mint(MAIN, { aud });
    subjectTokens.push(token);
    return token;
  };
  const env = (extra: Record<string, string>) => ({
    CI_SERVER_URL: world.issuer.url,
    CI_API_V4_URL: `${world.issuer.url}/api/v4`,
    CI_PROJECT_ID: '1217',
    CI_MERGE_REQUEST_IID: '7',
    CI_COMMIT_SHA: DEFAULT_SHA,
    OAM_GITLAB_TOKEN: API_TOKEN,
    AWS_ENDPOINT_URL_STS: world.sts.url,
    ...extra,
  });

  it('validates the file and plans with the issuer as the identity, the token for its audience', async () => {
    assert.equal((await runCli(['validate'], { cwd: dir, env: {} })).status, 0);
    const plan = await runCli(['plan', '--component', 'api'], { cwd: dir, env: env({ OAM_ID_TOKEN: await mint(tx.issuer) }) });
    assert.equal(plan.status, 0, plan.stderr);
    assert.match(plan.stdout, new RegExp(`^token-exchange identity ${tx.issuer}$`, 'm'));
    assert.match(plan.stdout, new RegExp(`token OAM_ID_TOKEN with audience ${tx.issuer}$`, 'm'));
  });

  it('grants: the dotenv holds exactly the trait\'s names, the note names the issuer, the audit record the provider', async () => {
    const before = world.gitlab.notes('1217', 7).length;
    const result = await runCli(['grant', '--component', 'api', '--dotenv', 'api.env'], { cwd: dir, env: env({ OAM_ID_TOKEN: await mint(tx.issuer) }) });
    assert.equal(result.status, 0, result.stderr);
    const issued = tx.issued.at(-1)!;
    const trait: TokenExchangeTrait = { type: 'token-exchange', issuer: tx.issuer, requestedTokenType: TOKEN_TYPE.accessToken, exportAs: 'EXAMPLE_API_TOKEN', exportPrefix: '' };
    const vars = parseDotenv(readFileSync(join(dir, 'api.env'), 'utf8'));
    assert.deepEqual(Object.keys(vars), grantVariableNames([trait]));
    assert.equal(vars.EXAMPLE_API_TOKEN, issued.token);
    assert.ok(Math.abs(Date.parse(vars.OAM_GRANT_EXPIRES_AT!) - issued.expiresAt.getTime()) < 5_000, 'expires_in from the answer');
    assert.deepEqual([issued.clientId, issued.audiences, issued.scope], ['gitlab-ci', ['https://api.example.com'], 'deploy']);
    // The consumer: the exported token opens the protected resource.
    const use = await fetch(`${tx.issuer}/resource`, { headers: { authorization: `Bearer ${vars.EXAMPLE_API_TOKEN}` } });
    assert.equal(use.status, 200);
    const notes = world.gitlab.notes('1217', 7);
    assert.ok(notes.length > before, 'the note was posted');
    // One credential: the note's row reads "Identity" (render-note.ts); the audit record names the provider.
    assert.ok(notes.at(-1)!.body.includes(`| Identity | \`${tx.issuer}\` |`), notes.at(-1)!.body);
    const audit = JSON.parse(readFileSync(join(dir, '.oam-grant/audit.json'), 'utf8')) as { grant: { credentials: { provider: string; identity: string }[] } };
    assert.deepEqual(audit.grant.credentials.map((c) => [c.provider, c.identity]), [['token-exchange', tx.issuer]]);
  });

  it('exec hands the token to the command only, and revokes it when the command ends', async () => {
    const result = await runCli(['exec', '--component', 'api', '--', process.execPath, '-e', 'process.stdout.write(String((process.env.EXAMPLE_API_TOKEN ?? "").length > 0))'], {
      cwd: dir,
      env: env({ OAM_ID_TOKEN: await mint(tx.issuer) }),
    });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim().split('\n').at(-1), 'true');
    assert.equal(tx.issued.at(-1)!.revoked, true);
    assert.match(result.stderr, /the command ended: revoked the token-exchange credentials/);
  });

  it('prints what the authorization server must trust', async () => {
    const result = await runCli(['trust-policy', '--component', 'api'], { cwd: dir, env: { CI_SERVER_URL: world.issuer.url } });
    assert.equal(result.status, 0, result.stderr);
    const config = JSON.parse(result.stdout) as { authorizationServer: string; subjectToken: { issuer: string; audience: string; subjects: string[] } };
    assert.equal(config.authorizationServer, tx.issuer);
    assert.deepEqual(config.subjectToken, { ...config.subjectToken, issuer: world.issuer.url, audience: tx.issuer, subjects: ['project_path:acme/payments:ref_type:branch:ref:main'] });
    assert.match(result.stderr, /note: the concrete configuration depends on the server/);
  });

  it('with an AWS role in the same component, a refused exchange exports nothing and names the AWS session it cannot revoke', async () => {
    const sts = world.sts.issued.length;
    const result = await runCli(['grant', '--component', 'both', '--dotenv', 'both.env'], {
      cwd: dir,
      env: env({ OAM_ID_TOKEN_AWS_STS: await mint('sts.amazonaws.com'), OAM_ID_TOKEN_TOKEN_EXCHANGE: await mint(tx.issuer) }),
    });
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, /^error\[ERR_EXCHANGE_FAILED\]: token exchange at http:\/\/127\.0\.0\.1:\d+ refused: the token endpoint answered HTTP 400 invalid_scope: scope admin is not granted$/m);
    assert.match(result.stderr, /^hint: the server will not grant scope "admin"/m);
    assert.equal(world.sts.issued.length - sts, 1, 'AWS issued its session first');
    assert.match(result.stderr, /the grant failed: the aws-sts credentials of arn:aws:sts::123456789012:assumed-role\/ci-deploy\/\S+ cannot be revoked; they expire at \S+ and were not exported/);
    assert.equal(existsSync(join(dir, 'both.env')), false);
  });

  it('compiles openid-client for a token-exchange grant only, never for an AWS-only grant', async () => {
    const aws = await runProgram(process.execPath, ['--import', TRACE_CHUNKS, CLI, 'grant', '--component', 'aws-only', '--dotenv', 'aws.env'], {
      cwd: dir,
      env: env({ OAM_ID_TOKEN: await mint('sts.amazonaws.com'), OAM_GITLAB_TOKEN: '' }),
    });
    assert.equal(aws.status, 0, aws.stderr);
    assert.match(aws.stderr, /^compiled chunk aws-sts$/m);
    assert.doesNotMatch(aws.stderr, /compiled chunk openid-client/);
    const te = await runProgram(process.execPath, ['--import', TRACE_CHUNKS, CLI, 'grant', '--component', 'api', '--dotenv', 'traced.env'], {
      cwd: dir,
      env: env({ OAM_ID_TOKEN: await mint(tx.issuer) }),
    });
    assert.equal(te.status, 0, te.stderr);
    assert.match(te.stderr, /^compiled chunk openid-client$/m);
    assert.doesNotMatch(te.stderr, /compiled chunk aws-sts/);
  });

  it('carries openid-client in its own chunk only', () => {
    // A message of oauth4webapi's: once in the bundle means one copy, in the openid-client chunk.
    const bundle = readFileSync(CLI, 'utf8');
    const message = 'server responded with an error in the response body';
    assert.equal(bundle.split(message).length - 1, 1);
    // The bundle's last line places each chunk (byte offsets; chunks are ASCII): the message lies inside openid-client's.
    const lastLine = bundle.trimEnd().slice(bundle.trimEnd().lastIndexOf('\n') + 1);
    assert.ok(lastLine.startsWith('//# oam-grant-chunks '), 'the bundle ends with its chunk table');
    const place = (JSON.parse(lastLine.slice('//# oam-grant-chunks '.length)) as Record<string, { at: number; length: number }>)['openid-client'];
    assert.ok(place, 'openid-client is a chunk of its own');
    const at = Buffer.byteLength(bundle.slice(0, bundle.indexOf(message)), 'latin1');
    assert.ok(at >= place.at && at < place.at + place.length, 'inside the openid-client chunk');
  });
});
