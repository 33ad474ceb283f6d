/**
 * The layers of src/: lib/ imports nothing above it (types included), and the
 * entry (bin.ts, entry/) and the chunk roots (lazy/) sit on top, imported by
 * nobody but the entry. Before, lib/lazy-module.ts imported the CLI chunk, so
 * every module of src/ was in one import circle.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, it } from 'node:test';

const SRC = 'src';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** Relative imports of a file (static, dynamic and `typeof import(...)`), as paths under src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*)'(\.{1,2}\/[^']+)'/g)].map((match) => match[1] ?? '');
  return specifiers.map((specifier) => normalize(join(dirname(file), specifier)));
}

const graph = new Map(sources(SRC).map((file) => [file, importsOf(file)]));

function reachable(from: string): Set<string> {
  const seen = new Set<string>();
  const stack = [...(graph.get(from) ?? [])];
  while (stack.length > 0) {
    const file = stack.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    stack.push(...(graph.get(file) ?? []));
  }
  return seen;
}

/** Leaf modules lib/ may use: they import nothing of src/ themselves. */
const LEAVES = [join(SRC, 'errors.ts'), join(SRC, 'context.ts')];

describe('layers of src/', () => {
  it('the leaf modules lib/ uses import nothing of src/', () => {
    for (const leaf of LEAVES) assert.deepEqual(graph.get(leaf), [], `${leaf} imports ${graph.get(leaf)?.join(', ')}`);
  });

  for (const file of [...graph.keys()].filter((f) => f.startsWith(join(SRC, 'lib')))) {
    it(`${relative(SRC, file)} reaches nothing above lib/`, () => {
      const above = [...reachable(file)].filter((f) => !f.startsWith(join(SRC, 'lib')) && !LEAVES.includes(f));
      assert.deepEqual(above, []);
    });
  }

  it('only the entry imports the entry and the chunk roots', () => {
    const top = (f: string) => f === join(SRC, 'bin.ts') || f.startsWith(join(SRC, 'entry')) || f.startsWith(join(SRC, 'lazy'));
    for (const [file, imports] of graph) {
      if (file === join(SRC, 'bin.ts') || file.startsWith(join(SRC, 'entry'))) continue;
      assert.deepEqual(imports.filter(top), [], `${file} imports the entry or a chunk root`);
    }
  });
});
