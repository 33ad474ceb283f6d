import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type CryptoKey, createRemoteJWKSet, decodeJwt, exportJWK, generateKeyPair, type JWK, type JWTPayload, type JWTVerifyGetKey, jwtVerify, SignJWT } from 'jose';
import { clientGaveUp, listenLoopback, sendJson, sleep } from './server.ts';

/**
 * An OAuth 2.0 authorization server on loopback doing RFC 8693 token
 * exchange, as the RFCs specify it (a generic server, not one product):
 *
 * - metadata: OpenID Connect Discovery 1.0 section 4 at
 *   `<issuer>/.well-known/openid-configuration`, or RFC 8414 section 3 at
 *   `/.well-known/oauth-authorization-server<issuer path>` (`metadata` option);
 * - the token endpoint: RFC 8693 section 2.1 (form POST, grant_type
 *   `urn:ietf:params:oauth:grant-type:token-exchange`, subject_token +
 *   subject_token_type, optional requested_token_type, audience, resource,
 *   scope; audience and resource may repeat) and section 2.2.1 answers
 *   (access_token, issued_token_type, token_type `Bearer` or `N_A`, expires_in,
 *   scope), `Cache-Control: no-store` (RFC 6749 section 5.1);
 * - errors: RFC 6749 section 5.2 JSON (`error`, `error_description`), 400, or
 *   401 for invalid_client; RFC 8693 section 2.2.2: invalid_request when the
 *   subject token is invalid or unacceptable by policy (some servers answer
 *   invalid_grant: `subjectTokenError`), invalid_target for an audience or
 *   resource it will not issue for;
 * - public clients only (token_endpoint_auth_method `none`: `client_id` in the
 *   body); a Basic Authorization header is refused with 401 and a challenge;
 * - revocation: RFC 7009 (200 for any token, also unknown ones);
 * - a protected resource at `/resource` (RFC 6750 bearer) for consumer checks.
 *
 * Subject tokens are verified as a server trusting a GitLab issuer does:
 * discovery + JWKS of the issuer, RS256, `iss`, `aud` (default: this
 * server's issuer), `exp`/`nbf`, then the subject policy (`sub` patterns and
 * required claims).
 */
export interface TokenExchangeServer {
  /** The issuer identifier: `http://127.0.0.1:PORT` plus `issuerPath`. */
  readonly issuer: string;
  readonly origin: string;
  /** Every request, recorded when it arrives and completed when answered. */
  readonly calls: TokenExchangeCall[];
  readonly issued: IssuedToken[];
  /** Each fault is consumed by the first request to its endpoint (default: the token endpoint), in order. */
  injectFaults(...faults: TokenExchangeFault[]): void;
  /** Drops the faults no request has consumed yet. */
  clearFaults(): void;
  /** Changes the server's settings for the requests that follow. */
  configure(patch: Partial<TokenExchangeSettings>): void;
  close(): Promise<void>;
}

