import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { compactVerify, createRemoteJWKSet, decodeJwt, decodeProtectedHeader, type CryptoKey, exportJWK, generateKeyPair, type JWTPayload, type JWTVerifyGetKey, SignJWT } from 'jose';
import { clientGaveUp, listenLoopback, sleep } from './server.ts';

/**
 * A Microsoft Entra ID token endpoint on loopback for the client credentials
 * grant with a federated credential (workload identity federation):
 * `POST /{tenant}/oauth2/v2.0/token`, form-encoded, answering JSON as Entra
 * does. It verifies the client assertion the way Entra does: an app
 * registration (or user-assigned managed identity) of the tenant, a federated
 * identity credential whose issuer equals the token's `iss`, the issuer's
 * discovery document and JWKS fetched over HTTP, RS256, the time window, then
 * the credential's subject (exact and case-sensitive, or a flexible
 * `claimsMatchingExpression`) and its one audience.
 *
 * What it follows, from Microsoft's documentation (MicrosoftDocs/entra-docs):
 * - identity-platform/v2-oauth2-client-creds-grant-flow.md, "Third case":
 *   the request parameters, the success answer {token_type, expires_in,
 *   access_token} and the 400 error shape {error, error_description,
 *   error_codes, timestamp, trace_id, correlation_id}.
 * - identity-platform/reference-error-codes.md: the `error` values, the
 *   AADSTS codes and their meanings, the `\r\nTrace ID: ...` tail of
 *   `error_description` and `error_uri`.
 * - workload-id/includes/federated-credential-configuration-considerations.md:
 *   at most 20 credentials per app, issuer + subject unique, one audience,
 *   names of 3-120 characters (alphanumeric first, then alphanumeric, `-`,
 *   `_`), issuer/subject/description at most 600 characters, no wildcards in
 *   a plain credential. The emulator refuses such a configuration at start,
 *   as Graph refuses to create it.
 * - workload-id/workload-identities-flexible-federated-identity-credentials.md:
 *   `claimsMatchingExpression {value, languageVersion: 1}` instead of
 *   `subject`; `claims['sub'] matches|eq '...'` joined by `and`; `*` any run,
 *   `?` one character; GitLab issuers https://gitlab.com and
 *   https://gitlab.<name>.com|ca (here also loopback issuers, for tests).
 * - Error texts as Entra sends them, seen in public issue threads:
 *   AADSTS700211/700212/700213 (no federated credential for the assertion's
 *   issuer, audience, subject; invalid_client, 401), AADSTS700016 (no such
 *   application; unauthorized_client, 400), AADSTS90002 (no such tenant),
 *   AADSTS700024 (assertion outside its time range), AADSTS50166 (Entra could
 *   not reach the issuer's OIDC endpoint; invalid_request, 400).
 *
 * The access token is a JWT shaped like Entra's v1 app-only token (iss
 * https://sts.windows.net/<tenant>/, aud, appid, oid, tid, idtyp app, uti),
 * signed with the emulator's own key: nothing but its holder reads it.
 */
export interface EntraEmulator {
  readonly url: string;
  /** Every token request, recorded when it arrives and completed when answered. */
  readonly calls: EntraCall[];
  readonly issued: EntraIssuedToken[];
  /** Each fault is consumed by exactly one request, in order. */
  injectFaults(...faults: EntraFault[]): void;
  /** Drops the faults no request consumed, so that they cannot reach a later test. */
  clearFaults(): void;
  /** Moves the emulator's clock (assertion time checks and token expiry). */
  advanceClock(seconds: number): void;
  close(): Promise<void>;
}

/** A federated identity credential as Microsoft Graph stores it. */
export interface FederatedCredential {
  readonly name: string;
  readonly issuer: string;
  /** Exact, case-sensitive `sub`; absent or null when `claimsMatchingExpression` is set. */
  readonly subject?: string | null;
  readonly claimsMatchingExpression?: { readonly value: string; readonly languageVersion: number };
  /** Exactly one, usually api://AzureADTokenExchange. */
  readonly audiences: readonly string[];
  readonly description?: string;
}

export interface EntraApp {
  /** The application (client) ID. */
  readonly clientId: string;
  readonly displayName?: string;
  /** The service principal's object ID (the token's `oid`); random unless given. */
  readonly objectId?: string;
  /** A disabled service principal cannot sign in (AADSTS7000112). */
  readonly disabled?: boolean;
  readonly federatedCredentials: readonly FederatedCredential[];
}

