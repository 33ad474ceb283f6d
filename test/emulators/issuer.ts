import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { type CryptoKey, exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from 'jose';
import { request as httpRequest } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listenLoopback, sendJson } from './server.ts';

/**
 * A GitLab-like OIDC issuer on loopback: discovery, JWKS, and ID tokens shaped
 * like GitLab's (gitlab-facts.md section 2), signed with real RS256 keys.
 */
export interface Issuer {
  /** The issuer URL as GitLab sends it in `iss`: no trailing slash. */
  readonly url: string;
  /** The kid of the key `mint` signs with now. */
  readonly kid: string;
  /** Every HTTP request, in order, so tests can assert discovery/JWKS caching. */
  readonly requests: IssuerRequest[];
  /** A GitLab-shaped token signed with the current key (or the previous one, `signWith: 'previous'`). */
  mint(claims?: ClaimOverrides, opts?: MintOptions): Promise<string>;
  /** Signed by an RS256 key that is NOT published, but carrying the published kid. */
  mintForged(claims?: ClaimOverrides, opts?: MintOptions): Promise<string>;
  /** `alg: none` with an empty signature. */
  mintAlgNone(claims?: ClaimOverrides, opts?: MintOptions): Promise<string>;
  /**
   * HS256 keyed with the published public key (SPKI PEM by default, or the
   * JWK's JSON): the classic algorithm-confusion attack.
   */
  mintHs256WithPublicKey(claims?: ClaimOverrides, opts?: MintOptions & { secret?: 'pem' | 'jwk' }): Promise<string>;
  /** Signed by an ES256 key that is not published, carrying the published kid. */
  mintEs256(claims?: ClaimOverrides, opts?: MintOptions): Promise<string>;
  /** The claims `mint` would sign, for tests that compare against the verified result. */
  claimsFor(claims?: ClaimOverrides, opts?: MintOptions): Record<string, unknown>;
  /** New current key with a new kid; the old key stays in the JWKS unless `keepOld: false`. */
  /**
   * New current key with a new kid; the old key stays in the JWKS unless `keepOld: false`.
   * `hiddenForFetches: n` leaves the new key out of the next n JWKS answers, as a
   * cached or not-yet-propagated key set would: a verifier must refetch to find it.
   */
  rotate(opts?: { keepOld?: boolean; hiddenForFetches?: number }): Promise<string>;
  /** The JWKS as served. */
  jwks(): { keys: JWK[] };
  /** The current key's public part as SPKI PEM. */
  publicKeyPem(): Promise<string>;
  /** Makes the next `times` requests (any path) answer `status`: simulates an issuer outage. */
  injectFaults(...faults: IssuerFault[]): void;
  /**
   * Serves `/api/v4/...` from another emulator, so the instance answers the
   * API and the OIDC documents on one origin, as GitLab does (the API token
   * goes only to the access file's instance URL).
   */
  serveApiFrom(upstream: string): void;
  close(): Promise<void>;
}

export interface IssuerRequest {
  readonly method: string;
  readonly path: string;
  /** Lets tests tell the product's fetches from the STS emulator's. */
  readonly userAgent: string;
}

export interface IssuerFault {
  readonly status: number;
  readonly times?: number;
  readonly pathIncludes?: string;
}

/** Claims to add or override; `undefined` deletes a default claim. */
export type ClaimOverrides = Record<string, unknown>;

export interface MintOptions {
  readonly aud?: string | string[];
  /** Lifetime in seconds (default 300, GitLab's value for jobs without a timeout). */
  readonly ttlSeconds?: number;
  /** Absolute seconds since the epoch, for tokens from the past or the future. */
  readonly iat?: number;
  readonly nbf?: number;
  readonly exp?: number;
  /** A wrong issuer. */
  readonly iss?: string;
  /** Header kid override, e.g. a kid the JWKS does not have. */
  readonly kid?: string;
  readonly signWith?: 'current' | 'previous';
}

interface SigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly jwk: JWK;
  published: boolean;
  /** JWKS answers still to come without this key. */
  hiddenFor: number;
}

/** The audience GitLab examples use for AWS. */
export const DEFAULT_AUDIENCE = 'sts.amazonaws.com';
export const DEFAULT_TTL_SECONDS = 300;
export const DEFAULT_SHA = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

async function createSigningKey(): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  // GitLab's kids are base64url SHA-256 thumbprints; a random one of the same shape will do.
  const kid = randomBytes(32).toString('base64url');
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, use: 'sig', alg: 'RS256' };
  return { kid, privateKey, publicKey, jwk, published: true, hiddenFor: 0 };
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/**
 * The claim set GitLab puts in every job's ID token (lib/gitlab/ci/jwt.rb +
 * jwt_v2.rb), for a push pipeline on the protected `main` branch of
 * acme/payments. Derived claims (ref_path, sub, job_project_*) follow
 * overrides of the claims they derive from, as they would on GitLab.
 */
