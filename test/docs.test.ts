/**
 * Every access file shown in the README and docs/ is one the loader accepts,
 * so a reader who copies an example starts from a valid file.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAccessFile } from '../src/access-file/load.ts';

const pages = ['README.md', ...readdirSync('docs').filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];

function accessFileExamples(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  // Complete examples only: fragments that show one key are not files.
  return blocks.filter((b) => /^apiVersion: core\.oam\.dev\/v1beta1$/m.test(b) && /^kind: Application$/m.test(b));
}

describe('access files in the documentation', () => {
  for (const page of pages) {
    const examples = accessFileExamples(readFileSync(page, 'utf8'));
    examples.forEach((example, index) => {
      it(`${page}, example ${index + 1}, loads`, () => {
        const file = parseAccessFile(example, `${page}#${index + 1}`);
        assert.ok(file.components.length > 0);
      });
    });
  }

  it('finds the README example', () => {
    assert.ok(accessFileExamples(readFileSync('README.md', 'utf8')).length >= 1);
  });
});
