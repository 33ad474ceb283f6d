/**
 * The published test file schema (schema/oam-test.schema.json), the validator
 * generated from it, the docs and the runner must never disagree. (That the
 * generated validator is current is checked with the access file's, in
 * test/access-file/schema.test.ts.)
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { parseAccessFile } from '../../src/access-file/load.ts';
import { PATTERN_PHRASES } from '../../src/access-file/schema-problems.ts';
import { validate as generatedValidate } from '../../src/policy-test/generated/validate-tests.js';
import { parsePolicyTests } from '../../src/policy-test/load.ts';
import { DENIAL_CODES } from '../../src/policy-test/model.ts';
import { runCase } from '../../src/policy-test/run.ts';

const repo = new URL('../../', import.meta.url);
const schemaPath = fileURLToPath(new URL('schema/oam-test.schema.json', repo));
const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as Json;
const fixtures = new URL('test/fixtures/policy-tests/', repo);

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
}

function keysOf(root: Json): Set<string> {
  const keys = new Set<string>();
  walk(root, '', (node) => {
    if (isObject(node.properties)) for (const key of Object.keys(node.properties)) keys.add(key);
  });
  return keys;
}

function fixtureFiles(kind: 'valid' | 'invalid'): string[] {
  const dir = new URL(`${kind}/`, fixtures);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => fileURLToPath(new URL(f, dir)));
}

const docs = readFileSync(new URL('docs/policy-tests.md', repo), 'utf8');
const yamlBlocks = [...docs.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '');

describe('schema/oam-test.schema.json', () => {
  it('describes every key, for editors', () => {
    const missing: string[] = [];
    walk(schema, '', (node, path) => {
      if (!isObject(node.properties)) return;
      for (const [key, property] of Object.entries(node.properties)) {
        if (!isObject(property) || typeof property.description !== 'string' || property.description.length < 10) missing.push(`${path}/properties/${key}`);
      }
    });
    assert.deepEqual(missing, []);
  });

  it('closes every mapping (unknown keys are errors)', () => {
    const open: string[] = [];
    walk(schema, '', (node, path) => {
      if (node.type === 'object' && node.additionalProperties !== false) open.push(path);
    });
    assert.deepEqual(open, []);
  });

  it('words every pattern for people, as the access file schema does', () => {
    walk(schema, '', (node, path) => {
      if (typeof node.pattern === 'string') assert.ok(PATTERN_PHRASES[node.pattern], `${path}: no phrase for ${node.pattern}`);
    });
  });

  it('expects exactly the codes the runner knows', () => {
    const denied = ((schema.definitions as Json).denied as Json).properties as Json;
    assert.deepEqual((denied.denied as Json).enum, [...DENIAL_CODES]);
  });

  it('gives the same verdict through the generated validator as through ajv', () => {
    const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);
    const verdicts = new Set<boolean>();
    let compared = 0;
    for (const path of [...fixtureFiles('valid'), ...fixtureFiles('invalid')]) {
      let value: unknown;
      try {
        value = parse(readFileSync(path, 'utf8'), { logLevel: 'error' });
      } catch {
        continue; // YAML-level fixtures never reach the schema
      }
      const verdict = validate(value);
      assert.equal(generatedValidate(value), verdict, path);
      assert.equal(generatedValidate.errors?.length ?? 0, validate.errors?.length ?? 0, path);
      verdicts.add(verdict);
      compared++;
    }
    // Not vacuous: both verdicts were compared, on most fixtures.
    assert.deepEqual([...verdicts].sort(), [false, true]);
    assert.ok(compared >= fixtureFiles('valid').length, `only ${compared} fixtures reached the schema`);
  });

  it("is the one named by the fixtures' yaml-language-server line", () => {
    let named = 0;
    for (const path of fixtureFiles('valid')) {
      const line = /^# yaml-language-server: \$schema=(.+)$/m.exec(readFileSync(path, 'utf8'));
      if (!line) continue;
      assert.equal(fileURLToPath(new URL(line[1]!, `file://${path}`)), schemaPath);
      named++;
    }
    assert.ok(named > 0, 'no valid fixture names a schema');
  });

  it('is documented key by key in docs/policy-tests.md', () => {
    const undocumented = [...keysOf(schema)].filter((key) => !docs.includes(`\`${key}\``));
    assert.deepEqual(undocumented, []);
  });
});

describe('docs/policy-tests.md', () => {
  it('has an access file and a test file whose cases all pass', async () => {
    const accessFiles = yamlBlocks.filter((b) => b.includes('kind: Application'));
    const testFiles = yamlBlocks.filter((b) => /^cases:$/m.test(b));
    assert.equal(accessFiles.length, 1);
    assert.ok(testFiles.length >= 1);
    const file = parseAccessFile(accessFiles[0]!, '.gitlab/oam.yaml');
    for (const text of testFiles) {
      const tests = parsePolicyTests(Buffer.from(text), '.gitlab/oam.test.yaml', file);
      for (const testCase of tests.cases) {
        const result = await runCase(file, testCase);
        assert.ok(result.passed, `${testCase.name}: ${JSON.stringify(result.outcome.kind === 'denied' ? result.outcome.message : 'granted')}`);
      }
    }
  });
});
