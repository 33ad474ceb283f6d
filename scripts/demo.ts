/**
 * The quick start: runs oam-grant end to end on an embedded default — a local
 * GitLab OIDC issuer, an AWS STS emulator and a GitLab API emulator, all on
 * loopback — in a throwaway workspace, and tells what happens at each step.
 *
 *   npm run demo            (builds dist/oam-grant.mjs first)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startEmbeddedDefault } from '../test/emulators/index.ts';

const CLI = resolve('dist/oam-grant.mjs');
const ACCESS_FILE = `# yaml-language-server: $schema=../schema/oam-access.schema.json
apiVersion: core.oam.dev/v1beta1
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
            durationSeconds: 900
            sessionPolicy:
              Version: "2012-10-17"
              Statement:
                - Effect: Allow
                  Action: ["s3:PutObject"]
                  Resource: ["arn:aws:s3:::releases/*"]
        - type: mr-audit
          properties:
            required: true
  policies:
    - name: protected-main-only
      type: gitlab-conditions
      properties:
        refProtected: true
        refs: ["main"]
        projectPaths: ["acme/payments"]
    - name: caps
      type: credential-limits
      properties: {maxDurationSeconds: 3600}
`;

const bold = (s: string) => (process.stdout.isTTY ? `\u001b[1m${s}\u001b[0m` : s);
const say = (s = '') => process.stdout.write(`${s}\n`);

function indent(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

async function main(): Promise<number> {
  if (!existsSync(CLI)) {
    say('dist/oam-grant.mjs is missing: run `npm run build` first (npm run demo does).');
    return 1;
  }
  const world = await startEmbeddedDefault();
  const workspace = mkdtempSync(join(tmpdir(), 'oam-grant-demo-'));
  try {
    mkdirSync(join(workspace, '.gitlab'));
    writeFileSync(join(workspace, '.gitlab/oam.yaml'), ACCESS_FILE);
    const pipeline = { project_id: '1217', project_path: 'acme/payments', pipeline_id: '4242', sha: 'a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2' };
    const baseEnv = {
      PATH: process.env.PATH ?? '',
      HOME: workspace,
      CI_SERVER_URL: world.issuer.url,
      CI_API_V4_URL: `${world.gitlab.url}/api/v4`,
      CI_PROJECT_ID: pipeline.project_id,
      CI_PROJECT_PATH: pipeline.project_path,
      CI_PIPELINE_ID: pipeline.pipeline_id,
      CI_COMMIT_SHA: pipeline.sha,
      CI_MERGE_REQUEST_IID: '7',
      OAM_GITLAB_TOKEN: 'demo-api-token',
      AWS_ENDPOINT_URL_STS: world.sts.url,
    };
    const run = (title: string, args: string[], env: Record<string, string>) => {
      say(bold(`\n$ oam-grant ${args.join(' ')}`));
      say(`  ${title}`);
      const child = spawnSync(process.execPath, [CLI, ...args], { cwd: workspace, env: { ...baseEnv, ...env }, encoding: 'utf8' });
      if (child.stdout.trim()) say(indent(child.stdout));
      if (child.stderr.trim()) say(indent(child.stderr));
      say(`  -> exit ${child.status}`);
      return child.status ?? 1;
    };

    say(bold('oam-grant demo'));
    say(`  issuer (GitLab OIDC)  ${world.issuer.url}`);
    say(`  STS emulator          ${world.sts.url}`);
    say(`  GitLab API emulator   ${world.gitlab.url}`);
    say(`  workspace             ${workspace} (.gitlab/oam.yaml written)`);

    if (run('check the access file', ['validate'], {}) !== 0) return 1;

    const mainJob = { ...pipeline, ref: 'main', ref_type: 'branch', ref_protected: 'true', job_id: '9001', user_login: 'alice' };
    const exchangeToken = await world.issuer.mint(mainJob, { aud: 'sts.amazonaws.com' });
    if (run('what grant would do for a job on protected main', ['plan', '--component', 'deploy-prod'], { OAM_ID_TOKEN: exchangeToken }) !== 0) return 1;
    if (run('grant: verify, exchange with STS, post the MR note, write the dotenv file', ['grant', '--component', 'deploy-prod'], { OAM_ID_TOKEN: exchangeToken, CI_JOB_ID: '9001' }) !== 0) return 1;

    const dotenv = readFileSync(join(workspace, 'oam-grant.env'), 'utf8');
    const exported = Object.fromEntries(dotenv.trimEnd().split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
    say(bold('\n$ cat oam-grant.env   (values of secrets hidden here)'));
    for (const key of Object.keys(exported)) say(`    ${key}=${/SECRET|TOKEN|KEY_ID/.test(key) ? '…' : exported[key]}`);

    say(bold('\n$ consumer job: sts get-caller-identity with the exported credentials'));
    const { STSClient, GetCallerIdentityCommand } = await import('@aws-sdk/client-sts');
    const client = new STSClient({
      region: exported.AWS_REGION ?? 'us-east-1',
      endpoint: world.sts.url,
      credentials: {
        accessKeyId: exported.AWS_ACCESS_KEY_ID ?? '',
        secretAccessKey: exported.AWS_SECRET_ACCESS_KEY ?? '',
        sessionToken: exported.AWS_SESSION_TOKEN ?? '',
      },
    });
    const identity = await client.send(new GetCallerIdentityCommand({}));
    say(`    SigV4-signed call accepted: ${identity.Arn}`);

    const note = world.gitlab.notes(pipeline.project_id, 7)[0];
    say(bold('\n$ the merge request note (GitLab API emulator, MR !7)'));
    say(note ? indent(note.body) : '    (no note was posted)');

    const feature = { ...pipeline, ref: 'feature/x', ref_type: 'branch', ref_protected: 'false', job_id: '9002', user_login: 'mallory' };
    const featureToken = await world.issuer.mint(feature, { aud: 'sts.amazonaws.com' });
    const denied = run('the same grant from an unprotected branch is denied, and nothing is exchanged', ['grant', '--component', 'deploy-prod', '--dotenv', 'denied.env'], {
      OAM_ID_TOKEN: featureToken,
      CI_JOB_ID: '9002',
    });
    if (denied !== 3 || existsSync(join(workspace, 'denied.env'))) return 1;

    say(bold('\ndone: every step behaved as expected.'));
    return 0;
  } finally {
    await world.close();
    rmSync(workspace, { recursive: true, force: true });
  }
}

process.exitCode = await main();
