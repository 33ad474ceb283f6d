/**
 * Microsoft Entra ID: the OAuth 2.0 client credentials grant with the job's ID
 * token as a federated client assertion (workload identity federation), on
 * node:http(s) through `httpRequest`. Permanent refusals fail at once;
 * throttling, 5xx, Entra's "try again" codes and socket failures are retried
 * with backoff and jitter within PROVIDER_DEADLINE.
 *
 * Entra access tokens cannot be revoked: their lifetime (60-90 minutes by
 * default, Entra's choice) is the bound, so there is no `revoke`.
 */
import { randomUUID } from 'node:crypto';
import type { AzureFederatedTrait } from '../access-file/model.ts';
import { OamError } from '../errors.ts';
import { PROVIDER_DEADLINE, PROVIDER_RETRY } from '../lib/deadlines.ts';
import { type HttpResponse, httpRequest, parseSafeUrl } from '../lib/http.ts';
import { isTransientNetworkError, withRetry } from '../lib/retry.ts';
import { exportedNames } from './export-names.ts';
import type { CredentialProvider, ExchangeInput, IssuedCredentials } from './types.ts';
import { asJsonObject as asRecord } from '../lib/json.ts';

/** The audience Entra expects in a federated assertion (the default of every federated identity credential). */
export const AZURE_TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** An answer larger than this is not a token response (tokens are a few KB). */
const MAX_ANSWER_BYTES = 64 * 1024;

/** Longest lifetime a token lifetime policy can give (one day), with room; anything longer is not Entra's answer. */
const MAX_LIFETIME_SECONDS = 2 * 24 * 3600;

/**
 * AADSTS codes Entra documents as transient (reference-error-codes.md:
 * RetryableError, ExternalServerRetryableError, RequestBudgetExceededError,
 * MsodsServiceUnavailable, TenantThrottlingError, GraphRetryableError,
 * OAuth2IdPRetryableServerError, RequestTimeout), and "Request to External
 * OIDC endpoint failed" (50166, 90061, 501661): Entra could not fetch the
 * issuer's keys this time, as AWS's IDPCommunicationError.
 */
const TRANSIENT_CODES = new Set(['50033', '90006', '90024', '90033', '90055', '90090', '40010', '90012', '50166', '90061', '501661']);

/** "No matching federated identity record": any (70021), by issuer, audience, subject, and the case-sensitivity variants. */
const NO_MATCHING_CREDENTIAL = new Set(['70021', '700211', '700212', '700213', '7002137', '7002138']);

const EXTERNAL_OIDC = new Set(['50166', '90061', '501661']);

/** An error answer of the token endpoint, as far as it could be read. Carries no secret. */
export class EntraAnswerError extends Error {
  readonly status: number;
  /** OAuth `error`, e.g. invalid_client; empty when the body was not Entra's JSON. */
  readonly error: string;
  /** The AADSTS number, e.g. '700213'; empty when absent. */
  readonly code: string;
  /** `error_description` without its trace tail, one line, bounded, tokens removed. */
  readonly description: string;
  readonly traceId?: string;
  readonly correlationId?: string;
  constructor(fields: { status: number; error: string; code: string; description: string; traceId?: string; correlationId?: string }) {
    super(`HTTP ${fields.status}${fields.error ? ` ${fields.error}` : ''}${fields.code ? ` AADSTS${fields.code}` : ''}`);
    this.name = 'EntraAnswerError';
    this.status = fields.status;
    this.error = fields.error;
    this.code = fields.code;
    this.description = fields.description;
    if (fields.traceId) this.traceId = fields.traceId;
    if (fields.correlationId) this.correlationId = fields.correlationId;
  }
}

/** A JWT-looking run: never repeated in a message, whoever's it is. */
const JWT_LIKE = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*/g;

/** One line of Entra's description: without the "Trace ID: ..." tail, without the AADSTS prefix, no token, at most `max` characters. */
export function cleanDescription(text: string, assertion: string, max = 300): string {
  let line = text.split(/\s*Trace ID:/)[0] ?? '';
  if (assertion) line = line.split(assertion).join('[token]');
  line = line.replace(JWT_LIKE, '[token]').replace(/^AADSTS[0-9]+:\s*/, '').replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}

const ID = /^[0-9A-Za-z-]{1,64}$/;

