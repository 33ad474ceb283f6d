/**
 * Heavy dependencies ride in the bundle as source text and are compiled only
 * when a command needs them. V8 must at least pre-parse every line of an ES
 * module before running any of it (~30 ms for 1 MB here), while a string
 * literal is only scanned; so `validate` and `plan` never pay for the AWS SDK
 * or gitbeaker, and `grant` pays for gitbeaker only when it posts a note.
 * The bundle stays one file that runs with plain `node` and no node_modules.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants, runInThisContext } from 'node:vm';
import { LAZY_SOURCES } from './lazy-sources.ts';

type AwsSts = typeof import('../lazy/aws-sts.ts');
type Gitbeaker = typeof import('../lazy/gitbeaker.ts');

const loaded = new Map<string, unknown>();

/** Runs a CommonJS chunk built by esbuild, with a `require` rooted at the bundle. */
function evaluateChunk(name: string, source: string): unknown {
  const cached = loaded.get(name);
  if (cached) return cached;
  const filename = fileURLToPath(import.meta.url);
  const module = { exports: {} as unknown };
  const wrapper = runInThisContext(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: `${filename}#${name}`,
    // The SDK imports a few Node built-ins dynamically (node:http, node:async_hooks).
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  }) as (exports: unknown, require: NodeJS.Require, module: { exports: unknown }, file: string, dir: string) => void;
  wrapper(module.exports, createRequire(import.meta.url), module, filename, dirname(filename));
  loaded.set(name, module.exports);
  return module.exports;
}

export async function loadAwsSts(): Promise<AwsSts> {
  const source = LAZY_SOURCES['aws-sts'];
  return source === undefined ? import('../lazy/aws-sts.ts') : (evaluateChunk('aws-sts', source) as AwsSts);
}

export async function loadGitbeaker(): Promise<Gitbeaker> {
  const source = LAZY_SOURCES.gitbeaker;
  return source === undefined ? import('../lazy/gitbeaker.ts') : (evaluateChunk('gitbeaker', source) as Gitbeaker);
}
