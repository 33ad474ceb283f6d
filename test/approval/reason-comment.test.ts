/**
 * The approve command as the approver types it, and how the note and the
 * audit record name where a reason came from.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describePlace, describeReasonSource, reasonInComment } from '../../src/approval/reason-comment.ts';

describe('reasonInComment: blanks and line ends', () => {
  const cases: [string, string, string | undefined][] = [
    ['oam-grant  approve\tdeploy-prod : OPS-1', 'several blanks and tabs between the words', 'OPS-1'],
    ['\t oam-grant \t approve  \t deploy-prod:OPS-2', 'leading tabs, blanks around every word', 'OPS-2'],
    ['oam-grantapprove deploy-prod: OPS-3', 'no blank between the command words', undefined],
    ['oam-grant approvedeploy-prod: OPS-4', 'no blank before the component', undefined],
    // U+2028 is no line end to split at, and `.` does not cross it: the line is no command (rather than a reason cut short).
    ['oam-grant approve deploy-prod: OPS-5\u2028@all', 'a Unicode line separator inside the line', undefined],
    ['oam-grant approve deploy-prod: OPS-6\rsecond line', 'a lone CR ends the line', 'OPS-6'],
  ];
  for (const [body, name, expected] of cases) {
    it(`${name}: ${expected === undefined ? 'no approval' : JSON.stringify(expected)}`, () => {
      assert.equal(reasonInComment(body, 'deploy-prod'), expected);
    });
  }
});

describe('describePlace and describeReasonSource', () => {
  const sha = `${'0123456789abcdef'.repeat(2)}01234567`;
  it('names a merge request by its iid and a commit by its short sha', () => {
    assert.equal(describePlace({ kind: 'merge-request', projectId: '1217', iid: '7' }), 'merge request !7');
    assert.equal(describePlace({ kind: 'commit', projectId: '1217', sha }), 'commit 0123456789ab');
    assert.equal(describePlace({ kind: 'commit', projectId: '1217', sha, discussionId: 'd'.repeat(40) }), 'commit 0123456789ab');
  });
  it('says where a reason came from, a variable being unsigned', () => {
    assert.equal(describeReasonSource({ kind: 'none' }), 'no reason');
    assert.equal(describeReasonSource({ kind: 'variable', variable: 'OAM_APPROVAL_REASON' }), 'reason from a pipeline variable (unsigned)');
    const createdAt = '2026-01-01T00:00:00.000Z';
    assert.equal(
      describeReasonSource({ kind: 'comment', noteId: 5, location: { kind: 'merge-request', projectId: '1217', iid: '7' }, createdAt }),
      "the approver's comment 5 on merge request !7",
    );
    assert.equal(
      describeReasonSource({ kind: 'comment', noteId: 6, location: { kind: 'commit', projectId: '1217', sha, discussionId: 'd'.repeat(40) }, createdAt }),
      "the approver's comment 6 on commit 0123456789ab",
    );
  });
});
