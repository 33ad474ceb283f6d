/**
 * Bytes -> plain JSON-like value, with the position of every node. Hostile
 * input is refused here, before and while parsing, with limits that no real
 * access file comes near: size, nesting, aliases, node count, documents.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseAllDocuments } from 'yaml';
import type { FileProblem } from '../errors.ts';
import type { SourcePosition } from './model.ts';
import { joinPointer } from './pointer.ts';

export const LIMITS = {
  /** Checked before anything is decoded or parsed. */
  maxBytes: 256 * 1024,
  maxDepth: 64,
  /** Alias dereferences in the whole file: enough for shared approver lists, too few for a billion laughs. */
  maxAliases: 100,
  /** Nodes after alias expansion. */
  maxNodes: 20_000,
  /** Newlines plus commas: bounds entries before parsing, which takes time per entry. */
  maxSeparators: 20_000,
  /** Leading indentation (spaces and compact `- ` indicators) of any line; deep block nesting is refused before the parser sees it. */
  maxIndent: 512,
} as const;

export interface YamlSource {
  readonly value: unknown;
  /** Position of each value node by JSON pointer. */
  readonly positions: ReadonlyMap<string, SourcePosition>;
  /** Position of each mapping key by the JSON pointer of its value. */
  readonly keyPositions: ReadonlyMap<string, SourcePosition>;
}

export type YamlResult = { ok: true; source: YamlSource } | { ok: false; problems: FileProblem[] };

const AT_START: SourcePosition = { line: 1, col: 1 };

function problem(file: string, at: SourcePosition, path: string, message: string): FileProblem {
  return { file, line: at.line, col: at.col, path, message };
}

/** Strict UTF-8 (a BOM is dropped): anything else is refused rather than guessed. */
export function decodeUtf8(bytes: Uint8Array, file: string): { ok: true; text: string } | { ok: false; problems: FileProblem[] } {
  try {
    return { ok: true, text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    // Locate the first bad byte through the lenient decoder; U+FFFD marks it.
    const lenient = new TextDecoder('utf-8').decode(bytes);
    const at = lineColAt(lenient, Math.max(0, lenient.indexOf('\uFFFD')));
    return { ok: false, problems: [problem(file, at, '', 'file is not valid utf-8; save it as utf-8')] };
  }
}

function lineColAt(text: string, offset: number): SourcePosition {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, col: offset - start + 1 };
}

/**
 * What the parser would choke on, found with one linear scan: too many
 * entries (lines and commas; parsing costs time per entry), deep flow
 * brackets (quotes are ignored, which only over-counts unbalanced brackets in
 * strings) and deep block indentation. yaml's composer recurses per level,
 * and very deep input exhausts the stack or worse, so it must not get there.
 */
function prescan(text: string, file: string): FileProblem | undefined {
  let depth = 0;
  let separators = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a || c === 0x2c) {
      if (++separators > LIMITS.maxSeparators) {
        return problem(file, lineColAt(text, i), '', `too many lines and list entries (more than ${LIMITS.maxSeparators})`);
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > LIMITS.maxDepth) return problem(file, lineColAt(text, i), '', `nesting deeper than ${LIMITS.maxDepth} levels`);
    } else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
  }
  const indent = new RegExp(`^(?:[ ]|[-?:][ ]){${LIMITS.maxIndent + 1}}`, 'm');
  const deep = indent.exec(text);
  if (deep) return problem(file, lineColAt(text, deep.index), '', `line indented deeper than ${LIMITS.maxIndent} columns`);
  return undefined;
}

class Abort extends Error {}

/**
 * Parses one YAML document into a value and its positions. Every syntax
 * error, duplicate key and unresolved tag is reported, each at its own
 * position; a hostile-input limit stops at the first breach. `expected` says
 * what the file should hold, for the message about an empty one.
 */
