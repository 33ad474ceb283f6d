/**
 * A generic RFC 8693 token exchange at any OAuth 2.0 authorization server,
 * found by discovery (OpenID Connect Discovery, else RFC 8414), through
 * openid-client: it speaks the protocol (metadata and its issuer check, the
 * token request, RFC 6749 error answers, RFC 7009 revocation). Its HTTP goes
 * through lib/http (a total deadline per request, no redirects, bounded
 * bodies); retries, messages and hints are ours, as for aws-sts.
 *
 * openid-client lives in its own lazy chunk: only a grant with this trait
 * compiles it (src/lib/lazy-module.ts). Only its types are imported here.
 */
import type { ClientAuth, Configuration, CustomFetch, ServerMetadata, TokenEndpointResponse } from 'openid-client';
import type { TokenExchangeTrait } from '../access-file/model.ts';
import { OamError } from '../errors.ts';
import { PROVIDER_DEADLINE, PROVIDER_RETRY } from '../lib/deadlines.ts';
import { type HttpRequest, httpRequest, isTransientStatus, parseSafeUrl } from '../lib/http.ts';
import { loadOpenidClient } from '../lib/lazy-module.ts';
import { foreignLine } from '../lib/log.ts';
import { registerSecret } from '../lib/redact.ts';
import { isTransientNetworkError, withRetry } from '../lib/retry.ts';
import type { GitlabClaims } from '../token/claims.ts';
import type { CredentialProvider, ExchangeInput, IssuedCredentials } from './types.ts';
import { asJsonObject as asRecord } from '../lib/json.ts';

type OpenidClient = Awaited<ReturnType<typeof loadOpenidClient>>;

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

/**
 * RFC 8693 section 3: `id_token` is an OpenID Connect ID Token, issued to a
 * client about an End-User's authentication. GitLab's CI ID token is a signed
 * JWT about a job, with any audience: `jwt`, the type Google STS and
 * Keycloak's external token exchange take for it.
 */
export const SUBJECT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

/** Metadata documents and token answers are a few KB; a large JWT access token still fits. */
const MAX_BODY_BYTES = 256 * 1024;

/**
 * openid-client's Configuration needs a client_id. Without `clientId` in the
 * trait the client authentication below adds nothing to the request, so this
 * placeholder never leaves the process.
 */
const NO_CLIENT_ID = 'oam-grant-unidentified';
const noClientAuthentication: ClientAuth = () => undefined;

/**
 * Without a credential-limits cap, the longest lifetime accepted: 12 h, as for
 * Vault tokens (vault-jwt.ts) and AWS's longest session. The server decides
 * the lifetime, and the dotenv can be downloaded for as long as the token lives.
 */
export const TOKEN_LIFETIME_CEILING_SECONDS = 43_200;

/** Error codes that say "try again" (RFC 6749 section 4.1.2.1), whatever the HTTP status they come with. */
const TRANSIENT_OAUTH_ERRORS = new Set(['temporarily_unavailable', 'server_error']);

/** A server's answer that is not what was asked for: an RFC 6749 section 5.2 error, or a bare HTTP status. */
export class OAuthRefusal extends Error {
  readonly status: number;
  /** The `error` code, or '' when the answer named none. */
  readonly error: string;
  readonly description: string;
  constructor(what: string, status: number, error: string, description: string) {
    super(`${what} answered HTTP ${status}${error ? ` ${error}` : ''}${description ? `: ${description}` : ''}`);
    this.name = 'OAuthRefusal';
    this.status = status;
    this.error = error;
    this.description = description;
  }
}

/** 429, 408, 5xx and the "try again" codes are transient; a refusal is not. */
export function isTransientExchangeError(error: unknown): boolean {
  if (error instanceof OAuthRefusal) return isTransientStatus(error.status) || TRANSIENT_OAUTH_ERRORS.has(error.error);
  if (error instanceof OamError) return false;
  return isTransientNetworkError(error);
}

/** RFC 6749 section 5.2: `error` is one word of printable ASCII; anything else is not shown. */
function errorCodeOf(value: unknown): string {
  return typeof value === 'string' && /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$/.test(value) ? value : '';
}

/** The JSON error body of a response openid-client did not read (it stops at a WWW-Authenticate challenge). */
async function errorBodyOf(response: unknown): Promise<Record<string, unknown> | undefined> {
  if (!(response instanceof Response) || response.bodyUsed) return undefined;
  try {
    return asRecord(await response.json());
  } catch {
    return undefined;
  }
}

