import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { compactVerify, createRemoteJWKSet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { clientGaveUp, listenLoopback, sendJson, sleep } from './server.ts';

/**
 * A HashiCorp Vault emulator on loopback: the JWT auth method's login, and
 * the token store's lookup-self and revoke-self, as Vault answers them.
 *
 * What it follows, and where that comes from:
 * - Paths and bodies: Vault's API docs (api-docs/auth/jwt.mdx "JWT Login",
 *   api-docs/auth/token.mdx "Lookup a token (Self)", "Revoke a token (Self)":
 *   204 without a body). Errors are `{"errors": [...]}` (api-docs/index.mdx).
 * - The login's checks, in Vault's order and words (vault-plugin-auth-jwt
 *   path_login.go and claims.go; hashicorp/cap jwt/jwt.go; go-oidc's remote
 *   key set): role (`role "x" could not be found`, role names lower-cased),
 *   role_type, the token's signature against the issuer's keys found by
 *   OIDC discovery (or a jwks_url), `bound_issuer`, `bound_subject`,
 *   `bound_audiences`, exp/nbf with 150 s and iat with 60 s leeway (the role's defaults), "audience claim found in
 *   JWT but no audiences bound to the role", `user_claim`, then
 *   `bound_claims` (exact, or ryanuber/go-glob when bound_claims_type is
 *   "glob": `*` matches any run, `/` included; nothing else is special). Every
 *   refusal is 400, as logical.ErrorResponse is.
 * - A login at a path where nothing is mounted answers 403 "permission
 *   denied" (hashicorp/vault#13162); an invalid token at lookup-self or
 *   revoke-self too. A sealed Vault answers 503 "Vault is sealed".
 * - Token TTL: the role's token_ttl, else the mount's default (Vault's
 *   default: 768 h), no longer than token_max_ttl (else the system max,
 *   768 h) and token_explicit_max_ttl; a periodic token's TTL is its period.
 *   Batch tokens (`hvb.`) have no accessor, are not renewable, and revoke-self
 *   answers 400 "batch tokens cannot be revoked" (vault/expiration.go).
 * - Namespaces: the X-Vault-Namespace header, or the namespace as a path
 *   prefix (api-docs/index.mdx "Namespaces"); a token works only in the
 *   namespace it was issued in.
 */
export interface VaultEmulator {
  readonly url: string;
  /** Every request, recorded when it arrives and completed when answered. */
  readonly calls: VaultCall[];
  /** Every token issued, revoked ones included. */
  readonly tokens: VaultToken[];
  /** Tokens neither revoked nor expired (by the emulator's clock). */
  liveTokens(): VaultToken[];
  seal(): void;
  unseal(): void;
  /** Each fault is consumed by exactly one request, in order. */
  injectFaults(...faults: VaultFault[]): void;
  /** Drops the faults not consumed yet. */
  clearFaults(): void;
  /** Moves the emulator's clock (token expiry and the ID token's times). */
  advanceClock(seconds: number): void;
  close(): Promise<void>;
}

export interface VaultRole {
  readonly name: string;
  /** Default jwt here (Vault's default is oidc, which a JWT login refuses). */
  readonly roleType?: 'jwt' | 'oidc';
  readonly boundAudiences?: readonly string[];
  readonly boundSubject?: string;
  readonly userClaim: string;
  readonly boundClaimsType?: 'string' | 'glob';
  readonly boundClaims?: Readonly<Record<string, string | readonly string[]>>;
  /** Seconds; 0 or absent = the mount's default. */
  readonly tokenTtl?: number;
  readonly tokenMaxTtl?: number;
  readonly tokenExplicitMaxTtl?: number;
  readonly tokenPeriod?: number;
  readonly tokenPolicies?: readonly string[];
  readonly tokenNoDefaultPolicy?: boolean;
  readonly tokenType?: 'service' | 'batch';
}

export interface VaultJwtMount {
  /** Where the method is mounted, below auth/; default jwt. */
  readonly path?: string;
  /** Vault Enterprise namespace, without slashes at the ends; absent = root. */
  readonly namespace?: string;
  readonly oidcDiscoveryUrl?: string;
  readonly jwksUrl?: string;
  readonly boundIssuer?: string;
  readonly roles: readonly VaultRole[];
}

export interface VaultOptions {
  /** Or a function of the emulator's URL, for roles whose bound audience is Vault's own address (GitLab's default). */
  readonly mounts: readonly VaultJwtMount[] | ((vaultUrl: string) => readonly VaultJwtMount[]);
  readonly port?: number;
  /** Seconds; Vault's default_lease_ttl and max_lease_ttl are both 768 h. */
  readonly defaultLeaseTtl?: number;
  readonly maxLeaseTtl?: number;
}

export interface VaultCall {
  readonly method: string;
  /** Below /v1/, namespace prefix removed. */
  readonly path: string;
  readonly namespace: string;
  /** 0 until answered. */
  readonly status: number;
  readonly error?: string;
  readonly at: number;
}

export interface VaultToken {
  readonly clientToken: string;
  readonly accessor: string;
  readonly namespace: string;
  readonly mount: string;
  readonly role: string;
  readonly policies: readonly string[];
  readonly ttl: number;
  readonly explicitMaxTtl: number;
  readonly period: number;
  readonly renewable: boolean;
  readonly type: 'service' | 'batch';
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** The verified ID token's claims. */
  readonly claims: Readonly<Record<string, unknown>>;
  revoked: boolean;
}

export type VaultFault =
  | { readonly kind: 'status'; readonly status: 412 | 429 | 500 | 502 | 503 }
  | { readonly kind: 'reset' }
  | { readonly kind: 'delay'; readonly ms: number };

const DEFAULT_TTL = 768 * 3600;
/** The JWT role's defaults (vault-plugin-auth-jwt path_role.go): expiration_leeway and not_before_leeway 150 s, clock_skew_leeway 60 s. */
const EXPIRY_LEEWAY_SECONDS = 150;
const CLOCK_SKEW_SECONDS = 60;
const SIGNING_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'EdDSA'];