export interface EntraTenant {
  readonly tenantId: string;
  readonly apps: readonly EntraApp[];
  /** Resources (application ID URIs) the tenant knows; default: ARM, Graph, Key Vault, Storage. */
  readonly resources?: readonly string[];
}

export interface EntraOptions {
  readonly tenants: readonly EntraTenant[];
  readonly port?: number;
  /** `expires_in` of issued tokens; default 3599, the documentation's example (Entra picks 60-90 minutes). */
  readonly tokenLifetimeSeconds?: number;
}

export interface EntraCall {
  readonly tenant: string;
  readonly params: Readonly<Record<string, string>>;
  /** 0 while pending, or for a reset or an abandoned request. */
  readonly status: number;
  /** `AADSTS<n>` of an error answer, 'pending', 'reset' or 'abandoned'. */
  readonly errorCode?: string;
  readonly correlationId: string;
  readonly at: number;
}

export interface EntraIssuedToken {
  readonly accessToken: string;
  readonly tenantId: string;
  readonly clientId: string;
  /** The resource of the scope, without `/.default`. */
  readonly resource: string;
  readonly expiresAt: Date;
  /** The assertion's `sub`. */
  readonly subject: string;
  /** The federated credential that matched. */
  readonly credential: string;
  readonly correlationId: string;
}

export type EntraFault =
  | { readonly kind: 'throttle' }
  | { readonly kind: 'status'; readonly status: 500 | 503 }
  | { readonly kind: 'external-oidc' }
  | { readonly kind: 'reset' }
  | { readonly kind: 'delay'; readonly ms: number }
  /** Any Entra error answer, e.g. one whose description echoes the request. */
  | { readonly kind: 'error'; readonly status: number; readonly error: string; readonly code: number; readonly message: string };

const DEFAULT_RESOURCES = ['https://management.azure.com', 'https://graph.microsoft.com', 'https://vault.azure.net', 'https://storage.azure.com'];
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const FIC_DOCS = 'https://learn.microsoft.com/entra/workload-id/workload-identity-federation';
const MAX_CREDENTIALS = 20;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$/;
/** jose's verdicts on a token (as opposed to failures to fetch the keys). */
const SIGNATURE_PROBLEMS = ['ERR_JWS_SIGNATURE_VERIFICATION_FAILED', 'ERR_JWKS_NO_MATCHING_KEY', 'ERR_JWKS_MULTIPLE_MATCHING_KEYS', 'ERR_JOSE_ALG_NOT_ALLOWED', 'ERR_JWS_INVALID', 'ERR_JOSE_NOT_SUPPORTED'];
/** Entra tolerates this much clock skew on an assertion's nbf. */
const SKEW_SECONDS = 300;

class EntraError extends Error {
  readonly status: number;
  readonly error: string;
  readonly code: number;
  constructor(status: number, error: string, code: number, message: string) {
    super(message);
    this.status = status;
    this.error = error;
    this.code = code;
  }
}

const noMatch = (what: 'issuer' | 'subject' | 'audience', value: string, code: number) =>
  new EntraError(
    401,
    'invalid_client',
    code,
    `No matching federated identity record found for presented assertion ${what} '${value}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. ${FIC_DOCS}`,
  );
const externalOidc = () => new EntraError(400, 'invalid_request', 50166, 'Request to External OIDC endpoint failed.');
const missing = (name: string) => new EntraError(400, 'invalid_request', 900144, `The request body must contain the following parameter: '${name}'.`);

/** Entra's "2016-01-09 02:02:12Z". */
function entraTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** Flexible credential expressions: `claims['sub'] matches|eq '<comparand>'`, joined by ` and `. */
interface Clause {
  readonly claim: string;
  readonly operator: 'matches' | 'eq';
  readonly comparand: string;
}

const CLAUSE = /^claims\['([A-Za-z0-9_]+)'\] (matches|eq) '([^']*)'$/;

