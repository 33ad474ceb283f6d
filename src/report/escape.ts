/**
 * Neutralise user-controlled text (branch names, reasons, logins, even role
 * ARNs) before it enters a GitLab Markdown note. GitLab renders Markdown, then
 * runs its reference filters (`@user`, `#1`, `!2`, `~label`, `%milestone`,
 * `$snippet`, `&epic`) and URL autolinking over the *decoded* text, so
 * backslash escapes and HTML entities alone do not stop a mention: a zero-width
 * space after each sigil does, because every reference pattern needs the name
 * right after its sigil.
 */

const ZWSP = '\u200b';

/** Characters that would let a string format the note, open HTML, or start a link. */
const MARKDOWN_PUNCTUATION = new Set(['\\', '`', '*', '_', '{', '}', '[', ']', '(', ')', '#', '+', '-', '!', '|', '~', '$', '^', '=', ':']);

const HTML_ENTITIES: Readonly<Record<string, string>> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' };

/** Sigils of GitLab references and mentions. */
const REFERENCE_SIGILS = new Set(['@', '#', '!', '%', '~', '$', '&']);

/** Longest user-controlled value shown in a note cell. */
export const MAX_CELL_LENGTH = 200;

/**
 * Invisible or direction-changing characters that could make a cell read
 * differently than it is (bidi overrides, zero-width joiners): dropped.
 */
const INVISIBLE = /[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;

// biome-ignore lint/suspicious/noControlCharactersInRegex: replacing them is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * Text that renders as itself, on one line, inside a table cell: no
 * formatting, no HTML, no link, no mention, no reference.
 *
 * @example escapeMarkdown('@all see #1') // renders "@all see #1" without notifying anyone
 */
export function escapeMarkdown(text: string, maxLength = MAX_CELL_LENGTH): string {
  let plain = text.replace(CONTROL, ' ').replace(INVISIBLE, '');
  const chars = Array.from(plain);
  if (chars.length > maxLength) plain = `${chars.slice(0, maxLength - 1).join('')}…`;
  let out = '';
  for (const char of plain) {
    const entity = HTML_ENTITIES[char];
    if (entity !== undefined) out += entity;
    else if (MARKDOWN_PUNCTUATION.has(char)) out += `\\${char}`;
    else out += char;
    if (REFERENCE_SIGILS.has(char)) out += ZWSP;
  }
  // `scheme://` and `www.` autolink in GitLab's Markdown; a zero-width space after the colon or the `www` stops both.
  return out.replace(/\\:\/\//g, `\\:${ZWSP}//`).replace(/www\./gi, (match) => `${match.slice(0, 3)}${ZWSP}.`);
}

/** Characters of identifiers (ARNs, digests, session names) that are safe verbatim inside a code span. */
const CODE_SAFE = /^[A-Za-z0-9:/_.*@+=,-]{1,200}$/;

/**
 * An identifier as a code span, so it reads and copies exactly (GitLab
 * resolves no reference and no link inside code); anything with other
 * characters falls back to {@link escapeMarkdown}.
 */
export function codeOrEscaped(text: string): string {
  return CODE_SAFE.test(text) ? `\`${text}\`` : escapeMarkdown(text);
}

/** What a code span cannot hold safely: a backtick ends it; line breaks, invisible and bidi characters mislead. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: detecting them is the point
const NOT_IN_CODE_SPAN = /[`\u0000-\u001f\u007f-\u009f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/;

/**
 * Text to be typed exactly (a command with spaces, `<` and `>`) as a code
 * span, inside which GitLab renders no Markdown, HTML, reference or link;
 * text a code span cannot hold falls back to {@link escapeMarkdown}.
 *
 * @example codeSpanOrEscaped('oam-grant approve deploy-prod: <reason>') // '`oam-grant approve deploy-prod: <reason>`'
 */
export function codeSpanOrEscaped(text: string, maxLength = 2 * MAX_CELL_LENGTH): string {
  const plain = text !== '' && text.trim() === text && text.length <= maxLength && !NOT_IN_CODE_SPAN.test(text);
  return plain ? `\`${text}\`` : escapeMarkdown(text, maxLength);
}

/** For values inside the hidden marker comment: nothing that could close it or break the line. */
export function escapeMarkerValue(text: string): string {
  return encodeURIComponent(text);
}
