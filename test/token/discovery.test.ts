import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import * as oidc from 'openid-client';
import { OamError } from '../../src/errors.ts';
import { type HttpGet, httpGet } from '../../src/lib/http.ts';
import { discoverIssuer, normalizeIssuer } from '../../src/token/discovery.ts';
import { type Issuer, startIssuer } from '../emulators/issuer.ts';

/** An injected HttpGet serving fixed documents, for issuers that lie. */
function serving(documents: Record<string, unknown>): HttpGet {
  return async (url) => {
    const doc = documents[url.href];
    if (doc === undefined) return { status: 404, headers: {}, body: Buffer.from('{}') };
    return { status: 200, headers: {}, body: Buffer.from(JSON.stringify(doc)) };
  };
}

const ISSUER = 'https://gitlab.example.com';
const DISCOVERY = `${ISSUER}/.well-known/openid-configuration`;
const KEYS = `${ISSUER}/oauth/discovery/keys`;
const noSleep = async () => {};

/** Asserts an OamError with this code and message; `outage` also checks it is an outage (exit 1) with the issuer hint. */
function refusedWith(code: string, message: RegExp, outage: boolean) {
  return (error: unknown): true => {
    assert.ok(error instanceof OamError, String(error));
    assert.equal(error.code, code);
    assert.match(error.message, message);
    assert.match(error.hint ?? '', /spec\.gitlab/);
    if (outage) assert.equal(error.exitCode, 1, 'no key, no verdict: an outage, not a refusal');
    else assert.notEqual(error.exitCode, 1, 'a refusal, not an outage');
    return true;
  };
}

describe('normalizeIssuer', () => {
  const cases: [string, string][] = [
    ['https://gitlab.com', 'https://gitlab.com'],
    ['https://gitlab.com/', 'https://gitlab.com'],
    ['https://gitlab.com//', 'https://gitlab.com'],
    ['https://example.com/gitlab/', 'https://example.com/gitlab'],
  ];
  for (const [given, expected] of cases) {
    it(`${given} -> ${expected}`, () => assert.equal(normalizeIssuer(given), expected));
  }
});

describe('discoverIssuer on documents that are not what GitLab serves', () => {
  const documents: [string, unknown, string, RegExp, boolean][] = [
    ['a null discovery document', null, 'ERR_TOKEN_INVALID', /discovery document at https:\/\/gitlab\.example\.com\/\.well-known\/openid-configuration: not a JSON object$/, true],
    ['a JSON string as discovery document', 'https://gitlab.example.com', 'ERR_TOKEN_INVALID', /discovery document .*: not a JSON object$/, true],
    ['a discovery document without issuer', { jwks_uri: KEYS }, 'ERR_TOKEN_ISSUER', /names issuer undefined, not https:\/\/gitlab\.example\.com$/, false],
    ['a discovery document with a numeric issuer', { issuer: 1, jwks_uri: KEYS }, 'ERR_TOKEN_ISSUER', /names issuer 1, not/, false],
    ['a discovery document without jwks_uri', { issuer: ISSUER }, 'ERR_TOKEN_INVALID', /discovery document .*: jwks_uri is missing$/, true],
  ];
  for (const [name, document, code, message, outage] of documents) {
    it(`refuses ${name}`, async () => {
      await assert.rejects(discoverIssuer(ISSUER, serving({ [DISCOVERY]: document })), refusedWith(code, message, outage));
    });
  }

  const keySets: [string, unknown][] = [
    ['null', null],
    ['an object without keys', {}],
    ['keys that are not a list', { keys: { kid: 'a' } }],
  ];
  for (const [name, keys] of keySets) {
    it(`refuses a key set that is ${name}`, async () => {
      const found = await discoverIssuer(ISSUER, serving({ [DISCOVERY]: { issuer: ISSUER, jwks_uri: KEYS }, [KEYS]: keys }));
      await assert.rejects(found.fetchKeys(), refusedWith('ERR_TOKEN_INVALID', /signing keys at https:\/\/gitlab\.example\.com\/oauth\/discovery\/keys: no "keys" array$/, true));
    });
  }

  it('drops key set entries that are not objects', async () => {
    const key = { kty: 'RSA', kid: 'a' };
    const found = await discoverIssuer(ISSUER, serving({ [DISCOVERY]: { issuer: ISSUER, jwks_uri: KEYS }, [KEYS]: { keys: [null, 'a', 7, key] } }));
    assert.deepEqual((await found.fetchKeys()).keys, [key]);
  });

  it('names the access file field when the issuer is not a URL oam-grant may call', async () => {
    await assert.rejects(discoverIssuer('http://gitlab.example.com', serving({})), (error: unknown) => error instanceof OamError && error.code === 'ERR_USAGE' && /^spec\.gitlab\.issuer: http:\/\/gitlab\.example\.com must use https/.test(error.message));
  });

  it('asks once for a discovery document that is not there (a 404 is not retried)', async () => {
    const asked: string[] = [];
    const get: HttpGet = async (url) => {
      asked.push(url.href);
      return { status: 404, headers: {}, body: Buffer.from('{}') };
    };
    await assert.rejects(discoverIssuer(ISSUER, get, { sleep: noSleep }), refusedWith('ERR_TOKEN_INVALID', /discovery document .*: https:\/\/gitlab\.example\.com\/\.well-known\/openid-configuration answered HTTP 404$/, true));
    assert.deepEqual(asked, [DISCOVERY]);
  });
});

describe('discoverIssuer on an issuer that answers too much', () => {
  // A hostile or broken issuer must not make the job read an unbounded answer: 256 KiB per document.
  let server: ReturnType<typeof createServer>;
  let url = '';
  let oversized = '';
  before(async () => {
    server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      if (req.url === oversized) res.end(JSON.stringify({ issuer: url, jwks_uri: `${url}/keys`, padding: 'x'.repeat(256 * 1024) }));
      else if (req.url === '/keys') res.end(JSON.stringify({ keys: [{ kty: 'RSA', kid: 'x'.repeat(256 * 1024) }] }));
      else res.end(JSON.stringify({ issuer: url, jwks_uri: `${url}/keys` }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  after(() => server.close());

  it('refuses a discovery document over 256 KiB', async () => {
    oversized = '/.well-known/openid-configuration';
    try {
      await assert.rejects(discoverIssuer(url, httpGet, { sleep: noSleep }), refusedWith('ERR_TOKEN_INVALID', /discovery document .*: response larger than 262144 bytes$/, true));
    } finally {
      oversized = '';
    }
  });

  it('refuses a key set over 256 KiB', async () => {
    const found = await discoverIssuer(url, httpGet, { sleep: noSleep });
    await assert.rejects(found.fetchKeys(), refusedWith('ERR_TOKEN_INVALID', /signing keys .*: response larger than 262144 bytes$/, true));
  });
});

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
