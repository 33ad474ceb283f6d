import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { foreignLine, sanitizeLine } from '../../src/lib/log.ts';

describe('sanitizeLine', () => {
  it('turns control characters into ? and line breaks and tabs into spaces', () => {
    assert.equal(sanitizeLine('a\nb\tc\u001b[31md\u0000'), 'a b c?[31md?');
  });
});

describe('foreignLine', () => {
  const cases: { name: string; text: string; max: number; hide?: string[]; want: string }[] = [
    { name: 'masks every given secret, wherever it is echoed', text: 'bad token eyJ.x for eyJ.x', max: 100, hide: ['eyJ.x'], want: 'bad token [MASKED] for [MASKED]' },
    { name: 'ignores an empty secret (it would mask between every character)', text: 'plain', max: 100, hide: [''], want: 'plain' },
    { name: 'keeps a forged second line on the first, and trims', text: '  ok\nerror[ERR_NONE]: fine  ', max: 100, want: 'ok error[ERR_NONE]: fine' },
    { name: 'folds runs of spaces', text: 'a \n\n b', max: 100, want: 'a b' },
    { name: 'cuts at max and says so', text: 'abcdef', max: 4, want: 'abcd...' },
    { name: 'keeps a text of exactly max', text: 'abcd', max: 4, want: 'abcd' },
    { name: 'masks before cutting, so a cut cannot leave half a secret', text: 'xx SECRETVALUE yy', max: 6, hide: ['SECRETVALUE'], want: 'xx [MA...' },
  ];
  for (const c of cases) it(c.name, () => assert.equal(foreignLine(c.text, c.max, c.hide), c.want));
});
