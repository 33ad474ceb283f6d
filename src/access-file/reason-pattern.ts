/**
 * `jit-approval.reasonPattern`: an RE2 regular expression the approval reason
 * must match somewhere (a search, like RegExp.test: anchor it with ^ and $).
 * RE2 matches in time linear in the reason, whatever the pattern, so an
 * approver's reason cannot stall the approve job (a backtracking RegExp took
 * 50 s for `^\w*\w*\w*\w*\w*\w*:$` on 120 characters); it is also the syntax
 * GitLab uses for its own regex inputs. Compiled the same way here (validation)
 * and by the approval check, so a pattern that validates is the pattern that runs.
 */
import { OamError } from '../errors.ts';
import { loadRe2js } from '../lib/lazy-module.ts';

export const MAX_REASON_PATTERN_LENGTH = 200;

/** What the approval check needs of a compiled pattern. */
export interface ReasonMatcher {
  /** Whether the pattern matches anywhere in `reason`. */
  test(reason: string): boolean;
}

/** Perl syntax RE2 leaves out on purpose (it cannot be matched in linear time). */
const LOOKAROUND_OR_BACKREFERENCE = /\(\?<?[=!]|\\[1-9k]/;

type Compiled = { readonly matcher: ReasonMatcher } | { readonly problem: string };

function compile(pattern: string): Compiled {
  if (pattern.length === 0) return { problem: 'must not be empty' };
  if (pattern.length > MAX_REASON_PATTERN_LENGTH) return { problem: `must be at most ${MAX_REASON_PATTERN_LENGTH} characters` };
  try {
    return { matcher: loadRe2js().RE2JS.compile(pattern) };
  } catch (error) {
    return { problem: describeSyntaxError(pattern, error) };
  }
}

/** RE2 says "error parsing regexp: missing closing ): `^([A-Z]+`"; keep the reason and the part it points at. */
function describeSyntaxError(pattern: string, error: unknown): string {
  const detail = error instanceof Error ? error.message.replace(/^error parsing regexp: /, '') : String(error);
  const unsupported = LOOKAROUND_OR_BACKREFERENCE.test(pattern) ? '; RE2 has no lookahead, lookbehind or backreferences' : '';
  return `is not a valid RE2 regular expression: ${detail}${unsupported}`;
}

/** Why `pattern` is not a usable reason pattern, or undefined when it is. */
export function checkReasonPattern(pattern: string): string | undefined {
  const compiled = compile(pattern);
  return 'problem' in compiled ? compiled.problem : undefined;
}

/**
 * The pattern compiled, e.g. `compileReasonPattern('^[A-Z]+-[0-9]+').test('OPS-12')`.
 * Throws ERR_METADATA_INVALID when {@link checkReasonPattern} refuses it.
 */
export function compileReasonPattern(pattern: string): ReasonMatcher {
  const compiled = compile(pattern);
  if ('problem' in compiled) throw new OamError('ERR_METADATA_INVALID', `reasonPattern ${compiled.problem}`);
  return compiled.matcher;
}
