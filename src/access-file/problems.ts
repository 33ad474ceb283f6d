import type { FileProblem } from '../errors.ts';
import type { SourcePosition } from './model.ts';
import { dottedPath, parentPointer } from './pointer.ts';
import type { YamlSource } from './yaml-source.ts';

/** Collects problems, each located at the node its pointer names (or the nearest ancestor that exists). */
export class ProblemList {
  readonly #file: string;
  readonly #source: YamlSource;
  readonly #seen = new Set<string>();
  readonly problems: FileProblem[] = [];

  constructor(file: string, source: YamlSource) {
    this.#file = file;
    this.#source = source;
  }

  /** Where `pointer` starts; `key` prefers the mapping key over its value (for unknown fields). */
  positionOf(pointer: string, key = false): SourcePosition {
    if (key) {
      const keyAt = this.#source.keyPositions.get(pointer);
      if (keyAt) return keyAt;
    }
    for (let p = pointer; ; p = parentPointer(p)) {
      const at = this.#source.positions.get(p);
      if (at) return at;
      if (p === '') return { line: 1, col: 1 };
    }
  }

  /** Adds `<dotted.path>: <text>`, once per pointer and text. */
  add(pointer: string, text: string, options: { key?: boolean } = {}): void {
    const message = pointer === '' ? (text.startsWith('must ') ? `file ${text}` : text) : `${dottedPath(pointer)}: ${text}`;
    const id = `${pointer}\u0000${message}`;
    if (this.#seen.has(id)) return;
    this.#seen.add(id);
    const at = this.positionOf(pointer, options.key ?? false);
    this.problems.push({ file: this.#file, line: at.line, col: at.col, path: pointer, message });
  }

  /** Whether a problem was already reported at `pointer` or below it. */
  hasProblemAt(pointer: string): boolean {
    return this.problems.some((p) => p.path === pointer || p.path.startsWith(`${pointer}/`));
  }

  sorted(): FileProblem[] {
    return [...this.problems].sort((a, b) => a.line - b.line || a.col - b.col);
  }
}
