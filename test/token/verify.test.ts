import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, type JWK, type JWTHeaderParameters, SignJWT } from 'jose';
import { type HttpGet, httpGet } from '../../src/lib/http.ts';
import { OamError } from '../../src/errors.ts';
import { CLOCK_SKEW_SECONDS, IssuerTokenVerifier, readTokenVariable } from '../../src/token/verify.ts';
import { type Issuer, startIssuer } from '../emulators/issuer.ts';

const noSleep = async () => {};
const STS = 'sts.amazonaws.com';

async function rejectsWith(promise: Promise<unknown>, code: string, message: RegExp, hint?: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof OamError, `expected OamError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, message);
    if (hint) assert.match(error.hint ?? '', hint);
    return true;
  });
}

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();

/**
 * An issuer whose key the test holds, served through an injected HttpGet: for
 * tokens the emulator will not sign (no kid at all) and key sets it will not
 * serve (two keys under one kid, a key that cannot be imported).
 */
async function ownIssuer(keysFor: (jwk: JWK) => Promise<JWK[]> | JWK[] = (jwk) => [jwk]) {
  const url = 'https://gitlab.test';
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'own', use: 'sig', alg: 'RS256' };
  const keys = await keysFor(jwk);
  const get: HttpGet = async (target) => {
    const document = target.pathname === '/.well-known/openid-configuration' ? { issuer: url, jwks_uri: `${url}/oauth/discovery/keys` } : { keys };
    return { status: 200, headers: {}, body: Buffer.from(JSON.stringify(document)) };
  };
  const now = Math.floor(Date.now() / 1000);
  const sign = (header: JWTHeaderParameters) => new SignJWT({ iss: url, sub: 'project_path:acme/payments:ref_type:branch:ref:main', aud: STS, iat: now, nbf: now - 5, exp: now + 300 }).setProtectedHeader(header).sign(privateKey);
  return { verifier: new IssuerTokenVerifier({ issuer: url, get, sleep: noSleep }), sign };
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

  // The hint every malformed or unverifiable token gets: where the token came from and how to declare it.
  const TOKEN_HINT = /^make sure OAM_ID_TOKEN holds the job's ID token as GitLab issued it \(declared with id_tokens:\)$/;
  const CLOCK_HINT = /check the runner's clock/;
  const ISSUER_HINT = /spec\.gitlab/;
  const refusals: [string, () => Promise<string>, string, RegExp, RegExp][] = [
    ['a forged signature (key not published, published kid)', () => issuer.mintForged(), 'ERR_TOKEN_INVALID', /signature does not verify/, TOKEN_HINT],
    ['alg none', () => issuer.mintAlgNone(), 'ERR_TOKEN_INVALID', /unexpected algorithm "none"/, TOKEN_HINT],
    ['HS256 keyed with the public key (PEM)', () => issuer.mintHs256WithPublicKey({}, { secret: 'pem' }), 'ERR_TOKEN_INVALID', /unexpected algorithm "HS256"/, TOKEN_HINT],
    ['HS256 keyed with the public key (JWK)', () => issuer.mintHs256WithPublicKey({}, { secret: 'jwk' }), 'ERR_TOKEN_INVALID', /unexpected algorithm "HS256"/, TOKEN_HINT],
    ['ES256 from an unpublished key', () => issuer.mintEs256(), 'ERR_TOKEN_INVALID', /unexpected algorithm "ES256"/, TOKEN_HINT],
    ['an expired token', () => issuer.mint({}, { iat: Math.floor(Date.now() / 1000) - 900, exp: Math.floor(Date.now() / 1000) - 300 }), 'ERR_TOKEN_EXPIRED', /expired at/, /re-run the job/],
    ['a token from the future (nbf)', () => issuer.mint({}, { nbf: Math.floor(Date.now() / 1000) + 600, exp: Math.floor(Date.now() / 1000) + 900 }), 'ERR_TOKEN_EXPIRED', /not valid yet \(nbf/, CLOCK_HINT],
    // iat in the future beyond the skew, nbf and exp plausible: jose alone would accept it.
    ['a job token issued in the future (iat)', () => issuer.mint({}, { iat: Math.floor(Date.now() / 1000) + 600, nbf: Math.floor(Date.now() / 1000) - 5, exp: Math.floor(Date.now() / 1000) + 900 }), 'ERR_TOKEN_EXPIRED', /iat .* is in the future/, CLOCK_HINT],
    ['a wrong issuer', () => issuer.mint({}, { iss: 'https://gitlab.evil.example' }), 'ERR_TOKEN_ISSUER', /issuer "https:\/\/gitlab.evil.example" is not the expected/, ISSUER_HINT],
    ['a wrong audience', () => issuer.mint({}, { aud: 'oam-grant' }), 'ERR_TOKEN_AUDIENCE', /aud "oam-grant" does not contain "sts.amazonaws.com"/, /^declare the token with id_tokens: \{ OAM_ID_TOKEN: \{ aud: sts\.amazonaws\.com \} \}/],
    ['an unknown kid', () => issuer.mint({}, { kid: 'no-such-key' }), 'ERR_TOKEN_INVALID', /publishes no key with kid "no-such-key"/, TOKEN_HINT],
    ['an empty kid', () => issuer.mint({}, { kid: '' }), 'ERR_TOKEN_INVALID', /^OAM_ID_TOKEN: the token header names no key \(kid\)$/, TOKEN_HINT],
    ['garbage', async () => 'not.a.jwt', 'ERR_TOKEN_INVALID', /not a well-formed JWT/, TOKEN_HINT],
    // Every claim GitLab always sends is required: without exp a token would never expire, without sub no policy could match it.
    ['a token without exp', () => issuer.mint({ exp: undefined }), 'ERR_TOKEN_INVALID', /^OAM_ID_TOKEN: claim exp is missing or malformed$/, TOKEN_HINT],
    ['a token without sub', () => issuer.mint({ sub: undefined }), 'ERR_TOKEN_INVALID', /^OAM_ID_TOKEN: claim sub is missing or malformed$/, TOKEN_HINT],
    ['a token with a malformed exp', () => issuer.mint({ exp: 'later' }), 'ERR_TOKEN_INVALID', /^OAM_ID_TOKEN: claim exp is missing or malformed$/, TOKEN_HINT],
    ['a token with a malformed nbf', () => issuer.mint({ nbf: 'soon' }), 'ERR_TOKEN_INVALID', /^OAM_ID_TOKEN: claim nbf is missing or malformed$/, TOKEN_HINT],
    ['a token without aud', () => issuer.mint({ aud: undefined }), 'ERR_TOKEN_AUDIENCE', /^OAM_ID_TOKEN: aud null does not contain "sts\.amazonaws\.com"$/, /id_tokens/],
    ['a token without iss', () => issuer.mint({ iss: undefined }), 'ERR_TOKEN_ISSUER', /^OAM_ID_TOKEN: issuer null is not the expected http:\/\/127\.0\.0\.1:\d+$/, ISSUER_HINT],
    ['a token without iat', () => issuer.mint({ iat: undefined }), 'ERR_TOKEN_INVALID', /^OAM_ID_TOKEN: the token has no iat claim$/, TOKEN_HINT],
    ['a token with a malformed iat', () => issuer.mint({ iat: String(Math.floor(Date.now() / 1000)) }), 'ERR_TOKEN_INVALID', /^OAM_ID_TOKEN: the token has no iat claim$/, TOKEN_HINT],
    // Passes the early issuer check (which ignores trailing slashes) but not jose's, which allows one.
    ['an issuer with two trailing slashes', () => issuer.mint({}, { iss: `${issuer.url}//` }), 'ERR_TOKEN_ISSUER', /^OAM_ID_TOKEN: issuer "http:\/\/127\.0\.0\.1:\d+\/\/" is not the expected http:\/\/127\.0\.0\.1:\d+$/, ISSUER_HINT],
  ];
  for (const [name, make, code, message, hint] of refusals) {
    it(`refuses ${name}`, async () => {
      await rejectsWith(verifier().verify(await make(), exchange), code, message, hint);
    });
  }

  it('accepts a token whose iss carries one trailing slash', async () => {
    const result = await verifier().verify(await issuer.mint({}, { iss: `${issuer.url}/` }), exchange);
    assert.equal(result.claims.iss, `${issuer.url}/`);
  });

  it('accepts a token read with surrounding whitespace (a file, a variable with a newline), and keeps it trimmed', async () => {
    const token = await issuer.mint();
    const result = await verifier().verify(`\n ${token}\n`, exchange);
    assert.equal(result.raw, token);
  });

  it('refuses a token from another issuer before fetching any key', async () => {
    const v = verifier();
    const before = issuer.requests.length;
    await rejectsWith(v.verify(await issuer.mint({}, { iss: 'https://gitlab.evil.example' }), exchange), 'ERR_TOKEN_ISSUER', /is not the expected/);
    assert.equal(issuer.requests.length, before, 'no discovery, no keys');
  });

  describe('times, at the edge of the clock skew', () => {
    // A whole second, so that the boundaries below are exact.
    const nowSeconds = Math.floor(Date.now() / 1000);
    const at = () => new Date(nowSeconds * 1000);
    const skew = CLOCK_SKEW_SECONDS;
    const accepted: [string, Parameters<Issuer['mint']>[1]][] = [
      ['iat exactly the skew ahead', { iat: nowSeconds + skew, nbf: nowSeconds, exp: nowSeconds + 300 }],
      ['nbf exactly the skew ahead', { iat: nowSeconds, nbf: nowSeconds + skew, exp: nowSeconds + 300 }],
      ['exp one second short of the skew behind', { iat: nowSeconds - 300, nbf: nowSeconds - 300, exp: nowSeconds - skew + 1 }],
    ];
    for (const [name, times] of accepted) {
      it(`accepts ${name}`, async () => {
        await verifier({ now: at }).verify(await issuer.mint({}, times), exchange);
      });
    }

    it('refuses iat one second beyond the skew, naming it', async () => {
      const iat = nowSeconds + skew + 1;
      await rejectsWith(verifier({ now: at }).verify(await issuer.mint({}, { iat, nbf: nowSeconds, exp: nowSeconds + 300 }), exchange), 'ERR_TOKEN_EXPIRED', new RegExp(`^OAM_ID_TOKEN: iat ${iso(iat)} is in the future$`), CLOCK_HINT);
    });

    it('refuses nbf one second beyond the skew', async () => {
      await rejectsWith(verifier({ now: at }).verify(await issuer.mint({}, { iat: nowSeconds, nbf: nowSeconds + skew + 1, exp: nowSeconds + 300 }), exchange), 'ERR_TOKEN_EXPIRED', /^OAM_ID_TOKEN: the token is not valid yet \(nbf is in the future\)$/, CLOCK_HINT);
    });

    it('refuses exp exactly the skew behind, naming when it expired', async () => {
      const exp = nowSeconds - skew;
      await rejectsWith(verifier({ now: at }).verify(await issuer.mint({}, { iat: nowSeconds - 300, nbf: nowSeconds - 300, exp }), exchange), 'ERR_TOKEN_EXPIRED', new RegExp(`^OAM_ID_TOKEN: the token expired at ${iso(exp)} \\(now ${iso(nowSeconds)}\\)$`), /re-run the job/);
    });
  });

  describe('keys the emulator would not serve', () => {
    it('refuses a token whose header names no key, though its signature verifies', async () => {
      // jose alone would try the only key in the set and accept it.
      const own = await ownIssuer();
      await own.verifier.verify(await own.sign({ alg: 'RS256', kid: 'own' }), exchange);
      await rejectsWith(own.verifier.verify(await own.sign({ alg: 'RS256' }), exchange), 'ERR_TOKEN_INVALID', /^OAM_ID_TOKEN: the token header names no key \(kid\)$/, TOKEN_HINT);
    });

    it('refuses a token when two keys share its kid', async () => {
      const own = await ownIssuer(async (jwk) => [jwk, { ...(await exportJWK((await generateKeyPair('RS256')).publicKey)), kid: 'own' }]);
      await rejectsWith(own.verifier.verify(await own.sign({ alg: 'RS256', kid: 'own' }), exchange), 'ERR_TOKEN_INVALID', /^OAM_ID_TOKEN: cannot verify the token \(ERR_JWKS_MULTIPLE_MATCHING_KEYS\)$/, TOKEN_HINT);
    });

    it('refuses a token whose key cannot be used', async () => {
      const own = await ownIssuer((jwk) => [{ ...jwk, n: 'AQAB' }]);
      await rejectsWith(own.verifier.verify(await own.sign({ alg: 'RS256', kid: 'own' }), exchange), 'ERR_TOKEN_INVALID', /^OAM_ID_TOKEN: RS256 requires key modulusLength to be 2048 bits or larger$/, TOKEN_HINT);
    });
  });

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

  it('retries a failing discovery endpoint, backing off through the given sleep, then succeeds', async () => {
    issuer.injectFaults({ status: 503, times: 2, pathIncludes: 'openid-configuration' });
    const slept: number[] = [];
    const v = new IssuerTokenVerifier({ issuer: issuer.url, get: httpGet, sleep: async (ms) => void slept.push(ms) });
    const result = await v.verify(await issuer.mint(), exchange);
    assert.equal(result.claims.iss, issuer.url);
    assert.equal(slept.length, 2, 'one backoff per failed attempt');
  });

  const outages: [string, string][] = [
    ['discovery', 'openid-configuration'],
    ['the keys', 'discovery/keys'],
  ];
  for (const [what, pathIncludes] of outages) {
    it(`starts over from discovery for the next token after ${what} failed`, async () => {
      const v = verifier();
      issuer.injectFaults({ status: 404, times: 1, pathIncludes });
      await rejectsWith(v.verify(await issuer.mint(), exchange), 'ERR_TOKEN_INVALID', /cannot read the issuer's .*answered HTTP 404$/);
      const before = issuer.requests.length;
      assert.equal((await v.verify(await issuer.mint(), exchange)).kid, issuer.kid);
      assert.deepEqual(issuer.requests.slice(before).map((r) => r.path), ['/.well-known/openid-configuration', '/oauth/discovery/keys']);
    });
  }

  it('prefetches discovery and keys before the first token, once', async () => {
    const v = verifier();
    const before = issuer.requests.length;
    v.prefetch();
    v.prefetch();
    const fetched = () => issuer.requests.slice(before).map((r) => r.path);
    for (let i = 0; i < 200 && fetched().length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(fetched(), ['/.well-known/openid-configuration', '/oauth/discovery/keys']);
    await v.verify(await issuer.mint(), exchange);
    assert.equal(issuer.requests.length, before + 2, 'verify uses the prefetched keys');
  });

  it('surfaces a failed prefetch at verify, and only there', async () => {
    const v = new IssuerTokenVerifier({ issuer: 'http://127.0.0.1:9', get: httpGet, sleep: noSleep });
    v.prefetch();
    await rejectsWith(v.verify(await issuer.mint({}, { iss: 'http://127.0.0.1:9' }), exchange), 'ERR_TOKEN_INVALID', /cannot read the issuer's discovery document/);
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
        await rejectsWith(verifier().verify(token, { audience: 'oam-grant', purpose, source: 'E' }), 'ERR_TOKEN_AUDIENCE', /^E: aud also holds "sts\.amazonaws\.com"/, /^declare the evidence token with id_tokens: \{ E: \{ aud: \[oam-grant, oam-grant:component:<component>\] \} \} and give the cloud its own token$/);
      }
      const two = await issuer.mint({}, { aud: ['oam-grant', 'sts.amazonaws.com', 'api://AzureADTokenExchange'] });
      await rejectsWith(verifier().verify(two, evidence), 'ERR_TOKEN_AUDIENCE', /^\.oam-grant\/request\.json: aud also holds "sts\.amazonaws\.com", "api:\/\/AzureADTokenExchange"; a token kept as evidence may carry only oam-grant and oam-grant:component:<component>$/);
      const clean = await issuer.mint({}, { aud: ['oam-grant', 'oam-grant:component:deploy'] });
      assert.deepEqual((await verifier().verify(clean, evidence)).claims.aud, ['oam-grant', 'oam-grant:component:deploy']);
    });

    it('refuses evidence without iat (it could not be judged as of its issue time)', async () => {
      await rejectsWith(verifier().verify(await issuer.mint({ iat: undefined }, { aud: 'oam-grant' }), evidence), 'ERR_TOKEN_INVALID', /^\.oam-grant\/request\.json: the token has no iat claim$/);
    });

    it('refuses evidence issued in the future', async () => {
      const iat = Math.floor(Date.now() / 1000) + 3600;
      await rejectsWith(verifier().verify(await issuer.mint({}, { aud: 'oam-grant', iat, nbf: iat, exp: iat + 300 }), evidence), 'ERR_TOKEN_EXPIRED', /in the future/);
    });
  });
});

describe('readTokenVariable', () => {
  it('returns the token as the variable holds it', () => {
    assert.equal(readTokenVariable({ OAM_ID_TOKEN: 'eyJ.a.b' }, 'OAM_ID_TOKEN', STS), 'eyJ.a.b');
  });

  it('refuses an unset or blank variable with ERR_TOKEN_MISSING and an id_tokens hint', () => {
    for (const env of [{}, { OAM_ID_TOKEN: '  ' }]) {
      assert.throws(
        () => readTokenVariable(env, 'OAM_ID_TOKEN', STS),
        (error: unknown) => error instanceof OamError && error.code === 'ERR_TOKEN_MISSING' && /OAM_ID_TOKEN is not set/.test(error.message) && /id_tokens/.test(error.hint ?? ''),
      );
    }
  });
});
