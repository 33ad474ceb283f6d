import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadAccessFile, parseAccessFile } from '../../src/access-file/load.ts';
import { credentialTraitOf } from '../../src/access-file/lookup.ts';
import * as yamlSource from '../../src/access-file/yaml-source.ts';
import { AccessFileError } from '../../src/errors.ts';

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/access-files/valid/${name}`, import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'oam-access-file-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const HEAD = 'apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata: {name: t}\nspec:\n';
const COMPONENT = '    - {name: deploy, type: gitlab-job, traits: [{type: aws-sts, properties: {roleArn: "arn:aws:iam::123456789012:role/a"}}]}\n';

/** The one problem an AccessFileError carries, as {code, line, col, message}. */
function onlyProblem(run: () => unknown): { code: string; line: number; col: number; message: string } {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof AccessFileError, String(error));
    assert.equal(error.problems.length, 1, JSON.stringify(error.problems));
    const p = error.problems[0]!;
    return { code: error.code, line: p.line, col: p.col, message: p.message };
  }
  assert.fail('expected an AccessFileError');
}

async function rejection(promise: Promise<unknown>): Promise<AccessFileError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof AccessFileError, String(error));
    return error;
  }
  assert.fail('expected an AccessFileError');
}

/** Hostile input must be refused in well under a second. */
/**
 * CPU time of this process (user + system), not wall time: the bounds below
 * tell linear work from runaway work, and must not fail because other
 * processes share a loaded CI machine.
 */
function timed<T>(run: () => T): { result: T; ms: number } {
  const started = process.cpuUsage();
  const result = run();
  const used = process.cpuUsage(started);
  return { result, ms: (used.user + used.system) / 1000 };
}

describe('the typed model', () => {
  it('reads design.md\'s example into the model, defaults applied', async () => {
    const path = fixture('design-example.yaml');
    const file = await loadAccessFile(path);
    const { positions, ...rest } = file;
    assert.deepEqual(rest, {
      path,
      digest: createHash('sha256').update(readFileSync(path)).digest('hex'),
      name: 'payments-api',
      gitlab: { url: 'https://gitlab.com', issuer: 'https://gitlab.com', apiUrl: 'https://gitlab.com/api/v4', stated: false },
      components: [
        {
          name: 'deploy-prod',
          type: 'gitlab-job',
          pointer: '/spec/components/0',
          environment: 'production',
          traits: [
            {
              type: 'aws-sts',
              roleArn: 'arn:aws:iam::123456789012:role/ci-deploy',
              region: 'eu-west-1',
              durationSeconds: 900,
              sessionPolicy: {
                Version: '2012-10-17',
                Statement: [{ Effect: 'Allow', Action: ['s3:PutObject'], Resource: ['arn:aws:s3:::releases/*'] }],
              },
              policyArns: [],
              exportPrefix: '',
            },
            { type: 'mr-audit', required: true },
          ],
        },
      ],
      policies: [
        {
          type: 'gitlab-conditions',
          name: 'protected-only',
          pointer: '/spec/policies/0',
          componentNames: ['deploy-prod'],
          refProtected: true,
          refs: ['main', 'release/*'],
          refTypes: ['branch', 'tag'],
          environments: ['production'],
          pipelineSources: ['push', 'web', 'merge_request_event'],
          projectPaths: ['acme/payments'],
        },
        { type: 'credential-limits', name: 'caps', pointer: '/spec/policies/1', maxDurationSeconds: 3600 },
      ],
      steps: [
        {
          type: 'jit-approval',
          name: 'approve-deploy-prod',
          pointer: '/spec/workflow/steps/0',
          component: 'deploy-prod',
          timeoutSeconds: 7200,
          approvers: { users: ['alice', 'bob'], groups: ['acme/sre'] },
          minApprovals: 1,
          forbid: ['requester', 'mrAuthor'],
          requireReason: true,
          reasonPattern: '^[A-Z]+-[0-9]+',
          acceptReasonVariable: true,
          validForSeconds: 1800,
        },
      ],
    });
    assert.deepEqual(positions.get('/spec/components/0/traits/0/properties/roleArn'), { line: 14, col: 22 });
    assert.deepEqual(positions.get('/spec/components/0'), { line: 7, col: 7 });
    assert.deepEqual(positions.get('/spec/workflow/steps/0/timeout'), { line: 43, col: 18 });
  });

  it('applies every default to a minimal file', () => {
    const file = parseAccessFile(
      `${HEAD}  components:\n${COMPONENT}    - name: tests\n      type: gitlab-job\n      traits: [{type: mr-audit}, {type: aws-sts, properties: {roleArn: "arn:aws:iam::123456789012:role/b"}}]\n` +
        '  workflow:\n    steps:\n      - {name: gate, type: jit-approval, properties: {component: deploy, approvers: {groups: [acme/sre]}}}\n',
      'inline.yaml',
    );
    assert.deepEqual(file.components[0]!.traits, [
      { type: 'aws-sts', roleArn: 'arn:aws:iam::123456789012:role/a', durationSeconds: 900, policyArns: [], exportPrefix: '' },
    ]);
    assert.deepEqual(file.components[1]!.traits[0], { type: 'mr-audit', required: false });
    assert.deepEqual(file.policies, []);
    assert.deepEqual(file.steps, [
      {
        type: 'jit-approval',
        name: 'gate',
        pointer: '/spec/workflow/steps/0',
        component: 'deploy',
        timeoutSeconds: 86400,
        approvers: { users: [], groups: ['acme/sre'] },
        minApprovals: 1,
        forbid: ['requester', 'mrAuthor'],
        requireReason: false,
        acceptReasonVariable: true,
        validForSeconds: 3600,
      },
    ]);
  });

  it('keeps properties.job and reads anchors', async () => {
    const file = await loadAccessFile(fixture('every-field.yaml'));
    assert.equal(file.components[0]!.job, 'deploy:prod');
    assert.deepEqual(file.steps.map((s) => s.acceptReasonVariable), [false, true]);
    assert.deepEqual(file.steps[1]!.approvers.users, ['alice', 'bob.smith', 'carol_c']);
  });

  it('resolves an alias to the closest anchor before it, as YAML does', () => {
    const { readYaml } = yamlSource;
    const result = readYaml('a: &x one\nb: *x\nc: &x two\nd: *x\ne: [&y {k: 1}, *y]\n', 'anchors.yaml');
    assert.ok(result.ok);
    assert.deepEqual(result.source.value, { a: 'one', b: 'one', c: 'two', d: 'two', e: [{ k: 1 }, { k: 1 }] });
    assert.deepEqual(result.source.positions.get('/d'), { line: 4, col: 4 });
  });

  it('is frozen, so no step can change what was validated', async () => {
    const file = await loadAccessFile(fixture('design-example.yaml'));
    assert.throws(() => {
      (file.components as unknown as unknown[]).push({});
    }, TypeError);
    const trait = file.components[0]!.traits[0] as { durationSeconds: number };
    assert.throws(() => {
      trait.durationSeconds = 43200;
    }, TypeError);
  });

  it('binds the digest to the exact bytes', () => {
    const text = `${HEAD}  components:\n${COMPONENT}`;
    const a = parseAccessFile(text, 'a.yaml');
    const b = parseAccessFile(`# comment\n${text}`, 'a.yaml');
    assert.equal(a.digest, createHash('sha256').update(text).digest('hex'));
    assert.notEqual(a.digest, b.digest);
    assert.equal(parseAccessFile(Buffer.from(text), 'a.yaml').digest, a.digest);
  });
});