function buildClaims(host: string, issuerUrl: string, overrides: ClaimOverrides, opts: MintOptions): Record<string, unknown> {
  const pick = (name: string, fallback: unknown): unknown => (name in overrides ? overrides[name] : fallback);
  const projectPath = String(pick('project_path', 'acme/payments'));
  const ref = String(pick('ref', 'main'));
  const refType = String(pick('ref_type', 'branch'));
  const sha = String(pick('sha', DEFAULT_SHA));
  const projectId = String(pick('project_id', '1217'));
  const namespacePath = projectPath.includes('/') ? projectPath.slice(0, projectPath.lastIndexOf('/')) : projectPath;
  const refPath = refType === 'tag' ? `refs/tags/${ref}` : `refs/heads/${ref}`;
  const now = Math.floor(Date.now() / 1000);
  const iat = opts.iat ?? now;
  const base: Record<string, unknown> = {
    namespace_id: '72',
    namespace_path: namespacePath,
    project_id: projectId,
    project_path: projectPath,
    user_id: '42',
    user_login: 'dev',
    user_email: 'dev@example.com',
    user_access_level: 'developer',
    pipeline_id: '1000001',
    pipeline_source: 'push',
    job_id: '829489',
    ref,
    ref_type: refType,
    ref_path: refPath,
    ref_protected: 'true',
    runner_id: 1,
    runner_environment: 'self-hosted',
    sha,
    project_visibility: 'private',
    ci_config_ref_uri: `${host}/${projectPath}//.gitlab-ci.yml@${refPath}`,
    ci_config_sha: sha,
    job_project_id: projectId,
    job_project_path: projectPath,
    job_namespace_id: '72',
    job_namespace_path: namespacePath,
    jti: randomUUID(),
    iss: opts.iss ?? issuerUrl,
    iat,
    nbf: opts.nbf ?? iat - 5,
    exp: opts.exp ?? iat + (opts.ttlSeconds ?? DEFAULT_TTL_SECONDS),
    sub: `project_path:${projectPath}:ref_type:${refType}:ref:${ref}`,
    aud: opts.aud ?? DEFAULT_AUDIENCE,
  };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete base[name];
    else base[name] = value;
  }
  return base;
}

/** Query parameters of `/mint` are claims; a few names are options instead. */
function mintRequest(params: URLSearchParams): { claims: ClaimOverrides; opts: MintOptions; raw: boolean } {
  const claims: ClaimOverrides = {};
  const opts: { aud?: string | string[]; ttlSeconds?: number } = {};
  for (const name of new Set(params.keys())) {
    const values = params.getAll(name);
    const first = values[0] ?? '';
    if (name === 'aud') opts.aud = values.length > 1 ? values : first;
    else if (name === 'ttl') opts.ttlSeconds = Number(first);
    else if (name === 'format') continue;
    else if (name === 'runner_id' && /^[0-9]+$/.test(first)) claims[name] = Number(first);
    else claims[name] = first;
  }
  return { claims, opts, raw: params.get('format') === 'raw' };
}

/**
 * Starts the issuer. Endpoints: `/.well-known/openid-configuration`,
 * `/oauth/discovery/keys`, and `GET /mint?claim=value&aud=...&ttl=...`
 * (answers `{"token": "..."}`, or the bare token with `format=raw`) for
 * shell scripts and the demo.
 *
 * @example
 *   const issuer = await startIssuer();
 *   const token = await issuer.mint({ ref: 'v1.2.0', ref_type: 'tag' }, { aud: 'oam-grant' });
 */
