import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as oidc from 'openid-client';
import { OamError } from '../../src/errors.ts';
import { type HttpGet, httpGet } from '../../src/lib/http.ts';
import { discoverIssuer } from '../../src/token/discovery.ts';
import { type Issuer, startIssuer } from '../emulators/issuer.ts';

/** An injected HttpGet serving fixed documents, for issuers that lie. */
function serving(documents: Record<string, unknown>): HttpGet {
  return async (url) => {
    const doc = documents[url.href];
    if (doc === undefined) return { status: 404, headers: {}, body: Buffer.from('{}') };
    return { status: 200, headers: {}, body: Buffer.from(JSON.stringify(doc)) };
  };
}

describe('discoverIssuer', () => {
  let issuer: Issuer;
  before(async () => {
    issuer = await startIssuer();
  });
  after(() => issuer.close());

  it('agrees with openid-client discovery on the issuer and its jwks_uri', async () => {
    const config = await oidc.discovery(new URL(issuer.url), 'oam-grant', undefined, undefined, { execute: [oidc.allowInsecureRequests] });
    const ours = await discoverIssuer(issuer.url, httpGet);
    assert.equal(ours.issuer, config.serverMetadata().issuer);
    assert.equal(ours.jwksUri.href, config.serverMetadata().jwks_uri);
    const keys = await ours.fetchKeys();
    assert.deepEqual(keys.keys.map((k) => k.kid), issuer.jwks().keys.map((k) => k.kid));
  });

  it('refuses a discovery document that names another issuer', async () => {
    const get = serving({ 'https://gitlab.example.com/.well-known/openid-configuration': { issuer: 'https://evil.example.com', jwks_uri: 'https://evil.example.com/keys' } });
    await assert.rejects(discoverIssuer('https://gitlab.example.com', get), (error: unknown) => error instanceof OamError && error.code === 'ERR_TOKEN_ISSUER' && /names issuer "https:\/\/evil.example.com"/.test(error.message));
  });

  it('refuses keys served over plain http from a non-loopback host', async () => {
    const get = serving({ 'https://gitlab.example.com/.well-known/openid-configuration': { issuer: 'https://gitlab.example.com', jwks_uri: 'http://gitlab.example.com/oauth/discovery/keys' } });
    await assert.rejects(discoverIssuer('https://gitlab.example.com', get), (error: unknown) => error instanceof OamError && error.code === 'ERR_TOKEN_INVALID' && /jwks_uri .* must use https/.test(error.message));
  });

  it('keeps a path-based issuer (self-managed under a sub-path)', async () => {
    const get = serving({
      'https://example.com/gitlab/.well-known/openid-configuration': { issuer: 'https://example.com/gitlab', jwks_uri: 'https://example.com/gitlab/oauth/discovery/keys' },
      'https://example.com/gitlab/oauth/discovery/keys': { keys: [{ kty: 'RSA', kid: 'a' }] },
    });
    const found = await discoverIssuer('https://example.com/gitlab/', get);
    assert.equal(found.issuer, 'https://example.com/gitlab');
    assert.equal((await found.fetchKeys()).keys.length, 1);
  });
});
