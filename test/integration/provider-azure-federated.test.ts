/**
 * azure-federated through the built bundle, against the Entra emulator next
 * to the embedded default (issuer, STS, GitLab API): grant exports exactly
 * export-names.ts's variables and never the ID token, plan shows the app,
 * trust-policy prints the federated credentials, exec hands the ID token to
 * its child alone, the note and the audit record name the provider, and a
 * component with aws-sts and azure-federated exports nothing when Entra refuses.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { grantVariableNames } from '../../src/providers/export-names.ts';
import type { AzureFederatedTrait } from '../../src/access-file/model.ts';
import { DEFAULT_ROLE_ARN, type EmbeddedDefault, type EntraEmulator, startEmbeddedDefault, startEntra } from '../emulators/index.ts';
import { withInstance } from '../helpers/access-file.ts';
import { capturedOutputs, parseDotenv, readTree, runCli, workspace } from '../helpers/cli.ts';

const TENANT = '11111111-2222-3333-4444-555555555555';
const CLIENT = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
/** An app whose only federated credential is for another branch: Entra refuses this pipeline's token. */
const OTHER_CLIENT = 'bbbbbbbb-cccc-dddd-eeee-ffffffffffff';
const OBJECT = '99999999-8888-7777-6666-555555555555';
const SUBSCRIPTION = '33333333-3333-3333-3333-333333333333';
const AZURE_AUD = 'api://AzureADTokenExchange';
const API_TOKEN = 'glpat-azure-provider-secret-0001';
const MAIN = { ref: 'main', ref_type: 'branch', ref_protected: 'true' };

