/**
 * Ref globs of `gitlab-conditions.refs`: `*` = any run of characters except
 * '/', `**` = any run, `?` = one character except '/'; everything else is
 * literal. Matching runs in O(pattern x ref) steps whatever the pattern, so a
 * hostile pattern cannot stall a job the way a backtracking RegExp could.
 */
import { OamError } from '../errors.ts';

type Token = { kind: 'char'; char: string } | { kind: 'star' } | { kind: 'globstar' } | { kind: 'one' };

/** Longest ref GitLab accepts is far shorter; the bound keeps patterns readable. */
const MAX_PATTERN_LENGTH = 255;

/**
 * Why `pattern` is not a usable ref glob, or undefined when it is. Rejects
 * what no GitLab branch or tag name can contain (git check-ref-format), so a
 * typo fails validation instead of silently never matching.
 */
export function checkRefGlob(pattern: string): string | undefined {
  if (pattern.length === 0) return 'must not be empty';
  if (pattern.length > MAX_PATTERN_LENGTH) return `must be at most ${MAX_PATTERN_LENGTH} characters`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
  const bad = /[\u0000-\u0020\u007f~^:[\\]/.exec(pattern);
  if (bad) return `contains ${JSON.stringify(bad[0])}, which a git ref cannot contain`;
  if (pattern.includes('..')) return 'contains "..", which a git ref cannot contain';
  if (pattern.includes('@{')) return 'contains "@{", which a git ref cannot contain';
  if (pattern.includes('//')) return 'contains "//", which a git ref cannot contain';
  if (pattern.startsWith('/') || pattern.endsWith('/')) return 'must not start or end with "/"';
  if (pattern.endsWith('.')) return 'must not end with "."';
  if (pattern.includes('***')) return 'has three or more "*" in a row; use * (within one path segment) or ** (across segments)';
  if (pattern.startsWith('refs/')) return 'names a full ref; the ref claim is the short name, e.g. main or release/*';
  return undefined;
}

function tokenize(pattern: string): Token[] {
  const tokens: Token[] = [];
  // Code points, not UTF-16 units, so `?` means one character on both paths.
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '*' && chars[i + 1] === '*') {
      tokens.push({ kind: 'globstar' });
      i++;
    } else if (c === '*') tokens.push({ kind: 'star' });
    else if (c === '?') tokens.push({ kind: 'one' });
    else tokens.push({ kind: 'char', char: c });
  }
  return tokens;
}

function assertValid(pattern: string): void {
  const problem = checkRefGlob(pattern);
  if (problem !== undefined) throw new OamError('ERR_METADATA_INVALID', `invalid ref pattern ${JSON.stringify(pattern)}: ${problem}`);
}

/**
 * The glob as an anchored RegExp, e.g. `compileRefGlob('release/*').test('release/1.2')`.
 * Prefer {@link matchesRefGlob} on untrusted input: a RegExp backtracks.
 * Throws ERR_METADATA_INVALID for an invalid pattern.
 */
export function compileRefGlob(pattern: string): RegExp {
  assertValid(pattern);
  const source = tokenize(pattern)
    .map((t) => {
      if (t.kind === 'globstar') return '.*';
      if (t.kind === 'star') return '[^/]*';
      if (t.kind === 'one') return '[^/]';
      return t.char.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    })
    .join('');
  return new RegExp(`^${source}$`, 'su');
}

/** Zero-width moves: a `*` or `**` may match nothing. */
function close(states: Uint8Array, tokens: readonly Token[]): void {
  for (let k = 0; k < tokens.length; k++) {
    const kind = tokens[k]!.kind;
    if (states[k] && (kind === 'star' || kind === 'globstar')) states[k + 1] = 1;
  }
}

/**
 * Whether `ref` (the ID token's short ref name, e.g. `release/1.2`) matches
 * `pattern`. An invalid pattern matches nothing (fail closed).
 */
export function matchesRefGlob(pattern: string, ref: string): boolean {
  if (checkRefGlob(pattern) !== undefined) return false;
  const tokens = tokenize(pattern);
  let states = new Uint8Array(tokens.length + 1);
  states[0] = 1;
  close(states, tokens);
  for (const c of ref) {
    const next = new Uint8Array(tokens.length + 1);
    let any = false;
    for (let k = 0; k < tokens.length; k++) {
      if (!states[k]) continue;
      const t = tokens[k]!;
      if (t.kind === 'globstar' || (t.kind === 'star' && c !== '/')) next[k] = 1;
      else if ((t.kind === 'one' && c !== '/') || (t.kind === 'char' && t.char === c)) next[k + 1] = 1;
      else continue;
      any = true;
    }
    if (!any) return false;
    close(next, tokens);
    states = next;
  }
  return states[tokens.length] === 1;
}