/**
 * The answer behind an openid-client error, when it was an HTTP answer: the
 * OAuth error body, a WWW-Authenticate challenge (401) or a bare status.
 * Anything else (a socket error, a deadline, a malformed answer) is left as is.
 */
async function refusalFrom(oc: OpenidClient, error: unknown, what: string, secrets: readonly string[]): Promise<OAuthRefusal | undefined> {
  // A server may repeat what it was sent; the tokens never reach a message.
  const mask = (text: unknown) => (typeof text === 'string' ? foreignLine(text, 300, secrets) : '');
  if (error instanceof oc.ResponseBodyError) return new OAuthRefusal(what, error.status, errorCodeOf(error.error), mask(error.error_description));
  if (error instanceof oc.WWWAuthenticateChallengeError) {
    const body = await errorBodyOf(error.response);
    const challenge = error.cause.find((c) => c.parameters.error !== undefined)?.parameters;
    return new OAuthRefusal(what, error.status, errorCodeOf(body?.error ?? challenge?.error), mask(body?.error_description ?? challenge?.error_description));
  }
  // A status without an OAuth error body (an HTML 429 or 503 from a proxy, a 404): openid-client keeps the Response as the cause.
  const cause = (error as { cause?: unknown } | null)?.cause;
  const bare = error instanceof oc.ClientError && (error.code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' || error.code === 'OAUTH_RESPONSE_IS_NOT_JSON');
  if (bare && cause instanceof Response && cause.status !== 200) return new OAuthRefusal(what, cause.status, '', '');
  return undefined;
}

/** Statuses whose Response must have no body. */
const BODILESS_STATUSES = new Set([204, 205, 304]);

function toHeaders(headers: Record<string, string | string[] | undefined>): Headers {
  const result = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (Array.isArray(value)) for (const v of value) result.append(name, v);
    else if (value !== undefined) result.set(name, value);
  }
  return result;
}

/**
 * openid-client's requests, sent through lib/http: one total deadline per
 * request, the attempt's abort signal (withRetry's), no redirects (a server
 * that redirects the token elsewhere is refused), bounded bodies.
 */
export function fetchThrough(request: HttpRequest, timeoutMs: number, signal?: AbortSignal): CustomFetch {
  return async (url, options) => {
    const method = options.method.toUpperCase();
    if (method !== 'GET' && method !== 'POST') throw new TypeError(`oam-grant sends no ${method} requests to an authorization server`);
    const body = options.body === undefined || options.body === null ? undefined : options.body;
    if (body !== undefined && typeof body !== 'string' && !(body instanceof URLSearchParams)) throw new TypeError('unexpected request body type');
    // openid-client's user agent is replaced by ours, as on every other request oam-grant makes.
    const { 'user-agent': _agent, ...headers } = options.headers;
    const response = await request(new URL(url), {
      method,
      headers,
      ...(body === undefined ? {} : { body: String(body) }),
      timeoutMs,
      ...(signal ? { signal } : {}),
      maxBytes: MAX_BODY_BYTES,
    });
    if (response.status < 200 || response.status > 599) throw new Error(`${new URL(url).origin} answered HTTP ${response.status}`);
    return new Response(BODILESS_STATUSES.has(response.status) ? null : response.body, { status: response.status, headers: toHeaders(response.headers) });
  };
}

/**
 * An endpoint named by the metadata: the token (or the revocation request)
 * goes there, so it must be https, or plain http on a loopback host only.
 * openid-client alone would allow any http endpoint once a loopback issuer
 * turned on allowInsecureRequests.
 */
function checkEndpoint(metadata: ServerMetadata, name: 'token_endpoint' | 'revocation_endpoint', issuer: string): void {
  const value = metadata[name];
  if (value === undefined && name === 'revocation_endpoint') return;
  if (typeof value !== 'string') {
    throw new OamError('ERR_EXCHANGE_FAILED', `the metadata of ${issuer} names no ${name}`, {
      hint: 'check that issuer names an OAuth 2.0 authorization server that offers RFC 8693 token exchange',
    });
  }
  try {
    parseSafeUrl(value, name, 'ERR_EXCHANGE_FAILED');
  } catch (error) {
    throw new OamError('ERR_EXCHANGE_FAILED', `the metadata of ${issuer} names ${name} ${JSON.stringify(foreignLine(value, 200))}: ${error instanceof OamError ? error.message.replace(`${name}: `, '') : 'not a usable URL'}`, {
      hint: 'an authorization server must name https endpoints (plain http only for loopback hosts); nothing was sent there',
    });
  }
}

