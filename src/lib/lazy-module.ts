/**
 * The heavy dependencies (the AWS SDK, gitbeaker, re2js, openid-client) come through here,
 * loaded on first use so that a command never pays for one it does not run.
 * Where they come from is the program's entry's business: the bundle's entry
 * (src/entry/chunks.ts) installs a loader that compiles them from the chunks
 * it carries; from source, they are the packages themselves
 * (./lazy-packages.ts). lib/ imports nothing above it: the entry fills this
 * registry, never the other way round.
 */
import type { AssumeRoleWithWebIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { Gitlab } from '@gitbeaker/rest';
import type { RE2JS } from 're2js';
import { packageDependencies } from './lazy-packages.ts';

export interface AwsStsModule {
  readonly STSClient: typeof STSClient;
  readonly AssumeRoleWithWebIdentityCommand: typeof AssumeRoleWithWebIdentityCommand;
}

export interface GitbeakerModule {
  readonly Gitlab: typeof Gitlab;
}

export interface Re2jsModule {
  readonly RE2JS: typeof RE2JS;
}

/** openid-client, for the token-exchange provider only. */
export type OpenidClientModule = typeof import('openid-client');

export interface LazyDependencies {
  awsSts(): Promise<AwsStsModule>;
  gitbeaker(): Promise<GitbeakerModule>;
  /** Synchronous, so that compiling a reasonPattern stays a plain call for the access file checks. */
  re2js(): Re2jsModule;
  openidClient(): Promise<OpenidClientModule>;
}

let installed: LazyDependencies | undefined;

/** Called once by the entry, before any command runs. */
export function installLazyDependencies(dependencies: LazyDependencies): void {
  installed = dependencies;
}

function dependencies(): LazyDependencies {
  installed ??= packageDependencies();
  return installed;
}

export function loadAwsSts(): Promise<AwsStsModule> {
  return dependencies().awsSts();
}

export function loadGitbeaker(): Promise<GitbeakerModule> {
  return dependencies().gitbeaker();
}

export function loadRe2js(): Re2jsModule {
  return dependencies().re2js();
}

export function loadOpenidClient(): Promise<OpenidClientModule> {
  return dependencies().openidClient();
}