/** Reads an error answer; whatever is not Entra's JSON is kept as the status alone. */
export function entraErrorFrom(response: HttpResponse, assertion: string): EntraAnswerError {
  let body: Record<string, unknown> | undefined;
  try {
    body = asRecord(JSON.parse(response.body.toString('utf8')));
  } catch {
    body = undefined;
  }
  const description = typeof body?.error_description === 'string' ? body.error_description : '';
  const codes = Array.isArray(body?.error_codes) ? body.error_codes : [];
  const first = codes.find((c): c is number => Number.isInteger(c));
  const code = first !== undefined ? String(first) : (/AADSTS([0-9]{4,8})/.exec(description)?.[1] ?? '');
  const error = typeof body?.error === 'string' && /^[a-z_]{1,64}$/.test(body.error) ? body.error : '';
  const traceId = typeof body?.trace_id === 'string' && ID.test(body.trace_id) ? body.trace_id : undefined;
  const correlationId = typeof body?.correlation_id === 'string' && ID.test(body.correlation_id) ? body.correlation_id : undefined;
  return new EntraAnswerError({
    status: response.status,
    error,
    code,
    description: cleanDescription(description, assertion),
    ...(traceId ? { traceId } : {}),
    ...(correlationId ? { correlationId } : {}),
  });
}

/** Throttling, 5xx, Entra's documented "try again" codes and socket failures are worth another try; refusals are not. */
export function isTransientEntraError(error: unknown): boolean {
  if (error instanceof EntraAnswerError) {
    return error.status === 429 || error.status >= 500 || error.error === 'temporarily_unavailable' || TRANSIENT_CODES.has(error.code);
  }
  return isTransientNetworkError(error);
}

/** `<authorityHost>/<tenantId>/oauth2/v2.0/token`, from the reviewed file only: the assertion is a key to the app. */
export function tokenEndpointFor(trait: Pick<AzureFederatedTrait, 'authorityHost' | 'tenantId'>): URL {
  const authority = parseSafeUrl(trait.authorityHost, 'authorityHost of the azure-federated trait', 'ERR_METADATA_INVALID');
  if (authority.search || authority.hash) {
    throw new OamError('ERR_METADATA_INVALID', 'authorityHost of the azure-federated trait: must not have a query or fragment', { hint: 'give the authority alone, e.g. https://login.microsoftonline.com' });
  }
  return new URL(`${authority.origin}${authority.pathname.replace(/\/+$/, '')}/${encodeURIComponent(trait.tenantId)}/oauth2/v2.0/token`);
}

interface TokenAnswer {
  readonly accessToken: string;
  readonly expiresInSeconds: number;
}

/** Printable token characters only: no whitespace, quotes or `$`, which the dotenv could not carry. */
const TOKEN_TEXT = /^[A-Za-z0-9._~+/=-]{16,16384}$/;

function parseTokenAnswer(body: Buffer): TokenAnswer | undefined {
  let answer: Record<string, unknown> | undefined;
  try {
    answer = asRecord(JSON.parse(body.toString('utf8')));
  } catch {
    return undefined;
  }
  const accessToken = answer?.access_token;
  const tokenType = answer?.token_type;
  const raw = answer?.expires_in;
  // Entra sends a number; its v1 endpoint once sent a string of digits.
  const expiresIn = typeof raw === 'number' ? raw : typeof raw === 'string' && /^[0-9]{1,9}$/.test(raw) ? Number(raw) : Number.NaN;
  if (typeof accessToken !== 'string' || !TOKEN_TEXT.test(accessToken)) return undefined;
  if (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer') return undefined;
  if (!Number.isInteger(expiresIn) || expiresIn <= 0 || expiresIn > MAX_LIFETIME_SECONDS) return undefined;
  return { accessToken, expiresInSeconds: expiresIn };
}

/** The access token's claims, decoded without verification: for display only (its `oid`), never for a decision. */
function unverifiedClaims(accessToken: string): Record<string, unknown> {
  const payload = accessToken.split('.')[1];
  if (!payload) return {};
  try {
    return asRecord(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))) ?? {};
  } catch {
    return {};
  }
}

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

function identityOf(trait: AzureFederatedTrait, accessToken: string): string {
  const oid = unverifiedClaims(accessToken).oid;
  return `${trait.clientId}@${trait.tenantId}${typeof oid === 'string' && GUID.test(oid) ? ` (object ${oid})` : ''}`;
}