/**
 * The server's metadata: OpenID Connect Discovery at
 * `<issuer>/.well-known/openid-configuration`, else (404) RFC 8414 at
 * `/.well-known/oauth-authorization-server<path>`. openid-client checks that
 * the document names exactly this issuer.
 */
async function discover(oc: OpenidClient, trait: TokenExchangeTrait, issuer: URL, fetch: CustomFetch, subjectToken: string): Promise<Configuration> {
  const auth = trait.clientId ? oc.None() : noClientAuthentication;
  // parseSafeUrl let plain http through for a loopback host only; openid-client refuses http unless told.
  const options = { [oc.customFetch]: fetch, execute: issuer.protocol === 'http:' ? [oc.allowInsecureRequests] : [] };
  const clientId = trait.clientId ?? NO_CLIENT_ID;
  let config: Configuration;
  try {
    config = await oc.discovery(issuer, clientId, undefined, auth, { ...options, algorithm: 'oidc' });
  } catch (error) {
    const refusal = await refusalFrom(oc, error, `${trait.issuer}/.well-known/openid-configuration`, [subjectToken]);
    if (refusal?.status !== 404) throw refusal ?? error;
    try {
      config = await oc.discovery(issuer, clientId, undefined, auth, { ...options, algorithm: 'oauth2' });
    } catch (second) {
      const again = await refusalFrom(oc, second, 'the RFC 8414 metadata (/.well-known/oauth-authorization-server)', [subjectToken]);
      if (again?.status === 404) {
        throw new OamError('ERR_EXCHANGE_FAILED', `no authorization server metadata at ${trait.issuer}: /.well-known/openid-configuration and /.well-known/oauth-authorization-server both answered 404`, {
          hint: "set issuer to the authorization server's issuer identifier, exactly as its metadata names it",
        });
      }
      throw again ?? second;
    }
  }
  const metadata = config.serverMetadata();
  checkEndpoint(metadata, 'token_endpoint', trait.issuer);
  checkEndpoint(metadata, 'revocation_endpoint', trait.issuer);
  return config;
}

/** The RFC 8693 request parameters: the ID token as the subject, the trait's target. */
export function exchangeParameters(trait: TokenExchangeTrait, subjectToken: string): Record<string, string> {
  return {
    subject_token: subjectToken,
    subject_token_type: SUBJECT_TOKEN_TYPE,
    requested_token_type: trait.requestedTokenType,
    ...(trait.audience ? { audience: trait.audience } : {}),
    ...(trait.resource ? { resource: trait.resource } : {}),
    ...(trait.scope ? { scope: trait.scope } : {}),
  };
}

/** The claims of a JWT, read without verification, for display and expiry only; undefined for anything else (opaque, JWE). */
export function peekJwtClaims(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || token.length > MAX_BODY_BYTES) return undefined;
  try {
    return asRecord(JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')));
  } catch {
    return undefined;
  }
}

export interface TokenLifetime {
  /** When to stop using the token: the earliest of expires_in and the JWT's exp. */
  readonly expiresAt: Date;
  /** How long the token can be used, for the cap: the longest of the two. */
  readonly seconds: number;
}

/**
 * The issued token's lifetime from `expires_in` and, for a JWT, its `exp`
 * (lifetime `exp - iat`, free of clock skew). Undefined when neither says:
 * a token without a known expiry cannot honour OAM_GRANT_EXPIRES_AT.
 */
export function tokenLifetime(answer: { expires_in?: number }, claims: Record<string, unknown> | undefined, nowMs: number): TokenLifetime | undefined {
  const candidates: { at: number; seconds: number }[] = [];
  if (typeof answer.expires_in === 'number' && Number.isFinite(answer.expires_in)) {
    candidates.push({ at: nowMs + answer.expires_in * 1000, seconds: answer.expires_in });
  }
  const exp = claims?.exp;
  if (typeof exp === 'number' && Number.isFinite(exp)) {
    const iat = claims?.iat;
    candidates.push({ at: exp * 1000, seconds: typeof iat === 'number' && Number.isFinite(iat) ? exp - iat : exp - nowMs / 1000 });
  }
  if (candidates.length === 0) return undefined;
  return { expiresAt: new Date(Math.min(...candidates.map((c) => c.at))), seconds: Math.max(...candidates.map((c) => c.seconds)) };
}