export interface TokenExchangeSettings {
  /** Which metadata document it serves. Default openid-configuration. */
  readonly metadata: 'openid-configuration' | 'oauth-authorization-server';
  /** Members added to (or, with `undefined`, removed from) the metadata document. */
  readonly metadataOverrides: Readonly<Record<string, unknown>>;
  /** The GitLab issuers whose ID tokens it accepts as subject tokens. */
  readonly trustedIssuers: readonly string[];
  /** The audience a subject token must carry. Default: this server's issuer. */
  readonly subjectAudience?: string;
  /** Patterns (`*` any run of characters) of which a subject token's `sub` must match one. */
  readonly subPatterns: readonly string[];
  /** Claims the subject token must carry, with exactly these values. */
  readonly requiredClaims: Readonly<Record<string, string>>;
  /** Registered public clients and the grant types each may use. */
  readonly clients: readonly { readonly id: string; readonly grantTypes: readonly string[] }[];
  /** Refuse requests without client_id (invalid_client). Default false: RFC 8693 leaves it to the server. */
  readonly requireClient: boolean;
  /** Send `WWW-Authenticate` with invalid_client answers. Default false. */
  readonly challengeInvalidClient: boolean;
  /** Targets it issues for; undefined = any. */
  readonly audiences?: readonly string[];
  readonly resources?: readonly string[];
  /** Scopes it grants; undefined = any. */
  readonly scopes?: readonly string[];
  /** False: the server does not offer token exchange (unsupported_grant_type). Default true. */
  readonly tokenExchange: boolean;
  /** The error code for a subject token it cannot accept. Default invalid_request (RFC 8693 section 2.2.2). */
  readonly subjectTokenError: 'invalid_request' | 'invalid_grant';
  /** Issued tokens' lifetime in seconds. Default 900. */
  readonly lifetimeSeconds: number;
  /** Opaque random strings (default) or JWTs signed by the server's own key. */
  readonly tokenFormat: 'opaque' | 'jwt';
  /** Leave expires_in out of the answer. */
  readonly omitExpiresIn: boolean;
  /** Answer this issued_token_type instead of the requested one (null: leave it out). */
  readonly issuedTokenType?: string | null;
  /** Add a refresh_token to the answer (RFC 8693 allows it, and advises against it). */
  readonly refreshToken: boolean;
}

export type TokenExchangeServerOptions = Partial<TokenExchangeSettings> &
  Pick<TokenExchangeSettings, 'trustedIssuers' | 'subPatterns'> & {
    readonly port?: number;
    /** Path of the issuer identifier, e.g. `/realms/ci`; default '' (the origin). */
    readonly issuerPath?: string;
  };

export type Endpoint = 'metadata' | 'token' | 'revocation' | 'resource' | 'jwks' | 'unknown';

export interface TokenExchangeCall {
  readonly endpoint: Endpoint;
  readonly method: string;
  readonly path: string;
  /** The form parameters (the last value of each; `audience` and `resource` may repeat, see `all`). */
  readonly params: Readonly<Record<string, string>>;
  readonly all: URLSearchParams;
  readonly authorization?: string;
  readonly userAgent: string;
  status: number;
  error?: string;
  readonly at: number;
}

export interface IssuedToken {
  readonly token: string;
  readonly tokenType: string;
  readonly subject: string;
  readonly clientId?: string;
  readonly audiences: readonly string[];
  readonly resources: readonly string[];
  readonly scope?: string;
  readonly expiresAt: Date;
  revoked: boolean;
}

export type TokenExchangeFault = (
  | { readonly kind: 'status'; readonly status: 429 | 500 | 502 | 503 }
  /** An OAuth "try again" error, e.g. temporarily_unavailable with 503 (or 400, as some servers send it). */
  | { readonly kind: 'oauth-error'; readonly error: string; readonly status: number; readonly description?: string }
  /** A redirect (307) elsewhere: a client must not follow it with the token. */
  | { readonly kind: 'redirect'; readonly location: string }
  | { readonly kind: 'reset' }
  | { readonly kind: 'delay'; readonly ms: number }
  /** A hostile or careless server: invalid_request whose description repeats the subject token (or, at revocation, the token). */
  | { readonly kind: 'echo-subject-token' }
) & { readonly endpoint?: Endpoint };

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const TOKEN_TYPE = {
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  refreshToken: 'urn:ietf:params:oauth:token-type:refresh_token',
  idToken: 'urn:ietf:params:oauth:token-type:id_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
} as const;
/** What this server issues. */
const ISSUABLE = new Set<string>([TOKEN_TYPE.accessToken, TOKEN_TYPE.jwt]);
/** What it accepts as subject tokens: a JWT (RFC 8693 section 3 names both). */
const SUBJECT_TYPES = new Set<string>([TOKEN_TYPE.jwt, TOKEN_TYPE.idToken]);

class OAuthError extends Error {
  readonly error: string;
  readonly status: number;
  constructor(error: string, description: string, status = 400) {
    super(description);
    this.error = error;
    this.status = status;
  }
}

