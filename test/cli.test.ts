import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatError, main } from '../src/cli.ts';
import { OamError } from '../src/errors.ts';
import { Logger } from '../src/lib/log.ts';
import { registerSecret } from '../src/lib/redact.ts';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (t: string) => void out.push(t), stderr: (t: string) => void err.push(t) }, out, err };
}

describe('main', () => {
  it('masks the token variables in everything it prints, even when a message echoes them', async () => {
    const token = 'eyJhbGciOiJSUzI1NiJ9.secret-token-value.signature';
    const { io, out, err } = capture();
    // The token doubles as a (missing) file name, so the error message would quote it.
    const status = await main(['validate', '--file', token], { OAM_ID_TOKEN: token }, io);
    const printed = [...out, ...err].join('');
    assert.equal(status, 2);
    assert.ok(!printed.includes(token), printed);
    assert.match(printed, /\[MASKED\]/);
  });

  it('prints usage errors as error[ERR_USAGE] with a hint and exit 2', async () => {
    const { io, err } = capture();
    assert.equal(await main(['grant'], {}, io), 2);
    assert.match(err.join(''), /^error\[ERR_USAGE\]: grant needs --component \(or OAM_COMPONENT\)\nhint: /);
  });

  it('answers --version and --help on stdout', async () => {
    const { io, out } = capture();
    assert.equal(await main(['--version'], {}, io), 0);
    assert.equal(await main(['--help'], {}, io), 0);
    assert.match(out.join(''), /^0\.0\.0-dev\n/);
    assert.match(out.join(''), /exit codes: 0 done, 1 runtime failure, 2 usage or invalid access file, 3 denied/);
  });
});

describe('formatError', () => {
  it('keeps each field on one line, so quoted input cannot fake further lines', () => {
    const text = formatError(new OamError('ERR_POLICY_DENIED', 'ref is "x\nerror[OK]: fine"', { hint: 'a\nb' }), false);
    assert.equal(text, 'error[ERR_POLICY_DENIED]: ref is "x error[OK]: fine"\nhint: a b\n');
  });

  it('masks registered secrets', () => {
    registerSecret('AKIAREGISTEREDSECRET');
    assert.equal(formatError(new OamError('ERR_EXCHANGE_FAILED', 'echo AKIAREGISTEREDSECRET'), false), 'error[ERR_EXCHANGE_FAILED]: echo [MASKED]\n');
  });
});

describe('Logger', () => {
  it('masks registered secrets and neutralises control characters', () => {
    const lines: string[] = [];
    const log = new Logger({ sink: { write: (t) => void lines.push(t) } });
    registerSecret('wJalrXUtnFEMI/K7MDENG');
    log.info('key wJalrXUtnFEMI/K7MDENG \u001b[31mred');
    assert.deepEqual(lines, ['key [MASKED] ?[31mred\n']);
  });
});