/** Parses an expression, or says why Graph would refuse it (GitLab tokens: `sub` only). */
export function parseClaimsExpression(value: string): Clause[] | string {
  const clauses: Clause[] = [];
  for (const part of value.split(' and ')) {
    const m = CLAUSE.exec(part);
    if (!m) return `cannot parse ${JSON.stringify(part)}`;
    if (m[1] !== 'sub') return `claim ${m[1]} is not supported for GitLab issuers (only sub)`;
    clauses.push({ claim: m[1], operator: m[2] as Clause['operator'], comparand: m[3]! });
  }
  return clauses;
}

/** `*` any run of characters, `?` exactly one, anything else literal; anchored. Linear-time state sets. */
export function wildcardMatches(pattern: string, value: string): boolean {
  const p = Array.from(pattern);
  let states = new Set<number>([0]);
  const close = (set: Set<number>) => {
    for (const k of [...set].sort((a, b) => a - b)) if (p[k] === '*') set.add(k + 1);
    return set;
  };
  close(states);
  for (const c of value) {
    const next = new Set<number>();
    for (const k of states) {
      if (k >= p.length) continue;
      if (p[k] === '*') next.add(k);
      else if (p[k] === '?' || p[k] === c) next.add(k + 1);
    }
    states = close(next);
    if (states.size === 0) return false;
  }
  return states.has(p.length);
}

function clauseHolds(clause: Clause, claims: JWTPayload): boolean {
  const value = claims[clause.claim];
  if (typeof value !== 'string') return false;
  return clause.operator === 'eq' ? value === clause.comparand : wildcardMatches(clause.comparand, value);
}

/** Issuers Entra accepts flexible credentials for (GitLab tab of the documentation), and loopback for tests. */
function flexibleIssuerAllowed(issuer: string): boolean {
  return issuer === 'https://gitlab.com' || /^https:\/\/gitlab\.[a-z0-9-]+\.(com|ca)$/.test(issuer) || /^http:\/\/(127\.0\.0\.1|localhost)(:[0-9]+)?$/.test(issuer);
}

/** Graph's rules for creating credentials; a configuration Graph would refuse is a bug in the test. */
function checkConfiguration(tenants: readonly EntraTenant[]): void {
  for (const tenant of tenants) {
    for (const app of tenant.apps) {
      const where = `tenant ${tenant.tenantId} app ${app.clientId}`;
      if (app.federatedCredentials.length > MAX_CREDENTIALS) throw new Error(`${where}: more than ${MAX_CREDENTIALS} federated identity credentials`);
      const seen = new Set<string>();
      for (const c of app.federatedCredentials) {
        if (!NAME.test(c.name)) throw new Error(`${where}: Federated Identity Credential name '${c.name}' is invalid.`);
        if (c.audiences.length !== 1) throw new Error(`${where}: Federated identity credentials must have exactly one audience.`);
        if ((c.subject == null) === (c.claimsMatchingExpression === undefined)) throw new Error(`${where}: ${c.name} needs exactly one of subject and claimsMatchingExpression`);
        for (const value of [c.issuer, c.subject ?? '', c.description ?? '', c.audiences[0]!]) if (value.length > 600) throw new Error(`${where}: ${c.name} has a value over 600 characters`);
        if (c.subject != null && /[*?]/.test(c.subject)) throw new Error(`${where}: ${c.name}: wildcards are not supported in subject`);
        if (c.claimsMatchingExpression) {
          if (c.claimsMatchingExpression.languageVersion !== 1) throw new Error(`${where}: ${c.name}: languageVersion must be 1`);
          if (!flexibleIssuerAllowed(c.issuer)) throw new Error(`${where}: ${c.name}: flexible credentials are not available for issuer ${c.issuer}`);
          const parsed = parseClaimsExpression(c.claimsMatchingExpression.value);
          if (typeof parsed === 'string') throw new Error(`${where}: ${c.name}: ${parsed}`);
        }
        const key = `${c.issuer}\n${c.subject ?? c.claimsMatchingExpression?.value}`;
        if (seen.has(key)) throw new Error(`${where}: Issuer and subject combination already exists for this application.`);
        seen.add(key);
      }
    }
  }
}

/**
 * Starts the emulator on 127.0.0.1.
 *
 * @example
 *   const entra = await startEntra({ tenants: [{ tenantId: TENANT, apps: [{ clientId: CLIENT, federatedCredentials: [
 *     { name: 'main', issuer: issuer.url, subject: 'project_path:acme/payments:ref_type:branch:ref:main', audiences: ['api://AzureADTokenExchange'] },
 *   ] }] }] });
 *   // POST `${entra.url}/${TENANT}/oauth2/v2.0/token` with client_id, scope, grant_type, client_assertion_type, client_assertion
 */
