/**
 * The note's "what changed on this branch" section: rows per change, wider
 * first, escaped (a branch's file is anyone-with-push's text), bounded.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AccessChange } from '../../src/narrowing/compare.ts';
import { renderAccessChanges, renderNote } from '../../src/report/render-note.ts';
import type { ReportState } from '../../src/report/report-state.ts';

const change = (over: Partial<AccessChange>): AccessChange => ({
  category: 'conditions',
  subject: 'policy "protected-main" refs',
  old: '["main"]',
  new: '["main","release/1.0"]',
  widens: false,
  pointer: '/spec/policies/0/properties/refs',
  pointerIn: 'branch',
  ...over,
});

function state(accessChanges?: ReportState['accessChanges']): ReportState {
  return {
    component: 'deploy-prod',
    pipelineId: '1002',
    approvals: [],
    matchedPolicies: [],
    outcome: { kind: 'requested' },
    ...(accessChanges ? { accessChanges } : {}),
  };
}

describe('renderAccessChanges', () => {
  it('is empty without changes', () => {
    assert.deepEqual(renderAccessChanges(state()), []);
    assert.deepEqual(renderAccessChanges(state({ defaultBranch: 'main', changes: [] })), []);
  });

  it('lists wider changes first, with category, field, old and new, and the pattern that allowed them', () => {
    const lines = renderAccessChanges(
      state({
        defaultBranch: 'main',
        allowedBy: 'sandbox/*',
        changes: [change({}), change({ category: 'duration', subject: 'aws-sts durationSeconds', old: '900', new: '3600', widens: true })],
      }),
    );
    assert.deepEqual(lines, [
      '',
      "**Access differs from main's file** (1 wider, 1 narrower or neutral) — wider, allowed on this ref by main's allowWideningFrom `sandbox/*`",
      '',
      '| | Changes | What | main | This ref |',
      '|---|---|---|---|---|',
      '| ⚠️ wider | duration | aws\\-sts durationSeconds | 900 | 3600 |',
      '| narrower | conditions | policy &quot;protected\\-main&quot; refs | \\[&quot;main&quot;\\] | \\[&quot;main&quot;,&quot;release/1.0&quot;\\] |',
    ]);
  });

  it('escapes what a branch wrote: no table break, no mention, no link, no HTML', () => {
    const hostile = change({ subject: 'policy "x|y" refs', new: '["@all <img src=x> [a](https://evil.example) | #1"]' });
    const text = renderAccessChanges(state({ defaultBranch: 'ma|in', changes: [hostile] })).join('\n');
    assert.ok(!text.includes('<img'));
    assert.ok(!text.includes('@all'), 'the mention is broken by a zero-width space');
    assert.ok(!text.includes('](https://'));
    const row = text.split('\n').at(-1)!;
    assert.equal(row.split(/(?<!\\)\|/).length, 7, 'five cells: no unescaped pipe inside');
  });

  it('bounds the rows and counts the rest', () => {
    const many = Array.from({ length: 40 }, (_, i) => change({ subject: `field ${i}` }));
    const lines = renderAccessChanges(state({ defaultBranch: 'main', changes: many }));
    assert.equal(lines.filter((l) => l.startsWith('| narrower')).length, 30);
    assert.match(lines.at(-1)!, /… and 10 more/);
  });

  it('appears in the note', () => {
    assert.match(renderNote(state({ defaultBranch: 'main', changes: [change({})] })), /\*\*Access differs from main's file\*\*/);
    assert.doesNotMatch(renderNote(state()), /Access differs/);
  });
});