describe('reading the file', () => {
  it('reports a missing file at 1:1 with a hint', async () => {
    const path = join(scratch, 'nope.yaml');
    const error = await rejection(loadAccessFile(path));
    assert.deepEqual({ code: error.code, message: error.message }, { code: 'ERR_METADATA_INVALID', message: `${path}:1:1: file not found` });
    assert.match(error.hint ?? '', /--file \(OAM_FILE\)/);
  });

  it('refuses a directory, a device and a FIFO without blocking', async () => {
    const fifo = join(scratch, 'fifo.yaml');
    const made = spawnSync('mkfifo', [fifo]).status === 0;
    for (const path of [scratch, '/dev/zero', ...(made ? [fifo] : [])]) {
      const error = await rejection(loadAccessFile(path));
      assert.deepEqual({ code: error.code, message: error.message }, { code: 'ERR_METADATA_INVALID', message: `${path}:1:1: is not a regular file` });
    }
  });

  it('uses the injected reader and translates its errors', async () => {
    const seen: string[] = [];
    const file = await loadAccessFile('virtual.yaml', {
      readFile: async (p) => {
        seen.push(p);
        return Buffer.from(`${HEAD}  components:\n${COMPONENT}`);
      },
    });
    assert.deepEqual(seen, ['virtual.yaml']);
    assert.equal(file.path, 'virtual.yaml');
    const error = await rejection(
      loadAccessFile('locked.yaml', { readFile: async () => Promise.reject(Object.assign(new Error('denied'), { code: 'EACCES' })) }),
    );
    assert.deepEqual(
      { code: error.code, message: error.message },
      { code: 'ERR_METADATA_INVALID', message: 'locked.yaml:1:1: cannot read the file (permission denied)' },
    );
  });
});