/** The claims a refusal prints, next to what the server must trust. */
function claimsLine(claims: GitlabClaims): string {
  const shown: [string, string | undefined][] = [
    ['iss', claims.iss],
    ['aud', claims.aud.join(',')],
    ['sub', claims.sub],
    ['project_path', claims.project_path],
    ['ref', claims.ref],
    ['ref_type', claims.ref_type],
  ];
  return shown
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([name, value]) => `${name} ${JSON.stringify(value)}`)
    .join(', ');
}

function trustHint(input: ExchangeInput<TokenExchangeTrait>): string {
  const { claims } = input.token;
  return (
    `the server must trust ID tokens of ${claims.iss} (its /.well-known/openid-configuration and JWKS) with audience ${JSON.stringify(claims.aud[0] ?? '')} and admit this subject; ` +
    `the token has ${claimsLine(claims)}; \`oam-grant trust-policy --component <name>\` prints what the server must trust`
  );
}

function target(trait: TokenExchangeTrait): string {
  return [trait.audience && `audience ${JSON.stringify(trait.audience)}`, trait.resource && `resource ${JSON.stringify(trait.resource)}`].filter(Boolean).join(' and ') || 'the default target';
}

function refusalHint(refusal: OAuthRefusal, input: ExchangeInput<TokenExchangeTrait>): string {
  const { trait } = input;
  const client = trait.clientId ? `client ${JSON.stringify(trait.clientId)}` : 'a client without client_id';
  switch (refusal.error) {
    case 'invalid_request':
      return `RFC 8693 answers invalid_request for a malformed request and for a subject token the server does not accept: ${trustHint(input)}; also check requestedTokenType and resource in the token-exchange trait`;
    case 'invalid_grant':
      return trustHint(input);
    case 'invalid_client':
      return trait.clientId
        ? `the server does not accept client_id ${JSON.stringify(trait.clientId)} without a secret: register it as a public client (token_endpoint_auth_method none) allowed to exchange tokens`
        : 'the server wants to know the client: register a public client (token_endpoint_auth_method none) allowed to exchange tokens and set clientId in the token-exchange trait';
    case 'unauthorized_client':
      return `${client} may not use the token-exchange grant at ${trait.issuer}: allow that grant type for it`;
    case 'unsupported_grant_type':
      return `${trait.issuer} does not offer RFC 8693 token exchange (grant_type ${TOKEN_EXCHANGE_GRANT}): enable it there, or check issuer`;
    case 'invalid_target':
      return `the server will not issue a token for ${target(trait)}: allow that target for this subject and ${client}, or fix audience/resource in the token-exchange trait`;
    case 'invalid_scope':
      return `the server will not grant scope ${JSON.stringify(trait.scope ?? '')}: allow it for this subject and ${client}, or fix scope in the token-exchange trait`;
    case '':
      return `${trait.issuer} answered HTTP ${refusal.status} without an OAuth error: check that issuer names the authorization server`;
    default:
      return 'see the message above; nothing was exported';
  }
}

