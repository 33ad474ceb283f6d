/**
 * The image: the V8 code caches are valid only for the Node that wrote them,
 * so the Dockerfile copies the bundle alone and has the image's node write
 * them again, as root before USER. No docker here: the instructions are
 * checked in order, and the RUN line is run against a copy of the bundle in a
 * temporary directory standing in for /usr/local.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../e2e/gitlab-ci-local.ts';
import { packageVersion } from './template-files.ts';

const BUNDLE = join(REPO_ROOT, 'dist', 'oam-grant.mjs');
const LIB = '/usr/local/lib/oam-grant';

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
function instructions(): Instruction[] {
  const text = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
  const lines = text.split('\n').filter((line) => !/^\s*#/.test(line));
  const joined = lines.join('\n').replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => {
      const space = line.indexOf(' ');
      return { keyword: line.slice(0, space).toUpperCase(), args: line.slice(space + 1).trim() };
    });
}

function indexOf(list: Instruction[], keyword: string, pattern: RegExp): number {
  const index = list.findIndex((i) => i.keyword === keyword && pattern.test(i.args));
  assert.notEqual(index, -1, `no ${keyword} matching ${pattern}`);
  return index;
}

/** Chunk names of this node's caches next to a bundle: `oam-grant.mjs.node<major>.<chunk>.code-cache`. */
function cacheChunks(dir: string): string[] {
  const major = process.versions.node.split('.')[0];
  return readdirSync(dir)
    .map((name) => new RegExp(`^oam-grant\\.mjs\\.node${major}\\.(.+)\\.code-cache$`).exec(name)?.[1])
    .filter((chunk): chunk is string => chunk !== undefined)
    .sort();
}

describe('Dockerfile', () => {
  const list = instructions();
  const copy = indexOf(list, 'COPY', /dist\/oam-grant\.mjs \/usr\/local\/lib\/oam-grant\/oam-grant\.mjs$/);
  const run = indexOf(list, 'RUN', /OAM_GRANT_BUILD_CODE_CACHE=1/);
  const user = indexOf(list, 'USER', /^node$/);

  it('copies the bundle only, then writes the code caches with its own node, before switching to the unprivileged user', () => {
    assert.ok(copy < run && run < user, `COPY ${copy}, RUN ${run}, USER ${user}`);
    for (const instruction of list.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD')) {
      assert.doesNotMatch(instruction.args, /code-cache|dist\/\*|dist\/ /, 'the build host\'s caches must not be copied');
    }
    assert.match(list[run]?.args ?? '', new RegExp(`node ${LIB}/oam-grant\\.mjs`));
  });

  it('has a RUN line that writes a read-only cache for every chunk and leaves a working oam-grant', { skip: !existsSync(BUNDLE) && 'dist/oam-grant.mjs not built' }, () => {
    const root = mkdtempSync(join(tmpdir(), 'oam-image-'));
    try {
      const lib = join(root, 'lib', 'oam-grant');
      const bin = join(root, 'bin');
      mkdirSync(lib, { recursive: true });
      mkdirSync(bin);
      copyFileSync(BUNDLE, join(lib, 'oam-grant.mjs'));
      const command = (list[run]?.args ?? '').replaceAll(LIB, lib).replaceAll('/usr/local/bin/', `${bin}/`);
      const result = spawnSync('/bin/sh', ['-c', command], {
        encoding: 'utf8',
        env: { PATH: `${bin}:${dirname(process.execPath)}:/usr/bin:/bin` },
      });
      assert.equal(result.status, 0, result.stderr);
      assert.ok(result.stdout.trimEnd().endsWith(packageVersion()), result.stdout);
      const chunks = cacheChunks(lib);
      assert.ok(chunks.includes('aws-sts') && chunks.includes('gitbeaker'), `caches written: ${chunks.join(', ')}`);
      // The same chunks the build wrote next to dist/oam-grant.mjs, when it wrote any.
      const built = cacheChunks(dirname(BUNDLE));
      if (built.length > 0) assert.deepEqual(chunks, built);
      for (const chunk of chunks) {
        const mode = statSync(join(lib, `oam-grant.mjs.node${process.versions.node.split('.')[0]}.${chunk}.code-cache`)).mode & 0o777;
        assert.equal(mode, 0o644, `${chunk}: mode ${mode.toString(8)}`);
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
