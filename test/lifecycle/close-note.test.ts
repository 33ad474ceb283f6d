import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CLOSED_MARKER, renderClosedSection, withClosedSection } from '../../src/lifecycle/close-note.ts';

describe('the closed section of the note', () => {
  const section = (violations: string[] = []) =>
    renderClosedSection({ closedAt: new Date('2026-11-29T10:00:00Z'), refreshes: 2, lines: [{ credential: 'aws-sts arn:a|b', ended: 'cannot be revoked; expires at X' }], violations });

  it('states the end of each credential, escaped', () => {
    const text = section();
    assert.ok(text.startsWith(`${CLOSED_MARKER}\n🔒 **Closed** at 2026-11-29T10:00:00.000Z; refreshes: 2`));
    assert.doesNotMatch(text, /arn:a\|b/, 'a pipe in a value cannot open a cell');
  });

  it('leads with the failure when an issuance broke the window', () => {
    assert.match(section(['a refresh came late']), /❌ \*\*Closed: a grant outlived/);
  });

  it('replaces an earlier closed section instead of stacking them', () => {
    const once = withClosedSection('<!-- oam-grant:v1 -->\nbody', section());
    const twice = withClosedSection(once, section(['late']));
    assert.equal(twice.split(CLOSED_MARKER).length, 2);
    assert.ok(twice.startsWith('<!-- oam-grant:v1 -->\nbody\n\n'));
    assert.match(twice, /late/);
  });
});
