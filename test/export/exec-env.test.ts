/**
 * `exec`'s child, run in-process with a tiny Node child: it gets the
 * credentials and the job's other variables, and none of the tokens that
 * minted them or reach GitLab; its status (or the signal that killed it) is
 * ours; SIGINT and SIGTERM sent to oam-grant reach it.
 */
import assert from 'node:assert/strict';
import { existsSync, fstatSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runWithCredentials } from '../../src/export/exec-env.ts';

const node = process.execPath;
const temp = () => mkdtempSync(join(tmpdir(), 'oam-exec-'));

/** A child that writes its environment to `out` as JSON and exits 0. */
const DUMP_ENV = "require('node:fs').writeFileSync(process.argv[1], JSON.stringify(process.env))";

async function childEnv(baseEnv: Record<string, string | undefined>, variables: [string, string][] = [], tokenVariables: string[] = []): Promise<Record<string, string>> {
  const out = join(temp(), 'env.json');
  assert.equal(await runWithCredentials([node, '-e', DUMP_ENV, out], variables, baseEnv, tokenVariables), 0);
  return JSON.parse(readFileSync(out, 'utf8'));
}

const JOB_TOKEN = 'glcbt-64_jobtoken0123456789';
const API_TOKEN = 'glpat-apitoken0123456789';
const PREDEFINED = ['CI_BUILD_TOKEN', 'CI_REPOSITORY_URL', 'CI_REGISTRY_PASSWORD', 'CI_DEPENDENCY_PROXY_PASSWORD', 'CI_JOB_JWT', 'CI_JOB_JWT_V1', 'CI_JOB_JWT_V2'];

describe('runWithCredentials: the child environment', () => {
  it('passes the job variables and the credentials, and none of the tokens', async () => {
    const env = await childEnv(
      {
        HOME: '/home/runner',
        CI_PROJECT_PATH: 'acme/payments',
        AWS_ACCESS_KEY_ID: 'stale-from-the-job',
        NOT_SET: undefined,
        GITLAB_OIDC_TOKEN: 'eyJ.grant.token',
        OAM_EVIDENCE_TOKEN: 'eyJ.evidence.token',
        OAM_GITLAB_TOKEN: API_TOKEN,
        CI_JOB_TOKEN: JOB_TOKEN,
        // Predefined variables that are, or embed, the job token (GitLab's Ci::Build#variables), and the retired JWTs:
        // removed by name, whatever they hold.
        ...Object.fromEntries(PREDEFINED.map((name) => [name, `value of ${name}`])),
        // Anything else quoting the job token or the API token: removed by value.
        MY_CLONE_URL: `https://gitlab-ci-token:${JOB_TOKEN}@gitlab.example.com/acme/payments.git`,
        MY_API_HEADER: `PRIVATE-TOKEN: ${API_TOKEN}`,
        // A custom variable copying an ID token (`TF_VAR_jwt: $GITLAB_OIDC_TOKEN`): removed by value too.
        TF_VAR_jwt: 'eyJ.grant.token',
        EVIDENCE_COPY: 'Bearer eyJ.evidence.token',
      },
      [['AWS_ACCESS_KEY_ID', 'ASIAEXAMPLE'], ['AWS_SECRET_ACCESS_KEY', 'secret/key+1'], ['AZURE_FEDERATED_TOKEN', 'eyJ.azure.token']],
      ['GITLAB_OIDC_TOKEN', 'OAM_EVIDENCE_TOKEN'],
    );
    assert.deepEqual(env, {
      HOME: '/home/runner',
      CI_PROJECT_PATH: 'acme/payments',
      AWS_ACCESS_KEY_ID: 'ASIAEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret/key+1',
      AZURE_FEDERATED_TOKEN: 'eyJ.azure.token',
    });
  });

  // An empty or placeholder token would otherwise match every value and strip the whole environment.
  const scrubbing: [string, Record<string, string>, boolean][] = [
    ['a job token of 8 characters', { CI_JOB_TOKEN: 'abcdefgh' }, false],
    ['an API token of 8 characters', { OAM_GITLAB_TOKEN: 'abcdefgh' }, false],
    ['a job token of 7 characters', { CI_JOB_TOKEN: 'abcdefg' }, true],
    ['an empty job token', { CI_JOB_TOKEN: '' }, true],
    ['an API token of 8 spaces', { OAM_GITLAB_TOKEN: '        ' }, true],
  ];
  for (const [name, tokens, kept] of scrubbing) {
    it(`${kept ? 'keeps' : 'removes'} a variable quoting ${name}`, async () => {
      const env = await childEnv({ ...tokens, QUOTING: 'x abcdefgh        y', OTHER: 'unrelated' });
      assert.deepEqual(env, kept ? { QUOTING: 'x abcdefgh        y', OTHER: 'unrelated' } : { OTHER: 'unrelated' });
    });
  }
});

