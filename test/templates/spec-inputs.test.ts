/**
 * The `spec: inputs` headers are the components' public interface (like the
 * CLI flags): gitlab-ci-local ignores unknown inputs and skips the header in
 * its schema check, so these rules are checked here.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CLEARED_VARIABLES,
  cliLine,
  DEFAULT_BRANCH_RULE,
  formatDefault,
  isRecord,
  packageVersion,
  readTemplate,
  type TemplateFile,
  templateNames,
} from './template-files.ts';

const INPUT_KEYS = new Set(['default', 'description', 'type', 'options', 'regex']);
const TYPES = new Set(['string', 'number', 'boolean', 'array']);
const SNAKE_CASE = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;

/** design.md section 4: the public inputs of each component. */
const EXPECTED_INPUTS: Record<string, string[]> = {
  request: ['as', 'stage', 'component', 'access_file', 'audience', 'environment', 'image', 'rules'],
  approve: ['as', 'stage', 'component', 'access_file', 'audience', 'environment', 'image', 'rules', 'manual_confirmation'],
  grant: ['as', 'stage', 'component', 'access_file', 'audience', 'environment', 'image', 'dotenv', 'rules'],
  close: ['as', 'stage', 'component', 'access_file', 'image', 'rules'],
  'jit-access': [
    'prefix',
    'stage',
    'component',
    'access_file',
    'audience',
    'environment',
    'approve_environment',
    'image',
    'dotenv',
    'rules',
    'approve_rules',
    'manual_confirmation',
  ],
};

const EXPECTED_DEFAULTS: Record<string, unknown> = {
  stage: 'deploy',
  access_file: '.gitlab/oam.yaml',
  audience: 'sts.amazonaws.com',
  dotenv: 'oam-grant.env',
  prefix: 'oam',
  approve_environment: 'oam-grant-approval',
};

/**
 * The jobs only where the access file can usually grant: branch pipelines of
 * the default branch. The approve job's rules add it as a manual job, so the
 * person who presses Run is the approver.
 */
const DEFAULT_RULES: Record<string, Record<string, unknown>> = {
  request: { rules: [{ if: DEFAULT_BRANCH_RULE }] },
  approve: { rules: [{ if: DEFAULT_BRANCH_RULE, when: 'manual' }] },
  grant: { rules: [{ if: DEFAULT_BRANCH_RULE }] },
  close: { rules: [{ if: DEFAULT_BRANCH_RULE }] },
  'jit-access': { rules: [{ if: DEFAULT_BRANCH_RULE }], approve_rules: [{ if: DEFAULT_BRANCH_RULE, when: 'manual' }] },
};

/** The environment input each job's `environment:` uses, and its default. */
const ENVIRONMENTS: Record<string, Record<string, [string, string]>> = {
  request: { '$[[ inputs.as ]]': ['environment', 'oam-grant'] },
  approve: { '$[[ inputs.as ]]': ['environment', 'oam-grant-approval'] },
  grant: { '$[[ inputs.as ]]': ['environment', 'oam-grant'] },
  'jit-access': {
    '$[[ inputs.prefix ]]:request': ['environment', 'oam-grant'],
    '$[[ inputs.prefix ]]:approve': ['approve_environment', 'oam-grant-approval'],
    '$[[ inputs.prefix ]]:grant': ['environment', 'oam-grant'],
  },
};

/** The inputs holding the approve job's rules. */
const APPROVE_RULES: Record<string, string> = { approve: 'rules', 'jit-access': 'approve_rules' };

/** The CLI command of each job, by the job's step. */
const COMMANDS: Record<string, string> = { request: 'request', approve: 'approve', grant: 'grant', close: 'close' };

/** The close job runs after every other job: in `.post`, whatever the stage of the others. */
const CLOSE_STAGE = '.post';

function inputsOf(template: TemplateFile): Record<string, Record<string, unknown>> {
  assert.ok(isRecord(template.header), `${template.name}: header is not a mapping`);
  assert.deepEqual(Object.keys(template.header), ['spec'], `${template.name}: the header holds only spec`);
  const spec = template.header.spec;
  assert.ok(isRecord(spec) && isRecord(spec.inputs), `${template.name}: no spec.inputs`);
  const inputs: Record<string, Record<string, unknown>> = {};
  for (const [id, value] of Object.entries(spec.inputs)) {
    assert.ok(isRecord(value), `${template.name}.${id}: an input is a mapping`);
    inputs[id] = value;
  }
  return inputs;
}

function typeOf(value: unknown): string {
  return Array.isArray(value) ? 'array' : typeof value;
}