function noMatchHint(input: ExchangeInput<AzureFederatedTrait>): string {
  const { claims } = input.token;
  return (
    `app ${input.trait.clientId} needs a federated identity credential with issuer ${JSON.stringify(claims.iss)}, subject ${JSON.stringify(claims.sub)} and audience ${JSON.stringify(claims.aud.join(','))}, ` +
    `each matched exactly and case-sensitively (this token: project_path ${claims.project_path ?? 'absent'}, ref_type ${claims.ref_type ?? 'absent'}, ref ${claims.ref ?? 'absent'}); ` +
    'print the credentials that match the access file with `oam-grant trust-policy --component <name>`; a credential added in the last few minutes may not have reached every Entra node yet'
  );
}

function permanentHint(error: unknown, input: ExchangeInput<AzureFederatedTrait>): string {
  const { trait, token } = input;
  if (!(error instanceof EntraAnswerError)) return 'see the message above; nothing was exported';
  if (NO_MATCHING_CREDENTIAL.has(error.code)) return noMatchHint(input);
  switch (error.code) {
    case '700016':
      return `no application with client ID ${trait.clientId} in tenant ${trait.tenantId}: check clientId (the app registration's or managed identity's Application (client) ID) and tenantId of the azure-federated trait`;
    case '90002':
      return `tenant ${trait.tenantId} is not known at ${trait.authorityHost}: check tenantId, and authorityHost for a sovereign cloud (e.g. https://login.microsoftonline.us, https://login.chinacloudapi.cn)`;
    case '700024':
    case '500133':
      return 'the ID token was outside its validity when Entra ID checked it (expired, or a clock is off); re-run the job';
    case '700027':
    case '50013':
    case '50027':
    case '900384':
      return `Entra ID could not verify the ID token with the keys published at ${token.claims.iss}/.well-known/openid-configuration; check that they are reachable from the internet and that the token was passed unchanged`;
    case '70011':
    case '1002012':
    case '700022':
    case '700023':
    case '28002':
      return 'fix scope in the azure-federated trait: one resource followed by /.default, e.g. https://management.azure.com/.default';
    case '500011':
    case '50001':
      return `the resource of scope ${trait.scope} is not known in tenant ${trait.tenantId}: check scope in the azure-federated trait`;
    case '7000112':
    case '70001':
      return `the service principal of ${trait.clientId} is disabled in tenant ${trait.tenantId}: enable it (Enterprise applications > Properties > Enabled for users to sign in)`;
    case '7000215':
    case '7000218':
    case '7000222':
      return 'Entra ID did not take the ID token as a federated client assertion: check that clientId names the app registration or managed identity that holds the federated credential';
    case '53003':
    case '530032':
      return 'a Conditional Access policy for workload identities blocks this sign-in (e.g. by location): allow the runners\' network for this service principal';
    default:
      return `see Entra's message above${error.code ? ` and https://login.microsoftonline.com/error?code=${error.code}` : ''}; nothing was exported`;
  }
}

function transientHint(error: unknown, input: ExchangeInput<AzureFederatedTrait>): string {
  if (error instanceof EntraAnswerError && EXTERNAL_OIDC.has(error.code)) {
    return `Entra ID could not fetch ${input.token.claims.iss}/.well-known/openid-configuration or the keys it names (GitLab: /oauth/discovery/keys): the GitLab instance must be reachable from the internet for workload identity federation`;
  }
  return 'Entra ID or the network is failing; re-run the job later';
}

/** "AADSTS700213 (invalid_client): <description> (trace ID t, correlation ID c)", or the foreign error's name and message. */
function describeFailure(error: unknown, assertion: string): string {
  if (error instanceof EntraAnswerError) {
    const what = error.code ? `AADSTS${error.code}${error.error ? ` (${error.error})` : ''}` : `HTTP ${error.status}${error.error ? ` ${error.error}` : ''}`;
    const ids = [error.traceId && `trace ID ${error.traceId}`, error.correlationId && `correlation ID ${error.correlationId}`].filter(Boolean).join(', ');
    return `${what}${error.description ? `: ${error.description}` : ''}${ids ? ` (${ids})` : ''}`;
  }
  const e = error instanceof Error ? error : new Error(String(error));
  return `${e.name}: ${cleanDescription(e.message, assertion)}`;
}