describe('runWithCredentials: the terminal', () => {
  it("gives the child our stdin, stdout and stderr (its output is the job log's)", async () => {
    const out = join(temp(), 'fds.json');
    const identity = "(fd) => { const s = require('node:fs').fstatSync(fd); return s.dev + ':' + s.ino; }";
    const script = `require('node:fs').writeFileSync(process.argv[1], JSON.stringify([0, 1, 2].map(${identity})))`;
    assert.equal(await runWithCredentials([node, '-e', script, out], [], {}, []), 0);
    const ours = [0, 1, 2].map((fd) => {
      const s = fstatSync(fd);
      return `${s.dev}:${s.ino}`;
    });
    assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), ours);
  });
});

describe('runWithCredentials: the status', () => {
  const statuses: [string, string, number][] = [
    ['exit 0', 'process.exit(0)', 0],
    ['exit 7', 'process.exit(7)', 7],
    // The shell's convention, 128 + the signal's number.
    ['killed by SIGTERM', "process.kill(process.pid, 'SIGTERM')", 143],
    ['killed by SIGKILL', "process.kill(process.pid, 'SIGKILL')", 137],
    ['killed by SIGHUP', "process.kill(process.pid, 'SIGHUP')", 129],
    ['killed by SIGUSR2', "process.kill(process.pid, 'SIGUSR2')", 140],
  ];
  for (const [name, script, status] of statuses) {
    it(`${name}: ${status}`, async () => {
      assert.equal(await runWithCredentials([node, '-e', `${script}; setTimeout(() => {}, 5000)`], [], {}, []), status);
    });
  }

  it('refuses an empty command (ERR_USAGE)', async () => {
    await assert.rejects(runWithCredentials([], [], {}, []), { code: 'ERR_USAGE', message: 'exec needs a command after --', hint: /oam-grant exec --component C -- / });
  });

  it('refuses a command that cannot start (ERR_USAGE), and stops forwarding signals', async () => {
    const before = [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')];
    await assert.rejects(runWithCredentials(['/nonexistent/oam-grant-test-command', '-x'], [], {}, []), {
      code: 'ERR_USAGE',
      message: 'cannot start "/nonexistent/oam-grant-test-command": ENOENT',
      hint: 'check the command after --',
    });
    assert.deepEqual([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')], before);
  });
});

describe('runWithCredentials: signals', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`forwards ${signal} to the child while it runs, and only then`, async () => {
      const dir = temp();
      const ready = join(dir, 'ready');
      const got = join(dir, 'got');
      const script = [
        "const fs = require('node:fs');",
        `for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => { fs.writeFileSync(process.argv[2], s); process.exit(42); });`,
        "fs.writeFileSync(process.argv[1], '');",
        'setTimeout(() => process.exit(0), 20000);',
      ].join('\n');
      // The test runner's own handlers would end this process: hold them back while the signal is emitted.
      const saved = { SIGINT: process.listeners('SIGINT'), SIGTERM: process.listeners('SIGTERM') };
      process.removeAllListeners('SIGINT').removeAllListeners('SIGTERM');
      try {
        const status = runWithCredentials([node, '-e', script, ready, got], [], {}, []);
        for (let i = 0; i < 200 && !existsSync(ready); i++) await sleep(25);
        assert.ok(existsSync(ready), 'the child did not start');
        process.emit(signal, signal);
        assert.equal(await status, 42);
        assert.equal(readFileSync(got, 'utf8'), signal);
        assert.equal(process.listenerCount('SIGINT') + process.listenerCount('SIGTERM'), 0);
      } finally {
        for (const [name, listeners] of Object.entries(saved)) for (const listener of listeners) process.on(name, listener);
      }
    });
  }
});
