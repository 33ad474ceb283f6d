/**
 * The README's "Time limits" table states the deadlines of src/lib/deadlines.ts;
 * this keeps the two from drifting apart.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { GITLAB_API_DEADLINE, ISSUER_DEADLINE, STS_DEADLINE } from '../../src/lib/deadlines.ts';

const readme = readFileSync('README.md', 'utf8');
const section = readme.slice(readme.indexOf('### Time limits'), readme.indexOf('### Paths'));
const row = (start: string): string => section.split('\n').find((line) => line.startsWith(`| ${start}`)) ?? '';
const seconds = (ms: number): string => `${ms / 1000} s`;

describe('documented deadlines', () => {
  const cases: [string, string, { attemptMs: number; totalMs: number }][] = [
    ['issuer', 'issuer', ISSUER_DEADLINE],
    ['STS', 'STS', STS_DEADLINE],
    ['GitLab API', 'GitLab API', GITLAB_API_DEADLINE],
  ];
  for (const [name, start, deadline] of cases) {
    it(`README states the ${name} deadlines`, () => {
      const cells = row(start).split('|').map((cell) => cell.trim());
      assert.ok(cells.length > 4, `no README row for ${name}`);
      assert.ok(cells[2]?.startsWith(seconds(deadline.attemptMs)), `${name}: one attempt is ${seconds(deadline.attemptMs)}, README says ${cells[2]}`);
      assert.ok(cells[3]?.startsWith(seconds(deadline.totalMs)), `${name}: all attempts take at most ${seconds(deadline.totalMs)}, README says ${cells[3]}`);
    });
  }

  it('README states the connect limit and the worst case of a token check', () => {
    assert.match(row('STS'), new RegExp(`connect ${seconds(STS_DEADLINE.connectMs)}`));
    assert.match(section, new RegExp(`at most ${seconds(2 * ISSUER_DEADLINE.totalMs)}\\s+for the issuer`));
  });
});
