/**
 * Benchmark (not a test): the bundled `grant` against `node -e 0` on each Node
 * version found (the machine's, and 22/24 from .ci/node-versions), each as a
 * user gets it:
 *   - npx: the package's files as published (the bundle and the code caches the
 *     build wrote, one set per Node version it had), run with `node`;
 *   - image: the bundle with caches written by that very node (the Dockerfile's
 *     RUN), run through the image's `oam-grant` shell wrapper.
 * Plus `validate`, a vault-jwt grant against the Vault emulator, an azure-federated
 * grant against the Entra ID emulator, a token-exchange grant against the RFC 8693
 * emulator and a gcp-wif
 * grant against the Google emulator (STS, then generateAccessToken), the AWS
 * CLI's assume-role-with-web-identity on the same loopback STS, the bundle and package sizes and grant's peak RSS. Every
 * command of a round runs back to back, so machine noise hits them alike;
 * medians of wall time, and of CPU time (user + system, every thread of the
 * process, reported at exit by a preloaded one-line module): on a shared,
 * loaded machine the wall time of every process stretches, the CPU time much
 * less, so the CPU ratio is the steadier figure.
 *
 *   npm run bench            (RUNS=N to change the number of rounds, default 15)
 *   BENCH_BASELINE=<dist folder of another build> npm run bench
 *                            adds that build's grant (its bundle and shipped caches) to every
 *                            round, so a change is compared within one run, not across runs
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { gzipSync } from 'node:zlib';
import { withInstance } from '../test/helpers/access-file.ts';
import { nodeVersions } from './node-versions.mjs';

const DIST = resolve('dist');
const BUNDLE = 'oam-grant.mjs';
const AWS = '/usr/bin/aws';
const RUNS = Number(process.env.RUNS ?? 15);
const BASELINE = process.env.BENCH_BASELINE;
const ROLE = 'arn:aws:iam::123456789012:role/ci-deploy';
const GCP_PROVIDER = 'projects/123456789/locations/global/workloadIdentityPools/gitlab/providers/gitlab-ci';
const TARGET_RATIO = 2.5;

const accessFile = (
  google: { sts: string; iamCredentials: string },
  vault: string,
  entra: { entra: string; tenantId: string; clientId: string },
  tokenExchange: string,
) => `apiVersion: core.oam.dev/v1beta1
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
          properties: {address: "${vault}", role: ci}
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

interface RunOptions {
  cwd: string;
  env: Record<string, string>;
}

const CPU_LINE = /^oam-bench-cpu ([0-9.]+)$/m;

function run(command: string, args: string[], options: RunOptions): { ms: number; cpu: number; stderr: string } {
  const started = process.hrtime.bigint();
  const child = spawnSync(command, args, { ...options, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (child.error) throw child.error;
  if (child.status !== 0) throw new Error(`${command} ${args.slice(0, 2).join(' ')} exited ${child.status}: ${child.stderr.slice(-400)}`);
  return { ms, cpu: Number(CPU_LINE.exec(child.stderr)?.[1] ?? Number.NaN), stderr: child.stderr };
}

/** A command measured once per round. */
interface Case {
  readonly label: string;
  readonly command: string;
  readonly args: string[];
  readonly samples: number[];
  readonly cpu: number[];
  /** Variables of this case only (another token, another dotenv file). */
  readonly env?: Record<string, string>;
}

