/**
 * gcp-wif through the built bundle, against the loopback issuer, GitLab API
 * and the Google emulator configured from what `trust-policy` prints: the
 * configuration must both let the file's grant through and refuse what the
 * file refuses, as Google would read it.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportedNames } from '../../src/providers/export-names.ts';
import type { GcpWifTrait } from '../../src/access-file/model.ts';
import { DEFAULT_SHA, type EmbeddedDefault, type GoogleEmulator, startEmbeddedDefault, startGoogle } from '../emulators/index.ts';
import { withInstance } from '../helpers/access-file.ts';
import { capturedOutputs, parseDotenv, readTree, runCli, workspace } from '../helpers/cli.ts';

const WIP = 'projects/123456789/locations/global/workloadIdentityPools/gitlab/providers/gitlab-ci';
const AUD = `https://iam.googleapis.com/${WIP}`;
const SA = 'deployer@my-project.iam.gserviceaccount.com';
const UNBOUND = 'unbound@my-project.iam.gserviceaccount.com';
const MAIN = { ref: 'main', ref_type: 'branch', ref_protected: 'true' };
const API_TOKEN = 'glpat-gcp-wif-test-0001';

const accessFile = (sts: string, iam: string) => `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: payments-api
spec:
  components:
    - name: deploy-gcp
      type: gitlab-job
      traits:
        - type: gcp-wif
          properties:
            workloadIdentityProvider: ${WIP}
            serviceAccount: ${SA}
            projectId: my-project
            durationSeconds: 600
            stsEndpoint: ${sts}
            iamCredentialsEndpoint: ${iam}
        - type: mr-audit
          properties: {required: true}
    - name: aws-and-gcp
      type: gitlab-job
      traits:
        - type: aws-sts
          properties: {roleArn: "arn:aws:iam::123456789012:role/ci-deploy"}
        - type: gcp-wif
          properties:
            workloadIdentityProvider: ${WIP}
            serviceAccount: ${UNBOUND}
            stsEndpoint: ${sts}
            iamCredentialsEndpoint: ${iam}
  policies:
    - name: protected-main
      type: gitlab-conditions
      properties:
        refProtected: true
        refTypes: [branch]
        refs: ["main"]
        projectPaths: ["acme/payments"]
`;

interface PrintedConfig {
  workloadIdentityPoolProvider: { name: string; oidc: { issuerUri: string; allowedAudiences: string[] }; attributeMapping: Record<string, string>; attributeCondition: string };
  serviceAccountIamBinding: { serviceAccount: string; role: string; members: string[] };
  gcloud: string[];
}

describe('gcp-wif through the bundle', () => {
  let world: EmbeddedDefault;
  let google: GoogleEmulator;
  let dir: string;
  let printed: PrintedConfig;
  let trustStderr: string;
  const exchangeTokens: string[] = [];

  before(async () => {
    world = await startEmbeddedDefault({ gitlab: { tokens: [API_TOKEN] } });
    // The configuration does not depend on the endpoints: print it from Google's own, then point the file at the emulator.
    dir = workspace(withInstance(accessFile('https://sts.googleapis.com', 'https://iamcredentials.googleapis.com'), world.issuer.url));
    const trust = await runCli(['trust-policy', '--component', 'deploy-gcp'], { cwd: dir, env: { CI_SERVER_URL: world.issuer.url } });
    assert.equal(trust.status, 0, trust.stderr);
    printed = JSON.parse(trust.stdout) as PrintedConfig;
    trustStderr = trust.stderr;
    const provider = printed.workloadIdentityPoolProvider;
    google = await startGoogle({
      providers: [{ name: provider.name, issuerUri: provider.oidc.issuerUri, allowedAudiences: provider.oidc.allowedAudiences, attributeMapping: provider.attributeMapping, attributeCondition: provider.attributeCondition }],
      serviceAccounts: [
        { email: printed.serviceAccountIamBinding.serviceAccount, workloadIdentityUsers: printed.serviceAccountIamBinding.members },
        { email: UNBOUND, workloadIdentityUsers: [] },
      ],
    });
    writeFileSync(join(dir, '.gitlab/oam.yaml'), withInstance(accessFile(google.stsUrl, google.iamCredentialsUrl), world.issuer.url));
  });
  after(async () => {
    // No output of any run, and no file but the dotenv files, may hold a token or a credential.
    const secrets = [...google.federatedTokens.map((t) => t.token), ...google.accessTokens.map((t) => t.token), ...world.sts.issued.flatMap((c) => [c.secretAccessKey, c.sessionToken]), ...exchangeTokens, API_TOKEN];
    assert.ok(google.accessTokens.length > 0 && world.sts.issued.length > 0);
    for (const output of capturedOutputs) for (const s of secrets) assert.ok(!output.includes(s), 'a secret reached stdout or stderr');
    for (const file of readTree(dir)) {
      if (file.path.endsWith('.env')) continue;
      for (const s of secrets) assert.ok(!file.text.includes(s), `a secret reached ${file.path}`);
    }
    await google.close();
    await world.close();
  });

  const mint = async (claims: Record<string, unknown>, aud: string) => {
    const token = await world.issuer.mint(claims, { aud });
    exchangeTokens.push(token);
    return token;
  };
  const env = (tokens: Record<string, string>) => ({
    CI_SERVER_URL: world.issuer.url,
    CI_API_V4_URL: `${world.issuer.url}/api/v4`,
    CI_PROJECT_ID: '1217',
    CI_MERGE_REQUEST_IID: '7',
    CI_COMMIT_SHA: DEFAULT_SHA,
    OAM_GITLAB_TOKEN: API_TOKEN,
    AWS_ENDPOINT_URL_STS: world.sts.url,
    ...tokens,
  });

  it('trust-policy prints the provider and the binding, as narrow as the file, with its notes', () => {
    const provider = printed.workloadIdentityPoolProvider;
    assert.equal(provider.oidc.issuerUri, world.issuer.url);
    assert.deepEqual(provider.oidc.allowedAudiences, [AUD]);
    assert.equal(provider.attributeCondition, "assertion.project_path == 'acme/payments' && assertion.ref_type == 'branch' && assertion.ref == 'main' && assertion.ref_protected == 'true'");
    assert.deepEqual(printed.serviceAccountIamBinding.members, ['principalSet://iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/gitlab/attribute.project_path/acme/payments']);
    assert.equal(printed.gcloud.length, 2);
    assert.match(trustStderr, /note: Google checks ref_protected/);
    assert.doesNotMatch(trustStderr, /warning:/);
  });

  it('the printed configuration refuses at Google what the file refuses', async () => {
    const exchange = async (claims: Record<string, unknown>) => {
      const res = await fetch(`${google.stsUrl}/v1/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          audience: `//iam.googleapis.com/${WIP}`,
          grantType: 'urn:ietf:params:oauth:grant-type:token-exchange',
          requestedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
          scope: 'https://www.googleapis.com/auth/cloud-platform',
          subjectTokenType: 'urn:ietf:params:oauth:token-type:jwt',
          subjectToken: await mint(claims, AUD),
        }),
      });
      return res.status === 200 ? 'admitted' : ((await res.json()) as { error: string }).error;
    };
    assert.equal(await exchange(MAIN), 'admitted');
    assert.equal(await exchange({ ...MAIN, ref_protected: 'false' }), 'unauthorized_client');
    assert.equal(await exchange({ ...MAIN, ref: 'feature/x' }), 'unauthorized_client');
    assert.equal(await exchange({ ...MAIN, ref_type: 'tag' }), 'unauthorized_client');
    assert.equal(await exchange({ ...MAIN, project_path: 'acme/other' }), 'unauthorized_client');
  });

  it('plan shows the service account it would act as', async () => {
    const result = await runCli(['plan', '--component', 'deploy-gcp'], { cwd: dir, env: env({ OAM_ID_TOKEN: await mint(MAIN, AUD) }) });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout + result.stderr, new RegExp(`gcp-wif\\s+identity ${SA.replace(/\./g, '\\.')}`));
  });

  it('grant exports exactly the names of export-names.ts, posts the note and writes the audit record', async () => {
    const token = await mint({ ...MAIN, pipeline_id: '5001' }, AUD);
    const result = await runCli(['grant', '--component', 'deploy-gcp'], { cwd: dir, env: env({ OAM_ID_TOKEN: token }) });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, new RegExp(`ok: granted deploy-gcp: ${SA.replace(/\./g, '\\.')} until `));
    const saToken = google.accessTokens.at(-1)!;
    const vars = parseDotenv(readFileSync(join(dir, 'oam-grant.env'), 'utf8'));
    const trait = { type: 'gcp-wif', projectId: 'my-project', exportPrefix: '' } as GcpWifTrait;
    assert.deepEqual(Object.keys(vars), [...exportedNames(trait), 'OAM_GRANT_EXPIRES_AT']);
    assert.equal(vars.CLOUDSDK_AUTH_ACCESS_TOKEN, saToken.token);
    assert.equal(vars.GOOGLE_OAUTH_ACCESS_TOKEN, saToken.token);
    assert.equal(vars.GOOGLE_CLOUD_PROJECT, 'my-project');
    assert.equal(vars.OAM_GRANT_EXPIRES_AT, saToken.expiresAt.toISOString());
    assert.equal(saToken.serviceAccount, SA);
    assert.ok(Math.abs(saToken.expiresAt.getTime() - Date.now() - 600_000) < 10_000, 'durationSeconds reached IAM Credentials');

    const audit = JSON.parse(readFileSync(join(dir, '.oam-grant/audit.json'), 'utf8')) as { grant: { credentials: { provider: string; identity: string; sessionName?: string }[] } };
    assert.deepEqual(audit.grant.credentials.map((c) => [c.provider, c.identity, c.sessionName]), [['gcp-wif', SA, undefined]]);
    const note = world.gitlab.notes('1217', 7).find((n) => n.body.includes('pipeline=5001 '));
    assert.ok(note, 'the note was posted');
    assert.match(note.body, new RegExp(`\\| Identity \\| \`${SA.replace(/\./g, '\\.')}\` \\|`));
    assert.match(note.body, /granted/i);
  });

  it('with aws-sts in the same component: Google refuses, nothing is exported, the AWS session is named as not revocable', async () => {
    const claims = { ...MAIN, pipeline_id: '5002' };
    const awsToken = await mint(claims, 'sts.amazonaws.com');
    const gcpToken = await mint(claims, AUD);
    const issuedBefore = world.sts.issued.length;
    const result = await runCli(['grant', '--component', 'aws-and-gcp', '--dotenv', 'both.env'], { cwd: dir, env: env({ OAM_ID_TOKEN_AWS_STS: awsToken, OAM_ID_TOKEN_GCP_WIF: gcpToken }) });
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, /error\[ERR_EXCHANGE_FAILED\]: Google IAM Credentials refused generateAccessToken for unbound@my-project\.iam\.gserviceaccount\.com: PERMISSION_DENIED/);
    assert.match(result.stderr, /hint: grant roles\/iam\.workloadIdentityUser on unbound@/);
    assert.equal(world.sts.issued.length, issuedBefore + 1, 'AWS issued its session first');
    assert.match(result.stderr, /the grant failed: the aws-sts credentials of arn:aws:sts::123456789012:assumed-role\/ci-deploy\/\S+ cannot be revoked; they expire at \S+ and were not exported/);
    assert.equal(existsSync(join(dir, 'both.env')), false, 'nothing exported');
  });
});
