import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OamError } from '../src/errors.ts';
import { parseOptions } from '../src/options.ts';

const run = (argv: string[], env: Record<string, string> = {}) => {
  const parsed = parseOptions(argv, env);
  assert.equal(parsed.kind, 'run');
  return (parsed as Extract<typeof parsed, { kind: 'run' }>).options;
};

const usageError = (argv: string[], message: RegExp, env: Record<string, string> = {}) =>
  assert.throws(() => parseOptions(argv, env), (e: unknown) => e instanceof OamError && e.code === 'ERR_USAGE' && e.exitCode === 2 && message.test(e.message));

describe('parseOptions', () => {
  it('applies the defaults of design.md', () => {
    const o = run(['grant', '--component', 'c']);
    assert.deepEqual(
      { file: o.file, tokenVar: o.tokenVar, evidenceTokenVar: o.evidenceTokenVar, outDir: o.outDir, dotenv: o.dotenv, audience: o.audience },
      { file: '.gitlab/oam.yaml', tokenVar: 'OAM_ID_TOKEN', evidenceTokenVar: 'OAM_EVIDENCE_TOKEN', outDir: '.oam-grant', dotenv: 'oam-grant.env', audience: undefined },
    );
  });

  it('reads each flag from its environment variable, and the flag wins', () => {
    const env = { OAM_FILE: 'a.yaml', OAM_COMPONENT: 'env-c', OAM_TOKEN_VAR: 'T', OAM_EVIDENCE_TOKEN_VAR: 'E', OAM_OUT_DIR: 'o', OAM_DOTENV: 'd.env', OAM_AUDIENCE: 'aud' };
    const fromEnv = run(['grant'], env);
    assert.deepEqual([fromEnv.file, fromEnv.component, fromEnv.tokenVar, fromEnv.evidenceTokenVar, fromEnv.outDir, fromEnv.dotenv, fromEnv.audience], ['a.yaml', 'env-c', 'T', 'E', 'o', 'd.env', 'aud']);
    const fromFlag = run(['grant', '--component', 'flag-c', '--file=b.yaml', '--audience', 'x'], env);
    assert.deepEqual([fromFlag.component, fromFlag.file, fromFlag.audience], ['flag-c', 'b.yaml', 'x']);
  });


  it('splits exec arguments at --', () => {
    assert.deepEqual(run(['exec', '--component', 'c', '--', 'npx', 'jest', '--ci']).execArgs, ['npx', 'jest', '--ci']);
  });

  it('answers --help and --version', () => {
    assert.equal(parseOptions(['--version'], {}).kind, 'version');
    assert.equal(parseOptions(['--help'], {}).kind, 'help');
    assert.equal(parseOptions([], {}).kind, 'help');
  });

  it('refuses what it does not understand', () => {
    usageError(['deploy'], /unknown command "deploy"/);
    usageError(['grant', '--component', 'c', '--bogus'], /unknown option '--bogus'/);
    usageError(['grant'], /grant needs --component/);
    usageError(['exec', '--component', 'c'], /exec needs a command after --/);
    usageError(['grant', '--component', 'c', '--', 'ls'], /grant takes no command after --/);
    usageError(['grant', '--component', 'c', '--token-var', 'A;rm -rf /'], /--token-var: .* is not a variable name/);
  });

  it('lets validate run without a component', () => {
    assert.equal(run(['validate']).component, undefined);
  });

  it('lets test run without a component, its tests from --tests or OAM_TESTS (the flag wins)', () => {
    assert.equal(run(['test']).tests, undefined, 'undefined: beside the access file');
    assert.equal(run(['test'], { OAM_TESTS: 'a.test.yaml' }).tests, 'a.test.yaml');
    assert.equal(run(['test', '--tests', 'b.yaml'], { OAM_TESTS: 'a.test.yaml' }).tests, 'b.yaml');
    usageError(['test', '--tests', ''], /--tests is empty/);
  });
});
