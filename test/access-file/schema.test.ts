/**
 * The published schema (schema/oam-access.schema.json), the build-time
 * validator generated from it, the loader and the docs must never disagree.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { validate as generatedValidate } from '../../src/access-file/generated/validate-schema.js';
import { parseAccessFile } from '../../src/access-file/load.ts';
import { PATTERN_PHRASES } from '../../src/access-file/schema-problems.ts';

const repo = new URL('../../', import.meta.url);
const schemaPath = fileURLToPath(new URL('schema/oam-access.schema.json', repo));
const schema: unknown = JSON.parse(readFileSync(schemaPath, 'utf8'));
const fixtures = new URL('test/fixtures/access-files/', repo);

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Visits every subschema (not every JSON object: a property may be named "properties"). */
function walk(node: unknown, path: string, visit: (node: Json, path: string) => void): void {
  if (!isObject(node)) return;
  visit(node, path);
  for (const key of ['properties', 'definitions']) {
    const map = node[key];
    if (isObject(map)) for (const [name, child] of Object.entries(map)) walk(child, `${path}/${key}/${name}`, visit);
  }
  for (const key of ['items', 'additionalProperties', 'if', 'then', 'else']) walk(node[key], `${path}/${key}`, visit);
  for (const key of ['allOf', 'anyOf', 'oneOf']) {
    const list = node[key];
    if (!Array.isArray(list)) continue;
    for (const [i, child] of list.entries()) walk(child, `${path}/${key}/${i}`, visit);
  }
}

function definition(ref: string): Json {
  const name = ref.replace('#/definitions/', '');
  const found = (schema as { definitions: Record<string, unknown> }).definitions[name];
  assert.ok(isObject(found), `no definition ${ref}`);
  return found;
}

function fixtureFiles(kind: 'valid' | 'invalid'): string[] {
  const dir = new URL(`${kind}/`, fixtures);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => fileURLToPath(new URL(f, dir)));
}

describe('schema/oam-access.schema.json', () => {
  it('describes every key, for editors', () => {
    const missing: string[] = [];
    walk(schema, '', (node, path) => {
      if (!isObject(node.properties) || /\/(if|then)(\/|$)/.test(path)) return;
      for (const [key, property] of Object.entries(node.properties)) {
        const target = isObject(property) && typeof property.$ref === 'string' ? definition(property.$ref) : property;
        if (!isObject(target) || typeof target.description !== 'string' || target.description.length < 10) missing.push(`${path}/properties/${key}`);
      }
    });
    assert.deepEqual(missing, []);
  });

  it('closes every mapping (unknown keys are errors)', () => {
    const open: string[] = [];
    walk(schema, '', (node, path) => {
      if (node.type !== 'object' || /\/(if|then)(\/|$)/.test(path)) return;
      // Free-form on purpose: labels/annotations (string maps), IAM statements, and the
      // per-type `properties` that if/then narrows to a closed definition.
      const freeForm = /\/(Statement\/anyOf\/\d+(\/items)?|properties\/properties)$/.test(path) || isObject(node.additionalProperties);
      if (node.additionalProperties !== false && !freeForm) open.push(path);
    });
    assert.deepEqual(open, []);
  });

  it('has a readable phrase for every pattern, and no stale phrase', () => {
    const patterns = new Set<string>();
    walk(schema, '', (node) => {
      if (typeof node.pattern === 'string') patterns.add(node.pattern);
    });
    assert.deepEqual([...patterns].sort(), Object.keys(PATTERN_PHRASES).sort());
  });

  it('compiles to the committed standalone validator (run node scripts/generate-validator.mjs)', () => {
    const result = spawnSync(process.execPath, ['scripts/generate-validator.mjs', '--check'], { cwd: fileURLToPath(repo), encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
  });

  it('accepts every valid fixture when used directly with ajv', () => {
    const validate = new Ajv({ allErrors: true, strict: true }).compile(schema as Json);
    for (const file of fixtureFiles('valid')) {
      const ok = validate(parse(readFileSync(file, 'utf8'), { logLevel: 'error' }));
      assert.equal(ok, true, `${file}: ${JSON.stringify(validate.errors)}`);
    }
  });

  it('gives the same verdict through the generated validator as through ajv at run time', () => {
    const validate = new Ajv({ allErrors: true, strict: true }).compile(schema as Json);
    for (const file of [...fixtureFiles('valid'), ...fixtureFiles('invalid')]) {
      let value: unknown;
      try {
        value = parse(readFileSync(file, 'utf8'), { logLevel: 'error' });
      } catch {
        continue; // YAML-level fixtures never reach the schema
      }
      const runtime = validate(value);
      const generated = generatedValidate(value);
      assert.equal(generated, runtime, file);
      assert.equal(generatedValidate.errors?.length ?? 0, validate.errors?.length ?? 0, file);
    }
  });

  it('is the one named by the fixtures\' yaml-language-server line', () => {
    for (const file of fixtureFiles('valid')) {
      const line = /^# yaml-language-server: \$schema=(.+)$/m.exec(readFileSync(file, 'utf8'));
      if (line) assert.equal(fileURLToPath(new URL(line[1]!, `file://${file}`)), schemaPath);
    }
  });

  it('is documented key by key in docs/access-file.md', () => {
    const docs = new URL('docs/access-file.md', repo);
    assert.ok(existsSync(docs));
    const text = readFileSync(docs, 'utf8');
    const keys = new Set<string>();
    walk(schema, '', (node, path) => {
      if (isObject(node.properties) && !/\/(if|then)(\/|$)/.test(path)) for (const key of Object.keys(node.properties)) keys.add(key);
    });
    const undocumented = [...keys].filter((key) => !text.includes(`\`${key}\``));
    assert.deepEqual(undocumented, []);
  });

  it('has a docs example that loads', () => {
    const text = readFileSync(new URL('docs/access-file.md', repo), 'utf8');
    const examples = [...text.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '').filter((b) => b.includes('kind: Application'));
    assert.equal(examples.length, 1);
    assert.equal(parseAccessFile(examples[0]!, 'docs/access-file.md').name, 'payments-api');
  });
});
