/**
 * vault-jwt through the built bundle: the embedded default (issuer, GitLab
 * API, STS) with a Vault emulator beside it. grant exports exactly the names
 * of export-names.ts, plan shows the identity, trust-policy prints the Vault
 * configuration, the note and the audit record name the provider; a combined
 * aws-sts + vault-jwt grant whose Vault login is refused exports nothing and
 * names the AWS session it cannot revoke; exec and a failed audit revoke the
 * Vault token. No secret reaches any output or file but the dotenv.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportedNames } from '../../src/providers/export-names.ts';
import { DEFAULT_SHA, type EmbeddedDefault, startEmbeddedDefault, startVault, type VaultEmulator, type VaultRole } from '../emulators/index.ts';
import { withInstance } from '../helpers/access-file.ts';
import { capturedOutputs, parseDotenv, readTree, runCli, workspace } from '../helpers/cli.ts';

const ACCESS_FILE = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: payments-api
spec:
  components:
    - name: secrets
      type: gitlab-job
      traits:
        - type: vault-jwt
          properties: {address: VAULT_URL, role: ci-deploy}
        - type: mr-audit
          properties: {required: true}
    - name: secrets-ns
      type: gitlab-job
      traits:
        - type: vault-jwt
          properties: {address: VAULT_URL, role: ci-deploy, mount: gitlab, namespace: team-a, exportPrefix: NS_}
    - name: long-lived
      type: gitlab-job
      traits:
        - type: vault-jwt
          properties: {address: VAULT_URL, role: long}
    - name: both
      type: gitlab-job
      traits:
        - type: aws-sts
          properties: {roleArn: "arn:aws:iam::123456789012:role/ci-deploy"}
        - type: vault-jwt
          properties: {address: VAULT_URL, role: ci-deploy}
    - name: both-refused
      type: gitlab-job
      traits:
        - type: aws-sts
          properties: {roleArn: "arn:aws:iam::123456789012:role/ci-deploy"}
        - type: vault-jwt
          properties: {address: VAULT_URL, role: releases}
  policies:
    - name: protected-main
      type: gitlab-conditions
      properties:
        refProtected: true
        refs: ["main"]
        refTypes: [branch]
        projectPaths: ["acme/payments"]
    - name: short-lived
      type: credential-limits
      properties: {maxDurationSeconds: 900}
`;

const MAIN = { ref: 'main', ref_type: 'branch', ref_protected: 'true' };
const API_TOKEN = 'glpat-vault-it-secret-0001';

describe('vault-jwt through the bundle', () => {
  let world: EmbeddedDefault;
  let vault: VaultEmulator;
  let dir: string;
  const idTokens: string[] = [];

  before(async () => {
    world = await startEmbeddedDefault();
    const role = (name: string, extra: Partial<VaultRole>, audience: string): VaultRole => ({
      name,
      userClaim: 'user_email',
      boundAudiences: [audience],
      boundClaimsType: 'glob',
      boundClaims: { project_path: ['acme/payments'], ref_type: ['branch'], ref: ['main'], ref_protected: 'true' },
      tokenTtl: 900,
      tokenMaxTtl: 900,
      tokenExplicitMaxTtl: 900,
      tokenPolicies: ['deploy'],
      ...extra,
    });
    // GitLab's default audience for Vault is its address: the roles bind the emulator's own URL.
    vault = await startVault({
      mounts: (url) => [
        {
          oidcDiscoveryUrl: world.issuer.url,
          boundIssuer: world.issuer.url,
          roles: [role('ci-deploy', {}, url), role('long', { tokenTtl: 3600, tokenMaxTtl: 3600, tokenExplicitMaxTtl: 3600 }, url), role('releases', { boundClaims: { ref: 'release/*' } }, url)],
        },
        { path: 'gitlab', namespace: 'team-a', oidcDiscoveryUrl: world.issuer.url, boundIssuer: world.issuer.url, roles: [role('ci-deploy', {}, url)] },
      ],
    });
    dir = workspace(withInstance(ACCESS_FILE.replaceAll('VAULT_URL', vault.url), world.issuer.url));
  });
  after(async () => {
    // No output of any run, and no file but the dotenv files, may hold a Vault token, an STS secret, an ID token or the API token.
    const secrets = [...vault.tokens.map((t) => t.clientToken), ...world.sts.issued.flatMap((c) => [c.secretAccessKey, c.sessionToken]), ...idTokens, API_TOKEN];
    assert.ok(vault.tokens.length > 0);
    for (const output of capturedOutputs) for (const s of secrets) assert.ok(!output.includes(s), 'a secret reached stdout or stderr');
    for (const file of readTree(dir)) {
      if (file.path.endsWith('.env')) continue;
      for (const s of secrets) assert.ok(!file.text.includes(s), `a secret reached ${file.path}`);
    }
    await vault.close();
    await world.close();
  });

  const mint = async (audience: string, claims: Record<string, unknown> = {}) => {
    const t = await world.issuer.mint({ ...MAIN, ...claims }, { aud: audience });
    idTokens.push(t);
    return t;
  };
  const env = (extra: Record<string, string>) => ({
    CI_SERVER_URL: world.issuer.url,
    CI_API_V4_URL: `${world.issuer.url}/api/v4`,
    CI_PROJECT_ID: '1217',
    CI_PROJECT_PATH: 'acme/payments',
    CI_PIPELINE_ID: String(4000 + idTokens.length),
    CI_JOB_ID: '1000',
    CI_COMMIT_SHA: DEFAULT_SHA,
    CI_MERGE_REQUEST_IID: '7',
    // The narrowing guard asks the API which branch is the default one.
    OAM_GITLAB_TOKEN: API_TOKEN,
    AWS_ENDPOINT_URL_STS: world.sts.url,
    ...extra,
  });

  it('grants: the dotenv holds exactly the names export-names.ts gives; the note and audit record name the provider', async () => {
    const result = await runCli(['grant', '--component', 'secrets', '--dotenv', 'secrets.env'], {
      cwd: dir,
      env: env({ OAM_ID_TOKEN: await mint(vault.url), OAM_GITLAB_TOKEN: API_TOKEN }),
    });
    assert.equal(result.status, 0, result.stderr);
    const token = vault.tokens.at(-1)!;
    const vars = parseDotenv(readFileSync(join(dir, 'secrets.env'), 'utf8'));
    const trait = { type: 'vault-jwt', address: vault.url, role: 'ci-deploy', mount: 'jwt', exportPrefix: '' } as const;
    assert.deepEqual(Object.keys(vars), [...exportedNames(trait), 'OAM_GRANT_EXPIRES_AT']);
    assert.deepEqual(vars.VAULT_ADDR, vault.url);
    assert.equal(vars.VAULT_TOKEN, token.clientToken);
    assert.equal(vars.OAM_GRANT_EXPIRES_AT, new Date(Date.parse(vars.OAM_GRANT_EXPIRES_AT!)).toISOString());
    assert.ok(Math.abs(Date.parse(vars.OAM_GRANT_EXPIRES_AT!) - token.expiresAt) < 5_000);
    assert.ok(vault.liveTokens().includes(token), 'a granted token stays live for the jobs that need it');
    assert.match(result.stderr, new RegExp(`ok: granted secrets: ${vault.url.replace(/[.]/g, '\\.')} auth/jwt role ci-deploy, accessor ${token.accessor}`));

    const audit = JSON.parse(readFileSync(join(dir, '.oam-grant/audit.json'), 'utf8'));
    const credentials = JSON.stringify(audit);
    assert.match(credentials, /"provider":"vault-jwt"/);
    assert.ok(credentials.includes(`"sessionName":"${token.accessor}"`));
    const note = world.gitlab.notes('1217', 7).at(-1)!.body;
    // The note escapes Markdown (`ci\-deploy`); a single credential is named by its identity and scope.
    assert.ok(note.includes('auth/jwt role ci\\-deploy') && note.includes('the policies of Vault role ci\\-deploy'), note);
    assert.ok(note.includes(token.accessor), 'the note names the session (the accessor)');
  });

  it('applies namespace and exportPrefix: NS_VAULT_ADDR, NS_VAULT_TOKEN, NS_VAULT_NAMESPACE', async () => {
    const result = await runCli(['grant', '--component', 'secrets-ns', '--dotenv', 'ns.env'], { cwd: dir, env: env({ OAM_ID_TOKEN: await mint(vault.url) }) });
    assert.equal(result.status, 0, result.stderr);
    const vars = parseDotenv(readFileSync(join(dir, 'ns.env'), 'utf8'));
    assert.deepEqual(Object.keys(vars), ['NS_VAULT_ADDR', 'NS_VAULT_TOKEN', 'NS_VAULT_NAMESPACE', 'NS_OAM_GRANT_EXPIRES_AT']);
    assert.equal(vars.NS_VAULT_NAMESPACE, 'team-a');
    assert.equal(vault.tokens.at(-1)?.namespace, 'team-a');
  });

  it('plan shows the Vault identity and the audience; exchanges nothing', async () => {
    const calls = vault.calls.length;
    const result = await runCli(['plan', '--component', 'secrets'], { cwd: dir, env: env({ OAM_ID_TOKEN: await mint(vault.url) }) });
    assert.equal(result.status, 0, result.stderr);
    const out = result.stdout + result.stderr;
    assert.ok(out.includes(`identity ${vault.url} auth/jwt role ci-deploy`), out);
    assert.ok(out.includes(`with audience ${vault.url}`), out);
    assert.equal(vault.calls.length, calls);
  });

  it('trust-policy prints the auth config and the role, as narrow as the file', async () => {
    const result = await runCli(['trust-policy', '--component', 'secrets'], { cwd: dir, env: { CI_SERVER_URL: world.issuer.url } });
    assert.equal(result.status, 0, result.stderr);
    const config = JSON.parse(result.stdout);
    assert.deepEqual(config['auth/jwt/config'], { oidc_discovery_url: world.issuer.url, bound_issuer: world.issuer.url });
    const role = config['auth/jwt/role/ci-deploy'];
    assert.deepEqual(role.bound_audiences, [vault.url]);
    assert.deepEqual(role.bound_claims, { project_path: ['acme/payments'], ref_type: ['branch'], ref: ['main'], ref_protected: 'true' });
    assert.equal(role.token_explicit_max_ttl, 900);
    assert.match(result.stderr, /note: apply it with: vault write auth\/jwt\/config/);
  });

  it('refuses a role whose TTL exceeds the cap: exit 3, nothing exported, the token revoked', async () => {
    const result = await runCli(['grant', '--component', 'long-lived', '--dotenv', 'long.env'], { cwd: dir, env: env({ OAM_ID_TOKEN: await mint(vault.url) }) });
    assert.equal(result.status, 3, result.stderr);
    assert.match(result.stderr, /error\[ERR_POLICY_DENIED\]: Vault role long issued a token with a TTL of 3600 s, longer than the credential-limits cap of 900 s/);
    assert.match(result.stderr, /hint: set token_ttl, token_max_ttl and token_explicit_max_ttl of Vault role long to at most 900 s/);
    assert.equal(existsSync(join(dir, 'long.env')), false);
    const token = vault.tokens.at(-1)!;
    assert.equal(token.role, 'long');
    assert.ok(token.revoked);
  });

  it('exec hands the token to the command and revokes it when the command ends, whatever its status', async () => {
    const script = 'process.stdout.write(String(!!process.env.NS_VAULT_TOKEN && process.env.NS_VAULT_ADDR)); process.exit(5)';
    const result = await runCli(['exec', '--component', 'secrets-ns', '--', process.execPath, '-e', script], { cwd: dir, env: env({ OAM_ID_TOKEN: await mint(vault.url) }) });
    assert.equal(result.status, 5, result.stderr);
    assert.equal(result.stdout, vault.url);
    const token = vault.tokens.at(-1)!;
    assert.ok(token.revoked, 'revoked after the command');
    assert.match(result.stderr, /the command ended: revoked the vault-jwt credentials/);
  });

  it('revokes the Vault token when the required audit note cannot be posted', async () => {
    world.gitlab.injectFaults({ status: 403, times: 10, match: { pathIncludes: '/notes' } });
    const result = await runCli(['grant', '--component', 'secrets', '--dotenv', 'unaudited.env'], {
      cwd: dir,
      env: env({ OAM_ID_TOKEN: await mint(vault.url), OAM_GITLAB_TOKEN: API_TOKEN }),
    });
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, /error\[ERR_REPORT_FAILED\]/);
    assert.equal(existsSync(join(dir, 'unaudited.env')), false);
    assert.ok(vault.tokens.at(-1)!.revoked);
    assert.match(result.stderr, /nothing was exported: revoked the vault-jwt credentials/);
  });

  it('grants aws-sts and vault-jwt together, each with its own token', async () => {
    const result = await runCli(['grant', '--component', 'both', '--dotenv', 'both.env'], {
      cwd: dir,
      // As the grant component sets it: one audience, which a component with several traits does not use.
      env: env({ OAM_ID_TOKEN_AWS_STS: await mint('sts.amazonaws.com'), OAM_ID_TOKEN_VAULT_JWT: await mint(vault.url), OAM_AUDIENCE: 'sts.amazonaws.com' }),
    });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /--audience \(OAM_AUDIENCE\) "sts\.amazonaws\.com" is not used: component both has 2 credential traits/);
    const vars = parseDotenv(readFileSync(join(dir, 'both.env'), 'utf8'));
    assert.deepEqual(Object.keys(vars), ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'VAULT_ADDR', 'VAULT_TOKEN', 'OAM_GRANT_EXPIRES_AT']);
  });

  it('a refused Vault login after AWS issued: nothing exported, exit 1, the AWS session named as not revocable', async () => {
    const stsBefore = world.sts.issued.length;
    const result = await runCli(['grant', '--component', 'both-refused', '--dotenv', 'refused.env'], {
      cwd: dir,
      env: env({ OAM_ID_TOKEN_AWS_STS: await mint('sts.amazonaws.com'), OAM_ID_TOKEN_VAULT_JWT: await mint(vault.url) }),
    });
    assert.equal(result.status, 1, result.stderr);
    assert.equal(world.sts.issued.length, stsBefore + 1, 'AWS issued first');
    assert.match(result.stderr, /error\[ERR_EXCHANGE_FAILED\]: Vault refused the JWT login of role releases .*claim "ref" does not match any associated bound claim values/);
    assert.match(result.stderr, /hint: the role's bound_claims must admit this token: .*ref "main"/);
    assert.match(result.stderr, /the grant failed: the aws-sts credentials of arn:aws:sts::123456789012:assumed-role\/ci-deploy\/\S+ cannot be revoked; they expire at \S+ and were not exported/);
    assert.equal(existsSync(join(dir, 'refused.env')), false);
  });
});