/** Every failure, after retries, as one ERR_EXCHANGE_FAILED naming the server; never with a secret. */
function translate(error: unknown, input: ExchangeInput<TokenExchangeTrait>): OamError {
  if (error instanceof OamError) return error;
  const { issuer } = input.trait;
  if (error instanceof OAuthRefusal && !isTransientExchangeError(error)) {
    return new OamError('ERR_EXCHANGE_FAILED', `token exchange at ${issuer} refused: ${error.message}`, { hint: refusalHint(error, input) });
  }
  const name = error instanceof Error ? error.name : 'Error';
  const message = foreignLine(error instanceof Error ? error.message : String(error), 300);
  if (isTransientExchangeError(error)) {
    return new OamError('ERR_EXCHANGE_FAILED', `token exchange at ${issuer} stayed unavailable after retries: ${name}: ${message}`, {
      hint: 'the authorization server or the network is failing; re-run the job later',
      cause: error,
    });
  }
  const code = (error as { code?: unknown }).code;
  if (code === 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED') {
    const named = asRecord(asRecord((error as { cause?: unknown }).cause)?.body)?.issuer;
    return new OamError('ERR_EXCHANGE_FAILED', `the metadata at ${issuer} names issuer ${JSON.stringify(foreignLine(String(named ?? ''), 200))}, not ${issuer}`, {
      hint: "set issuer in the token-exchange trait to the server's issuer identifier, exactly as its metadata names it; nothing was sent to the server",
    });
  }
  if (code === 'OAUTH_HTTP_REQUEST_FORBIDDEN') {
    return new OamError('ERR_EXCHANGE_FAILED', `the metadata of ${issuer} names a plain http endpoint`, {
      hint: 'an authorization server must name https endpoints (plain http only for loopback hosts); nothing was sent there',
    });
  }
  return new OamError('ERR_EXCHANGE_FAILED', `token exchange at ${issuer} failed: ${typeof code === 'string' ? `${code}: ` : ''}${message}`, {
    hint: 'check that issuer names an OAuth 2.0 authorization server that answers RFC 8693 token exchange as the RFC says',
    cause: error,
  });
}

/** RFC 7009 knows these two hints; other token types are sent without one. */
function revocationHint(requestedTokenType: string): Record<string, string> | undefined {
  if (requestedTokenType.endsWith(':access_token')) return { token_type_hint: 'access_token' };
  if (requestedTokenType.endsWith(':refresh_token')) return { token_type_hint: 'refresh_token' };
  return undefined;
}

/** Revocation through the server's revocation_endpoint (RFC 7009), one attempt within the deadline. */
function revokerFor(oc: OpenidClient, config: Configuration, token: string, trait: TokenExchangeTrait, timeoutMs: number, subjectToken: string): (() => Promise<void>) | undefined {
  const endpoint = config.serverMetadata().revocation_endpoint;
  if (typeof endpoint !== 'string') return undefined;
  return async () => {
    config[oc.customFetch] = fetchThrough(httpRequest, timeoutMs);
    try {
      await oc.tokenRevocation(config, token, revocationHint(trait.requestedTokenType));
    } catch (error) {
      const refusal = await refusalFrom(oc, error, `revocation at ${endpoint}`, [subjectToken, token]);
      throw new Error(refusal ? refusal.message : `revocation at ${endpoint} failed: ${error instanceof Error ? foreignLine(error.message, 200) : 'unknown error'}`);
    }
  };
}

/**
 * Refuses an issued token that does not fit the file, after revoking it
 * where the server allows (best effort: the refusal is what counts).
 */
async function refuseIssued(
  input: ExchangeInput<TokenExchangeTrait>,
  revoke: (() => Promise<void>) | undefined,
  message: string,
  hint: string,
  code: 'ERR_EXCHANGE_FAILED' | 'ERR_POLICY_DENIED' = 'ERR_EXCHANGE_FAILED',
): Promise<never> {
  let fate = 'the server offers no revocation_endpoint, so it stays valid until it expires';
  if (revoke) {
    try {
      await revoke();
      fate = 'it was revoked';
    } catch (error) {
      fate = `revoking it failed (${error instanceof Error ? error.message : 'unknown error'})`;
    }
  }
  input.log.warn(`token-exchange: the issued token was not exported; ${fate}`);
  throw new OamError(code, `${input.trait.issuer} ${message}`, { hint });
}

