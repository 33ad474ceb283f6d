import { OamError } from '../errors.ts';

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;
type Unit = keyof typeof UNIT_SECONDS;

/** The access file's duration syntax: a whole number and one unit. */
export const DURATION_PATTERN = /^([0-9]+)([smhd])$/;

/** Longest duration the access file accepts anywhere: long enough for any gate, short enough to stay a gate. */
export const MAX_DURATION_SECONDS = 30 * 86400;

/**
 * Seconds in a duration string (`<n>s|m|h|d`), e.g. `parseDuration('2h') === 7200`.
 * Throws ERR_METADATA_INVALID for anything else, including zero and values
 * above {@link MAX_DURATION_SECONDS}.
 */
export function parseDuration(text: string): number {
  const problem = checkDuration(text);
  if (problem !== undefined) throw new OamError('ERR_METADATA_INVALID', `invalid duration ${JSON.stringify(text)}: ${problem}`);
  const match = DURATION_PATTERN.exec(text)!;
  return Number(match[1]) * UNIT_SECONDS[match[2] as Unit];
}

/** Why `text` is not a usable duration, or undefined when it is. */
export function checkDuration(text: string): string | undefined {
  const match = DURATION_PATTERN.exec(text);
  if (!match) return 'expected a whole number and a unit (s, m, h or d), e.g. 30m';
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2] as Unit];
  if (seconds <= 0) return 'must be greater than zero';
  if (seconds > MAX_DURATION_SECONDS) return 'must be at most 30d';
  return undefined;
}

/** The shortest exact spelling of a number of seconds, e.g. 5400 -> `90m`, 7200 -> `2h`. */
export function formatDuration(seconds: number): string {
  for (const unit of ['d', 'h', 'm'] as const) {
    const size = UNIT_SECONDS[unit];
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}