function chunkStates(command: string, args: string[], options: RunOptions): string {
  const { stderr } = run(command, args, { ...options, env: { ...options.env, OAM_GRANT_TRACE_CHUNKS: '1' } });
  return /oam-grant chunks: (.*)/.exec(stderr)?.[1] ?? '?';
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
const scratch = mkdtempSync(join(tmpdir(), 'oam-grant-bench-'));
try {
  const workspace = join(scratch, 'project');
  mkdirSync(join(workspace, '.gitlab'), { recursive: true });
  writeFileSync(join(workspace, '.gitlab/oam.yaml'), withInstance(accessFile(google, vaultUrl, entra, world.tokenExchange), world.issuer));
  const mint = async (aud?: string) =>
    (await fetch(`${world.issuer}/mint?format=raw&ttl=3600&ref=main&ref_type=branch&ref_protected=true${aud ? `&aud=${encodeURIComponent(aud)}` : ''}`)).text();
  const token = await mint();
  const vaultToken = await mint(vaultUrl);
  const gcpToken = await mint(`https://iam.googleapis.com/${GCP_PROVIDER}`);
  const azureToken = await mint('api://AzureADTokenExchange');
  const apiToken = await mint(world.tokenExchange);
  // Every node started reports its CPU time as it exits (NODE_OPTIONS reaches the image wrapper's node too).
  const cpuReport = join(scratch, 'cpu-report.cjs');
  writeFileSync(cpuReport, "process.on('exit', () => { const u = process.cpuUsage(); process.stderr.write('\\noam-bench-cpu ' + (u.user + u.system) / 1000 + '\\n'); });\n");
  const env = {
    PATH: process.env.PATH ?? '',
    NODE_OPTIONS: `--require ${cpuReport}`,
    HOME: workspace,
    CI_SERVER_URL: world.issuer,
    OAM_ID_TOKEN: token,
    AWS_ENDPOINT_URL_STS: world.sts,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_DEFAULT_REGION: 'eu-west-1',
  };
  const opts = { cwd: workspace, env };

  // As npm installs the package: the bundle and every cache the build wrote.
  const npx = join(scratch, 'npx');
  mkdirSync(npx);
  const shipped = readdirSync(DIST).filter((file) => file === BUNDLE || (file.startsWith(`${BUNDLE}.`) && file.endsWith('.code-cache')));
  for (const file of shipped) copyFileSync(join(DIST, file), join(npx, file));

  // Another build's package (say, main's dist), measured in the same rounds.
  const baseline = join(scratch, 'baseline');
  if (BASELINE) {
    mkdirSync(baseline);
    for (const file of readdirSync(BASELINE).filter((f) => f === BUNDLE || (f.startsWith(`${BUNDLE}.`) && f.endsWith('.code-cache')))) {
      copyFileSync(join(BASELINE, file), join(baseline, file));
    }
  }

  const versions = nodeVersions();
  const perVersion = versions.map((node) => {
    // As the image has it: the bundle, caches written by this node, the sh wrapper.
    const image = join(scratch, `image-node${node.major}`);
    mkdirSync(image);
    copyFileSync(join(DIST, BUNDLE), join(image, BUNDLE));
    run(node.path, [join(image, BUNDLE)], { cwd: image, env: { PATH: env.PATH, OAM_GRANT_BUILD_CODE_CACHE: '1' } });
    const wrapper = join(image, 'oam-grant');
    writeFileSync(wrapper, `#!/bin/sh\nexec ${JSON.stringify(node.path)} ${JSON.stringify(join(image, BUNDLE))} "$@"\n`);
    chmodSync(wrapper, 0o755);
    const grant = ['grant', '--component', 'deploy'];
    const cases: Case[] = [
      { label: 'node -e 0', command: node.path, args: ['-e', '0'], samples: [], cpu: [] },
      { label: 'grant (npx: shipped caches)', command: node.path, args: [join(npx, BUNDLE), ...grant], samples: [], cpu: [] },
      { label: 'grant (image: own caches)', command: wrapper, args: grant, samples: [], cpu: [] },
      { label: 'validate (npx)', command: node.path, args: [join(npx, BUNDLE), 'validate'], samples: [], cpu: [] },
      {
        label: 'grant, vault-jwt (npx)',
        command: node.path,
        args: [join(npx, BUNDLE), 'grant', '--component', 'secrets', '--dotenv', 'vault.env'],
        samples: [],
        cpu: [],
        env: { OAM_ID_TOKEN: vaultToken },
      },
      {
        label: 'grant, gcp-wif (npx)',
        command: node.path,
        args: [join(npx, BUNDLE), 'grant', '--component', 'deploy-gcp', '--dotenv', 'gcp.env'],
        samples: [],
        cpu: [],
        env: { OAM_ID_TOKEN: gcpToken },
      },
      {
        label: 'grant, azure-federated (npx)',
        command: node.path,
        args: [join(npx, BUNDLE), 'grant', '--component', 'deploy-azure', '--dotenv', 'azure.env'],
        samples: [],
        cpu: [],
        env: { OAM_ID_TOKEN: azureToken },
      },
      {
        label: 'grant, token-exchange (npx)',
        command: node.path,
        args: [join(npx, BUNDLE), 'grant', '--component', 'api', '--dotenv', 'api.env'],
        samples: [],
        cpu: [],
        env: { OAM_ID_TOKEN: apiToken },
      },
      ...(BASELINE ? [{ label: 'grant, BENCH_BASELINE (npx)', command: node.path, args: [join(baseline, BUNDLE), ...grant], samples: [], cpu: [] }] : []),
    ];
    const states = {
      npx: chunkStates(node.path, [join(npx, BUNDLE), ...grant], opts),
      image: chunkStates(wrapper, grant, opts),
    };
    return { node, cases, states };
  });
  const haveAws = existsSync(AWS);
  const aws: Case = {
    label: 'aws sts assume-role-with-web-identity',
    command: AWS,
    args: ['sts', 'assume-role-with-web-identity', '--endpoint-url', world.sts, '--role-arn', ROLE, '--role-session-name', 'bench', '--web-identity-token', token, '--output', 'json'],
    samples: [],
    cpu: [],
  };

  for (let round = 0; round < RUNS + 1; round++) {
    const all = [...perVersion.flatMap((v) => v.cases), ...(haveAws ? [aws] : [])];
    for (const c of all) {
      const { ms, cpu } = run(c.command, c.args, { ...opts, env: { ...opts.env, ...c.env } });
      if (round > 0) {
        // Round 0 warms the file cache and the emulators.
        c.samples.push(ms);
        c.cpu.push(cpu);
      }
    }
  }

  const rss = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, join(npx, BUNDLE), 'grant', '--component', 'deploy'], { ...opts, encoding: 'utf8' });
  const peakKb = Number(rss.stderr.trim().split('\n').at(-1));
  const line = (name: string, value: string, note = '') => console.log(`  ${name.padEnd(40)}${value.padStart(10)}   ${note}`);
  const ms = (value: number) => `${value.toFixed(1)} ms`;
  console.log(`oam-grant benchmark: ${RUNS} interleaved rounds on loopback emulators (medians; load average ${loadavg()[0]?.toFixed(1)} on ${availableParallelism()} cores)\n`);
  const ratios: string[] = [];
  for (const { node, cases, states } of perVersion) {
    console.log(`Node ${node.version} (${node.path === process.execPath ? "the machine's" : node.path})`);
    const base = median(cases[0]!.samples);
    const baseCpu = median(cases[0]!.cpu);
    line('', 'wall', '             cpu');
    for (const c of cases) {
      const wall = median(c.samples);
      const cpu = median(c.cpu);
      const ratios = c === cases[0] ? '' : `  ${(wall / base).toFixed(2)}x wall, ${(cpu / baseCpu).toFixed(2)}x cpu of node -e 0`;
      line(c.label, ms(wall), `${ms(cpu).padStart(9)}${ratios}`);
    }
    line('chunks, npx', states.npx);
    line('chunks, image', states.image);
    const ratio = (c: Case) => `${(median(c.samples) / base).toFixed(2)}x (cpu ${(median(c.cpu) / baseCpu).toFixed(2)}x)`;
    const worst = Math.max(median(cases[1]!.samples), median(cases[2]!.samples)) / base;
    ratios.push(`Node ${node.major}: npx ${ratio(cases[1]!)}, image ${ratio(cases[2]!)}${worst <= TARGET_RATIO ? '' : ` (target <= ${TARGET_RATIO}x)`}`);
    console.log('');
  }
  if (haveAws) {
    const grant20 = median(perVersion[0]!.cases[1]!.samples);
    line(aws.label, ms(median(aws.samples)), `${(median(aws.samples) / grant20).toFixed(2)}x grant on Node ${perVersion[0]!.node.major} (target >= 4x)`);
  } else {
    line(aws.label, 'n/a', '(/usr/bin/aws missing: apt-get install awscli)');
  }
  const bundleSize = statSync(join(DIST, BUNDLE)).size;
  const packageBytes = shipped.reduce((sum, file) => sum + statSync(join(DIST, file)).size, 0);
  const packageGzip = shipped.reduce((sum, file) => sum + gzipSync(readFileSync(join(DIST, file))).length, 0);
  line('bundle size', `${(bundleSize / 1024).toFixed(0)} KiB`, 'target <= 1 MB');
  line('bundle + code caches (the package)', `${(packageBytes / 1024 / 1024).toFixed(1)} MiB`, `${(packageGzip / 1024 / 1024).toFixed(1)} MiB gzipped; ${shipped.length - 1} caches`);
  line('grant peak RSS', Number.isFinite(peakKb) ? `${(peakKb / 1024).toFixed(1)} MB` : 'n/a', 'target <= 90 MB');
  console.log(`\ngrant / node -e 0, wall (cpu):\n  ${ratios.join('\n  ')}`);
} finally {
  emulators.kill('SIGTERM');
  vaultProcess.kill('SIGTERM');
  googleEmulator.kill('SIGTERM');
  entraEmulator.kill('SIGTERM');
  rmSync(scratch, { recursive: true, force: true });
}