export const azureFederatedProvider: CredentialProvider<AzureFederatedTrait> = {
  type: 'azure-federated',
  defaultAudience: () => AZURE_TOKEN_EXCHANGE_AUDIENCE,

  async exchange(input: ExchangeInput<AzureFederatedTrait>): Promise<IssuedCredentials> {
    const { trait, token, log } = input;
    const who = `${trait.clientId}@${trait.tenantId}`;
    const url = tokenEndpointFor(trait);
    const attemptMs = input.timeouts?.requestMs ?? PROVIDER_DEADLINE.attemptMs;
    const totalMs = input.timeouts?.totalMs ?? PROVIDER_DEADLINE.totalMs;
    // One correlation ID for every attempt: Entra logs it with the sign-in and returns it in errors.
    const correlationId = randomUUID();
    const body = new URLSearchParams({
      client_id: trait.clientId,
      scope: trait.scope,
      grant_type: 'client_credentials',
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: token.raw,
    }).toString();
    let sentAt = 0;
    let answer: TokenAnswer;
    try {
      answer = await withRetry(
        async (_, signal) => {
          sentAt = Date.now();
          const response = await httpRequest(url, {
            method: 'POST',
            body,
            headers: { 'content-type': 'application/x-www-form-urlencoded', 'client-request-id': correlationId, 'return-client-request-id': 'true' },
            timeoutMs: attemptMs,
            signal,
            maxBytes: MAX_ANSWER_BYTES,
          });
          if (response.status !== 200) throw entraErrorFrom(response, token.raw);
          const parsed = parseTokenAnswer(response.body);
          if (!parsed) {
            throw new OamError('ERR_EXCHANGE_FAILED', `${url.origin}${url.pathname} answered without a usable access token for ${who}`, {
              hint: 'check that authorityHost of the azure-federated trait points at Entra ID',
            });
          }
          return parsed;
        },
        {
          ...PROVIDER_RETRY,
          attemptTimeoutMs: attemptMs,
          budgetMs: totalMs,
          isTransient: isTransientEntraError,
          ...(input.sleep ? { sleep: input.sleep } : {}),
          onRetry: ({ attempt, delayMs, error }) => log.warn(`Entra ID answered ${describeFailure(error, token.raw)} (attempt ${attempt}); retrying in ${delayMs} ms`),
        },
      );
    } catch (error) {
      if (error instanceof OamError) throw error;
      const transient = isTransientEntraError(error);
      throw new OamError(
        'ERR_EXCHANGE_FAILED',
        transient
          ? `Entra ID stayed unavailable for ${who} after retries: ${describeFailure(error, token.raw)}`
          : `Entra ID refused the client credentials grant for ${who}: ${describeFailure(error, token.raw)}`,
        { hint: transient ? transientHint(error, input) : permanentHint(error, input), cause: error },
      );
    }
    const expiresAt = new Date(sentAt + answer.expiresInSeconds * 1000);
    const cap = input.maxDurationSeconds;
    if (cap !== undefined && answer.expiresInSeconds > cap) {
      // Entra picks the lifetime and cannot revoke the token: it is refused, never exported.
      throw new OamError(
        'ERR_POLICY_DENIED',
        `Entra ID issued ${who} a token valid for ${answer.expiresInSeconds} s, longer than the credential-limits cap of ${cap} s (maxDurationSeconds); it was not exported, and expires at ${expiresAt.toISOString()} (Entra access tokens cannot be revoked)`,
        {
          hint: "Entra picks the lifetime (60-90 minutes by default) and a request cannot shorten it: give the service principal a token lifetime policy (AccessTokenLifetime) within the cap, or raise maxDurationSeconds for this component",
        },
      );
    }
    const values: Record<string, string> = {
      AZURE_CLIENT_ID: trait.clientId,
      AZURE_TENANT_ID: trait.tenantId,
      ARM_CLIENT_ID: trait.clientId,
      ARM_TENANT_ID: trait.tenantId,
      AZURE_ACCESS_TOKEN: answer.accessToken,
      ...(trait.subscriptionId ? { AZURE_SUBSCRIPTION_ID: trait.subscriptionId, ARM_SUBSCRIPTION_ID: trait.subscriptionId } : {}),
    };
    return {
      // The names and their order are export-names.ts's, which validate and the dotenv limits were checked against.
      variables: exportedNames(trait).map((name) => [name, values[name] ?? ''] as const),
      // For exec only: `az login --federated-token` and Terraform's azurerm (use_oidc) sign in with the ID token themselves.
      execOnlyVariables: [
        ['AZURE_FEDERATED_TOKEN', token.raw],
        ['ARM_OIDC_TOKEN', token.raw],
        ['ARM_USE_OIDC', 'true'],
      ],
      secrets: [answer.accessToken, token.raw],
      expiresAt,
      identity: identityOf(trait, answer.accessToken),
      sessionName: correlationId,
    };
  },
};