export const tokenExchangeProvider: CredentialProvider<TokenExchangeTrait> = {
  type: 'token-exchange',
  defaultAudience: (trait) => trait.issuer,

  async exchange(input: ExchangeInput<TokenExchangeTrait>): Promise<IssuedCredentials> {
    const { trait, token, log } = input;
    // With several traits the ID token sits in OAM_ID_TOKEN_TOKEN_EXCHANGE, which the CLI does not mask by name.
    registerSecret(token.raw);
    // The file's check already held (validate); this keeps the token from any other URL.
    const issuer = parseSafeUrl(trait.issuer, 'token-exchange issuer', 'ERR_METADATA_INVALID');
    const attemptMs = input.timeouts?.requestMs ?? PROVIDER_DEADLINE.attemptMs;
    const totalMs = input.timeouts?.totalMs ?? PROVIDER_DEADLINE.totalMs;
    // Loaded here so that every other command and provider never pays for openid-client.
    const oc = await loadOpenidClient();
    const parameters = exchangeParameters(trait, token.raw);
    let config: Configuration | undefined;
    let answer: TokenEndpointResponse;
    try {
      answer = await withRetry(
        async (_, signal) => {
          const fetch = fetchThrough(httpRequest, attemptMs, signal);
          config ??= await discover(oc, trait, issuer, fetch, token.raw);
          config[oc.customFetch] = fetch;
          try {
            return await oc.genericGrantRequest(config, TOKEN_EXCHANGE_GRANT, parameters);
          } catch (error) {
            throw (await refusalFrom(oc, error, 'the token endpoint', [token.raw])) ?? error;
          }
        },
        {
          ...PROVIDER_RETRY,
          attemptTimeoutMs: attemptMs,
          budgetMs: totalMs,
          isTransient: isTransientExchangeError,
          ...(input.sleep ? { sleep: input.sleep } : {}),
          onRetry: ({ attempt, delayMs, error }) =>
            log.warn(`token exchange at ${trait.issuer}: ${error instanceof Error ? foreignLine(error.message, 200) : 'an error'} (attempt ${attempt}); retrying in ${delayMs} ms`),
        },
      );
    } catch (error) {
      throw translate(error, input);
    }
    const issued = answer.access_token;
    // Masked in everything printed from here on, refusals and revocation errors included.
    registerSecret(issued);
    if (typeof answer.refresh_token === 'string') registerSecret(answer.refresh_token);
    const revoke = revokerFor(oc, config!, issued, trait, attemptMs, token.raw);
    const issuedType = typeof answer.issued_token_type === 'string' ? answer.issued_token_type : undefined;
    if (issuedType !== trait.requestedTokenType) {
      // A refresh token where an access token was asked for would outlive what the reviewer approved.
      return refuseIssued(
        input,
        revoke,
        `answered issued_token_type ${issuedType === undefined ? '(none)' : JSON.stringify(foreignLine(issuedType, 100))}, not the requested ${trait.requestedTokenType}`,
        'configure the server to issue the requested type for this exchange, or change requestedTokenType in the token-exchange trait',
      );
    }
    const claims = peekJwtClaims(issued);
    const now = Date.now();
    const lifetime = tokenLifetime(answer, claims, now);
    if (!lifetime) {
      return refuseIssued(
        input,
        revoke,
        'issued a token without expires_in that is not a JWT with exp: its lifetime is unknown, so OAM_GRANT_EXPIRES_AT could not be honoured',
        'make the server answer expires_in (RFC 6749 section 5.1) for token exchange',
      );
    }
    if (lifetime.expiresAt.getTime() <= now) {
      return refuseIssued(input, revoke, `issued a token that expired at ${lifetime.expiresAt.toISOString()}`, "check the server's token lifetime and its clock");
    }
    // A cap is a policy (ERR_POLICY_DENIED, as for the other providers); without one, the ceiling.
    const cap = input.maxDurationSeconds;
    if (lifetime.seconds > (cap ?? TOKEN_LIFETIME_CEILING_SECONDS)) {
      return refuseIssued(
        input,
        revoke,
        `issued a token valid for ${Math.round(lifetime.seconds)} s, longer than ${cap !== undefined ? `the credential-limits cap of ${cap} s` : `oam-grant's ceiling of ${TOKEN_LIFETIME_CEILING_SECONDS} s (no credential-limits cap applies)`}`,
        `shorten the server's token lifetime for this exchange to at most ${cap ?? TOKEN_LIFETIME_CEILING_SECONDS} s${cap !== undefined ? ', or raise maxDurationSeconds in the access file' : ''}`,
        'ERR_POLICY_DENIED',
      );
    }
    const subject = typeof claims?.sub === 'string' ? foreignLine(claims.sub, 128) : '';
    const jti = typeof claims?.jti === 'string' ? foreignLine(claims.jti, 64) : '';
    return {
      variables: [[trait.exportAs, issued]],
      // A refresh token the server adds is neither exported nor printed; it is masked all the same.
      secrets: [issued, ...(typeof answer.refresh_token === 'string' ? [answer.refresh_token] : [])],
      expiresAt: lifetime.expiresAt,
      identity: subject ? `${trait.issuer} as ${subject}` : trait.issuer,
      sessionName: jti,
      ...(revoke ? { revoke } : {}),
    };
  },
};
