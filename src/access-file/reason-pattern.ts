/**
 * `jit-approval.reasonPattern`: a JavaScript RegExp the approval reason must
 * match. Compiled the same way here (validation) and by the approval check, so
 * a pattern that validates is the pattern that runs.
 */
import { OamError } from '../errors.ts';

export const MAX_REASON_PATTERN_LENGTH = 200;

const UNBOUNDED_QUANTIFIER = /^(?:[*+]|\{[0-9]+,\})/;
const ANY_QUANTIFIER = /^(?:[*+?]|\{[0-9]+(?:,[0-9]*)?\})/;

/**
 * Whether a quantified group contains an unbounded quantifier, as in `(a+)+`
 * or `(\w*\s?)*`: the shape that backtracks exponentially on a near-miss.
 * A cheap syntactic check, not a proof; reasons are short as well.
 */
function hasNestedQuantifier(pattern: string): boolean {
  const groups: boolean[] = [false];
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    let atomEnd = i + 1;
    let atomUnbounded = false;
    if (c === '\\') atomEnd = i + 2;
    else if (c === '[') {
      let j = i + 1;
      while (j < pattern.length && pattern[j] !== ']') j += pattern[j] === '\\' ? 2 : 1;
      atomEnd = j + 1;
    } else if (c === '(') {
      groups.push(false);
      i++;
      continue;
    } else if (c === ')') {
      atomUnbounded = groups.pop() ?? false;
      if (groups.length === 0) groups.push(false);
    }
    const rest = pattern.slice(atomEnd);
    const quantifier = ANY_QUANTIFIER.exec(rest);
    if (quantifier) {
      const unbounded = UNBOUNDED_QUANTIFIER.test(rest);
      const repeats = unbounded || /^\{[0-9]+,[0-9]*[2-9]/.test(rest) || /^\{[0-9]*[2-9]/.test(rest);
      if (atomUnbounded && repeats) return true;
      if (unbounded) atomUnbounded = true;
      atomEnd += quantifier[0].length;
      if (rest[quantifier[0].length] === '?') atomEnd++;
    }
    if (atomUnbounded) groups[groups.length - 1] = true;
    i = atomEnd;
  }
  return false;
}

/** Why `pattern` is not a usable reason pattern, or undefined when it is. */
export function checkReasonPattern(pattern: string): string | undefined {
  if (pattern.length === 0) return 'must not be empty';
  if (pattern.length > MAX_REASON_PATTERN_LENGTH) return `must be at most ${MAX_REASON_PATTERN_LENGTH} characters`;
  try {
    new RegExp(pattern);
  } catch (error) {
    // V8 says "Invalid regular expression: /<pattern>/: Unterminated group"; keep the reason only.
    const detail = error instanceof Error ? error.message.slice(error.message.lastIndexOf(': ') + 2) : String(error);
    return `is not a valid regular expression (${detail.charAt(0).toLowerCase()}${detail.slice(1)})`;
  }
  if (hasNestedQuantifier(pattern)) {
    return 'nests a repeated group inside a repetition, e.g. (a+)+, which can take exponential time; rewrite it without the nesting';
  }
  return undefined;
}

/**
 * The pattern as a RegExp, e.g. `compileReasonPattern('^[A-Z]+-[0-9]+').test('OPS-12')`.
 * Throws ERR_METADATA_INVALID when {@link checkReasonPattern} refuses it.
 */
export function compileReasonPattern(pattern: string): RegExp {
  const problem = checkReasonPattern(pattern);
  if (problem !== undefined) throw new OamError('ERR_METADATA_INVALID', `reasonPattern ${problem}`);
  return new RegExp(pattern);
}
