/**
 * The job log: GitLab collapsible sections per step, one-line outcomes, and
 * colour only where it renders (a terminal or GitLab's log). Everything goes
 * to stderr so stdout stays clean for `plan --json` and `trust-policy`.
 */
import { redact } from './redact.ts';

export interface LogSink {
  write(text: string): void;
}

export interface LoggerOptions {
  sink?: LogSink;
  /** GitLab's log understands section markers and ANSI colour. */
  gitlab?: boolean;
  color?: boolean;
  now?: () => number;
}

const COLORS = { red: 31, green: 32, yellow: 33, cyan: 36, dim: 2, bold: 1 } as const;
type Color = keyof typeof COLORS;

/** Strip control characters so untrusted text cannot forge section markers or move the cursor. */
export function sanitizeForLog(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '?');
}

/** For one-line fields (error messages, validate's problems): line breaks and tabs become spaces too. */
export function sanitizeLine(text: string): string {
  return sanitizeForLog(text).replace(/[\n\t]/g, ' ');
}

/**
 * Text a foreign service sent (an error description, a warning), fit for one
 * line of a message: the given secrets masked first, as `[MASKED]` like everything oam-grant prints (a service may echo what
 * it was sent), no control characters or line breaks, at most `max` characters.
 */
export function foreignLine(text: string, max: number, hide: readonly string[] = []): string {
  let masked = text;
  for (const secret of hide) if (secret) masked = masked.split(secret).join('[MASKED]');
  const line = sanitizeLine(masked).replace(/ {2,}/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max)}...` : line;
}

export class Logger {
  readonly #sink: LogSink;
  readonly #gitlab: boolean;
  readonly #color: boolean;
  readonly #now: () => number;
  #sectionCounter = 0;

  constructor(options: LoggerOptions = {}) {
    const sink = options.sink ?? { write: (text: string) => process.stderr.write(text) };
    this.#sink = { write: (text) => sink.write(redact(text)) };
    this.#gitlab = options.gitlab ?? false;
    this.#color = options.color ?? this.#gitlab;
    this.#now = options.now ?? Date.now;
  }

  paint(color: Color, text: string): string {
    return this.#color ? `\u001b[${COLORS[color]}m${text}\u001b[0m` : text;
  }

  line(text = ''): void {
    this.#sink.write(`${sanitizeForLog(text)}\n`);
  }

  info(text: string): void {
    this.line(text);
  }

  warn(text: string): void {
    this.#sink.write(`${this.paint('yellow', 'warning:')} ${sanitizeForLog(text)}\n`);
  }

  success(text: string): void {
    this.#sink.write(`${this.paint('green', 'ok:')} ${sanitizeForLog(text)}\n`);
  }

  /**
   * Run `fn` inside a collapsible section (GitLab) or under a plain heading
   * (elsewhere). The section closes even when `fn` throws.
   */
  async section<T>(title: string, fn: () => Promise<T> | T, options: { collapsed?: boolean } = {}): Promise<T> {
    const id = `oam_grant_${++this.#sectionCounter}`;
    const started = this.#now();
    if (this.#gitlab) {
      const flags = options.collapsed === false ? '' : '[collapsed=true]';
      this.#sink.write(
        `\u001b[0Ksection_start:${Math.floor(started / 1000)}:${id}${flags}\r\u001b[0K${this.paint('cyan', sanitizeForLog(title))}\n`,
      );
    } else {
      this.#sink.write(`${this.paint('cyan', `== ${sanitizeForLog(title)}`)}\n`);
    }
    try {
      return await fn();
    } finally {
      if (this.#gitlab) {
        this.#sink.write(`\u001b[0Ksection_end:${Math.floor(this.#now() / 1000)}:${id}\r\u001b[0K\n`);
      }
    }
  }
}
