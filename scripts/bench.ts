/**
 * Benchmark (not a test): median wall time of the bundled `grant` against
 * `node -e 0` and against the AWS CLI's assume-role-with-web-identity on the
 * same loopback STS, interleaved so machine noise hits all three alike; a
 * vault-jwt grant against the Vault emulator; a gcp-wif grant against the
 * Google emulator (STS, then generateAccessToken); an azure-federated grant
 * against the Entra ID emulator; a token-exchange grant against the RFC 8693
 * emulator; the bundle size and grant's peak RSS.
 *
 *   npm run bench            (RUNS=N to change the number of rounds, default 15)
 */
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { withInstance } from '../test/helpers/access-file.ts';

const CLI = resolve('dist/oam-grant.mjs');
const AWS = '/usr/bin/aws';
const RUNS = Number(process.env.RUNS ?? 15);
const ROLE = 'arn:aws:iam::123456789012:role/ci-deploy';
const GCP_PROVIDER = 'projects/123456789/locations/global/workloadIdentityPools/gitlab/providers/gitlab-ci';

const accessFile = (google: { sts: string; iamCredentials: string }, entra: { entra: string; tenantId: string; clientId: string }, tokenExchange: string) => `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: bench}
spec:
  components:
    - name: deploy
      type: gitlab-job
      traits:
        - type: aws-sts
          properties: {roleArn: "${ROLE}", region: eu-west-1}
    - name: secrets
      type: gitlab-job
      traits:
        - type: vault-jwt
          properties: {address: "VAULT_URL", role: ci}
    - name: deploy-gcp
      type: gitlab-job
      traits:
        - type: gcp-wif
          properties: {workloadIdentityProvider: ${GCP_PROVIDER}, serviceAccount: deployer@my-project.iam.gserviceaccount.com, stsEndpoint: "${google.sts}", iamCredentialsEndpoint: "${google.iamCredentials}"}
    - name: deploy-azure
      type: gitlab-job
      traits:
        - type: azure-federated
          properties: {tenantId: "${entra.tenantId}", clientId: "${entra.clientId}", authorityHost: "${entra.entra}"}
    - name: api
      type: gitlab-job
      traits:
        - type: token-exchange
          properties: {issuer: "${tokenExchange}", exportAs: API_TOKEN}
  policies:
    - name: main-only
      type: gitlab-conditions
      properties: {refProtected: true, refs: [main]}
`;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function timed(command: string, args: string[], options: { cwd: string; env: Record<string, string> }): number {
  const started = process.hrtime.bigint();
  const child = spawnSync(command, args, { ...options, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (child.status !== 0) throw new Error(`${command} ${args.slice(0, 2).join(' ')} exited ${child.status}: ${child.stderr.slice(-400)}`);
  return ms;
}

// The emulators run in their own process: the measured commands are run with
// spawnSync, which would otherwise block the very servers they talk to.
const emulators = spawn(process.execPath, ['--import', 'tsx', 'test/emulators/cli.ts'], { stdio: ['ignore', 'pipe', 'inherit'] });
const firstLine = await new Promise<string>((done) => createInterface({ input: emulators.stdout }).once('line', done));
const world = JSON.parse(firstLine) as { issuer: string; sts: string; gitlab: string; tokenExchange: string };
// The Vault emulator in a process of its own too, trusting that issuer for the audience it is given: its own URL.
const VAULT = `import { startVault } from './test/emulators/vault.ts';
const vault = await startVault({ mounts: (url) => [{ oidcDiscoveryUrl: process.env.ISSUER, boundIssuer: process.env.ISSUER,
  roles: [{ name: 'ci', userClaim: 'user_email', boundAudiences: [url], tokenTtl: 900, tokenExplicitMaxTtl: 900 }] }] });
process.stdout.write(vault.url + '\\n');
process.once('SIGTERM', () => vault.close().then(() => process.exit(0)));`;
const vaultProcess = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', VAULT], { env: { ...process.env, ISSUER: world.issuer }, stdio: ['ignore', 'pipe', 'inherit'] });
const vaultUrl = await new Promise<string>((done) => createInterface({ input: vaultProcess.stdout }).once('line', done));
const googleEmulator = spawn(process.execPath, ['--import', 'tsx', 'test/emulators/google-cli.ts', world.issuer], { stdio: ['ignore', 'pipe', 'inherit'] });
const google = JSON.parse(await new Promise<string>((done) => createInterface({ input: googleEmulator.stdout }).once('line', done))) as { sts: string; iamCredentials: string };
const entraEmulator = spawn(process.execPath, ['--import', 'tsx', 'test/emulators/entra-cli.ts', '--issuer', world.issuer], { stdio: ['ignore', 'pipe', 'inherit'] });
const entra = JSON.parse(await new Promise<string>((done) => createInterface({ input: entraEmulator.stdout }).once('line', done))) as { entra: string; tenantId: string; clientId: string };
const workspace = mkdtempSync(join(tmpdir(), 'oam-grant-bench-'));
try {
  mkdirSync(join(workspace, '.gitlab'));
  writeFileSync(join(workspace, '.gitlab/oam.yaml'), withInstance(accessFile(google, entra, world.tokenExchange).replace('VAULT_URL', vaultUrl), world.issuer));
  const token = await (await fetch(`${world.issuer}/mint?format=raw&ttl=3600&ref=main&ref_type=branch&ref_protected=true`)).text();
  const apiToken = await (await fetch(`${world.issuer}/mint?format=raw&ttl=3600&ref=main&ref_type=branch&ref_protected=true&aud=${encodeURIComponent(world.tokenExchange)}`)).text();
  const vaultToken = await (await fetch(`${world.issuer}/mint?format=raw&ttl=3600&ref=main&ref_type=branch&ref_protected=true&aud=${encodeURIComponent(vaultUrl)}`)).text();
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: workspace,
    CI_SERVER_URL: world.issuer,
    OAM_ID_TOKEN: token,
    AWS_ENDPOINT_URL_STS: world.sts,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_DEFAULT_REGION: 'eu-west-1',
  };
  const azureToken = await (await fetch(`${world.issuer}/mint?format=raw&ttl=3600&ref=main&ref_type=branch&ref_protected=true&aud=api://AzureADTokenExchange`)).text();
  const gcpToken = await (await fetch(`${world.issuer}/mint?format=raw&ttl=3600&ref=main&ref_type=branch&ref_protected=true&aud=https://iam.googleapis.com/${GCP_PROVIDER}`)).text();
  const opts = { cwd: workspace, env };
  const haveAws = existsSync(AWS);
  const samples = { node: [] as number[], grant: [] as number[], aws: [] as number[], vault: [] as number[], gcp: [] as number[], azure: [] as number[], tokenExchange: [] as number[] };
  for (let i = 0; i < RUNS + 1; i++) {
    const node = timed(process.execPath, ['-e', '0'], opts);
    const grant = timed(process.execPath, [CLI, 'grant', '--component', 'deploy'], opts);
    const aws = haveAws
      ? timed(AWS, ['sts', 'assume-role-with-web-identity', '--endpoint-url', world.sts, '--role-arn', ROLE, '--role-session-name', 'bench', '--web-identity-token', token, '--output', 'json'], opts)
      : Number.NaN;
    const vault = timed(process.execPath, [CLI, 'grant', '--component', 'secrets', '--dotenv', 'vault.env'], { cwd: workspace, env: { ...env, OAM_ID_TOKEN: vaultToken } });
    const gcp = timed(process.execPath, [CLI, 'grant', '--component', 'deploy-gcp', '--dotenv', 'gcp.env'], { cwd: workspace, env: { ...env, OAM_ID_TOKEN: gcpToken } });
    const azure = timed(process.execPath, [CLI, 'grant', '--component', 'deploy-azure', '--dotenv', 'azure.env'], { cwd: workspace, env: { ...env, OAM_ID_TOKEN: azureToken } });
    const tokenExchange = timed(process.execPath, [CLI, 'grant', '--component', 'api', '--dotenv', 'api.env'], { cwd: workspace, env: { ...env, OAM_ID_TOKEN: apiToken } });
    if (i === 0) continue; // warm-up round: file cache, first connection
    samples.node.push(node);
    samples.gcp.push(gcp);
    samples.azure.push(azure);
    samples.tokenExchange.push(tokenExchange);
    samples.grant.push(grant);
    samples.aws.push(aws);
    samples.vault.push(vault);
  }
  const rss = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, CLI, 'grant', '--component', 'deploy'], { ...opts, encoding: 'utf8' });
  const peakKb = Number(rss.stderr.trim().split('\n').at(-1));
  const m = { node: median(samples.node), grant: median(samples.grant), aws: median(samples.aws), vault: median(samples.vault), gcp: median(samples.gcp), azure: median(samples.azure), tokenExchange: median(samples.tokenExchange) };
  const size = statSync(CLI).size;
  const line = (name: string, value: string, target: string) => console.log(`${name.padEnd(34)}${value.padStart(12)}   ${target}`);
  console.log(`oam-grant benchmark: ${RUNS} interleaved rounds on loopback emulators (median wall time)\n`);
  line('node -e 0', `${m.node.toFixed(1)} ms`, '');
  line('oam-grant grant (bundle)', `${m.grant.toFixed(1)} ms`, '');
  line('oam-grant grant, vault-jwt', `${m.vault.toFixed(1)} ms`, '');
  line('oam-grant grant, gcp-wif', `${m.gcp.toFixed(1)} ms`, 'two calls: STS, then IAM Credentials');
  line('oam-grant grant, azure-federated', `${m.azure.toFixed(1)} ms`, '');
  line('oam-grant grant, token-exchange', `${m.tokenExchange.toFixed(1)} ms`, 'two calls: metadata, then the token endpoint');
  line('aws sts assume-role-with-web-identity', haveAws ? `${m.aws.toFixed(1)} ms` : 'n/a', haveAws ? '' : '(/usr/bin/aws missing: apt-get install awscli)');
  console.log('');
  line('grant / node -e 0', `${(m.grant / m.node).toFixed(2)}x`, 'target <= 4x');
  if (haveAws) line('aws cli / grant', `${(m.aws / m.grant).toFixed(2)}x`, 'target >= 4x');
  line('bundle size', `${(size / 1024).toFixed(0)} KiB`, 'target <= 1 MB');
  line('grant peak RSS', Number.isFinite(peakKb) ? `${(peakKb / 1024).toFixed(1)} MB` : 'n/a', 'target <= 90 MB');
} finally {
  emulators.kill('SIGTERM');
  vaultProcess.kill('SIGTERM');
  googleEmulator.kill('SIGTERM');
  entraEmulator.kill('SIGTERM');
  rmSync(workspace, { recursive: true, force: true });
}
