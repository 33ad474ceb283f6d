/**
 * The path rules through the built bundle, as a shaped artifact would meet
 * them: a symlinked `.oam-grant` is refused by request and grant with nothing
 * written where it points and nothing exchanged; a FIFO planted as
 * request.json is refused by approve and grant at once (it used to block the
 * open forever); out-dir and dotenv paths that leave the workspace are usage
 * errors naming the flag and its variable.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type EmbeddedDefault, startEmbeddedDefault } from '../emulators/index.ts';
import { withInstance } from '../helpers/access-file.ts';
import { CLI, type CliResult, runCli, workspace } from '../helpers/cli.ts';

const ACCESS_FILE = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: paths}
spec:
  components:
    - name: gated
      type: gitlab-job
      traits:
        - type: aws-sts
          properties: {roleArn: "arn:aws:iam::123456789012:role/ci-deploy"}
    - name: open
      type: gitlab-job
      traits:
        - type: aws-sts
          properties: {roleArn: "arn:aws:iam::123456789012:role/ci-deploy"}
  workflow:
    steps:
      - name: approve-gated
        type: jit-approval
        properties:
          component: gated
          approvers: {users: [alice]}
`;

const DEV = { user_id: '42', user_login: 'dev', user_email: 'dev@example.com' };
const ALICE = { user_id: '43', user_login: 'alice', user_email: 'alice@example.com' };

describe('path rules through the bundle', () => {
  let world: EmbeddedDefault;
  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build`);
    world = await startEmbeddedDefault();
  });
  after(() => world.close());

  // OAM_GITLAB_TOKEN: the narrowing guard asks the API which branch is the default one.
  const env = (extra: Record<string, string>) => ({ CI_SERVER_URL: world.issuer.url, AWS_ENDPOINT_URL_STS: world.sts.url, CI_PIPELINE_ID: '77', OAM_GITLAB_TOKEN: 'glpat-paths-test-0001', ...extra });
  const evidenceToken = (person: object, jobId: string) => world.issuer.mint({ ...person, pipeline_id: '77', job_id: jobId }, { aud: 'oam-grant', ttlSeconds: 3600 });
  const exchangeToken = () => world.issuer.mint({ ...DEV, pipeline_id: '77', job_id: '1000' });

  /** A workspace whose `.oam-grant` is a link to a folder outside it. */
  function linkedWorkspace(): { dir: string; elsewhere: string } {
    const dir = workspace(withInstance(ACCESS_FILE, world.issuer.url));
    const elsewhere = mkdtempSync(join(tmpdir(), 'oam-elsewhere-'));
    symlinkSync(elsewhere, join(dir, '.oam-grant'));
    return { dir, elsewhere };
  }

  function refused(result: CliResult, code: string, status: number, message: RegExp): void {
    assert.equal(result.status, status, result.stderr);
    assert.match(result.stderr, new RegExp(`^error\\[${code}\\]: ${message.source}`, 'm'));
    assert.match(result.stderr, /^hint: /m);
  }

  it('request: a symlinked .oam-grant is refused, and nothing is written where it points', async () => {
    const { dir, elsewhere } = linkedWorkspace();
    const result = await runCli(['request', '--component', 'gated'], { cwd: dir, env: env({ OAM_EVIDENCE_TOKEN: await evidenceToken(DEV, '800') }) });
    refused(result, 'ERR_EXPORT_FAILED', 1, /cannot write the request evidence \.oam-grant\/request\.json: \.oam-grant: is a symbolic link/);
    assert.deepEqual(readdirSync(elsewhere), []);
  });

  it('grant without an approval step: a symlinked .oam-grant is refused before anything is exchanged', async () => {
    const { dir, elsewhere } = linkedWorkspace();
    const before = world.sts.calls.length;
    const result = await runCli(['grant', '--component', 'open'], { cwd: dir, env: env({ OAM_ID_TOKEN: await exchangeToken() }) });
    refused(result, 'ERR_EXPORT_FAILED', 1, /cannot write records below --out-dir \.oam-grant: \.oam-grant: is a symbolic link/);
    assert.equal(world.sts.calls.length, before, 'nothing sent to STS');
    assert.deepEqual(readdirSync(elsewhere), []);
    assert.equal(existsSync(join(dir, 'oam-grant.env')), false);
  });

  it('grant with an approval step: evidence behind a symlinked .oam-grant is refused', async () => {
    const { dir, elsewhere } = linkedWorkspace();
    const before = world.sts.calls.length;
    const result = await runCli(['grant', '--component', 'gated'], { cwd: dir, env: env({ OAM_ID_TOKEN: await exchangeToken() }) });
    refused(result, 'ERR_APPROVAL_INVALID', 3, /\.oam-grant: is a symbolic link/);
    assert.equal(world.sts.calls.length, before);
    assert.deepEqual(readdirSync(elsewhere), []);
  });

  for (const command of ['approve', 'grant'] as const) {
    it(`${command}: a FIFO planted as request.json is refused within a second`, async () => {
      const dir = workspace(withInstance(ACCESS_FILE, world.issuer.url));
      mkdirSync(join(dir, '.oam-grant'));
      execFileSync('mkfifo', [join(dir, '.oam-grant/request.json')]);
      const tokens: Record<string, string> = command === 'approve' ? { OAM_EVIDENCE_TOKEN: await evidenceToken(ALICE, '901'), OAM_APPROVAL_REASON: 'OPS-1' } : { OAM_ID_TOKEN: await exchangeToken() };
      const started = Date.now();
      // Should the open ever block on the FIFO again, a writer releases it after two seconds, and the timing below fails.
      const release = setTimeout(() => {
        try {
          closeSync(openSync(join(dir, '.oam-grant/request.json'), constants.O_WRONLY | constants.O_NONBLOCK));
        } catch {
          // No reader waiting: nothing to release.
        }
      }, 2_000);
      const result = await runCli([command, '--component', 'gated'], { cwd: dir, env: env(tokens) }).finally(() => clearTimeout(release));
      const elapsed = Date.now() - started;
      refused(result, 'ERR_APPROVAL_INVALID', 3, /\.oam-grant\/request\.json: is a named pipe \(FIFO\), not a regular file/);
      // The whole run, node's start and the token check included (a FIFO used to block the open forever).
      assert.ok(elapsed < 1_000, `${elapsed} ms`);
    });
  }

  const outside: [string, string[], RegExp][] = [
    ['--out-dir with ..', ['--out-dir', '../evidence'], /--out-dir \(OAM_OUT_DIR\) \.\.\/evidence is outside the job's workspace /],
    ['--dotenv with an absolute path elsewhere', ['--dotenv', join(tmpdir(), 'oam-grant.env')], /--dotenv \(OAM_DOTENV\) .*oam-grant\.env is outside the job's workspace /],
  ];
  for (const [name, flags, message] of outside) {
    it(`grant: ${name} is a usage error, before anything is exchanged`, async () => {
      const dir = workspace(withInstance(ACCESS_FILE, world.issuer.url));
      const before = world.sts.calls.length;
      const result = await runCli(['grant', '--component', 'open', ...flags], { cwd: dir, env: env({ OAM_ID_TOKEN: await exchangeToken() }) });
      refused(result, 'ERR_USAGE', 2, message);
      assert.equal(world.sts.calls.length, before);
    });
  }

  it('request: OAM_OUT_DIR leaving the workspace is a usage error too', async () => {
    const dir = workspace(withInstance(ACCESS_FILE, world.issuer.url));
    const result = await runCli(['request', '--component', 'gated'], { cwd: dir, env: env({ OAM_EVIDENCE_TOKEN: await evidenceToken(DEV, '800'), OAM_OUT_DIR: '../../x' }) });
    refused(result, 'ERR_USAGE', 2, /--out-dir \(OAM_OUT_DIR\) \.\.\/\.\.\/x is outside the job's workspace /);
  });
});