class VaultError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

const refused = (message: string) => new VaultError(400, message);
const permissionDenied = () => new VaultError(403, 'permission denied');

const FAULT_MESSAGES: Record<number, string> = {
  412: 'required index state not present',
  429: 'request path "auth/jwt/login": rate limit quota exceeded',
  500: 'internal error',
  502: 'upstream error',
  503: 'Vault is sealed',
};

/** ryanuber/go-glob: `*` matches any run of characters, `/` included; nothing else is special. */
export function goGlob(pattern: string, subject: string): boolean {
  if (pattern === '') return subject === '';
  const parts = pattern.split('*');
  if (parts.length === 1) return subject === pattern;
  const leading = pattern.startsWith('*');
  const trailing = pattern.endsWith('*');
  const end = parts.length - 1;
  let rest = subject;
  for (const [i, part] of parts.entries()) {
    if (i === 0) {
      if (!leading && !rest.startsWith(part)) return false;
    } else if (i === end) {
      if (rest.length > 0) return trailing || rest.endsWith(part);
    } else if (!rest.includes(part)) {
      return false;
    }
    rest = rest.slice(rest.indexOf(part) + part.length);
  }
  return true;
}

const trimSlashes = (value: string): string => value.replace(/^\/+|\/+$/g, '');

function alnum(length: number): string {
  return randomBytes(length * 2)
    .toString('base64')
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, length);
}

