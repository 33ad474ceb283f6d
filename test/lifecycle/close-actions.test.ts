/**
 * The provider-specific ends, against a loopback HTTP server speaking Vault's
 * revoke-self (POST /v1/auth/token/revoke-self, X-Vault-Token, 204).
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { VaultJwtTrait } from '../../src/access-file/model.ts';
import { closeCredential } from '../../src/lifecycle/close-actions.ts';
import { awsTrait } from '../helpers/model.ts';

const GOOD = 'hvs.close-test-token-0001';

describe('closeCredential', () => {
  let server: Server;
  let address = '';
  const seen: { method: string; url: string; token: string | undefined; namespace: string | undefined }[] = [];
  before(async () => {
    server = createServer((req: IncomingMessage, res) => {
      const token = req.headers['x-vault-token'] as string | undefined;
      seen.push({ method: req.method ?? '', url: req.url ?? '', token, namespace: req.headers['x-vault-namespace'] as string | undefined });
      req.resume();
      if (req.method === 'POST' && req.url === '/v1/auth/token/revoke-self' && token === GOOD) res.writeHead(204).end();
      else res.writeHead(403, { 'content-type': 'application/json' }).end('{"errors":["permission denied"]}');
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((done) => server.close(() => done())));

  const vault = (overrides: Partial<VaultJwtTrait> = {}): VaultJwtTrait => ({ type: 'vault-jwt', address, role: 'deploy', mount: 'jwt', exportPrefix: '', ...overrides });
  const now = () => new Date('2026-11-29T10:00:00Z');

  it('vault: revoke-self at the address of the file, with the handed-on token and namespace', async () => {
    const result = await closeCredential({ trait: vault({ namespace: 'team' }), env: { VAULT_TOKEN: GOOD, VAULT_ADDR: 'http://127.0.0.2:1' }, now });
    assert.deepEqual(result, { ended: 'revoked', at: now() });
    assert.deepEqual(seen.at(-1), { method: 'POST', url: '/v1/auth/token/revoke-self', token: GOOD, namespace: 'team' });
  });

  it('vault: the exportPrefix names the variable', async () => {
    const result = await closeCredential({ trait: vault({ exportPrefix: 'PROD_' }), env: { PROD_VAULT_TOKEN: GOOD, VAULT_TOKEN: 'other' }, now });
    assert.equal(result.ended, 'revoked');
    assert.equal(seen.at(-1)?.token, GOOD);
  });

  it('vault: a refused token is not called revoked', async () => {
    const result = await closeCredential({ trait: vault(), env: { VAULT_TOKEN: 'hvs.wrong' }, now });
    assert.equal(result.ended, 'revoke-failed');
    assert.match(result.ended === 'revoke-failed' ? result.why : '', /HTTP 403/);
  });

  it('vault: no token handed on, nothing sent', async () => {
    const before = seen.length;
    const result = await closeCredential({ trait: vault(), env: {}, now });
    assert.equal(result.ended, 'revoke-failed');
    assert.match(result.ended === 'revoke-failed' ? result.why : '', /VAULT_TOKEN was not handed on/);
    assert.equal(seen.length, before);
  });

  it('aws-sts: cannot be revoked, and says why', async () => {
    const before = seen.length;
    assert.deepEqual(await closeCredential({ trait: awsTrait(), env: {}, now }), { ended: 'expires', why: 'an STS session cannot be revoked by its holder' });
    assert.equal(seen.length, before);
  });
});
