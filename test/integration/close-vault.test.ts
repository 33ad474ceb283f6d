/**
 * close against the Vault emulator, through the built bundle: a grant of
 * aws-sts + vault-jwt, then the close job with the grant's dotenv in its
 * environment revokes the Vault token (revoke-self at the file's address)
 * and names the AWS session it cannot revoke.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_SHA, type EmbeddedDefault, startEmbeddedDefault, startVault, type VaultEmulator } from '../emulators/index.ts';
import { withInstance } from '../helpers/access-file.ts';
import { capturedOutputs, parseDotenv, runCli, workspace } from '../helpers/cli.ts';

const ACCESS_FILE = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: payments-api
spec:
  components:
    - name: both
      type: gitlab-job
      traits:
        - type: aws-sts
          properties: {roleArn: "arn:aws:iam::123456789012:role/ci-deploy"}
        - type: vault-jwt
          properties: {address: VAULT_URL, role: ci-deploy}
  policies:
    - name: protected-main
      type: gitlab-conditions
      properties: {refProtected: true, refs: ["main"], projectPaths: ["acme/payments"]}
    - name: short-lived
      type: credential-limits
      properties: {maxDurationSeconds: 900}
`;

const MAIN = { ref: 'main', ref_type: 'branch', ref_protected: 'true' };

describe('close with a Vault token through the bundle', () => {
  let world: EmbeddedDefault;
  let vault: VaultEmulator;
  let dir: string;

  before(async () => {
    world = await startEmbeddedDefault();
    vault = await startVault({
      mounts: (url) => [
        {
          oidcDiscoveryUrl: world.issuer.url,
          boundIssuer: world.issuer.url,
          roles: [
            {
              name: 'ci-deploy',
              userClaim: 'user_email',
              boundAudiences: [url],
              boundClaimsType: 'glob',
              boundClaims: { project_path: ['acme/payments'], ref: ['main'] },
              tokenTtl: 900,
              tokenMaxTtl: 900,
              tokenExplicitMaxTtl: 900,
              tokenPolicies: ['deploy'],
            },
          ],
        },
      ],
    });
    dir = workspace(withInstance(ACCESS_FILE.replaceAll('VAULT_URL', vault.url), world.issuer.url));
  });
  after(async () => {
    try {
      // Not vacuous: the tests issued a Vault token and an AWS session.
      assert.ok(vault.tokens.length > 0 && world.sts.issued.length > 0, 'nothing was issued to look for');
      const secrets = [...vault.tokens.map((t) => t.clientToken), ...world.sts.issued.flatMap((c) => [c.secretAccessKey, c.sessionToken])];
      for (const output of capturedOutputs) for (const s of secrets) assert.ok(!output.includes(s), 'a secret reached stdout or stderr');
    } finally {
      await vault.close();
      await world.close();
    }
  });

  it('revokes the Vault token, names the AWS session with its expiry, and records both', async () => {
    // OAM_GITLAB_TOKEN: the grant's narrowing guard asks the API which branch is the default one.
    const base = { CI_SERVER_URL: world.issuer.url, CI_PROJECT_ID: '1217', CI_COMMIT_SHA: DEFAULT_SHA, AWS_ENDPOINT_URL_STS: world.sts.url, OAM_GITLAB_TOKEN: 'glpat-close-vault-0001' };
    const grant = await runCli(['grant', '--component', 'both'], {
      cwd: dir,
      env: {
        ...base,
        OAM_ID_TOKEN_AWS_STS: await world.issuer.mint({ ...MAIN, job_id: '1000' }),
        OAM_ID_TOKEN_VAULT_JWT: await world.issuer.mint({ ...MAIN, job_id: '1000' }, { aud: vault.url }),
      },
    });
    assert.equal(grant.status, 0, grant.stderr);
    const token = vault.tokens.at(-1)!;
    assert.ok(vault.liveTokens().includes(token));
    // The close job receives the grant's dotenv as variables; a VAULT_ADDR there is not where the token goes.
    const dotenv = parseDotenv(readFileSync(join(dir, 'oam-grant.env'), 'utf8'));
    const close = await runCli(['close', '--component', 'both'], {
      cwd: dir,
      env: { ...base, ...dotenv, VAULT_ADDR: 'http://127.0.0.1:9', OAM_EVIDENCE_TOKEN: await world.issuer.mint({ ...MAIN, job_id: '1002' }, { aud: 'oam-grant' }) },
    });
    assert.equal(close.status, 0, close.stderr);
    assert.equal(vault.liveTokens().includes(token), false, 'the Vault token is revoked');
    assert.match(close.stderr, /vault-jwt .*: revoked at \d{4}-/);
    assert.match(close.stderr, /aws-sts arn:aws:sts::123456789012:assumed-role\/ci-deploy\/\S+: cannot be revoked .*; expires at \d{4}-/);
    const closed = JSON.parse(readFileSync(join(dir, '.oam-grant/closed.json'), 'utf8'));
    assert.deepEqual(closed.credentials.map((c: { provider: string; ended: string }) => [c.provider, c.ended]), [
      ['aws-sts', 'expires'],
      ['vault-jwt', 'revoked'],
    ]);
  });
});
