import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { compactVerify, createRemoteJWKSet, decodeJwt, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { type CelContext, compileCel } from './cel.ts';
import { clientGaveUp, listenLoopback, sendJson, sleep } from './server.ts';

/**
 * Google's Security Token Service and IAM Service Account Credentials on
 * loopback, each on its own port as they are separate hosts, for gcp-wif.
 *
 * What it follows (checked against Google's published material):
 * - STS `POST /v1/token` (discovery document sts:v1): the request as JSON
 *   (camelCase, as the REST reference and google-github-actions/auth send it;
 *   proto JSON also takes the snake_case names) or as a form (snake_case, as
 *   google-auth-library sends it); grantType token-exchange, subjectTokenType
 *   jwt or id_token, requestedTokenType access_token, audience
 *   `//iam.googleapis.com/<provider>`, scope required for external credentials.
 *   Answer `{access_token, issued_token_type, token_type: "Bearer", expires_in}`.
 * - STS refusals OAuth-style with HTTP 400, texts as Google returns them:
 *   invalid_request `Invalid value for "audience". This value should be the
 *   full resource name of the Identity Provider...`, invalid_target `The
 *   target service indicated by the "audience" parameters is invalid...`,
 *   invalid_grant `The audience in ID Token [...] does not match the expected
 *   audience.`, `ID Token issued at N is stale to sign-in.`, `Error connecting
 *   to the given credential's issuer.`, unauthorized_client `The given
 *   credential is rejected by the attribute condition.` (quoted in
 *   google-github-actions/auth issues #60, #161, #202 and in many user reports).
 * - Providers: an empty allowedAudiences admits the provider's full name with
 *   or without `https:` (WorkloadIdentityPoolProvider.Oidc.allowed_audiences);
 *   attributeMapping with google.subject at most 127 bytes; attributeCondition
 *   in CEL (./cel.ts reads the subset oam-grant prints) or a test predicate.
 * - IAM Credentials `POST /v1/projects/-/serviceAccounts/<email>:generateAccessToken`
 *   (discovery document iamcredentials:v1): Bearer a federated token, body
 *   `{scope: [...], lifetime: "<n>s"}` (default and maximum 3600 s without the
 *   lifetime-extension org policy), answer `{accessToken, expireTime}`; the
 *   `-` wildcard is required in place of the project. A caller without
 *   roles/iam.workloadIdentityUser through a matching principal or principalSet
 *   gets 403 PERMISSION_DENIED `Permission 'iam.serviceAccounts.getAccessToken'
 *   denied on resource (or it may not exist).`, the same as for an unknown
 *   account. Errors as Google APIs answer: `{error: {code, message, status, details}}`.
 */
export interface GoogleEmulator {
  readonly stsUrl: string;
  readonly iamCredentialsUrl: string;
  /** Every request to either service, recorded when it arrives. */
  readonly calls: GoogleCall[];
  readonly federatedTokens: FederatedToken[];
  readonly accessTokens: ServiceAccountToken[];
  /** Each fault is consumed by exactly one request to its service (either, when `service` is unset), in order. */
  injectFaults(...faults: GoogleFault[]): void;
  /** Moves the emulator's clock (ID token expiry and issued tokens). */
  advanceClock(seconds: number): void;
  close(): Promise<void>;
}

export interface GoogleProvider {
  /** projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>. */
  readonly name: string;
  readonly issuerUri: string;
  /** Empty or absent: the provider's own name, `//iam.googleapis.com/...` or `https://iam.googleapis.com/...`. */
  readonly allowedAudiences?: readonly string[];
  readonly attributeMapping: Readonly<Record<string, string>>;
  /** CEL as Google takes it, or a predicate over the token's claims. Absent: every valid token. */
  readonly attributeCondition?: string | ((assertion: Readonly<Record<string, unknown>>) => boolean);
  readonly disabled?: boolean;
}

export interface GoogleServiceAccount {
  readonly email: string;
  /** Members holding roles/iam.workloadIdentityUser on it: principal://.../subject/S, principalSet://.../attribute.A/V, principalSet://.../*. */
  readonly workloadIdentityUsers: readonly string[];
}

export interface GoogleOptions {
  readonly providers: readonly GoogleProvider[];
  readonly serviceAccounts?: readonly GoogleServiceAccount[];
  /** expires_in of federated tokens; default 3600. */
  readonly federatedLifetimeSeconds?: number;
  readonly stsPort?: number;
  readonly iamCredentialsPort?: number;
}

export interface GoogleCall {
  readonly service: 'sts' | 'iamcredentials';
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The parsed request body, as sent. */
  readonly body: Readonly<Record<string, unknown>>;
  readonly status: number;
  /** STS `error` or the API error's `status`; 'pending' until answered. */
  readonly error?: string;
  readonly at: number;
}

export interface FederatedToken {
  readonly token: string;
  readonly provider: string;
  /** principal://iam.googleapis.com/<pool>/subject/<google.subject>. */
  readonly principal: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly scopes: readonly string[];
  readonly expiresAt: Date;
}

export interface ServiceAccountToken {
  readonly token: string;
  readonly serviceAccount: string;
  readonly scopes: readonly string[];
  readonly expiresAt: Date;
  /** The federated principal that asked for it. */
  readonly principal: string;
}

export type GoogleFault =
  | { readonly kind: 'status'; readonly status: 429 | 500 | 503; readonly service?: 'sts' | 'iamcredentials' }
  | { readonly kind: 'issuer-unreachable' }
  | { readonly kind: 'reset'; readonly service?: 'sts' | 'iamcredentials' }
  | { readonly kind: 'delay'; readonly ms: number; readonly service?: 'sts' | 'iamcredentials' };

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const SUBJECT_TYPES = new Set(['urn:ietf:params:oauth:token-type:jwt', 'urn:ietf:params:oauth:token-type:id_token']);
const PROVIDER_AUDIENCE = /^\/\/iam\.googleapis\.com\/(projects\/[0-9]+\/locations\/global\/workloadIdentityPools\/[a-z0-9-]{4,32}\/providers\/[a-z0-9-]{4,32})$/;
const GENERATE = /^\/v1\/projects\/([^/]+)\/serviceAccounts\/([^/:]+):generateAccessToken$/;
const MAX_SUBJECT_BYTES = 127;
const MAX_LIFETIME_SECONDS = 3600;
/** Google rejects ID tokens whose exp is more than 48 hours after iat. */
const MAX_TOKEN_SPAN_SECONDS = 48 * 3600;

/** An STS refusal, OAuth style. */
class OAuthError extends Error {
  readonly error: string;
  readonly status: number;
  constructor(error: string, description: string, status = 400) {
    super(description);
    this.error = error;
    this.status = status;
  }
}

/** A Google API error, `{error: {code, message, status}}`. */
class ApiError extends Error {
  readonly code: number;
  readonly status: string;
  readonly details: unknown[];
  constructor(code: number, status: string, message: string, details: unknown[] = []) {
    super(message);
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

const FAULT_ERRORS: Record<429 | 500 | 503, () => ApiError> = {
  429: () => new ApiError(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded for quota metric. Try again later.'),
  500: () => new ApiError(500, 'INTERNAL', 'Internal error encountered.'),
  503: () => new ApiError(503, 'UNAVAILABLE', 'The service is currently unavailable.'),
};

const permissionDenied = () =>
  new ApiError(403, 'PERMISSION_DENIED', "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).", [
    {
      '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
      reason: 'IAM_PERMISSION_DENIED',
      domain: 'iam.googleapis.com',
      metadata: { permission: 'iam.serviceAccounts.getAccessToken' },
    },
  ]);

function googleToken(prefix: string): string {
  return `${prefix}${randomBytes(96).toString('base64url')}`;
}

/** The request body as Google's front end reads it: JSON (either field spelling) or a form. */
function parseBody(req: IncomingMessage, raw: string): Record<string, unknown> {
  const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim();
  if (type === 'application/x-www-form-urlencoded') return Object.fromEntries(new URLSearchParams(raw));
  if (raw.trim() === '') return {};
  const parsed: unknown = JSON.parse(raw);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
  return parsed as Record<string, unknown>;
}

function field(body: Readonly<Record<string, unknown>>, camel: string, snake: string): string | undefined {
  const value = body[camel] ?? body[snake];
  return typeof value === 'string' ? value : undefined;
}

/** A mapping's right-hand side: `assertion.<claim>` only, which is what oam-grant prints. */
function mapAttribute(expression: string, claims: Readonly<Record<string, unknown>>): string | undefined {
  const m = /^assertion\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(expression.trim());
  if (!m) throw new Error(`emulator: unsupported attribute mapping ${expression}`);
  const value = claims[m[1]!];
  return typeof value === 'string' ? value : value === undefined ? undefined : JSON.stringify(value);
}

/** Whether `member` names this federated identity, as IAM matches principal and principalSet members. */
function memberMatches(member: string, pool: string, token: FederatedToken): boolean {
  const base = `iam.googleapis.com/${pool}`;
  if (member.startsWith(`principal://${base}/subject/`)) return member === token.principal;
  if (member === `principalSet://${base}/*`) return true;
  const prefix = `principalSet://${base}/attribute.`;
  if (!member.startsWith(prefix)) return false;
  const rest = member.slice(prefix.length);
  const slash = rest.indexOf('/');
  return slash > 0 && token.attributes[`attribute.${rest.slice(0, slash)}`] === rest.slice(slash + 1);
}

/**
 * Starts both services on 127.0.0.1.
 *
 * @example
 *   const google = await startGoogle({
 *     providers: [{ name: WIP, issuerUri: issuer.url, attributeMapping: GCP_ATTRIBUTE_MAPPING, attributeCondition: "assertion.project_path == 'acme/payments'" }],
 *     serviceAccounts: [{ email: 'deployer@p.iam.gserviceaccount.com', workloadIdentityUsers: [`principalSet://iam.googleapis.com/${pool}/attribute.project_path/acme/payments`] }],
 *   });
 *   // trait: { stsEndpoint: google.stsUrl, iamCredentialsEndpoint: google.iamCredentialsUrl }
 */
export async function startGoogle(opts: GoogleOptions): Promise<GoogleEmulator> {
  const calls: GoogleCall[] = [];
  const federatedTokens: FederatedToken[] = [];
  const accessTokens: ServiceAccountToken[] = [];
  const faults: GoogleFault[] = [];
  const keySets = new Map<string, Promise<JWTVerifyGetKey>>();
  let clockOffsetMs = 0;
  const now = () => Date.now() + clockOffsetMs;
  const conditions = new Map<string, (ctx: CelContext) => boolean>();
  for (const p of opts.providers) {
    // A condition Google would refuse at configuration time fails the emulator's start, not a test's exchange.
    if (typeof p.attributeCondition === 'string') conditions.set(p.name, compileCel(p.attributeCondition));
  }

  /** Discovery, then the JWKS (cached by jose); a failed discovery is not cached. */
  const keysFor = (issuerUri: string): Promise<JWTVerifyGetKey> => {
    let pending = keySets.get(issuerUri);
    if (!pending) {
      pending = (async () => {
        const res = await fetch(`${issuerUri}/.well-known/openid-configuration`, { headers: { 'user-agent': 'google-sts-emulator' }, signal: AbortSignal.timeout(5000) });
        if (res.status !== 200) throw new Error(`discovery answered ${res.status}`);
        const meta = (await res.json()) as { jwks_uri?: unknown };
        if (typeof meta.jwks_uri !== 'string') throw new Error('discovery has no jwks_uri');
        return createRemoteJWKSet(new URL(meta.jwks_uri), { cooldownDuration: 0, timeoutDuration: 5000, headers: { 'user-agent': 'google-sts-emulator' } });
      })();
      keySets.set(issuerUri, pending);
      pending.catch(() => keySets.delete(issuerUri));
    }
    return pending;
  };

  const exchange = async (body: Readonly<Record<string, unknown>>, injected: GoogleFault | undefined): Promise<Record<string, unknown>> => {
    if (field(body, 'grantType', 'grant_type') !== TOKEN_EXCHANGE) throw new OAuthError('invalid_request', 'Invalid value for "grant_type".');
    if (field(body, 'requestedTokenType', 'requested_token_type') !== ACCESS_TOKEN) throw new OAuthError('invalid_request', 'Invalid value for "requested_token_type".');
    if (!SUBJECT_TYPES.has(field(body, 'subjectTokenType', 'subject_token_type') ?? '')) throw new OAuthError('invalid_request', 'Invalid value for "subject_token_type".');
    const audience = field(body, 'audience', 'audience') ?? '';
    const name = PROVIDER_AUDIENCE.exec(audience)?.[1];
    if (!name) {
      throw new OAuthError(
        'invalid_request',
        'Invalid value for "audience". This value should be the full resource name of the Identity Provider. See https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token for the list of possible formats.',
      );
    }
    const provider = opts.providers.find((p) => p.name === name);
    if (!provider || provider.disabled) {
      throw new OAuthError(
        'invalid_target',
        'The target service indicated by the "audience" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn\'t exist.',
      );
    }
    const scopes = (field(body, 'scope', 'scope') ?? '').split(' ').filter(Boolean);
    if (scopes.length === 0) throw new OAuthError('invalid_request', 'Invalid value for "scope". The scope is required when exchanging an external credential.');
    const subjectToken = field(body, 'subjectToken', 'subject_token') ?? '';
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(subjectToken);
    } catch {
      throw new OAuthError('invalid_grant', 'Unable to parse the ID Token.');
    }
    if (unverified.iss !== provider.issuerUri) throw new OAuthError('invalid_grant', `The issuer in ID Token ${String(unverified.iss)} does not match the expected ones.`);
    if (injected?.kind === 'issuer-unreachable') throw new OAuthError('invalid_grant', "Error connecting to the given credential's issuer.");
    let getKey: JWTVerifyGetKey;
    try {
      getKey = await keysFor(provider.issuerUri);
    } catch {
      throw new OAuthError('invalid_grant', "Error connecting to the given credential's issuer.");
    }
    let claims: JWTPayload;
    try {
      const verified = await compactVerify(subjectToken, getKey, { algorithms: ['RS256', 'ES256'] });
      claims = JSON.parse(new TextDecoder().decode(verified.payload)) as JWTPayload;
    } catch {
      throw new OAuthError('invalid_grant', 'Invalid JWT signature.');
    }
    const allowed = provider.allowedAudiences?.length ? provider.allowedAudiences : [`//iam.googleapis.com/${name}`, `https://iam.googleapis.com/${name}`];
    const auds = Array.isArray(claims.aud) ? claims.aud : typeof claims.aud === 'string' ? [claims.aud] : [];
    if (!auds.some((a) => allowed.includes(a))) throw new OAuthError('invalid_grant', `The audience in ID Token [${auds.join(', ')}] does not match the expected audience.`);
    const nowSeconds = Math.floor(now() / 1000);
    if (typeof claims.exp !== 'number' || typeof claims.iat !== 'number' || claims.exp <= nowSeconds) {
      throw new OAuthError('invalid_grant', `ID Token issued at ${String(claims.iat)} is stale to sign-in.`);
    }
    if (claims.exp - claims.iat > MAX_TOKEN_SPAN_SECONDS) throw new OAuthError('invalid_grant', 'The ID Token must expire within 48 hours of its issue time.');
    const attributes: Record<string, string> = {};
    for (const [target, expression] of Object.entries(provider.attributeMapping)) {
      const value = mapAttribute(expression, claims);
      if (value !== undefined) attributes[target] = value;
    }
    const subject = attributes['google.subject'];
    if (subject === undefined) throw new OAuthError('invalid_request', 'The mapped attribute google.subject is missing.');
    if (Buffer.byteLength(subject) > MAX_SUBJECT_BYTES) {
      throw new OAuthError('invalid_request', `The size of mapped attribute google.subject exceeds the ${MAX_SUBJECT_BYTES} bytes limit.`);
    }
    const condition = provider.attributeCondition;
    const context = {
      assertion: claims,
      google: { subject },
      attribute: Object.fromEntries(Object.entries(attributes).filter(([k]) => k.startsWith('attribute.')).map(([k, v]) => [k.slice('attribute.'.length), v])),
    };
    const admitted = condition === undefined ? true : typeof condition === 'function' ? condition(claims) : conditions.get(provider.name)!(context);
    if (!admitted) throw new OAuthError('unauthorized_client', 'The given credential is rejected by the attribute condition.');
    const lifetime = opts.federatedLifetimeSeconds ?? 3600;
    const pool = name.replace(/\/providers\/[^/]+$/, '');
    const issued: FederatedToken = {
      token: googleToken('ya29.d.'),
      provider: name,
      principal: `principal://iam.googleapis.com/${pool}/subject/${subject}`,
      attributes,
      scopes,
      expiresAt: new Date(now() + lifetime * 1000),
    };
    federatedTokens.push(issued);
    return { access_token: issued.token, issued_token_type: ACCESS_TOKEN, token_type: 'Bearer', expires_in: lifetime };
  };

  const generateAccessToken = (path: string, headers: IncomingHttpHeaders, body: Readonly<Record<string, unknown>>): Record<string, unknown> => {
    const m = GENERATE.exec(path);
    if (!m) throw new ApiError(404, 'NOT_FOUND', `The requested URL ${path} was not found on this server.`);
    const bearer = /^Bearer (\S+)$/.exec(String(headers.authorization ?? ''))?.[1];
    const caller = federatedTokens.find((t) => t.token === bearer && t.expiresAt.getTime() > now());
    if (!caller) {
      throw new ApiError(
        401,
        'UNAUTHENTICATED',
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
      );
    }
    if (m[1] !== '-') throw new ApiError(400, 'INVALID_ARGUMENT', 'The `-` wildcard character is required in place of the project ID.');
    const email = decodeURIComponent(m[2]!);
    const scope = body.scope;
    if (!Array.isArray(scope) || scope.length === 0 || !scope.every((s) => typeof s === 'string')) throw new ApiError(400, 'INVALID_ARGUMENT', 'Scope required.');
    let lifetime = 3600;
    if (body.lifetime !== undefined) {
      const l = /^([0-9]+)(?:\.[0-9]{1,9})?s$/.exec(String(body.lifetime));
      if (!l) throw new ApiError(400, 'INVALID_ARGUMENT', `Invalid value at 'lifetime' (type.googleapis.com/google.protobuf.Duration), Field 'lifetime', Illegal duration format.`);
      lifetime = Number(l[1]);
      if (lifetime > MAX_LIFETIME_SECONDS) throw new ApiError(400, 'INVALID_ARGUMENT', `The lifetime requested exceeds the maximum allowed lifetime of ${MAX_LIFETIME_SECONDS}s.`);
    }
    const account = opts.serviceAccounts?.find((a) => a.email === email);
    const pool = caller.provider.replace(/\/providers\/[^/]+$/, '');
    if (!account?.workloadIdentityUsers.some((member) => memberMatches(member, pool, caller))) throw permissionDenied();
    const issued: ServiceAccountToken = {
      token: googleToken('ya29.c.'),
      serviceAccount: email,
      scopes: scope as string[],
      expiresAt: new Date(Math.floor(now() / 1000) * 1000 + lifetime * 1000),
      principal: caller.principal,
    };
    accessTokens.push(issued);
    return { accessToken: issued.token, expireTime: issued.expiresAt.toISOString().replace('.000Z', 'Z') };
  };

  /** Shared by both services: record on arrival, consume a fault, answer in the service's error shape. */
  const serve =
    (service: GoogleCall['service']) =>
    async (req: IncomingMessage, res: ServerResponse, raw: string): Promise<void> => {
      const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
      const call: { -readonly [K in keyof GoogleCall]: GoogleCall[K] } = {
        service,
        method: req.method ?? '',
        path,
        headers: req.headers,
        body: {},
        status: 0,
        error: 'pending',
        at: Date.now(),
      };
      calls.push(call);
      const abandoned = clientGaveUp(res);
      const index = faults.findIndex((f) => (f.kind === 'issuer-unreachable' ? service === 'sts' : f.service === undefined || f.service === service));
      const fault = index >= 0 ? faults.splice(index, 1)[0] : undefined;
      if (fault?.kind === 'reset') {
        call.error = 'reset';
        req.socket.destroy();
        return;
      }
      if (fault?.kind === 'delay') {
        await sleep(fault.ms);
        if (abandoned()) {
          call.error = 'abandoned';
          return;
        }
      }
      try {
        try {
          call.body = parseBody(req, raw);
        } catch {
          throw service === 'sts' ? new OAuthError('invalid_request', 'Invalid JSON payload received.') : new ApiError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
        }
        if (fault?.kind === 'status') throw FAULT_ERRORS[fault.status]();
        let answer: Record<string, unknown>;
        if (service === 'sts') {
          if (req.method !== 'POST' || path !== '/v1/token') throw new ApiError(404, 'NOT_FOUND', `The requested URL ${path} was not found on this server.`);
          answer = await exchange(call.body, fault);
        } else {
          if (req.method !== 'POST') throw new ApiError(404, 'NOT_FOUND', `The requested URL ${path} was not found on this server.`);
          answer = generateAccessToken(path, req.headers, call.body);
        }
        call.status = 200;
        delete call.error;
        if (!res.destroyed) sendJson(res, 200, answer);
      } catch (err: unknown) {
        if (err instanceof OAuthError) {
          call.status = err.status;
          call.error = err.error;
          if (!res.destroyed) sendJson(res, err.status, { error: err.error, error_description: err.message });
          return;
        }
        const api = err instanceof ApiError ? err : new ApiError(500, 'INTERNAL', `emulator error: ${err instanceof Error ? err.message : String(err)}`);
        call.status = api.code;
        call.error = api.status;
        if (!res.destroyed) sendJson(res, api.code, { error: { code: api.code, message: api.message, status: api.status, ...(api.details.length ? { details: api.details } : {}) } });
      }
    };

  const sts = await listenLoopback(serve('sts'), opts.stsPort);
  let iam: Awaited<ReturnType<typeof listenLoopback>>;
  try {
    iam = await listenLoopback(serve('iamcredentials'), opts.iamCredentialsPort);
  } catch (err) {
    await sts.close();
    throw err;
  }
  return {
    stsUrl: sts.url,
    iamCredentialsUrl: iam.url,
    calls,
    federatedTokens,
    accessTokens,
    injectFaults: (...list) => {
      faults.push(...list);
    },
    advanceClock: (seconds) => {
      clockOffsetMs += seconds * 1000;
    },
    close: async () => {
      await Promise.all([sts.close(), iam.close()]);
    },
  };
}