export function readYaml(text: string, file: string, expected = 'an oam application'): YamlResult {
  const early = prescan(text, file);
  if (early) return { ok: false, problems: [early] };

  const lineCounter = new LineCounter();
  // Duplicate keys are found in the walk below: yaml's own check is quadratic in the keys of a map.
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: false, strict: true });
  const at = (offset: number): SourcePosition => lineCounter.linePos(offset);
  if (docs.length === 0) return { ok: false, problems: [problem(file, AT_START, '', `file is empty; expected ${expected}`)] };

  const problems: FileProblem[] = [];
  if (docs.length > 1) {
    problems.push(problem(file, at(docs[1]!.range[0]), '', 'file holds more than one yaml document; keep one application per file'));
  }
  const doc = docs[0]!;
  // A %YAML 1.1 directive would turn yes/no/on/off into booleans and enable merge keys.
  if (doc.directives?.yaml.version !== '1.2') {
    const directive = text.search(/^%YAML/m);
    problems.push(
      problem(file, directive === -1 ? AT_START : at(directive), '', `yaml ${doc.directives?.yaml.version ?? '?'} is not supported; remove the %YAML directive (yaml 1.2 is used)`),
    );
  }
  for (const issue of [...doc.errors, ...doc.warnings]) {
    const where = at(issue.pos[0]);
    if (issue.code === 'TAG_RESOLVE_FAILED') {
      problems.push(problem(file, where, '', `unsupported yaml tag ${text.slice(issue.pos[0], issue.pos[1])}`));
    } else {
      const message = issue.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      problems.push(problem(file, where, '', `yaml syntax: ${message.charAt(0).toLowerCase()}${message.slice(1)}`));
    }
  }
  if (problems.length > 0) return { ok: false, problems };
  if (doc.contents === null) return { ok: false, problems: [problem(file, AT_START, '', `file is empty; expected ${expected}`)] };

  const positions = new Map<string, SourcePosition>();
  const keyPositions = new Map<string, SourcePosition>();
  // Anchors in document order, registered outside alias expansions only, so an
  // alias means what YAML says: the closest anchor of that name before it.
  const anchors = new Map<string, Node>();
  let nodes = 0;
  let aliases = 0;

  const fail = (node: Node | null, pointer: string, message: string): never => {
    problems.push(problem(file, node?.range ? at(node.range[0]) : AT_START, pointer, message));
    throw new Abort();
  };

  const walk = (node: unknown, pointer: string, depth: number, expanding: boolean): unknown => {
    if (node === null || node === undefined) return null;
    if (!isAlias(node) && !isScalar(node) && !isMap(node) && !isSeq(node)) return fail(null, pointer, 'unsupported yaml node');
    if (depth > LIMITS.maxDepth) return fail(node, pointer, `nesting deeper than ${LIMITS.maxDepth} levels`);
    if (++nodes > LIMITS.maxNodes) return fail(node, pointer, `more than ${LIMITS.maxNodes} nodes (after expanding aliases)`);
    if (node.range && !positions.has(pointer)) positions.set(pointer, at(node.range[0]));

    if (isAlias(node)) {
      if (++aliases > LIMITS.maxAliases) return fail(node, pointer, `more than ${LIMITS.maxAliases} alias uses`);
      const target = anchors.get(node.source);
      if (target === undefined) return fail(node, pointer, `unknown alias *${node.source}`);
      return walk(target, pointer, depth + 1, true);
    }
    if (!expanding && node.anchor) anchors.set(node.anchor, node);
    if (isScalar(node)) {
      const value = node.value;
      if (typeof value === 'number' && !Number.isFinite(value)) return fail(node, pointer, 'numbers must be finite');
      if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
      return fail(node, pointer, `unsupported yaml value${node.tag ? ` (${node.tag})` : ''}`);
    }
    if (isSeq(node)) return node.items.map((item, i) => walk(item, joinPointer(pointer, String(i)), depth + 1, expanding));

    const result: Record<string, unknown> = {};
    for (const pair of node.items) {
      if (!isPair(pair)) return fail(node, pointer, 'unsupported yaml mapping entry');
      const key = pair.key;
      if (!isScalar(key) || (typeof key.value !== 'string' && typeof key.value !== 'number' && typeof key.value !== 'boolean')) {
        return fail(isScalar(key) || isMap(key) || isSeq(key) ? key : node, pointer, 'mapping keys must be plain strings');
      }
      const name = String(key.value);
      const child = joinPointer(pointer, name);
      if (Object.hasOwn(result, name)) {
        // Not fatal: every duplicate is worth reporting, and the first value stays.
        if (!expanding) problems.push(problem(file, key.range ? at(key.range[0]) : AT_START, child, `duplicate key ${name}`));
        continue;
      }
      if (key.range) {
        keyPositions.set(child, at(key.range[0]));
        // A key with no value still gets a position: its own.
        if (pair.value === null) positions.set(child, at(key.range[0]));
      }
      // defineProperty: a key named __proto__ stays a plain own property.
      Object.defineProperty(result, name, {
        value: walk(pair.value, child, depth + 1, expanding),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return result;
  };

  try {
    const value = walk(doc.contents, '', 0, false);
    if (problems.length > 0) return { ok: false, problems };
    return { ok: true, source: { value, positions, keyPositions } };
  } catch (error) {
    if (error instanceof Abort) return { ok: false, problems };
    throw error;
  }
}