export async function startEntra(opts: EntraOptions): Promise<EntraEmulator> {
  checkConfiguration(opts.tenants);
  const calls: EntraCall[] = [];
  const issued: EntraIssuedToken[] = [];
  const faults: EntraFault[] = [];
  const issuerKeys = new Map<string, Promise<JWTVerifyGetKey>>();
  const objectIds = new Map<string, string>();
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const signingKid = createHash('sha256').update(JSON.stringify(await exportJWK(publicKey))).digest('base64url').slice(0, 27);
  let clockOffsetMs = 0;
  const now = () => Date.now() + clockOffsetMs;

  /** Discovery, then a JWKS that jose caches; a failed discovery is not cached, so a later call tries again. */
  const keysFor = (issuerUrl: string): Promise<JWTVerifyGetKey> => {
    let pending = issuerKeys.get(issuerUrl);
    if (!pending) {
      pending = (async () => {
        const res = await fetch(`${issuerUrl}/.well-known/openid-configuration`, { headers: { 'user-agent': 'entra-emulator' }, signal: AbortSignal.timeout(5000) });
        if (res.status !== 200) throw new Error(`discovery answered ${res.status}`);
        const meta: unknown = await res.json();
        const jwksUri = typeof meta === 'object' && meta !== null ? (meta as Record<string, unknown>).jwks_uri : undefined;
        if (typeof jwksUri !== 'string') throw new Error('discovery has no jwks_uri');
        return createRemoteJWKSet(new URL(jwksUri), { cooldownDuration: 0, timeoutDuration: 5000, headers: { 'user-agent': 'entra-emulator' } });
      })();
      issuerKeys.set(issuerUrl, pending);
      pending.catch(() => issuerKeys.delete(issuerUrl));
    }
    return pending;
  };

  const objectIdOf = (app: EntraApp): string => {
    let id = app.objectId ?? objectIds.get(app.clientId);
    if (!id) {
      id = randomUUID();
      objectIds.set(app.clientId, id);
    }
    return id;
  };

  /** The assertion checks, in the order Entra reports them: issuer, keys, signature, time, subject, audience. */
  const matchAssertion = async (app: EntraApp, assertion: string): Promise<{ payload: JWTPayload; credential: FederatedCredential }> => {
    let unverified: JWTPayload;
    try {
      decodeProtectedHeader(assertion);
      unverified = decodeJwt(assertion);
    } catch {
      throw new EntraError(400, 'invalid_request', 50027, 'JWT token is invalid or malformed.');
    }
    const iss = typeof unverified.iss === 'string' ? unverified.iss : '';
    const byIssuer = app.federatedCredentials.filter((c) => c.issuer === iss);
    if (byIssuer.length === 0) throw noMatch('issuer', iss, 700211);
    let getKey: JWTVerifyGetKey;
    try {
      getKey = await keysFor(iss);
    } catch {
      throw externalOidc();
    }
    let payload: JWTPayload;
    try {
      const verified = await compactVerify(assertion, getKey, { algorithms: ['RS256'] });
      payload = JSON.parse(new TextDecoder().decode(verified.payload)) as JWTPayload;
    } catch (err: unknown) {
      const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
      // Whatever is not a verdict on the token (the keys could not be fetched) is Entra failing to reach the issuer.
      if (typeof code !== 'string' || !SIGNATURE_PROBLEMS.includes(code)) throw externalOidc();
      const reason = code === 'ERR_JWKS_NO_MATCHING_KEY' ? 'The key was not found.' : 'The provided signature value did not match the expected signature value.';
      throw new EntraError(401, 'invalid_client', 700027, `Client assertion contains an invalid signature. [Reason - ${reason}]`);
    }
    const nowSeconds = Math.floor(now() / 1000);
    const exp = typeof payload.exp === 'number' ? payload.exp : 0;
    const nbf = typeof payload.nbf === 'number' ? payload.nbf : 0;
    if (exp <= nowSeconds || nbf > nowSeconds + SKEW_SECONDS) {
      throw new EntraError(
        401,
        'invalid_client',
        700024,
        `Client assertion is not within its valid time range. Current time: ${new Date(nowSeconds * 1000).toISOString()}, assertion valid from ${new Date(nbf * 1000).toISOString()}, expiry time of assertion ${new Date(exp * 1000).toISOString()}. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .`,
      );
    }
    const sub = typeof payload.sub === 'string' ? payload.sub : '';
    const bySubject = byIssuer.filter((c) =>
      c.subject != null ? c.subject === sub : (parseClaimsExpression(c.claimsMatchingExpression!.value) as Clause[]).every((clause) => clauseHolds(clause, payload)),
    );
    if (bySubject.length === 0) throw noMatch('subject', sub, 700213);
    const auds = Array.isArray(payload.aud) ? payload.aud : typeof payload.aud === 'string' ? [payload.aud] : [];
    const credential = bySubject.find((c) => auds.includes(c.audiences[0]!));
    if (!credential) throw noMatch('audience', auds.join(','), 700212);
    return { payload, credential };
  };

  const accessTokenFor = async (tenantId: string, app: EntraApp, resource: string, issuedAt: number, lifetime: number): Promise<string> => {
    const oid = objectIdOf(app);
    const sts = `https://sts.windows.net/${tenantId}/`;
    return new SignJWT({
      aud: resource,
      iss: sts,
      idp: sts,
      appid: app.clientId,
      appidacr: '2',
      idtyp: 'app',
      oid,
      sub: oid,
      tid: tenantId,
      uti: randomUUID().replace(/-/g, '').slice(0, 22),
      ver: '1.0',
      rh: `0.${Buffer.from(randomUUID()).toString('base64url')}.`,
    })
      .setProtectedHeader({ typ: 'JWT', alg: 'RS256', kid: signingKid, x5t: signingKid })
      .setIssuedAt(issuedAt)
      .setNotBefore(issuedAt)
      .setExpirationTime(issuedAt + lifetime)
      .sign(privateKey as CryptoKey);
  };

  const token = async (tenantId: string, params: Record<string, string>, correlationId: string): Promise<{ body: Record<string, unknown>; record: EntraIssuedToken }> => {
    const tenant = opts.tenants.find((t) => t.tenantId.toLowerCase() === tenantId.toLowerCase());
    if (!tenant) {
      throw new EntraError(
        400,
        'invalid_request',
        90002,
        `Tenant '${tenantId}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
      );
    }
    const grantType = params.grant_type;
    if (grantType === undefined) throw missing('grant_type');
    if (grantType !== 'client_credentials') throw new EntraError(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grantType}'.`);
    const clientId = params.client_id;
    if (clientId === undefined) throw missing('client_id');
    const scope = params.scope;
    if (scope === undefined) throw missing('scope');
    const scopes = scope.split(' ').filter(Boolean);
    const resources = new Set(scopes.map((s) => s.replace(/\/\.default$/, '')));
    if (resources.size > 1) throw new EntraError(400, 'invalid_scope', 700022, `The provided value for the input parameter scope is not valid because it contains more than one resource. Scope ${scope} is not valid.`);
    if (scopes.length !== 1 || !scopes[0]!.endsWith('/.default')) {
      throw new EntraError(
        400,
        'invalid_scope',
        1002012,
        `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
      );
    }
    const resource = [...resources][0]!;
    const app = tenant.apps.find((a) => a.clientId.toLowerCase() === clientId.toLowerCase());
    if (!app) {
      throw new EntraError(
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      );
    }
    const assertion = params.client_assertion;
    if (assertion === undefined || params.client_assertion_type !== ASSERTION_TYPE) {
      throw new EntraError(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    }
    const { payload, credential } = await matchAssertion(app, assertion);
    if (!(tenant.resources ?? DEFAULT_RESOURCES).includes(resource.replace(/\/$/, ''))) {
      throw new EntraError(
        400,
        'invalid_resource',
        500011,
        `The resource principal named ${resource} was not found in the tenant named ${tenantId}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
      );
    }
    if (app.disabled) throw new EntraError(400, 'unauthorized_client', 7000112, `Application '${app.clientId}'(${app.displayName ?? 'app'}) is disabled.`);
    const lifetime = opts.tokenLifetimeSeconds ?? 3599;
    const issuedAt = Math.floor(now() / 1000);
    const accessToken = await accessTokenFor(tenant.tenantId, app, resource, issuedAt, lifetime);
    const record: EntraIssuedToken = {
      accessToken,
      tenantId: tenant.tenantId,
      clientId: app.clientId,
      resource,
      expiresAt: new Date((issuedAt + lifetime) * 1000),
      subject: String(payload.sub),
      credential: credential.name,
      correlationId,
    };
    return { body: { token_type: 'Bearer', expires_in: lifetime, ext_expires_in: lifetime, access_token: accessToken }, record };
  };

  const send = (res: ServerResponse, status: number, value: unknown, headers: Record<string, string>) => {
    const body = JSON.stringify(value);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      'cache-control': 'no-store, no-cache',
      pragma: 'no-cache',
      ...headers,
    });
    res.end(body);
  };

  const errorBody = (err: EntraError, traceId: string, correlationId: string) => {
    const at = entraTime(now());
    return {
      error: err.error,
      error_description: `AADSTS${err.code}: ${err.message}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${at}`,
      error_codes: [err.code],
      timestamp: at,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${err.code}`,
    };
  };

  const server = await listenLoopback(async (req: IncomingMessage, res: ServerResponse, body: string) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const match = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path);
    const traceId = randomUUID();
    const requested = req.headers['client-request-id'];
    const correlationId = typeof requested === 'string' && /^[0-9a-f-]{36}$/i.test(requested) ? requested : randomUUID();
    const headers: Record<string, string> = { 'x-ms-request-id': traceId, ...(typeof requested === 'string' && req.headers['return-client-request-id'] === 'true' ? { 'client-request-id': requested } : {}) };
    if (!match) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('Not Found');
      return;
    }
    const tenant = decodeURIComponent(match[1]!);
    const params: Record<string, string> = {};
    const form = (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
    if (form) for (const [key, value] of new URLSearchParams(body)) params[key] = value;
    // Recorded when it arrives, completed when answered: an answer the client abandoned must not land in a later test's counts.
    const call: { -readonly [K in keyof EntraCall]: EntraCall[K] } = { tenant, params, status: 0, errorCode: 'pending', correlationId, at: Date.now() };
    calls.push(call);
    const record = (status: number, errorCode?: string) => {
      call.status = status;
      if (errorCode) call.errorCode = errorCode;
      else delete call.errorCode;
    };
    const abandoned = clientGaveUp(res);
    const fault = faults.shift();
    if (fault?.kind === 'reset') {
      record(0, 'reset');
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'delay') {
      await sleep(fault.ms);
      if (abandoned()) return record(0, 'abandoned');
    }
    try {
      if (fault?.kind === 'throttle') {
        record(429, 'AADSTS90055');
        return send(res, 429, errorBody(new EntraError(429, 'temporarily_unavailable', 90055, 'There are too many incoming requests. Please try again later.'), traceId, correlationId), { ...headers, 'retry-after': '1' });
      }
      if (fault?.kind === 'status') {
        const err = fault.status === 503 ? new EntraError(503, 'temporarily_unavailable', 90033, 'A transient error has occurred. Please try again.') : new EntraError(500, 'server_error', 50000, 'There was an error issuing a token or an issue with our sign-in service.');
        throw err;
      }
      if (fault?.kind === 'external-oidc') throw externalOidc();
      if (fault?.kind === 'error') throw new EntraError(fault.status, fault.error, fault.code, fault.message);
      if (req.method !== 'POST') throw new EntraError(400, 'invalid_request', 900561, `The endpoint only accepts POST, OPTIONS requests. Received a ${req.method} request.`);
      if (!form) throw missing('grant_type');
      const { body: answer, record: grant } = await token(tenant, params, correlationId);
      record(200);
      if (res.destroyed) return;
      issued.push(grant);
      send(res, 200, answer, headers);
    } catch (err: unknown) {
      // An emulator bug surfaces as a 500 with its message, rather than a hang.
      const e = err instanceof EntraError ? err : new EntraError(500, 'server_error', 50000, `emulator error: ${err instanceof Error ? err.message : String(err)}`);
      record(e.status, `AADSTS${e.code}`);
      if (!res.destroyed) send(res, e.status, errorBody(e, traceId, correlationId), headers);
    }
  }, opts.port);

  return {
    url: server.url,
    calls,
    issued,
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