describe('spec: inputs headers', () => {
  it('has exactly the five components', () => {
    assert.deepEqual(templateNames(), ['approve', 'close', 'grant', 'jit-access', 'request']);
  });

  for (const name of Object.keys(EXPECTED_INPUTS)) {
    describe(name, () => {
      const template = readTemplate(name);
      const inputs = inputsOf(template);

      it('declares the documented inputs, in order', () => {
        assert.deepEqual(Object.keys(inputs), EXPECTED_INPUTS[name]);
      });

      it('names every input in snake_case with known keys and a sane type', () => {
        for (const [id, input] of Object.entries(inputs)) {
          assert.match(id, SNAKE_CASE, `${name}.${id}`);
          for (const key of Object.keys(input)) assert.ok(INPUT_KEYS.has(key), `${name}.${id}: unknown key ${key}`);
          const type = input.type ?? 'string';
          assert.ok(typeof type === 'string' && TYPES.has(type), `${name}.${id}: type ${String(type)}`);
          if ('default' in input) assert.equal(typeOf(input.default), type, `${name}.${id}: default is not a ${type}`);
          if ('regex' in input) {
            assert.equal(type, 'string', `${name}.${id}: regex only applies to strings`);
            assert.ok(typeof input.regex === 'string' && !input.regex.startsWith('/'), `${name}.${id}: regex without slashes`);
            const pattern = new RegExp(input.regex);
            if (typeof input.default === 'string') assert.match(input.default, pattern, `${name}.${id}: default fails its own regex`);
          }
        }
      });

      it('describes every input, naming its default or saying it is required', () => {
        for (const [id, input] of Object.entries(inputs)) {
          const description = input.description;
          assert.ok(typeof description === 'string' && description.length > 20, `${name}.${id}: description`);
          assert.ok(description.endsWith('.'), `${name}.${id}: description ends with a full stop`);
          if ('default' in input) {
            assert.ok(
              description.endsWith(`Default: \`${formatDefault(input.default)}\`.`),
              `${name}.${id}: description must end with "Default: \`${formatDefault(input.default)}\`."`,
            );
          } else {
            assert.ok(description.endsWith('Required.'), `${name}.${id}: a required input says "Required."`);
          }
        }
      });

      it('keeps the shared defaults of design.md', () => {
        assert.equal('default' in (inputs.component ?? {}), false, 'component is required');
        // Every shared input this component declares (design.md), not only those present.
        for (const [id, value] of Object.entries(EXPECTED_DEFAULTS)) {
          if (!EXPECTED_INPUTS[name]?.includes(id)) continue;
          assert.deepEqual(inputs[id]?.default, name === 'close' && id === 'stage' ? CLOSE_STAGE : value, `${name}.${id}`);
        }
        if (inputs.as) assert.equal(inputs.as.default, `oam:${name}`);
      });

      it("pins the default image to the package's version", () => {
        assert.equal(inputs.image?.default, `registry.gitlab.com/oam-grant/oam-grant:${packageVersion()}`);
      });

      it('uses every input it declares and declares every input it uses', () => {
        const used = new Set([...template.bodySource.matchAll(/\$\[\[\s*inputs\.([a-z0-9_]+)\s*\]\]/g)].map((m) => m[1]));
        assert.deepEqual([...used].sort(), Object.keys(inputs).sort());
      });

      it('never splices an input or component value into a script line', () => {
        assert.ok(isRecord(template.body));
        for (const [job, definition] of Object.entries(template.body)) {
          assert.ok(isRecord(definition), `${job} is a mapping`);
          for (const key of ['script', 'before_script', 'after_script']) {
            const lines = definition[key];
            if (lines === undefined) continue;
            assert.ok(Array.isArray(lines), `${job}.${key} is a list`);
            for (const line of lines) assert.doesNotMatch(String(line), /\$\[\[/, `${job}.${key}: ${String(line)}`);
          }
        }
      });

      it('defaults the rules to branch pipelines of the default branch, the approve job manual in each', () => {
        for (const [id, rules] of Object.entries(DEFAULT_RULES[name] ?? {})) assert.deepEqual(inputs[id]?.default, rules, `${name}.${id}`);
        const id = APPROVE_RULES[name];
        if (id === undefined) return;
        const rules = inputs[id]?.default;
        assert.ok(Array.isArray(rules) && rules.length > 0);
        for (const rule of rules) assert.ok(isRecord(rule) && rule.when === 'manual', `${name}.${id}: a default rule without when: manual`);
      });

      it('gives the approve job its own environment input, and the others theirs', () => {
        const body = template.body;
        assert.ok(isRecord(body));
        for (const [job, [id, fallback]] of Object.entries(ENVIRONMENTS[name] ?? {})) {
          const definition: unknown = body[job];
          assert.ok(isRecord(definition), `${name}: no job ${job}`);
          assert.deepEqual(definition.environment, { name: `$[[ inputs.${id} ]]`, action: 'prepare' }, `${name}: ${job}`);
          assert.equal(inputs[id]?.default, fallback, `${name}.${id}`);
        }
      });

      it('starts the CLI with the interpreter-altering variables cleared, in one line per job', () => {
        assert.ok(isRecord(template.body));
        for (const [job, definition] of Object.entries(template.body)) {
          assert.ok(isRecord(definition), `${job} is a mapping`);
          const command = name === 'jit-access' ? COMMANDS[job.slice(job.lastIndexOf(':') + 1)] : COMMANDS[name];
          assert.ok(command, `${name}: which command does ${job} run?`);
          assert.deepEqual(definition.script, [cliLine(command)], `${name}: ${job}`);
          for (const key of ['before_script', 'after_script']) assert.equal(definition[key], undefined, `${name}: ${job} has ${key}`);
        }
        assert.equal(new Set(CLEARED_VARIABLES).size, CLEARED_VARIABLES.length);
      });

      it('sets no global keywords', () => {
        assert.ok(isRecord(template.body));
        for (const key of ['default', 'stages', 'variables', 'workflow', 'include', 'image', 'before_script', 'after_script', 'cache', 'services']) {
          assert.equal(key in template.body, false, `${name} sets the global keyword ${key}`);
        }
      });
    });
  }
});