/** A claim by name, or by JSON pointer when it starts with `/` (Vault's claim specification). */
function claimAt(claims: Record<string, unknown>, name: string): unknown {
  if (!name.startsWith('/')) return claims[name];
  let value: unknown = claims;
  for (const part of name.slice(1).split('/')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return value;
}

/** claims.go normalizeList: a string, bool or number is a list of one. */
function normalizeList(value: unknown): unknown[] | undefined {
  if (Array.isArray(value)) return value;
  if (typeof value === 'string' || typeof value === 'boolean' || typeof value === 'number') return [value];
  return undefined;
}

/**
 * Starts the emulator on 127.0.0.1.
 *
 * @example
 *   const vault = await startVault({ mounts: [{ oidcDiscoveryUrl: issuer.url, boundIssuer: issuer.url, roles: [
 *     { name: 'ci', userClaim: 'user_email', boundAudiences: ['https://vault.example.com'], boundClaimsType: 'glob',
 *       boundClaims: { project_path: 'acme/payments', ref: 'main' }, tokenTtl: 900 } ] }] });
 */
export async function startVault(opts: VaultOptions): Promise<VaultEmulator> {
  const calls: VaultCall[] = [];
  const tokens: VaultToken[] = [];
  const faults: VaultFault[] = [];
  const keySets = new Map<string, Promise<JWTVerifyGetKey>>();
  let sealed = false;
  let clockOffsetMs = 0;
  const now = () => Date.now() + clockOffsetMs;
  // Set once the server listens (the mounts may depend on its URL).
  let mounts: readonly VaultJwtMount[] = [];
  let namespaces: string[] = [];

  /** OIDC discovery (its issuer must be the URL, as cap checks), then the JWKS; a failure is not cached. */
  const keysFor = (mount: VaultJwtMount): Promise<JWTVerifyGetKey> => {
    const id = mount.jwksUrl ?? mount.oidcDiscoveryUrl ?? '';
    let pending = keySets.get(id);
    if (!pending) {
      pending = (async () => {
        if (mount.jwksUrl) return createRemoteJWKSet(new URL(mount.jwksUrl), { cooldownDuration: 0, timeoutDuration: 5000 });
        const base = (mount.oidcDiscoveryUrl ?? '').replace(/\/$/, '');
        const res = await fetch(`${base}/.well-known/openid-configuration`, { headers: { 'user-agent': 'vault-emulator' }, signal: AbortSignal.timeout(5000) });
        if (res.status !== 200) throw new Error(`${res.status} ${res.statusText}: ${await res.text()}`);
        const meta = (await res.json()) as Record<string, unknown>;
        if (meta.issuer !== mount.oidcDiscoveryUrl) throw new Error(`issuer did not match the returned issuer, expected "${mount.oidcDiscoveryUrl}" got "${String(meta.issuer)}"`);
        if (typeof meta.jwks_uri !== 'string') throw new Error('discovery has no jwks_uri');
        return createRemoteJWKSet(new URL(meta.jwks_uri), { cooldownDuration: 0, timeoutDuration: 5000, headers: { 'user-agent': 'vault-emulator' } });
      })();
      keySets.set(id, pending);
      pending.catch(() => keySets.delete(id));
    }
    return pending;
  };

  const validate = async (mount: VaultJwtMount, role: VaultRole, jwt: string): Promise<Record<string, unknown>> => {
    let getKey: JWTVerifyGetKey;
    try {
      getKey = await keysFor(mount);
    } catch (err) {
      throw refused(`error configuring token validator: keyset configuration error: ${err instanceof Error ? err.message : String(err)}`);
    }
    let payload: JWTPayload;
    try {
      const verified = await compactVerify(jwt, getKey, { algorithms: SIGNING_ALGORITHMS });
      payload = JSON.parse(new TextDecoder().decode(verified.payload)) as JWTPayload;
    } catch (err) {
      const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
      const keyProblem = code === 'ERR_JWKS_TIMEOUT' || (code === 'ERR_JOSE_GENERIC' && /JSON Web Key Set/.test(String((err as Error).message))) || code === undefined;
      throw refused(
        keyProblem
          ? `error validating token: error verifying token signature: fetching keys oidc: get keys failed: ${err instanceof Error ? err.message : String(err)}`
          : 'error validating token: error verifying token signature: failed to verify id token signature',
      );
    }
    const claims = payload as Record<string, unknown>;
    if (mount.boundIssuer && claims.iss !== mount.boundIssuer) throw refused('error validating token: invalid issuer (iss) claim');
    if (role.boundSubject && claims.sub !== role.boundSubject) throw refused('error validating token: invalid subject (sub) claim');
    const auds = Array.isArray(claims.aud) ? claims.aud : typeof claims.aud === 'string' ? [claims.aud] : [];
    const bound = role.boundAudiences ?? [];
    if (bound.length > 0 && !auds.some((a) => bound.includes(String(a)))) {
      throw refused('error validating token: invalid audience (aud) claim: audience claim does not match any expected audience');
    }
    const seconds = now() / 1000;
    const { exp, nbf, iat } = payload;
    if (exp === undefined && nbf === undefined && iat === undefined) {
      throw refused('error validating token: no issued at (iat), not before (nbf), or expiration time (exp) claims in token');
    }
    if (nbf !== undefined && seconds + EXPIRY_LEEWAY_SECONDS < nbf) throw refused('error validating token: invalid not before (nbf) claim: token not yet valid');
    if (exp !== undefined && seconds - EXPIRY_LEEWAY_SECONDS > exp) throw refused('error validating token: invalid expiration time (exp) claim: token is expired');
    if (iat !== undefined && seconds + CLOCK_SKEW_SECONDS < iat) throw refused('error validating token: invalid issued at (iat) claim: token issued in the future');
    if (bound.length === 0 && auds.length > 0) throw refused('audience claim found in JWT but no audiences bound to the role');
    const user = claimAt(claims, role.userClaim);
    if (user === undefined || user === null) throw refused(`claim "${role.userClaim}" not found in token`);
    if (typeof user !== 'string') throw refused(`claim "${role.userClaim}" could not be converted to string`);
    for (const [claim, expected] of Object.entries(role.boundClaims ?? {})) {
      const actual = claimAt(claims, claim);
      if (actual === undefined || actual === null) throw refused(`error validating claims: claim "${claim}" is missing`);
      const actuals = normalizeList(actual);
      if (!actuals) throw refused(`error validating claims: received claim is not a string, bool, int or list: ${String(actual)}`);
      const glob = role.boundClaimsType === 'glob';
      const found = [expected].flat().some((e) => actuals.some((a) => (glob ? typeof a === 'string' && goGlob(e, a) : a === e)));
      if (!found) throw refused(`error validating claims: claim "${claim}" does not match any associated bound claim values`);
    }
    return claims;
  };

  const login = async (mount: VaultJwtMount, namespace: string, body: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const roleName = typeof body.role === 'string' ? body.role.toLowerCase() : '';
    if (!roleName) throw refused('missing role');
    const role = mount.roles.find((r) => r.name.toLowerCase() === roleName);
    if (!role) throw refused(`role "${roleName}" could not be found`);
    if ((role.roleType ?? 'jwt') === 'oidc') throw refused('role with oidc role_type is not allowed');
    const jwt = typeof body.jwt === 'string' ? body.jwt : '';
    if (!jwt) throw refused('missing token');
    const claims = await validate(mount, role, jwt);
    const period = role.tokenPeriod ?? 0;
    const explicitMaxTtl = role.tokenExplicitMaxTtl ?? 0;
    let ttl = period > 0 ? period : Math.min(role.tokenTtl || opts.defaultLeaseTtl || DEFAULT_TTL, role.tokenMaxTtl || opts.maxLeaseTtl || DEFAULT_TTL);
    if (explicitMaxTtl > 0) ttl = Math.min(ttl, explicitMaxTtl);
    const type = role.tokenType ?? 'service';
    const policies = [...new Set([...(role.tokenNoDefaultPolicy ? [] : ['default']), ...(role.tokenPolicies ?? [])])].sort();
    const issuedAt = now();
    const token: VaultToken = {
      clientToken: `${type === 'batch' ? 'hvb' : 'hvs'}.${alnum(90)}`,
      accessor: type === 'batch' ? '' : alnum(24),
      namespace,
      mount: trimSlashes(mount.path ?? 'jwt'),
      role: roleName,
      policies,
      ttl,
      explicitMaxTtl,
      period,
      renewable: type === 'service',
      type,
      issuedAt,
      expiresAt: issuedAt + ttl * 1000,
      claims,
      revoked: false,
    };
    tokens.push(token);
    return {
      request_id: randomUUID(),
      lease_id: '',
      renewable: false,
      lease_duration: 0,
      data: null,
      wrap_info: null,
      warnings: null,
      auth: {
        client_token: token.clientToken,
        accessor: token.accessor,
        policies,
        token_policies: policies,
        metadata: { role: roleName },
        lease_duration: ttl,
        renewable: token.renewable,
        entity_id: randomUUID(),
        token_type: type,
        orphan: true,
        mfa_requirement: null,
        num_uses: 0,
      },
    };
  };

  /** The caller's token, if it is live and of this namespace; otherwise Vault's 403. */
  const callerToken = (req: IncomingMessage, namespace: string): VaultToken => {
    const header = req.headers['x-vault-token'] ?? req.headers.authorization?.replace(/^Bearer /, '');
    const token = tokens.find((t) => t.clientToken === header);
    if (!token || token.revoked || token.expiresAt <= now() || token.namespace !== namespace) throw permissionDenied();
    return token;
  };

  const lookupSelf = (token: VaultToken): Record<string, unknown> => {
    // The default policy grants lookup-self; a token without it may not.
    if (!token.policies.includes('default')) throw permissionDenied();
    return {
      request_id: randomUUID(),
      lease_id: '',
      renewable: false,
      lease_duration: 0,
      data: {
        accessor: token.accessor,
        creation_time: Math.floor(token.issuedAt / 1000),
        creation_ttl: token.ttl,
        display_name: `${token.mount}-${String(token.claims.user_email ?? '')}`,
        entity_id: randomUUID(),
        expire_time: new Date(token.expiresAt).toISOString(),
        explicit_max_ttl: token.explicitMaxTtl,
        id: token.clientToken,
        issue_time: new Date(token.issuedAt).toISOString(),
        meta: { role: token.role },
        num_uses: 0,
        orphan: true,
        path: `auth/${token.mount}/login`,
        period: token.period || undefined,
        policies: token.policies,
        renewable: token.renewable,
        ttl: Math.max(0, Math.round((token.expiresAt - now()) / 1000)),
        type: token.type,
      },
      wrap_info: null,
      warnings: null,
      auth: null,
    };
  };

  const route = async (req: IncomingMessage, namespace: string, path: string, body: string): Promise<{ status: number; json?: unknown }> => {
    const method = req.method ?? 'GET';
    const loginMatch = /^auth\/(.+)\/login$/.exec(path);
    if (loginMatch && (method === 'POST' || method === 'PUT')) {
      const mount = mounts.find((m) => trimSlashes(m.path ?? 'jwt') === loginMatch[1] && trimSlashes(m.namespace ?? '') === namespace);
      if (!mount) throw permissionDenied();
      let parsed: unknown;
      try {
        parsed = body.trim() === '' ? {} : JSON.parse(body);
      } catch (err) {
        throw refused(`failed to parse JSON input: ${err instanceof Error ? err.message : String(err)}`);
      }
      return { status: 200, json: await login(mount, namespace, (parsed ?? {}) as Record<string, unknown>) };
    }
    if (path === 'auth/token/lookup-self' && method === 'GET') return { status: 200, json: lookupSelf(callerToken(req, namespace)) };
    if (path === 'auth/token/revoke-self' && (method === 'POST' || method === 'PUT')) {
      const token = callerToken(req, namespace);
      if (token.type === 'batch') throw refused('batch tokens cannot be revoked');
      if (!token.policies.includes('default')) throw permissionDenied();
      token.revoked = true;
      return { status: 204 };
    }
    // Vault checks a token before it routes; without one, every other path is 403.
    throw permissionDenied();
  };

  const server = await listenLoopback(async (req: IncomingMessage, res: ServerResponse, body: string) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const header = trimSlashes(String(req.headers['x-vault-namespace'] ?? ''));
    let path = trimSlashes(url.pathname.replace(/^\/v1\//, ''));
    let namespace = header;
    // A namespace may also lead the path, under the header's.
    for (const candidate of namespaces) {
      const relative = header && candidate.startsWith(`${header}/`) ? candidate.slice(header.length + 1) : header ? undefined : candidate;
      if (relative && path.startsWith(`${relative}/`)) {
        namespace = candidate;
        path = path.slice(relative.length + 1);
        break;
      }
    }
    const call: { -readonly [K in keyof VaultCall]: VaultCall[K] } = { method: req.method ?? 'GET', path, namespace, status: 0, at: Date.now() };
    calls.push(call);
    const send = (status: number, json?: unknown, error?: string) => {
      call.status = status;
      if (error) call.error = error;
      if (res.destroyed) return;
      if (json === undefined) {
        res.writeHead(status, { 'cache-control': 'no-store' });
        res.end();
      } else {
        sendJson(res, status, json, { 'cache-control': 'no-store' });
      }
    };
    const abandoned = clientGaveUp(res);
    const fault = faults.shift();
    if (fault?.kind === 'reset') {
      call.error = 'reset';
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'delay') {
      await sleep(fault.ms);
      // The client gave up meanwhile: nothing is issued for a request nobody reads.
      if (abandoned()) {
        call.error = 'abandoned';
        return;
      }
    }
    if (fault?.kind === 'status') return send(fault.status, { errors: [FAULT_MESSAGES[fault.status]] }, FAULT_MESSAGES[fault.status]);
    if (!url.pathname.startsWith('/v1/')) return send(404, { errors: [] }, 'not found');
    if (sealed) return send(503, { errors: ['Vault is sealed'] }, 'Vault is sealed');
    try {
      const answer = await route(req, namespace, path, body);
      send(answer.status, answer.json);
    } catch (err) {
      const error = err instanceof VaultError ? err : new VaultError(500, err instanceof Error ? err.message : String(err));
      send(error.status, { errors: [error.message] }, error.message);
    }
  }, opts.port);
  mounts = typeof opts.mounts === 'function' ? opts.mounts(server.url) : opts.mounts;
  namespaces = [...new Set(mounts.map((m) => trimSlashes(m.namespace ?? '')))].filter(Boolean).sort((a, b) => b.length - a.length);

  return {
    url: server.url,
    calls,
    tokens,
    liveTokens: () => tokens.filter((t) => !t.revoked && t.expiresAt > now()),
    seal: () => {
      sealed = true;
    },
    unseal: () => {
      sealed = false;
    },
    injectFaults: (...list) => {
      faults.push(...list);
    },
    clearFaults: () => {
      faults.length = 0;
    },
    advanceClock: (seconds) => {
      clockOffsetMs += seconds * 1000;
    },
    close: () => server.close(),
  };
}