export async function startIssuer(opts: { port?: number } = {}): Promise<Issuer> {
  const keys: SigningKey[] = [await createSigningKey()];
  const requests: IssuerRequest[] = [];
  const faults: { status: number; left: number; pathIncludes?: string }[] = [];
  let attackerRsa: CryptoKey | undefined;
  let attackerEc: CryptoKey | undefined;
  let url = '';
  let host = '';

  const current = (): SigningKey => keys[keys.length - 1]!;
  const jwks = () => ({ keys: keys.filter((k) => k.published && k.hiddenFor === 0).map((k) => ({ ...k.jwk })) });
  const claimsFor = (claims: ClaimOverrides = {}, o: MintOptions = {}) => buildClaims(host, url, claims, o);
  const headerKid = (o: MintOptions) => o.kid ?? current().kid;

  const mint = async (claims: ClaimOverrides = {}, o: MintOptions = {}): Promise<string> => {
    const key = o.signWith === 'previous' ? keys[keys.length - 2] : current();
    if (!key) throw new Error('issuer has no previous key: call rotate() first');
    return new SignJWT(claimsFor(claims, o))
      .setProtectedHeader({ alg: 'RS256', kid: o.kid ?? key.kid, typ: 'JWT' })
      .sign(key.privateKey);
  };

  let apiUpstream: string | undefined;
  const server = await listenLoopback((req, res, body) => {
    const u = new URL(req.url ?? '/', url);
    if (apiUpstream && u.pathname.startsWith('/api/v4/')) return proxy(req, res, body, new URL(`${u.pathname}${u.search}`, apiUpstream));
    requests.push({ method: req.method ?? 'GET', path: u.pathname, userAgent: String(req.headers['user-agent'] ?? '') });
    const fault = faults.find((f) => f.pathIncludes === undefined || u.pathname.includes(f.pathIncludes));
    if (fault) {
      fault.left -= 1;
      if (fault.left <= 0) faults.splice(faults.indexOf(fault), 1);
      return sendJson(res, fault.status, { message: `${fault.status} injected fault` });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method_not_allowed' });
    switch (u.pathname) {
      case '/.well-known/openid-configuration':
        return sendJson(res, 200, {
          issuer: url,
          authorization_endpoint: `${url}/oauth/authorize`,
          token_endpoint: `${url}/oauth/token`,
          revocation_endpoint: `${url}/oauth/revoke`,
          introspection_endpoint: `${url}/oauth/introspect`,
          userinfo_endpoint: `${url}/oauth/userinfo`,
          jwks_uri: `${url}/oauth/discovery/keys`,
          scopes_supported: ['openid', 'profile', 'email'],
          response_types_supported: ['code'],
          response_modes_supported: ['query', 'fragment'],
          grant_types_supported: ['authorization_code', 'password', 'client_credentials', 'refresh_token'],
          token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
          claim_types_supported: ['normal'],
          claims_supported: [
            'iss',
            'sub',
            'aud',
            'exp',
            'iat',
            'sub_legacy',
            'name',
            'nickname',
            'preferred_username',
            'email',
            'email_verified',
            'website',
            'profile',
            'picture',
            'groups',
            'groups_direct',
            'https://gitlab.org/claims/groups/owner',
            'https://gitlab.org/claims/groups/maintainer',
            'https://gitlab.org/claims/groups/developer',
          ],
        });
      case '/oauth/discovery/keys': {
        const answer = jwks();
        for (const key of keys) if (key.hiddenFor > 0) key.hiddenFor--;
        return sendJson(res, 200, answer, { 'cache-control': 'max-age=86400, public' });
      }
      case '/mint': {
        const { claims, opts: o, raw } = mintRequest(u.searchParams);
        return mint(claims, o).then((token) => {
          if (!raw) return sendJson(res, 200, { token });
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end(token);
        });
      }
      default:
        return sendJson(res, 404, { error: 'not_found' });
    }
  }, opts.port);
  url = server.url;
  host = url.replace(/^https?:\/\//, '');

  const header = (alg: string, o: MintOptions) => b64url({ alg, kid: headerKid(o), typ: 'JWT' });

  return {
    url,
    get kid() {
      return current().kid;
    },
    requests,
    mint,
    async mintForged(claims = {}, o = {}) {
      attackerRsa ??= (await generateKeyPair('RS256')).privateKey;
      return new SignJWT(claimsFor(claims, o))
        .setProtectedHeader({ alg: 'RS256', kid: headerKid(o), typ: 'JWT' })
        .sign(attackerRsa);
    },
    async mintAlgNone(claims = {}, o = {}) {
      return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claimsFor(claims, o))}.`;
    },
    async mintHs256WithPublicKey(claims = {}, o = {}) {
      const secret = o.secret === 'jwk' ? JSON.stringify(current().jwk) : await exportSPKI(current().publicKey);
      const input = `${header('HS256', o)}.${b64url(claimsFor(claims, o))}`;
      return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
    },
    async mintEs256(claims = {}, o = {}) {
      attackerEc ??= (await generateKeyPair('ES256')).privateKey;
      return new SignJWT(claimsFor(claims, o))
        .setProtectedHeader({ alg: 'ES256', kid: headerKid(o), typ: 'JWT' })
        .sign(attackerEc);
    },
    claimsFor,
    async rotate(o = {}) {
      if (o.keepOld === false) for (const key of keys) key.published = false;
      const key = await createSigningKey();
      key.hiddenFor = o.hiddenForFetches ?? 0;
      keys.push(key);
      return key.kid;
    },
    jwks,
    publicKeyPem: () => exportSPKI(current().publicKey),
    serveApiFrom(upstream) {
      apiUpstream = upstream;
    },
    injectFaults(...list) {
      for (const f of list) faults.push({ status: f.status, left: f.times ?? 1, pathIncludes: f.pathIncludes });
    },
    close: () => server.close(),
  };
}

/** Forwards one request as it came (method, headers, body) and streams the answer back. */
function proxy(req: IncomingMessage, res: ServerResponse, body: string, target: URL): Promise<void> {
  return new Promise((resolve) => {
    const headers = { ...req.headers, host: target.host };
    delete headers['content-length'];
    const upstream = httpRequest(target, { method: req.method, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
      answer.on('end', () => resolve());
      answer.on('error', () => resolve());
    });
    upstream.on('error', () => {
      if (!res.headersSent) sendJson(res, 502, { message: '502 Bad Gateway' });
      else res.destroy();
      resolve();
    });
    // A client that gives up (say, a total deadline) must not leave the upstream call hanging.
    res.on('close', () => upstream.destroy());
    upstream.end(body);
  });
}