describe('hostile input', () => {
  const TEN_MB = 10 * 1024 * 1024;

  it('refuses a 10 MB file from its size, before reading it', async () => {
    const path = join(scratch, 'huge.yaml');
    writeFileSync(path, Buffer.alloc(TEN_MB, 0x61));
    const started = performance.now();
    const error = await rejection(loadAccessFile(path));
    assert.ok(performance.now() - started < 250, `took ${performance.now() - started} ms`);
    assert.deepEqual(
      { code: error.code, message: error.message },
      { code: 'ERR_METADATA_INVALID', message: `${path}:1:1: file is ${TEN_MB} bytes; the limit is 262144` },
    );
    const { result, ms } = timed(() => onlyProblem(() => parseAccessFile(Buffer.alloc(TEN_MB, 0x61), 'big.yaml')));
    assert.ok(ms < 250, `took ${ms} ms`);
    assert.equal(result.message, `file is ${TEN_MB} bytes; the limit is 262144`);
  });

  it('refuses a billion laughs quickly', () => {
    const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 10; i++) {
      const prev = String.fromCharCode(96 + i);
      lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const { result, ms } = timed(() => onlyProblem(() => parseAccessFile(`${lines.join('\n')}\n`, 'lol.yaml')));
    assert.ok(ms < 1000, `took ${ms} ms`);
    assert.deepEqual(result, { code: 'ERR_METADATA_INVALID', line: 3, col: 8, message: 'more than 100 alias uses' });
  });

  it('caps the nodes that few aliases can expand to', () => {
    const big = `[${Array(5000).fill('1').join(',')}]`;
    const text = `big: &big ${big}\ncopies: [*big, *big, *big, *big, *big]\n`;
    const { result, ms } = timed(() => onlyProblem(() => parseAccessFile(text, 'wide.yaml')));
    assert.ok(ms < 1000, `took ${ms} ms`);
    assert.equal(result.message, 'more than 20000 nodes (after expanding aliases)');
  });

  it('refuses a file with too many entries before parsing', () => {
    const { result, ms } = timed(() => onlyProblem(() => parseAccessFile(`[${Array(100_000).fill('1').join(',')}]`, 'flat.yaml')));
    assert.ok(ms < 250, `took ${ms} ms`);
    assert.deepEqual(result, { code: 'ERR_METADATA_INVALID', line: 1, col: 40_003, message: 'too many lines and list entries (more than 20000)' });
  });

  it('finds duplicate keys in linear time, every one of them', () => {
    const keys = Array.from({ length: 15_000 }, (_, i) => `k${i}: 1`);
    keys.push('k7: 2', 'k9: 2');
    const { result, ms } = timed(() => {
      try {
        parseAccessFile(keys.join('\n'), 'keys.yaml');
      } catch (error) {
        return error as AccessFileError;
      }
      assert.fail('expected an AccessFileError');
    });
    assert.ok(ms < 1000, `took ${ms} ms`);
    assert.deepEqual(
      result.problems.map((p) => `${p.line}:${p.col} ${p.message}`),
      ['15001:1 duplicate key k7', '15002:1 duplicate key k9'],
    );
  });

  it('refuses deep flow nesting before parsing', () => {
    const { result, ms } = timed(() => onlyProblem(() => parseAccessFile(`${'['.repeat(100_000)}${']'.repeat(100_000)}`, 'deep.yaml')));
    assert.ok(ms < 250, `took ${ms} ms`);
    assert.deepEqual(result, { code: 'ERR_METADATA_INVALID', line: 1, col: 65, message: 'nesting deeper than 64 levels' });
  });

  it('refuses deep compact block nesting before parsing', () => {
    const { result, ms } = timed(() => onlyProblem(() => parseAccessFile(`a: 1\n${'- '.repeat(100_000)}x\n`, 'deep.yaml')));
    assert.ok(ms < 250, `took ${ms} ms`);
    assert.deepEqual(result, { code: 'ERR_METADATA_INVALID', line: 2, col: 1, message: 'line indented deeper than 512 columns' });
  });

  it('refuses nesting deeper than 64 levels at the node', () => {
    const text = Array.from({ length: 80 }, (_, i) => `${'  '.repeat(i)}a:`).join('\n');
    const result = onlyProblem(() => parseAccessFile(`${text} 1\n`, 'deep.yaml'));
    assert.deepEqual(result, { code: 'ERR_METADATA_INVALID', line: 66, col: 131, message: 'nesting deeper than 64 levels' });
  });

  it('refuses bytes that are not utf-8, where they are', () => {
    const bytes = Buffer.concat([Buffer.from('apiVersion: core.oam.dev/v1beta1\nkind: Appl'), Buffer.from([0xff, 0xfe]), Buffer.from('ication\n')]);
    assert.deepEqual(onlyProblem(() => parseAccessFile(bytes, 'latin.yaml')), {
      code: 'ERR_METADATA_INVALID',
      line: 2,
      col: 11,
      message: 'file is not valid utf-8; save it as utf-8',
    });
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${HEAD}  components:\n${COMPONENT}`, 'utf16le')]);
    assert.equal(onlyProblem(() => parseAccessFile(utf16, 'utf16.yaml')).message, 'file is not valid utf-8; save it as utf-8');
  });

  it('accepts a utf-8 byte order mark', () => {
    const text = `${HEAD}  components:\n${COMPONENT}`;
    assert.equal(parseAccessFile(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]), 'bom.yaml').name, 't');
  });

  it('refuses non-finite numbers', () => {
    const text = `${HEAD}  components:\n    - {name: d, type: gitlab-job, traits: [{type: aws-sts, properties: {roleArn: "arn:aws:iam::123456789012:role/a", durationSeconds: .nan}}]}\n`;
    assert.equal(onlyProblem(() => parseAccessFile(text, 'nan.yaml')).message, 'numbers must be finite');
  });

  it('keeps __proto__ an ordinary key: unknown where the schema is closed, inert where it is open', () => {
    const closed = `${HEAD}  __proto__: {polluted: true}\n  components:\n${COMPONENT}`;
    assert.deepEqual(onlyProblem(() => parseAccessFile(closed, 'proto.yaml')), {
      code: 'ERR_METADATA_INVALID',
      line: 5,
      col: 3,
      message: 'spec.__proto__: unknown field (expected one of: gitlab, components, policies, workflow)',
    });
    const open =
      `${HEAD}  components:\n    - name: d\n      type: gitlab-job\n      traits:\n        - type: aws-sts\n          properties:\n` +
      '            roleArn: arn:aws:iam::123456789012:role/a\n            sessionPolicy:\n              Version: "2012-10-17"\n' +
      '              Statement: {Effect: Allow, Action: "*", Resource: "*", __proto__: {polluted: true}}\n';
    const file = parseAccessFile(open, 'proto.yaml');
    const trait = credentialTraitOf(file.components[0]!);
    assert.equal(trait.type, 'aws-sts');
    assert.ok(trait.type === 'aws-sts' && Object.hasOwn(trait.sessionPolicy?.Statement as object, '__proto__'));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});