const accessFile = (entraUrl: string) => `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: payments-api
spec:
  components:
    - name: deploy-azure
      type: gitlab-job
      traits:
        - type: azure-federated
          properties:
            tenantId: ${TENANT}
            clientId: ${CLIENT}
            subscriptionId: ${SUBSCRIPTION}
            authorityHost: ${entraUrl}
    - name: deploy-both
      type: gitlab-job
      traits:
        - type: aws-sts
          properties: {roleArn: "${DEFAULT_ROLE_ARN}", region: eu-west-1}
        - type: azure-federated
          properties:
            tenantId: ${TENANT}
            clientId: ${OTHER_CLIENT}
            authorityHost: ${entraUrl}
  policies:
    - name: protected-main
      type: gitlab-conditions
      properties:
        refProtected: true
        refs: ["main"]
        projectPaths: ["acme/payments"]
`;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('azure-federated through the bundle', () => {
  let world: EmbeddedDefault;
  let entra: EntraEmulator;
  let dir: string;
  const idTokens: string[] = [];

  before(async () => {
    world = await startEmbeddedDefault();
    entra = await startEntra({
      tenants: [
        {
          tenantId: TENANT,
          apps: [
            { clientId: CLIENT, objectId: OBJECT, federatedCredentials: [{ name: 'acme-payments-main', issuer: world.issuer.url, subject: 'project_path:acme/payments:ref_type:branch:ref:main', audiences: [AZURE_AUD] }] },
            { clientId: OTHER_CLIENT, federatedCredentials: [{ name: 'acme-payments-release', issuer: world.issuer.url, subject: 'project_path:acme/payments:ref_type:branch:ref:release', audiences: [AZURE_AUD] }] },
          ],
        },
      ],
    });
    dir = workspace(withInstance(accessFile(entra.url), world.issuer.url));
  });
  after(async () => {
    // No output of any run, and no file but the dotenv files, holds an access token, an STS secret or an ID token;
    // the dotenv files hold no ID token either.
    const issued = [...entra.issued.map((t) => t.accessToken), ...world.sts.issued.flatMap((c) => [c.secretAccessKey, c.sessionToken])];
    assert.ok(issued.length > 0 && idTokens.length > 0);
    for (const output of capturedOutputs) for (const s of [...issued, ...idTokens, API_TOKEN]) assert.ok(!output.includes(s), 'a secret reached stdout or stderr');
    for (const file of readTree(dir)) {
      for (const s of idTokens) assert.ok(!file.text.includes(s), `an ID token reached ${file.path}`);
      if (file.path.endsWith('.env')) continue;
      for (const s of issued) assert.ok(!file.text.includes(s), `a secret reached ${file.path}`);
    }
    await entra.close();
    await world.close();
  });

  const mint = async (aud: string) => {
    const token = await world.issuer.mint(MAIN, { aud });
    idTokens.push(token);
    return token;
  };
  const env = (extra: Record<string, string> = {}) => ({
    CI_SERVER_URL: world.issuer.url,
    CI_API_V4_URL: `${world.issuer.url}/api/v4`,
    CI_PROJECT_ID: '1217',
    CI_PROJECT_PATH: 'acme/payments',
    CI_PIPELINE_ID: '1000001',
    CI_JOB_ID: '829489',
    CI_MERGE_REQUEST_IID: '7',
    OAM_GITLAB_TOKEN: API_TOKEN,
    AWS_ENDPOINT_URL_STS: world.sts.url,
    ...extra,
  });
  const azureTrait: AzureFederatedTrait = { type: 'azure-federated', tenantId: TENANT, clientId: CLIENT, subscriptionId: SUBSCRIPTION, scope: '', authorityHost: '', exportPrefix: '' };

  it('grants: the dotenv holds exactly the names of export-names.ts and the access token, never the ID token', async () => {
    const token = await mint(AZURE_AUD);
    const result = await runCli(['grant', '--component', 'deploy-azure'], { cwd: dir, env: env({ OAM_ID_TOKEN: token }) });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, new RegExp(`ok: granted deploy-azure: ${CLIENT}@${TENANT} \\(object ${OBJECT}\\) until `));
    const text = readFileSync(join(dir, 'oam-grant.env'), 'utf8');
    const vars = parseDotenv(text);
    assert.deepEqual(Object.keys(vars), grantVariableNames([azureTrait]));
    assert.deepEqual(Object.keys(vars), [
      'AZURE_CLIENT_ID',
      'AZURE_TENANT_ID',
      'AZURE_SUBSCRIPTION_ID',
      'ARM_CLIENT_ID',
      'ARM_TENANT_ID',
      'ARM_SUBSCRIPTION_ID',
      'AZURE_ACCESS_TOKEN',
      'OAM_GRANT_EXPIRES_AT',
    ]);
    const granted = entra.issued.at(-1)!;
    assert.equal(vars.AZURE_ACCESS_TOKEN, granted.accessToken);
    assert.ok(!text.includes(token), 'the ID token is never handed to another job');
    assert.ok(Date.parse(vars.OAM_GRANT_EXPIRES_AT!) <= granted.expiresAt.getTime() + 1000);

    // The note and the audit record name the provider and the app, and hold no token.
    const audit = JSON.parse(readFileSync(join(dir, '.oam-grant/audit.json'), 'utf8'));
    assert.deepEqual(
      audit.grant.credentials.map((c: { provider: string; identity: string; sessionName: string }) => [c.provider, c.identity, c.sessionName]),
      [['azure-federated', `${CLIENT}@${TENANT} (object ${OBJECT})`, granted.correlationId]],
    );
    const note = world.gitlab.notes('1217', 7).at(-1)!;
    assert.match(note.body, new RegExp(`\\| Identity \\| \`${CLIENT}@${TENANT}\` \\|`));
    assert.match(note.body, /management\.azure\.com\/\.default in subscription 33333333/);
  });

  it('plan shows the app registration and the scope, and exchanges nothing', async () => {
    const before = entra.calls.length;
    const result = await runCli(['plan', '--component', 'deploy-azure'], { cwd: dir, env: env({ OAM_ID_TOKEN: await mint(AZURE_AUD) }) });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`azure-federated identity ${CLIENT}@${TENANT}`));
    assert.equal(entra.calls.length, before);
  });

  it('trust-policy prints the federated identity credential the app needs', async () => {
    const result = await runCli(['trust-policy', '--component', 'deploy-azure'], { cwd: dir, env: env() });
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), {
      clientId: CLIENT,
      tenantId: TENANT,
      federatedIdentityCredentials: [
        {
          name: 'oam-deploy-azure-branch-main',
          issuer: world.issuer.url,
          subject: 'project_path:acme/payments:ref_type:branch:ref:main',
          audiences: [AZURE_AUD],
          description: 'oam-grant component deploy-azure: acme/payments branch main',
        },
      ],
    });
    assert.match(result.stderr, /note: app aaaaaaaa-.* holds at most 20 federated identity credentials/);
  });

  it('exec: the child gets the access token and, for az and Terraform, the ID token; no ID token variable', async () => {
    const token = await mint(AZURE_AUD);
    const script =
      'const e=process.env; const h=(v)=>require("node:crypto").createHash("sha256").update(v??"").digest("hex");' +
      'process.stdout.write([!!e.AZURE_ACCESS_TOKEN, e.ARM_USE_OIDC, h(e.ARM_OIDC_TOKEN)===e.EXPECTED, h(e.AZURE_FEDERATED_TOKEN)===e.EXPECTED, "OAM_ID_TOKEN" in e].join(","))';
    const result = await runCli(['exec', '--component', 'deploy-azure', '--', process.execPath, '-e', script], { cwd: dir, env: env({ OAM_ID_TOKEN: token, EXPECTED: sha256(token) }) });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'true,true,true,true,false');
  });

  it('with aws-sts next to it: Entra refuses, nothing is exported (exit 1), and the AWS session is named as not revocable', async () => {
    const stsBefore = world.sts.issued.length;
    const result = await runCli(['grant', '--component', 'deploy-both', '--dotenv', 'both.env'], {
      cwd: dir,
      env: env({ OAM_ID_TOKEN_AWS_STS: await mint('sts.amazonaws.com'), OAM_ID_TOKEN_AZURE_FEDERATED: await mint(AZURE_AUD) }),
    });
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`error\\[ERR_EXCHANGE_FAILED\\]: Entra ID refused the client credentials grant for ${OTHER_CLIENT}@${TENANT}: AADSTS700213`));
    assert.match(result.stderr, /hint: app bbbbbbbb-.* needs a federated identity credential with issuer "http:\/\/127\.0\.0\.1:\d+", subject "project_path:acme\/payments:ref_type:branch:ref:main"/);
    assert.equal(world.sts.issued.length, stsBefore + 1, 'STS issued a session first');
    assert.match(result.stderr, /the grant failed: the aws-sts credentials of arn:aws:sts::123456789012:assumed-role\/ci-deploy\/\S+ cannot be revoked; they expire at \S+ and were not exported/);
    assert.equal(existsSync(join(dir, 'both.env')), false);
  });
});
