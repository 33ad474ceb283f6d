import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { codeOrEscaped, codeSpanOrEscaped, escapeMarkdown } from '../../src/report/escape.ts';

const ZWSP = '\u200b';

/** What GitLab would see as text after Markdown rendering: backslash escapes and entities undone. */
function renderedText(escaped: string): string {
  return escaped
    .replace(/\\(.)/g, '$1')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&');
}

describe('escapeMarkdown', () => {
  // `raw`: must not appear in the Markdown source (formatting, HTML).
  // `decoded`: must not appear in the text GitLab's reference filters and autolinker see.
  const unescaped = (char: string): RegExp => new RegExp(`(^|[^\\\\])\\${char}`);
  const cases: { name: string; input: string; raw?: RegExp[]; decoded?: RegExp[] }[] = [
    { name: 'mention of everyone', input: 'ping @all now', decoded: [/@all/] },
    { name: 'user mention', input: '@root please', decoded: [/@root/] },
    { name: 'issue and MR references', input: 'fixes #12 and !34 and group/p#5', decoded: [/#12/, /!34/, /#5/] },
    { name: 'label, milestone, snippet, epic', input: '~bug %v1 $9 &7', decoded: [/~bug/, /%v1/, /\$9/, /&7/] },
    { name: 'HTML injection', input: '<img src=x onerror=alert(1)><script>x</script>', raw: [/</, />/] },
    { name: 'markdown link', input: '[click](https://evil.example)', raw: [unescaped('['), unescaped(']'), unescaped('(')], decoded: [/https:\/\//] },
    { name: 'bare URL autolink', input: 'see https://evil.example/x and www.evil.example', decoded: [/https:\/\//, /www\./] },
    { name: 'table break', input: 'a | b |\n|---|', raw: [unescaped('|'), /\n/] },
    { name: 'bold, code, emphasis, strike', input: '**bold** `code` _em_ ~~x~~', raw: [unescaped('*'), unescaped('`'), unescaped('_'), unescaped('~')] },
    { name: 'hidden marker forgery', input: '<!-- oam-grant:v1 pipeline=1 component=x -->', raw: [/<!--/] },
  ];
  for (const { name, input, raw = [], decoded = [] } of cases) {
    it(`neutralises ${name}`, () => {
      const escaped = escapeMarkdown(input);
      for (const pattern of raw) assert.doesNotMatch(escaped, pattern, `raw: ${escaped}`);
      for (const pattern of decoded) assert.doesNotMatch(renderedText(escaped), pattern, `decoded: ${renderedText(escaped)}`);
    });
  }

  it('keeps the text readable', () => {
    assert.equal(renderedText(escapeMarkdown('release/1.2 by alice')).replaceAll(ZWSP, ''), 'release/1.2 by alice');
    assert.equal(renderedText(escapeMarkdown('OPS-123: hotfix @bob')).replaceAll(ZWSP, ''), 'OPS-123: hotfix @bob');
  });

  it('drops invisible and direction-changing characters and control characters', () => {
    const escaped = escapeMarkdown('a\u202eb\u200bc\u0007d\re');
    assert.equal(escaped, 'abc d e');
  });

  it('bounds the length', () => {
    const escaped = escapeMarkdown('x'.repeat(1000), 50);
    assert.equal(Array.from(escaped).length, 50);
    assert.ok(escaped.endsWith('…'));
  });
});

describe('codeOrEscaped', () => {
  it('shows identifiers verbatim in a code span, so they copy exactly', () => {
    assert.equal(codeOrEscaped('arn:aws:iam::123456789012:role/ci-deploy'), '`arn:aws:iam::123456789012:role/ci-deploy`');
  });
  it('escapes anything that could close the span or split a table cell', () => {
    for (const hostile of ['a`b', 'a|b', 'a b', '<x>', 'x\ny']) {
      const out = codeOrEscaped(hostile);
      assert.ok(!out.startsWith('`'), `${hostile} -> ${out}`);
      assert.equal(out, escapeMarkdown(hostile));
    }
  });
});

describe('codeSpanOrEscaped', () => {
  it('shows a command to type, spaces and angle brackets included, verbatim in a code span', () => {
    assert.equal(codeSpanOrEscaped('oam-grant approve deploy-prod: <reason matching ^[A-Z]+-[0-9]+>'), '`oam-grant approve deploy-prod: <reason matching ^[A-Z]+-[0-9]+>`');
  });
  it('escapes what a code span cannot hold: a backtick, a line break, invisible or bidi characters, outer blanks', () => {
    for (const hostile of ['a `b` @all', 'x\n@all', `a${ZWSP}b`, 'a\u202eb', ' padded ', '']) {
      const out = codeSpanOrEscaped(hostile);
      assert.ok(!out.startsWith('`'), `${JSON.stringify(hostile)} -> ${out}`);
      assert.equal(out, escapeMarkdown(hostile, 400));
    }
  });
});