/** `*` any run of characters (including '/'), everything else literal. */
export function globMatch(pattern: string, value: string): boolean {
  const source = pattern.replace(/[.+?^${}()|[\]\\*]/g, (c) => (c === '*' ? '.*' : `\\${c}`));
  return new RegExp(`^${source}$`, 's').test(value);
}

function isAbsoluteUriWithoutFragment(value: string): boolean {
  try {
    return new URL(value).hash === '' && !value.includes('#');
  } catch {
    return false;
  }
}

/**
 * Starts the server on 127.0.0.1.
 *
 * @example
 *   const server = await startTokenExchange({ trustedIssuers: [issuer.url], subPatterns: ['project_path:acme/payments:ref_type:branch:ref:main'] });
 *   const token = await issuer.mint({}, { aud: server.issuer });
 *   // POST `${server.issuer}/token` grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token=...
 */
export async function startTokenExchange(opts: TokenExchangeServerOptions): Promise<TokenExchangeServer> {
  const { port, issuerPath = '', ...given } = opts;
  let settings: TokenExchangeSettings = {
    metadata: 'openid-configuration',
    metadataOverrides: {},
    requiredClaims: {},
    clients: [],
    requireClient: false,
    challengeInvalidClient: false,
    tokenExchange: true,
    subjectTokenError: 'invalid_request',
    lifetimeSeconds: 900,
    tokenFormat: 'opaque',
    omitExpiresIn: false,
    refreshToken: false,
    ...given,
  };
  const calls: TokenExchangeCall[] = [];
  const issued: IssuedToken[] = [];
  const faults: TokenExchangeFault[] = [];
  const issuerKeys = new Map<string, Promise<JWTVerifyGetKey>>();
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const signingKey: CryptoKey = privateKey;
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'tx-1', use: 'sig', alg: 'RS256' };
  let origin = '';
  let issuer = '';

  const metadataDocument = (): Record<string, unknown> => {
    const document: Record<string, unknown> = {
      issuer,
      token_endpoint: `${issuer}/token`,
      revocation_endpoint: `${issuer}/revoke`,
      jwks_uri: `${issuer}/jwks`,
      grant_types_supported: settings.tokenExchange ? [TOKEN_EXCHANGE] : ['client_credentials'],
      token_endpoint_auth_methods_supported: ['none'],
      revocation_endpoint_auth_methods_supported: ['none'],
      scopes_supported: settings.scopes ? [...settings.scopes] : undefined,
      ...(settings.metadata === 'openid-configuration'
        ? {
            // OpenID Connect Discovery 1.0 section 3 requires these of an OpenID provider.
            authorization_endpoint: `${issuer}/authorize`,
            response_types_supported: ['code'],
            subject_types_supported: ['public'],
            id_token_signing_alg_values_supported: ['RS256'],
          }
        : {}),
      ...settings.metadataOverrides,
    };
    return Object.fromEntries(Object.entries(document).filter(([, v]) => v !== undefined));
  };

  /** Discovery, then a JWKS that jose caches; a failed discovery is not cached. */
  const keysOf = (gitlabIssuer: string): Promise<JWTVerifyGetKey> => {
    let pending = issuerKeys.get(gitlabIssuer);
    if (!pending) {
      pending = (async () => {
        const res = await fetch(`${gitlabIssuer}/.well-known/openid-configuration`, {
          headers: { 'user-agent': 'token-exchange-emulator' },
          signal: AbortSignal.timeout(5000),
        });
        if (res.status !== 200) throw new Error(`discovery answered ${res.status}`);
        const meta = (await res.json()) as { jwks_uri?: unknown };
        if (typeof meta.jwks_uri !== 'string') throw new Error('discovery has no jwks_uri');
        return createRemoteJWKSet(new URL(meta.jwks_uri), { cooldownDuration: 0, timeoutDuration: 5000, headers: { 'user-agent': 'token-exchange-emulator' } });
      })();
      issuerKeys.set(gitlabIssuer, pending);
      pending.catch(() => issuerKeys.delete(gitlabIssuer));
    }
    return pending;
  };

  const refuseSubject = (description: string) => new OAuthError(settings.subjectTokenError, description);

  const verifySubject = async (token: string): Promise<JWTPayload> => {
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(token);
    } catch {
      throw refuseSubject('subject_token is not a JWT');
    }
    const iss = typeof unverified.iss === 'string' ? unverified.iss : '';
    if (!settings.trustedIssuers.includes(iss)) throw refuseSubject(`subject_token issuer ${iss} is not trusted`);
    let getKey: JWTVerifyGetKey;
    try {
      getKey = await keysOf(iss);
    } catch {
      throw new OAuthError('temporarily_unavailable', 'the subject token issuer could not be reached', 503);
    }
    try {
      const { payload } = await jwtVerify(token, getKey, {
        algorithms: ['RS256'],
        issuer: iss,
        audience: settings.subjectAudience ?? issuer,
        requiredClaims: ['exp', 'sub'],
        clockTolerance: 30,
      });
      return payload;
    } catch (err: unknown) {
      const code = (err as { code?: unknown }).code;
      if (code === 'ERR_JWT_EXPIRED') throw refuseSubject('subject_token has expired');
      if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') throw refuseSubject(`subject_token ${(err as { claim?: string }).claim ?? 'claim'} is not acceptable`);
      throw refuseSubject('subject_token signature could not be verified');
    }
  };

  /** Public clients only: client_id in the body. Returns the client, if one was named. */
  const authenticateClient = (req: IncomingMessage, form: URLSearchParams): { id: string; grantTypes: readonly string[] } | undefined => {
    const invalidClient = (description: string) => new OAuthError('invalid_client', description, 401);
    if (req.headers.authorization !== undefined) throw invalidClient('client authentication by Authorization header is not supported here; public clients send client_id');
    const id = form.get('client_id');
    if (id === null) {
      if (settings.requireClient) throw invalidClient('client authentication required');
      return undefined;
    }
    const client = settings.clients.find((c) => c.id === id);
    if (!client) throw invalidClient('unknown client');
    return client;
  };

  const single = (form: URLSearchParams, name: string): string | undefined => {
    const values = form.getAll(name);
    if (values.length > 1) throw new OAuthError('invalid_request', `parameter ${name} repeated`);
    return values[0];
  };

  const exchange = async (req: IncomingMessage, form: URLSearchParams): Promise<Record<string, unknown>> => {
    const client = authenticateClient(req, form);
    const grantType = single(form, 'grant_type');
    if (grantType === undefined) throw new OAuthError('invalid_request', 'missing grant_type');
    if (grantType !== TOKEN_EXCHANGE || !settings.tokenExchange) throw new OAuthError('unsupported_grant_type', `grant_type ${grantType} is not supported`);
    if (client && !client.grantTypes.includes(TOKEN_EXCHANGE)) throw new OAuthError('unauthorized_client', 'the client may not use token exchange');
    const subjectToken = single(form, 'subject_token');
    const subjectTokenType = single(form, 'subject_token_type');
    if (!subjectToken) throw new OAuthError('invalid_request', 'missing subject_token');
    if (!subjectTokenType) throw new OAuthError('invalid_request', 'missing subject_token_type');
    if (!SUBJECT_TYPES.has(subjectTokenType)) throw new OAuthError('invalid_request', `unsupported subject_token_type ${subjectTokenType}`);
    if (form.has('actor_token') || form.has('actor_token_type')) throw new OAuthError('invalid_request', 'delegation (actor_token) is not supported');
    const requested = single(form, 'requested_token_type') ?? TOKEN_TYPE.accessToken;
    if (!ISSUABLE.has(requested)) throw new OAuthError('invalid_request', `unsupported requested_token_type ${requested}`);
    const resources = form.getAll('resource');
    for (const resource of resources) {
      if (!isAbsoluteUriWithoutFragment(resource)) throw new OAuthError('invalid_request', 'resource must be an absolute URI without a fragment');
    }
    const audiences = form.getAll('audience');
    const scope = single(form, 'scope');

    const payload = await verifySubject(subjectToken);
    const sub = String(payload.sub);
    const claimsHold = Object.entries(settings.requiredClaims).every(([name, value]) => payload[name] === value);
    if (!settings.subPatterns.some((p) => globMatch(p, sub)) || !claimsHold) throw refuseSubject('the subject is not allowed to exchange tokens here');
    for (const audience of audiences) {
      if (settings.audiences && !settings.audiences.includes(audience)) throw new OAuthError('invalid_target', 'no token can be issued for this audience');
    }
    for (const resource of resources) {
      if (settings.resources && !settings.resources.includes(resource)) throw new OAuthError('invalid_target', 'no token can be issued for this resource');
    }
    for (const s of scope?.split(' ').filter(Boolean) ?? []) {
      if (settings.scopes && !settings.scopes.includes(s)) throw new OAuthError('invalid_scope', `scope ${s} is not granted`);
    }

    const nowSeconds = Math.floor(Date.now() / 1000);
    const expiresAt = new Date((nowSeconds + settings.lifetimeSeconds) * 1000);
    const token =
      settings.tokenFormat === 'jwt'
        ? await new SignJWT({ scope, client_id: client?.id })
            .setProtectedHeader({ alg: 'RS256', kid: jwk.kid!, typ: 'at+jwt' })
            .setIssuer(issuer)
            .setSubject(sub)
            .setAudience(audiences[0] ?? resources[0] ?? issuer)
            .setIssuedAt(nowSeconds)
            .setExpirationTime(nowSeconds + settings.lifetimeSeconds)
            .setJti(randomUUID())
            .sign(signingKey)
        : `tx_${randomBytes(32).toString('base64url')}`;
    const tokenType = requested === TOKEN_TYPE.accessToken ? 'Bearer' : 'N_A';
    issued.push({ token, tokenType, subject: sub, ...(client ? { clientId: client.id } : {}), audiences, resources, ...(scope ? { scope } : {}), expiresAt, revoked: false });
    const issuedTokenType = settings.issuedTokenType === undefined ? requested : settings.issuedTokenType;
    return {
      access_token: token,
      ...(issuedTokenType === null ? {} : { issued_token_type: issuedTokenType }),
      token_type: tokenType,
      ...(settings.omitExpiresIn ? {} : { expires_in: settings.lifetimeSeconds }),
      ...(scope ? { scope } : {}),
      ...(settings.refreshToken ? { refresh_token: `rt_${randomBytes(32).toString('base64url')}` } : {}),
    };
  };

  const revoke = (req: IncomingMessage, form: URLSearchParams): void => {
    authenticateClient(req, form);
    const token = single(form, 'token');
    if (!token) throw new OAuthError('invalid_request', 'missing token');
    // RFC 7009 section 2.2: 200 whether or not the token was known.
    const found = issued.find((t) => t.token === token);
    if (found) found.revoked = true;
  };

  const classify = (method: string, path: string): Endpoint => {
    const issuerPathname = new URL(issuer).pathname.replace(/\/$/, '');
    if (method === 'GET' && (path === `${issuerPathname}/.well-known/openid-configuration` || path === `/.well-known/oauth-authorization-server${issuerPathname}`)) return 'metadata';
    if (path === `${issuerPathname}/token`) return 'token';
    if (path === `${issuerPathname}/revoke`) return 'revocation';
    if (path === `${issuerPathname}/jwks`) return 'jwks';
    if (path === `${issuerPathname}/resource`) return 'resource';
    return 'unknown';
  };

  const sendError = (res: ServerResponse, err: OAuthError) => {
    const headers: Record<string, string> = { 'cache-control': 'no-store', pragma: 'no-cache' };
    if (err.status === 401 && (settings.challengeInvalidClient || err.message.includes('Authorization header'))) headers['www-authenticate'] = `Basic realm="${issuer}"`;
    sendJson(res, err.status, { error: err.error, error_description: err.message }, headers);
  };

  const server = await listenLoopback(async (req, res, body) => {
    const url = new URL(req.url ?? '/', origin);
    const method = req.method ?? 'GET';
    const endpoint = classify(method, url.pathname);
    const form = new URLSearchParams(method === 'POST' ? body : '');
    const call: TokenExchangeCall = {
      endpoint,
      method,
      path: url.pathname,
      params: Object.fromEntries(form),
      all: form,
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      userAgent: String(req.headers['user-agent'] ?? ''),
      status: 0,
      error: 'pending',
      at: Date.now(),
    };
    calls.push(call);
    const done = (status: number, error?: string) => {
      call.status = status;
      if (error) call.error = error;
      else delete call.error;
    };
    const abandoned = clientGaveUp(res);

    const index = faults.findIndex((f) => (f.endpoint ?? 'token') === endpoint);
    const fault = index >= 0 ? faults.splice(index, 1)[0] : undefined;
    if (fault?.kind === 'reset') {
      done(0, 'reset');
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'delay') {
      await sleep(fault.ms);
      if (abandoned()) return done(0, 'abandoned');
    }
    if (fault?.kind === 'redirect') {
      done(307, 'redirect');
      res.writeHead(307, { location: fault.location, 'content-length': '0' });
      res.end();
      return;
    }
    if (fault?.kind === 'status') {
      done(fault.status, `status ${fault.status}`);
      res.writeHead(fault.status, { 'content-type': 'text/html' });
      res.end(`<html><body>${fault.status}</body></html>`);
      return;
    }
    try {
      if (fault?.kind === 'oauth-error') throw new OAuthError(fault.error, fault.description ?? 'the service is busy, try again later', fault.status);
      if (fault?.kind === 'echo-subject-token') throw new OAuthError('invalid_request', `cannot use subject_token ${form.get('subject_token') ?? form.get('token') ?? ''}`);
      switch (endpoint) {
        case 'metadata': {
          const wanted = settings.metadata === 'openid-configuration' ? url.pathname.endsWith('/openid-configuration') : url.pathname.startsWith('/.well-known/oauth-authorization-server');
          if (!wanted) {
            done(404, 'not found');
            return sendJson(res, 404, { error: 'not_found' });
          }
          done(200);
          return sendJson(res, 200, metadataDocument());
        }
        case 'jwks':
          done(200);
          return sendJson(res, 200, { keys: [jwk] });
        case 'token':
        case 'revocation': {
          if (method !== 'POST') throw new OAuthError('invalid_request', 'use POST');
          if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
            throw new OAuthError('invalid_request', 'the request must be application/x-www-form-urlencoded');
          }
          if (endpoint === 'revocation') {
            revoke(req, form);
            done(200);
            res.writeHead(200, { 'cache-control': 'no-store', 'content-length': '0' });
            res.end();
            return;
          }
          const answer = await exchange(req, form);
          done(200);
          if (res.destroyed) return;
          return sendJson(res, 200, answer, { 'cache-control': 'no-store', pragma: 'no-cache' });
        }
        case 'resource': {
          const bearer = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
          const found = issued.find((t) => t.token === bearer && t.tokenType === 'Bearer');
          if (!found || found.revoked || found.expiresAt.getTime() <= Date.now()) {
            done(401, 'invalid_token');
            res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"', 'content-length': '0' });
            res.end();
            return;
          }
          done(200);
          return sendJson(res, 200, { sub: found.subject, scope: found.scope ?? '', audiences: found.audiences });
        }
        default:
          done(404, 'not found');
          return sendJson(res, 404, { error: 'not_found' });
      }
    } catch (err: unknown) {
      const oauth = err instanceof OAuthError ? err : new OAuthError('server_error', `emulator error: ${err instanceof Error ? err.message : String(err)}`, 500);
      done(oauth.status, oauth.error);
      if (!res.destroyed) sendError(res, oauth);
    }
  }, port);
  origin = server.url;
  issuer = `${origin}${issuerPath.replace(/\/$/, '')}`;

  return {
    issuer,
    origin,
    calls,
    issued,
    injectFaults: (...list) => {
      faults.push(...list);
    },
    clearFaults: () => {
      faults.length = 0;
    },
    configure: (patch) => {
      settings = { ...settings, ...patch };
    },
    close: () => server.close(),
  };
}
