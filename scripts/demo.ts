/**
 * The quick start: runs oam-grant end to end on an embedded default — a local
 * GitLab OIDC issuer, an AWS STS emulator and a GitLab API emulator, all on
 * loopback — in a throwaway workspace, and tells what happens at each step.
 *
 *   npm run demo            (builds dist/oam-grant.mjs first)
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_SHA, startEmbeddedDefault } from '../test/emulators/index.ts';
import { withInstance } from '../test/helpers/access-file.ts';

const CLI = resolve('dist/oam-grant.mjs');
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
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
  workflow:
    steps:
      - name: approve-deploy-prod
        type: jit-approval
        timeout: 2h
        properties:
          component: deploy-prod
          approvers: {users: [alice, bob]}
          forbid: [requester, mrAuthor]
          requireReason: true
          reasonPattern: "^[A-Z]+-[0-9]+"
          validFor: 30m
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
    writeFileSync(join(workspace, '.gitlab/oam.yaml'), withInstance(ACCESS_FILE, world.issuer.url));
    const pipeline = { project_id: '1217', project_path: 'acme/payments', pipeline_id: '4242', sha: DEFAULT_SHA };
    const baseEnv = {
      PATH: process.env.PATH ?? '',
      HOME: workspace,
      CI_SERVER_URL: world.issuer.url,
      CI_API_V4_URL: `${world.issuer.url}/api/v4`,
      CI_PROJECT_ID: pipeline.project_id,
      CI_PROJECT_PATH: pipeline.project_path,
      CI_PIPELINE_ID: pipeline.pipeline_id,
      CI_COMMIT_SHA: pipeline.sha,
      CI_MERGE_REQUEST_IID: '7',
      OAM_GITLAB_TOKEN: 'demo-api-token',
      AWS_ENDPOINT_URL_STS: world.sts.url,
    };
    // Asynchronous on purpose: the emulators answer from this very process.
    const run = (title: string, args: string[], env: Record<string, string>) =>
      new Promise<number>((done) => {
        say(bold(`\n$ oam-grant ${args.join(' ')}`));
        say(`  ${title}`);
        const child = spawn(process.execPath, [CLI, ...args], { cwd: workspace, env: { ...baseEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('close', (code) => {
          if (stdout.trim()) say(indent(stdout));
          if (stderr.trim()) say(indent(stderr));
          say(`  -> exit ${code}`);
          done(code ?? 1);
        });
      });

    say(bold('oam-grant demo'));
    say(`  issuer (GitLab OIDC)  ${world.issuer.url}`);
    say(`  STS emulator          ${world.sts.url}`);
    say(`  GitLab API emulator   ${world.issuer.url}/api/v4   (MR !7 of acme/payments, opened by dev)`);
    say(`  workspace             ${workspace} (.gitlab/oam.yaml written)`);

    if ((await run('check the access file', ['validate'], {})) !== 0) return 1;

    const onMain = { ...pipeline, ref: 'main', ref_type: 'branch', ref_protected: 'true' };
    const dev = { user_id: '42', user_login: 'dev', user_email: 'dev@example.com' };
    const alice = { user_id: '43', user_login: 'alice', user_email: 'alice@example.com' };
    const mint = (claims: Record<string, string>, aud: string) => world.issuer.mint({ ...onMain, ...claims }, { aud, ttlSeconds: 3600 });

    const grantToken = await mint({ ...dev, job_id: '9003' }, 'sts.amazonaws.com');
    if ((await run('what grant would do for a job on protected main', ['plan', '--component', 'deploy-prod'], { OAM_ID_TOKEN: grantToken })) !== 0) return 1;

    const requestToken = await mint({ ...dev, job_id: '9001' }, 'oam-grant');
    if ((await run('request job (automatic), as dev: evidence + MR note', ['request', '--component', 'deploy-prod'], { OAM_EVIDENCE_TOKEN: requestToken, CI_JOB_ID: '9001' })) !== 0) return 1;

    const selfToken = await mint({ ...dev, job_id: '9010' }, 'oam-grant');
    const selfApproval = await run('dev presses Run on the approve job: separation of duties says no', ['approve', '--component', 'deploy-prod'], {
      OAM_EVIDENCE_TOKEN: selfToken,
      CI_JOB_ID: '9010',
      OAM_APPROVAL_REASON: 'OPS-42 ship it',
    });
    if (selfApproval !== 3) return 1;

    // The approver gives the reason as a comment of their own on the MR, as the request note asks.
    world.gitlab.addNote('1217', 7, 'Scope checked.\noam-grant approve deploy-prod: OPS-42 release 1.4', 43);
    say(bold('\n# alice comments on MR !7: "oam-grant approve deploy-prod: OPS-42 release 1.4"'));
    const approveToken = await mint({ ...alice, job_id: '9002' }, 'oam-grant');
    if (
      (await run("alice presses Run on the approve job (manual): the reason is her comment", ['approve', '--component', 'deploy-prod'], {
        OAM_EVIDENCE_TOKEN: approveToken,
        CI_JOB_ID: '9002',
      })) !== 0
    ) {
      return 1;
    }

    if ((await run('grant job: re-verify the evidence, exchange with STS, update the note, write the dotenv file', ['grant', '--component', 'deploy-prod'], { OAM_ID_TOKEN: grantToken, CI_JOB_ID: '9003' })) !== 0) return 1;

    const dotenv = readFileSync(join(workspace, 'oam-grant.env'), 'utf8');
    const exported = Object.fromEntries(dotenv.trimEnd().split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
    say(bold('\n$ cat oam-grant.env   (secret values hidden here)'));
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
    say(`    SigV4-signed call accepted by STS: ${identity.Arn}`);

    const note = world.gitlab.notes(pipeline.project_id, 7).find((n) => n.body.includes(`pipeline=${pipeline.pipeline_id} `));
    say(bold('\n$ the merge request note on MR !7 (one note, edited at each event)'));
    say(note ? indent(note.body) : '    (no note was posted)');

    const feature = { ...pipeline, pipeline_id: '4243', ref: 'feature/x', ref_type: 'branch', ref_protected: 'false', job_id: '9104', user_login: 'mallory' };
    const featureToken = await world.issuer.mint(feature, { aud: 'sts.amazonaws.com' });
    const denied = await run('a grant from an unprotected branch is denied before anything is exchanged', ['grant', '--component', 'deploy-prod', '--dotenv', 'denied.env'], {
      OAM_ID_TOKEN: featureToken,
      CI_JOB_ID: '9104',
      CI_PIPELINE_ID: '4243',
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
