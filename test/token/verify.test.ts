import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { httpGet } from '../../src/lib/http.ts';
import { OamError } from '../../src/errors.ts';
import { IssuerTokenVerifier, readTokenVariable } from '../../src/token/verify.ts';
import { type Issuer, startIssuer } from '../emulators/issuer.ts';

const noSleep = async () => {};
const STS = 'sts.amazonaws.com';

async function rejectsWith(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof OamError, `expected OamError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  });
}

describe('IssuerTokenVerifier', () => {
  let issuer: Issuer;
  before(async () => {
    issuer = await startIssuer();
  });
  after(() => issuer.close());

  const verifier = (options: { now?: () => Date } = {}) => new IssuerTokenVerifier({ issuer: issuer.url, get: httpGet, sleep: noSleep, ...options });
  const exchange = { audience: STS, purpose: 'exchange', source: 'OAM_ID_TOKEN' } as const;

  it('accepts a GitLab token and types its claims', async () => {
    const token = await issuer.mint({ ref: 'main', ref_protected: 'true', project_id: 1217 });
    const result = await verifier().verify(token, exchange);
    assert.equal(result.claims.ref, 'main');
    assert.equal(result.claims.ref_protected, 'true');
    assert.equal(result.claims.project_id, '1217');
    assert.deepEqual(result.claims.aud, [STS]);
    assert.equal(result.kid, issuer.kid);
  });

  it('accepts an issuer URL given with a trailing slash', async () => {
    const token = await issuer.mint();
    const v = new IssuerTokenVerifier({ issuer: `${issuer.url}/`, get: httpGet, sleep: noSleep });
    assert.equal((await v.verify(token, exchange)).claims.iss, issuer.url);
  });

  const refusals: [string, () => Promise<string>, string, RegExp][] = [
    ['a forged signature (key not published, published kid)', () => issuer.mintForged(), 'ERR_TOKEN_INVALID', /signature does not verify/],
    ['alg none', () => issuer.mintAlgNone(), 'ERR_TOKEN_INVALID', /unexpected algorithm "none"/],
    ['HS256 keyed with the public key (PEM)', () => issuer.mintHs256WithPublicKey({}, { secret: 'pem' }), 'ERR_TOKEN_INVALID', /unexpected algorithm "HS256"/],
    ['HS256 keyed with the public key (JWK)', () => issuer.mintHs256WithPublicKey({}, { secret: 'jwk' }), 'ERR_TOKEN_INVALID', /unexpected algorithm "HS256"/],
    ['ES256 from an unpublished key', () => issuer.mintEs256(), 'ERR_TOKEN_INVALID', /unexpected algorithm "ES256"/],
    ['an expired token', () => issuer.mint({}, { iat: Math.floor(Date.now() / 1000) - 900, exp: Math.floor(Date.now() / 1000) - 300 }), 'ERR_TOKEN_EXPIRED', /expired at/],
    ['a token from the future (nbf)', () => issuer.mint({}, { nbf: Math.floor(Date.now() / 1000) + 600, exp: Math.floor(Date.now() / 1000) + 900 }), 'ERR_TOKEN_EXPIRED', /not valid yet \(nbf/],
    // iat in the future beyond the skew, nbf and exp plausible: jose alone would accept it.
    ['a job token issued in the future (iat)', () => issuer.mint({}, { iat: Math.floor(Date.now() / 1000) + 600, nbf: Math.floor(Date.now() / 1000) - 5, exp: Math.floor(Date.now() / 1000) + 900 }), 'ERR_TOKEN_EXPIRED', /iat .* is in the future/],
    ['a wrong issuer', () => issuer.mint({}, { iss: 'https://gitlab.evil.example' }), 'ERR_TOKEN_ISSUER', /issuer "https:\/\/gitlab.evil.example" is not the expected/],
    ['a wrong audience', () => issuer.mint({}, { aud: 'oam-grant' }), 'ERR_TOKEN_AUDIENCE', /aud "oam-grant" does not contain "sts.amazonaws.com"/],
    ['an unknown kid', () => issuer.mint({}, { kid: 'no-such-key' }), 'ERR_TOKEN_INVALID', /publishes no key with kid "no-such-key"/],
    ['garbage', async () => 'not.a.jwt', 'ERR_TOKEN_INVALID', /not a well-formed JWT/],
  ];
  for (const [name, make, code, message] of refusals) {
    it(`refuses ${name}`, async () => {
      await rejectsWith(verifier().verify(await make(), exchange), code, message);
    });
  }

  it('names the token variable in messages', async () => {
    await rejectsWith(verifier().verify(await issuer.mintForged(), { ...exchange, source: 'MY_TOKEN' }), 'ERR_TOKEN_INVALID', /^MY_TOKEN: /);
  });

  it('fetches discovery and keys once per process', async () => {
    const v = verifier();
    const before = issuer.requests.length;
    for (let i = 0; i < 3; i++) await v.verify(await issuer.mint(), exchange);
    const paths = issuer.requests.slice(before).map((r) => r.path);
    assert.deepEqual(paths, ['/.well-known/openid-configuration', '/oauth/discovery/keys']);
  });

  it('refetches the keys once when GitLab rotates, then fails closed on a still-unknown kid', async () => {
    const v = verifier();
    await v.verify(await issuer.mint(), exchange);
    await issuer.rotate({ keepOld: true });
    const before = issuer.requests.length;
    const rotated = await v.verify(await issuer.mint(), exchange);
    assert.equal(rotated.kid, issuer.kid);
    assert.deepEqual(issuer.requests.slice(before).map((r) => r.path), ['/oauth/discovery/keys']);
    const after = issuer.requests.length;
    await rejectsWith(v.verify(await issuer.mint({}, { kid: 'never-published' }), exchange), 'ERR_TOKEN_INVALID', /no key with kid "never-published"/);
    assert.equal(issuer.requests.length, after, 'a second unknown kid must not trigger another fetch');
  });

  it('retries a failing discovery endpoint, then succeeds', async () => {
    issuer.injectFaults({ status: 503, times: 2, pathIncludes: 'openid-configuration' });
    const result = await verifier().verify(await issuer.mint(), exchange);
    assert.equal(result.claims.iss, issuer.url);
  });

  it('reports an unreachable issuer as ERR_TOKEN_INVALID with a hint', async () => {
    const v = new IssuerTokenVerifier({ issuer: 'http://127.0.0.1:9', get: httpGet, sleep: noSleep });
    await assert.rejects(v.verify(await issuer.mint({}, { iss: 'http://127.0.0.1:9' }), exchange), (error: unknown) => {
      assert.ok(error instanceof OamError);
      assert.equal(error.code, 'ERR_TOKEN_INVALID');
      assert.match(error.message, /cannot read the issuer's discovery document at http:\/\/127.0.0.1:9/);
      assert.match(error.hint ?? '', /spec\.gitlab/);
      assert.equal(error.exitCode, 1, 'an outage is a runtime failure, not a denial');
      return true;
    });
  });

  it('refuses a plain-http issuer that is not loopback', async () => {
    const v = new IssuerTokenVerifier({ issuer: 'http://gitlab.example.com', get: httpGet, sleep: noSleep });
    await rejectsWith(v.verify(await issuer.mint({}, { iss: 'http://gitlab.example.com' }), exchange), 'ERR_USAGE', /must use https/);
  });

  describe('evidence tokens', () => {
    const evidence = { audience: 'oam-grant', purpose: 'evidence', source: '.oam-grant/request.json' } as const;

    it('accepts an evidence token whose exp has passed', async () => {
      const iat = Math.floor(Date.now() / 1000) - 3 * 3600;
      const token = await issuer.mint({}, { aud: 'oam-grant', iat, nbf: iat - 5, exp: iat + 300 });
      const result = await verifier().verify(token, evidence);
      assert.equal(result.claims.iat, iat);
    });

    it('still checks signature and audience on evidence', async () => {
      await rejectsWith(verifier().verify(await issuer.mintForged({}, { aud: 'oam-grant' }), evidence), 'ERR_TOKEN_INVALID', /signature/);
      await rejectsWith(verifier().verify(await issuer.mint({}, { aud: STS }), evidence), 'ERR_TOKEN_AUDIENCE', /does not contain "oam-grant"/);
    });

    it('refuses an oam-grant token that also carries a cloud audience, kept or live', async () => {
      const token = await issuer.mint({}, { aud: ['oam-grant', 'oam-grant:component:deploy', 'sts.amazonaws.com'] });
      for (const purpose of ['evidence', 'exchange'] as const) {
        await rejectsWith(verifier().verify(token, { audience: 'oam-grant', purpose, source: 'E' }), 'ERR_TOKEN_AUDIENCE', /^E: aud also holds "sts\.amazonaws\.com"/);
      }
      const clean = await issuer.mint({}, { aud: ['oam-grant', 'oam-grant:component:deploy'] });
      assert.deepEqual((await verifier().verify(clean, evidence)).claims.aud, ['oam-grant', 'oam-grant:component:deploy']);
    });

    it('refuses evidence issued in the future', async () => {
      const iat = Math.floor(Date.now() / 1000) + 3600;
      await rejectsWith(verifier().verify(await issuer.mint({}, { aud: 'oam-grant', iat, nbf: iat, exp: iat + 300 }), evidence), 'ERR_TOKEN_EXPIRED', /in the future/);
    });
  });
});

describe('readTokenVariable', () => {
  it('refuses an unset or blank variable with ERR_TOKEN_MISSING and an id_tokens hint', () => {
    for (const env of [{}, { OAM_ID_TOKEN: '  ' }]) {
      assert.throws(
        () => readTokenVariable(env, 'OAM_ID_TOKEN', STS),
        (error: unknown) => error instanceof OamError && error.code === 'ERR_TOKEN_MISSING' && /OAM_ID_TOKEN is not set/.test(error.message) && /id_tokens/.test(error.hint ?? ''),
      );
    }
  });
});
