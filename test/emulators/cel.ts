/**
 * The part of CEL (https://github.com/google/cel-spec) that workload identity
 * attribute conditions need here: `&&`, `||`, `!`, parentheses, `true`/`false`,
 * string literals (single or double quotes, `\\` `\'` `\"` escapes), member
 * access on `assertion`, `attribute` and `google`, `==`/`!=` against strings,
 * `x in ['a', 'b']`, and the string functions startsWith, endsWith, contains
 * and matches (RE2, unanchored, as cel-go's MatchString; JS RegExp stands in
 * for the simple patterns oam-grant prints). Anything else is a parse error,
 * so a condition the emulator cannot read fails loudly instead of passing.
 */

type Value = string | boolean | number | undefined | readonly unknown[] | Readonly<Record<string, unknown>>;
export type CelContext = Readonly<Record<string, unknown>>;

type Token = { kind: 'str'; value: string } | { kind: 'id'; value: string } | { kind: 'op'; value: string };

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'" || c === '"') {
      let value = '';
      i++;
      while (i < source.length && source[i] !== c) {
        if (source[i] === '\\') {
          const next = source[i + 1];
          if (next === undefined) throw new Error('CEL: unterminated escape');
          value += next === 'n' ? '\n' : next === 't' ? '\t' : next;
          i += 2;
        } else value += source[i++];
      }
      if (source[i] !== c) throw new Error('CEL: unterminated string');
      i++;
      tokens.push({ kind: 'str', value });
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i))![0];
      tokens.push({ kind: 'id', value: m });
      i += m.length;
    } else {
      const two = source.slice(i, i + 2);
      if (['&&', '||', '==', '!='].includes(two)) {
        tokens.push({ kind: 'op', value: two });
        i += 2;
      } else if ('!().,[]'.includes(c)) {
        tokens.push({ kind: 'op', value: c });
        i++;
      } else throw new Error(`CEL: unexpected ${JSON.stringify(c)}`);
    }
  }
  return tokens;
}

const ROOTS = new Set(['assertion', 'attribute', 'google']);
const FUNCTIONS = new Set(['startsWith', 'endsWith', 'contains', 'matches']);

/** Parses `source` into a function of the context; throws on anything outside the subset. */
export function compileCel(source: string): (context: CelContext) => boolean {
  const tokens = tokenize(source);
  let pos = 0;
  const peek = (value: string) => tokens[pos]?.kind !== 'str' && tokens[pos]?.value === value;
  const expect = (value: string) => {
    if (!peek(value)) throw new Error(`CEL: expected ${value} at token ${pos}`);
    pos++;
  };
  type Node = (ctx: CelContext) => Value;

  const stringLiteral = (): string => {
    const t = tokens[pos++];
    if (t?.kind !== 'str') throw new Error('CEL: expected a string literal');
    return t.value;
  };

  const operand = (): Node => {
    const t = tokens[pos];
    if (t?.kind === 'str') {
      pos++;
      return () => t.value;
    }
    if (t?.kind !== 'id') throw new Error(`CEL: unexpected token at ${pos}`);
    pos++;
    if (t.value === 'true' || t.value === 'false') return () => t.value === 'true';
    if (!ROOTS.has(t.value)) throw new Error(`CEL: unknown identifier ${t.value}`);
    const path = [t.value];
    while (peek('.')) {
      pos++;
      const name = tokens[pos++];
      if (name?.kind !== 'id') throw new Error('CEL: expected a field name');
      if (peek('(')) {
        if (!FUNCTIONS.has(name.value)) throw new Error(`CEL: unsupported function ${name.value}`);
        pos++;
        const argument = stringLiteral();
        expect(')');
        const target = [...path];
        const fn = name.value;
        return (ctx) => {
          const value = lookup(ctx, target);
          if (typeof value !== 'string') return undefined;
          if (fn === 'startsWith') return value.startsWith(argument);
          if (fn === 'endsWith') return value.endsWith(argument);
          if (fn === 'contains') return value.includes(argument);
          return new RegExp(argument, 'u').test(value);
        };
      }
      path.push(name.value);
    }
    return (ctx) => lookup(ctx, path) as Value;
  };

  const comparison = (): Node => {
    const left = operand();
    if (peek('==') || peek('!=')) {
      const negate = tokens[pos++]!.value === '!=';
      const right = operand();
      return (ctx) => {
        const a = left(ctx);
        const b = right(ctx);
        // CEL errors on a missing field; an attribute condition that errors rejects the credential.
        if (a === undefined || b === undefined) return undefined;
        return (a === b) !== negate;
      };
    }
    if (peek('in')) {
      pos++;
      expect('[');
      const list: string[] = [];
      while (!peek(']')) {
        list.push(stringLiteral());
        if (!peek(']')) expect(',');
      }
      expect(']');
      return (ctx) => {
        const a = left(ctx);
        return a === undefined ? undefined : typeof a === 'string' && list.includes(a);
      };
    }
    return left;
  };

  const unary = (): Node => {
    if (peek('!')) {
      pos++;
      const inner = unary();
      return (ctx) => {
        const v = inner(ctx);
        return typeof v === 'boolean' ? !v : undefined;
      };
    }
    if (peek('(')) {
      pos++;
      const inner = or();
      expect(')');
      return inner;
    }
    return comparison();
  };

  const and = (): Node => {
    const parts = [unary()];
    while (peek('&&')) {
      pos++;
      parts.push(unary());
    }
    return parts.length === 1 ? parts[0]! : (ctx) => parts.every((p) => p(ctx) === true);
  };

  function or(): Node {
    const parts = [and()];
    while (peek('||')) {
      pos++;
      parts.push(and());
    }
    return parts.length === 1 ? parts[0]! : (ctx) => parts.some((p) => p(ctx) === true);
  }

  const root = or();
  if (pos !== tokens.length) throw new Error(`CEL: unexpected token at ${pos}`);
  return (ctx) => root(ctx) === true;
}

function lookup(ctx: CelContext, path: readonly string[]): unknown {
  let value: unknown = ctx;
  for (const key of path) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}
