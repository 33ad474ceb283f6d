import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import { allowInsecureRequests, discovery } from 'openid-client';
import { type Issuer, startIssuer } from './issuer.ts';

describe('issuer emulator', () => {
  let issuer: Issuer;
  before(async () => {
    issuer = await startIssuer();
  });
  after(() => issuer.close());

  // A fresh key set per verification so each test sees the JWKS as it is now.
  const verify = (token: string, audience = 'sts.amazonaws.com') =>
    jwtVerify(token, createRemoteJWKSet(new URL(`${issuer.url}/oauth/discovery/keys`)), {
      issuer: issuer.url,
      audience,
      algorithms: ['RS256'],
    });

  it('serves discovery that openid-client v6 accepts', async () => {
    const config = await discovery(new URL(issuer.url), 'client-id', undefined, undefined, {
      execute: [allowInsecureRequests],
    });
    const meta = config.serverMetadata();
    assert.equal(meta.issuer, issuer.url);
    assert.equal(meta.jwks_uri, `${issuer.url}/oauth/discovery/keys`);
    assert.deepEqual(meta.id_token_signing_alg_values_supported, ['RS256']);
    assert.ok(!issuer.url.endsWith('/'));
  });

  it('publishes RS256 signing keys with a kid', () => {
    const [key] = issuer.jwks().keys;
    assert.equal(key?.kty, 'RSA');
    assert.equal(key?.use, 'sig');
    assert.equal(key?.alg, 'RS256');
    assert.equal(key?.kid, issuer.kid);
    assert.equal(key?.d, undefined, 'no private part in the JWKS');
  });

  it('mints a GitLab-shaped token that jose verifies', async () => {
    const token = await issuer.mint();
    const { payload, protectedHeader } = await verify(token);
    assert.deepEqual(protectedHeader, { alg: 'RS256', kid: issuer.kid, typ: 'JWT' });
    assert.equal(payload.iss, issuer.url);
    assert.equal(payload.aud, 'sts.amazonaws.com');
    assert.equal(payload.sub, 'project_path:acme/payments:ref_type:branch:ref:main');
    assert.equal(payload.project_id, '1217');
    assert.equal(payload.ref_protected, 'true');
    assert.equal(payload.runner_id, 1);
    assert.equal(payload.ref_path, 'refs/heads/main');
    assert.equal(payload.nbf, (payload.iat ?? 0) - 5);
    assert.equal(payload.exp, (payload.iat ?? 0) + 300);
    for (const claim of ['namespace_id', 'user_login', 'user_email', 'user_access_level', 'pipeline_id', 'job_id']) {
      assert.equal(typeof payload[claim], 'string', claim);
    }
    assert.match(String(payload.jti), /^[0-9a-f-]{36}$/);
  });

  it('applies overrides, derives sub and ref_path from them, and deletes undefined claims', async () => {
    const token = await issuer.mint(
      { ref: 'v1.2.0', ref_type: 'tag', ref_protected: 'false', user_email: undefined, environment: 'production' },
      { aud: ['oam-grant', 'other'] },
    );
    const { payload } = await verify(token, 'oam-grant');
    assert.equal(payload.sub, 'project_path:acme/payments:ref_type:tag:ref:v1.2.0');
    assert.equal(payload.ref_path, 'refs/tags/v1.2.0');
    assert.equal(payload.ref_protected, 'false');
    assert.equal(payload.environment, 'production');
    assert.ok(!('user_email' in payload));
    assert.deepEqual(payload.aud, ['oam-grant', 'other']);
  });

  it('mints expired, wrong-issuer and unknown-kid tokens that jose rejects', async () => {
    const past = Math.floor(Date.now() / 1000) - 3600;
    await assert.rejects(verify(await issuer.mint({}, { iat: past })), { code: 'ERR_JWT_EXPIRED' });
    await assert.rejects(verify(await issuer.mint({}, { iss: 'https://gitlab.example.com' })), {
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
      message: 'unexpected "iss" claim value',
    });
    await assert.rejects(verify(await issuer.mint({}, { kid: 'nope' })), { code: 'ERR_JWKS_NO_MATCHING_KEY' });
  });

  it('mints hostile tokens that jose rejects', async () => {
    await assert.rejects(verify(await issuer.mintForged()), errors.JWSSignatureVerificationFailed);
    await assert.rejects(verify(await issuer.mintAlgNone()), { code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
    await assert.rejects(verify(await issuer.mintHs256WithPublicKey()), { code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
    await assert.rejects(verify(await issuer.mintEs256()), { code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
    // The forged token really carries the published kid: only the signature gives it away.
    assert.equal(decodeProtectedHeader(await issuer.mintForged()).kid, issuer.kid);
  });

  it('rotates keys, keeping or dropping the old one', async () => {
    const local = await startIssuer();
    try {
      const oldKid = local.kid;
      const newKid = await local.rotate();
      assert.notEqual(newKid, oldKid);
      assert.deepEqual(
        local.jwks().keys.map((k) => k.kid),
        [oldKid, newKid],
      );
      const jwks = createRemoteJWKSet(new URL(`${local.url}/oauth/discovery/keys`));
      const previous = await local.mint({}, { signWith: 'previous' });
      assert.equal(decodeProtectedHeader(previous).kid, oldKid);
      await jwtVerify(previous, jwks);
      await local.rotate({ keepOld: false });
      assert.equal(local.jwks().keys.length, 1);
      await assert.rejects(
        jwtVerify(previous, createRemoteJWKSet(new URL(`${local.url}/oauth/discovery/keys`))),
        { code: 'ERR_JWKS_NO_MATCHING_KEY' },
      );
    } finally {
      await local.close();
    }
  });

  it('mints over HTTP and records requests', async () => {
    const before = issuer.requests.length;
    const res = await fetch(`${issuer.url}/mint?ref=feature/x&ref_protected=false&aud=oam-grant&runner_id=7`);
    assert.equal(res.status, 200);
    const { token } = (await res.json()) as { token: string };
    const { payload } = await verify(token, 'oam-grant');
    assert.equal(payload.ref, 'feature/x');
    assert.equal(payload.runner_id, 7);
    const raw = await (await fetch(`${issuer.url}/mint?format=raw`)).text();
    assert.equal((await verify(raw)).payload.aud, 'sts.amazonaws.com');
    assert.deepEqual(
      issuer.requests.slice(before).map((r) => r.path),
      ['/mint', '/oauth/discovery/keys', '/mint', '/oauth/discovery/keys'],
    );
  });

  it('injects faults', async () => {
    issuer.injectFaults({ status: 503, pathIncludes: 'openid-configuration' });
    const first = await fetch(`${issuer.url}/.well-known/openid-configuration`);
    assert.equal(first.status, 503);
    const second = await fetch(`${issuer.url}/.well-known/openid-configuration`);
    assert.equal(second.status, 200);
  });
});
