/**
 * Runs the built bundle as a user would: `node dist/oam-grant.mjs ...` in a
 * workspace folder, with an explicit environment (nothing inherited but PATH).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The bundle under test; OAM_GRANT_CLI points elsewhere when testing a private build. */
export const CLI = process.env.OAM_GRANT_CLI ?? resolve('dist/oam-grant.mjs');

export interface CliResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Every output of every run, for the final scan for secrets. */
export const capturedOutputs: string[] = [];

export function runCli(args: readonly string[], options: { cwd: string; env: Record<string, string | undefined> }): Promise<CliResult> {
  return runProgram(process.execPath, [CLI, ...args], options);
}

/**
 * Any program, asynchronously: the emulators live in the test's own process,
 * so a spawnSync would block them from answering.
 */
export function runProgram(program: string, args: readonly string[], options: { cwd: string; env: Record<string, string | undefined> }): Promise<CliResult> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '' };
  for (const [key, value] of Object.entries(options.env)) if (value !== undefined) env[key] = value;
  return new Promise((done, fail) => {
    const child = spawn(program, args, { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => {
      capturedOutputs.push(stdout, stderr);
      done({ status: code ?? -1, stdout, stderr });
    });
  });
}

/** A fresh project folder with `.gitlab/oam.yaml`. */
export function workspace(accessFile: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'oam-it-'));
  mkdirSync(join(dir, '.gitlab'));
  writeFileSync(join(dir, '.gitlab/oam.yaml'), accessFile);
  return dir;
}

/** Every file under `dir`, as text, for scans. */
export function readTree(dir: string): { path: string; text: string }[] {
  const found: { path: string; text: string }[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) found.push(...readTree(path));
    else found.push({ path, text: readFileSync(path, 'utf8') });
  }
  return found;
}

export function parseDotenv(text: string): Record<string, string> {
  return Object.fromEntries(text.trimEnd().split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
}
