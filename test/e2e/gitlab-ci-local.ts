/**
 * Runs gitlab-ci-local (pinned 4.73.0, shell executor) against throwaway git
 * repositories. Each scenario gets its own repository and state directory:
 * gitlab-ci-local hands earlier runs' artifacts to later ones, so a shared
 * directory could let stale evidence pass a test.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const GCL = join(REPO_ROOT, 'node_modules', 'gitlab-ci-local', 'dist', 'index.js');
/**
 * gitlab-ci-local itself runs on the machine's node (pinned 4.73.0 supports
 * Node 20): when the suite runs on another version (npm run test:node-versions),
 * OAM_TEST_GCL_NODE names it. The jobs' oam-grant still runs on process.execPath.
 */
const GCL_NODE = process.env.OAM_TEST_GCL_NODE ?? process.execPath;

/** The origin gitlab-ci-local derives CI_SERVER_URL, CI_PROJECT_PATH and component paths from. */
export const ORIGIN_HOST = '127.0.0.1:18080';
export const PROJECT_PATH = 'acme/payments';

export interface FixtureRepo {
  readonly dir: string;
  /** HEAD after the single commit: the SHA components are included at. */
  readonly sha: string;
  /** Where gitlab-ci-local keeps its state for this repository. */
  readonly stateDir: string;
  /** A bin directory put first on PATH for the jobs (the `oam-grant` shim lives here). */
  readonly binDir: string;
  /** A HOME of its own, so no user-level gitlab-ci-local variables leak in. */
  readonly homeDir: string;
  cleanup(): void;
}

export interface FixtureOptions {
  /** Files to write, relative to the repository root. */
  files: Record<string, string>;
  /** Copy this repository's templates/ in (the component project and the consumer are one project here). */
  withTemplates?: boolean;
  /** The committer; gitlab-ci-local derives GITLAB_USER_LOGIN from the local part of the email. */
  userEmail?: string;
}

function git(dir: string, args: string[], email = 'dev@example.com'): string {
  const result = spawnSync('git', ['-c', `user.email=${email}`, '-c', 'user.name=dev', '-c', 'commit.gpgsign=false', ...args], {
    cwd: dir,
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout.trim();
}

/** A fresh repository with one commit and an origin that makes `component:` includes resolve locally. */
export function createFixtureRepo(options: FixtureOptions): FixtureRepo {
  const base = mkdtempSync(join(tmpdir(), 'oam-gcl-'));
  const dir = join(base, 'repo');
  const binDir = join(base, 'bin');
  const homeDir = join(base, 'home');
  mkdirSync(dir);
  mkdirSync(binDir);
  mkdirSync(homeDir);
  if (options.withTemplates ?? true) cpSync(join(REPO_ROOT, 'templates'), join(dir, 'templates'), { recursive: true });
  for (const [path, content] of Object.entries(options.files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  // Keep gitlab-ci-local's state and the credentials it might copy out of the commit.
  writeFileSync(join(dir, '.gitignore'), '.gitlab-ci-local/\n');
  const email = options.userEmail ?? 'dev@example.com';
  git(dir, ['init', '-q', '-b', 'main']);
  // gitlab-ci-local reads these for GITLAB_USER_*; the jobs' HOME has no global git config.
  git(dir, ['config', 'user.email', email]);
  git(dir, ['config', 'user.name', email.split('@')[0] ?? 'dev']);
  git(dir, ['remote', 'add', 'origin', `http://${ORIGIN_HOST}/${PROJECT_PATH}.git`]);
  git(dir, ['add', '-A']);
  git(dir, ['commit', '-q', '-m', 'fixture'], email);
  git(dir, ['update-ref', 'refs/remotes/origin/main', 'HEAD']);
  git(dir, ['symbolic-ref', 'refs/remotes/origin/HEAD', 'refs/remotes/origin/main']);
  const sha = git(dir, ['rev-parse', 'HEAD']);
  return {
    dir,
    sha,
    stateDir: join(dir, '.gitlab-ci-local'),
    binDir,
    homeDir,
    cleanup: () => rmSync(base, { recursive: true, force: true }),
  };
}

/** Puts an executable `name` on the jobs' PATH that runs `script` with node. */
export function installShim(repo: FixtureRepo, name: string, script: string): void {
  const path = join(repo.binDir, name);
  writeFileSync(path, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(script)} "$@"\n`);
  chmodSync(path, 0o755);
}

export interface GclResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface GclOptions {
  /** `--variable K=V` for every job. Values may be secrets: never put them in assertion messages. */
  variables?: Record<string, string>;
  /** Extra environment for the gitlab-ci-local process (jobs inherit it). */
  env?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * Runs gitlab-ci-local in the repository. The environment is built from
 * scratch so the test runner's own variables (AWS_*, OAM_*, CI_*) cannot reach
 * the jobs; JSON schema validation is asked for explicitly.
 */
export function runGcl(repo: FixtureRepo, args: string[], options: GclOptions = {}): Promise<GclResult> {
  const variableArgs = Object.entries(options.variables ?? {}).flatMap(([k, v]) => ['--variable', `${k}=${v}`]);
  const argv = [
    GCL,
    '--home',
    repo.homeDir,
    '--json-schema-validation',
    '--no-color',
    '--max-job-name-padding',
    '0',
    ...variableArgs,
    ...args,
  ];
  const env: Record<string, string> = {
    PATH: `${repo.binDir}:${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
    HOME: repo.homeDir,
    LANG: 'C.UTF-8',
    // The CLI under test and the AWS CLI must not read anything of the host's.
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
    ...options.env,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(GCL_NODE, argv, { cwd: repo.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** The job's log from the last run that ran it (gitlab-ci-local keeps one file per job). */
export function jobLog(repo: FixtureRepo, job: string): string | undefined {
  const dir = join(repo.stateDir, 'output');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
  // File names encode special characters (`oam:approve` -> `oamOgapprove`), so match on the decoded form.
  const wanted = encodeJobName(job);
  const name = names.find((n) => n === `${wanted}.log`);
  return name === undefined ? undefined : readFileSync(join(dir, name), 'utf8');
}

/** gitlab-ci-local's file name for a job: runs of characters outside [A-Za-z0-9_-] base64url-encoded. */
export function encodeJobName(job: string): string {
  return job.replace(/[^A-Za-z0-9_-]+/g, (run) => Buffer.from(run).toString('base64url'));
}

/** Every regular file under `dir`, as paths relative to it. */
export function listFiles(dir: string): string[] {
  const found: string[] = [];
  const walk = (current: string): void => {
    for (const entry of readdirSync(current)) {
      const path = join(current, entry);
      const stat = statSync(path, { throwIfNoEntry: false });
      if (!stat) continue;
      if (stat.isDirectory()) walk(path);
      else if (stat.isFile()) found.push(relative(dir, path));
    }
  };
  walk(dir);
  return found;
}

/** Summary lines gitlab-ci-local prints at the end: ` PASS  job`, ` FAIL  job`, ... */
export function jobResults(output: string): Map<string, string> {
  const results = new Map<string, string>();
  for (const line of output.split('\n')) {
    const match = /^\s*(PASS|FAIL|WARN|SKIP|MANUAL|NEVER)\s+(\S.*?)\s*$/.exec(line);
    if (match?.[1] && match[2]) results.set(match[2], match[1]);
  }
  return results;
}
