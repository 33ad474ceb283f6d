/**
 * The commands and flags as the CLI knows them (options.ts), as `--help`
 * prints them, and as the README's tables list them: one set, never three.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { main } from '../src/cli.ts';
import { COMMANDS, FLAGS } from '../src/options.ts';

async function helpText(): Promise<string> {
  const out: string[] = [];
  assert.equal(await main(['--help'], {}, { stdout: (t) => void out.push(t), stderr: () => {} }), 0);
  return out.join('');
}

/** The rows of the README's Markdown table whose header starts with `| <first> |`, as cells. */
function readmeTable(first: string): string[][] {
  const lines = readFileSync('README.md', 'utf8').split('\n');
  const start = lines.findIndex((l) => l.startsWith(`| ${first} |`));
  assert.ok(start >= 0, `README has no table headed | ${first} |`);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.split(' | ').map((cell) => cell.replace(/^\| ?| ?\|$/g, '').trim()));
  }
  return rows;
}

const FLAG_ONLY = ['json', 'debug'];

describe('--help and the README', () => {
  it('--help lists every command, in order, and nothing else', async () => {
    const section = (await helpText()).split('\ncommands:\n')[1]!.split('\n\n')[0]!;
    assert.deepEqual(section.split('\n').map((l) => l.trim().split(' ')[0]), [...COMMANDS]);
  });

  it("the README's command table lists every command, in the same order", () => {
    assert.deepEqual(readmeTable('command').map(([cell]) => /^`([a-z-]+)/.exec(cell!)?.[1]), [...COMMANDS]);
  });

  it('--help and the README name every flag with its variable', async () => {
    const help = await helpText();
    const readme = new Map(readmeTable('flag').map(([flag, env]) => [flag!.replace(/`/g, ''), env!.replace(/`/g, '')]));
    for (const [flag, { env }] of Object.entries(FLAGS)) {
      assert.match(help, new RegExp(`^  --${flag} [A-Z]+ +${env} `, 'm'), `--help: --${flag} ${env}`);
      assert.equal(readme.get(`--${flag}`), env, `README: --${flag}`);
    }
    for (const flag of FLAG_ONLY) {
      assert.match(help, new RegExp(`^  --${flag} `, 'm'));
      assert.ok(readme.has(`--${flag}`), `README: --${flag}`);
    }
    assert.deepEqual([...readme.keys()].sort(), [...Object.keys(FLAGS), ...FLAG_ONLY].map((f) => `--${f}`).sort(), 'README lists no other flag');
  });
});
