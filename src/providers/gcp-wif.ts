/**
 * Google Cloud: workload identity federation. An RFC 8693 token exchange at
 * Google's STS (`POST <stsEndpoint>/v1/token`, JSON as in the REST reference,
 * no Authorization header) gives a federated access token; with a service
 * account, IAM Credentials `generateAccessToken` (Bearer the federated token)
 * then gives the service account's token for `durationSeconds`.
 *
 * STS answers refusals OAuth-style, `{error, error_description}` (HTTP 400:
 * invalid_grant, invalid_request, invalid_target, unauthorized_client); IAM
 * Credentials as Google APIs do, `{error: {code, message, status}}`
 * (PERMISSION_DENIED...). Neither token can be revoked by its holder
 * (oauth2.googleapis.com/revoke answers "Token is not revocable." for service
 * account tokens): their short lifetime is the bound.
 */
import type { GcpWifTrait } from '../access-file/model.ts';
import { OamError } from '../errors.ts';
import { PROVIDER_DEADLINE, PROVIDER_RETRY } from '../lib/deadlines.ts';
import { httpRequest, isTransientStatus, parseSafeUrl } from '../lib/http.ts';
import { foreignLine } from '../lib/log.ts';
import { registerSecret } from '../lib/redact.ts';
import { DeadlineError, isTransientNetworkError, withRetry } from '../lib/retry.ts';
import { poolOf } from '../trust/gcp-wif.ts';
import type { CredentialProvider, ExchangeInput, IssuedCredentials } from './types.ts';

const GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const SUBJECT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/** Google's federated tokens are at most 12 KB; room for the JSON around one. */
const MAX_ANSWER_BYTES = 64 * 1024;
/** How much later than asked an expiry may be before it counts as longer than the file allows. */
const CLOCK_SKEW_MS = 60_000;
/** STS's word for an issuer whose discovery or keys it could not fetch: worth another try, as AWS's IDPCommunicationError. */
const ISSUER_UNREACHABLE = /error connecting to the given credential's issuer/i;

type Service = 'STS' | 'IAM Credentials';

/** A refusal or failure as Google answered it, without the body beyond its code and description. */
export class GoogleServiceError extends Error {
  readonly service: Service;
  readonly status: number;
  /** `invalid_grant` (STS) or `PERMISSION_DENIED` (IAM Credentials), else `HTTP <status>`. */
  readonly code: string;
  readonly description: string;
  constructor(service: Service, status: number, code: string, description: string) {
    super(`${code}: ${description}`);
    this.name = 'GoogleServiceError';
    this.service = service;
    this.status = status;
    this.code = code;
    this.description = description;
  }
}

/** Reads either error shape; anything else becomes `HTTP <status>`. */
export function parseGoogleError(service: Service, status: number, body: Buffer): GoogleServiceError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const record = parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
  const error = record.error;
  if (typeof error === 'string') {
    const description = typeof record.error_description === 'string' ? record.error_description : '';
    return new GoogleServiceError(service, status, error, description);
  }
  if (error !== null && typeof error === 'object') {
    const e = error as Record<string, unknown>;
    const code = typeof e.status === 'string' ? e.status : `HTTP ${status}`;
    return new GoogleServiceError(service, status, code, typeof e.message === 'string' ? e.message : '');
  }
  return new GoogleServiceError(service, status, `HTTP ${status}`, 'no error description');
}

/** 429, 5xx, an issuer STS could not reach, and socket failures are worth another try; refusals are not. */
export function isTransientGoogleError(error: unknown): boolean {
  if (error instanceof GoogleServiceError) {
    return isTransientStatus(error.status) || ISSUER_UNREACHABLE.test(error.description);
  }
  return isTransientNetworkError(error);
}

function errorCode(error: unknown): string {
  if (error instanceof GoogleServiceError) return error.code;
  return error instanceof Error ? error.name : 'Error';
}

/** One line, bounded, without the tokens (a foreign message could echo what it was sent). */
function describe(error: unknown, secrets: readonly string[]): string {
  const text = error instanceof GoogleServiceError ? error.description : error instanceof Error ? error.message : String(error);
  return foreignLine(text, 300, secrets);
}

/** What the provider expects next to what the token carries: the line every refusal's hint ends with. */
function tokenFacts(input: ExchangeInput<GcpWifTrait>): string {
  const c = input.token.claims;
  const q = (value: string | undefined) => (value === undefined ? 'absent' : JSON.stringify(value));
  return (
    `the token: iss ${q(c.iss)}, aud ${q(c.aud.join(','))}, sub ${q(c.sub)}, project_path ${q(c.project_path)}, ref_type ${q(c.ref_type)}, ref ${q(c.ref)}, ref_protected ${q(c.ref_protected)}; ` +
    `print the provider's expected configuration with \`oam-grant trust-policy --component <name>\``
  );
}

function stsHint(error: GoogleServiceError, input: ExchangeInput<GcpWifTrait>): string {
  const wip = input.trait.workloadIdentityProvider;
  const facts = tokenFacts(input);
  switch (error.code) {
    case 'unauthorized_client':
      return `the provider's attribute condition must admit this project and ref; ${facts}`;
    case 'invalid_grant':
      if (/audience/i.test(error.description)) return `the provider's allowed audiences must include the token's aud (empty allows https://iam.googleapis.com/${wip}); ${facts}`;
      if (/stale|expired/i.test(error.description)) return `the ID token expired before the exchange; re-run the job; ${facts}`;
      return `the provider's issuer must be ${input.token.claims.iss} and Google must be able to fetch its keys; ${facts}`;
    case 'invalid_target':
      return `no enabled provider ${wip}: check workloadIdentityProvider (the project number, not its id) and that the pool and provider are enabled`;
    case 'invalid_request':
      if (/127/.test(error.description)) return `GitLab's sub is longer than Google's 127-byte google.subject: map google.subject to a shorter expression; ${facts}`;
      return `check workloadIdentityProvider and scopes in the gcp-wif trait; ${facts}`;
    default:
      return `see the message above; nothing was exported; ${facts}`;
  }
}

function iamHint(error: GoogleServiceError, input: ExchangeInput<GcpWifTrait>): string {
  const { trait, token } = input;
  const member = `principalSet://iam.googleapis.com/${poolOf(trait.workloadIdentityProvider)}/attribute.project_path/${token.claims.project_path ?? '<project>'}`;
  switch (error.code) {
    case 'PERMISSION_DENIED':
      return `grant roles/iam.workloadIdentityUser on ${trait.serviceAccount} to ${member}, and check that the service account exists; ${tokenFacts(input)}`;
    case 'UNAUTHENTICATED':
      return 'IAM Credentials did not accept the federated token: stsEndpoint and iamCredentialsEndpoint must belong to the same Google';
    case 'NOT_FOUND':
      return `check serviceAccount (${trait.serviceAccount}) in the gcp-wif trait`;
    case 'FAILED_PRECONDITION':
      return `the service account ${trait.serviceAccount} may be disabled; enable it or name another`;
    case 'INVALID_ARGUMENT':
      return 'check serviceAccount, scopes and durationSeconds in the gcp-wif trait';
    default:
      return 'see the message above; nothing was exported';
  }
}

interface Call {
  readonly service: Service;
  readonly url: URL;
  readonly body: unknown;
  readonly headers?: Record<string, string>;
}

/** POST JSON, answer JSON; a non-2xx answer becomes a GoogleServiceError. */
async function postJson(call: Call, signal: AbortSignal, timeoutMs: number): Promise<Record<string, unknown>> {
  const response = await httpRequest(call.url, {
    method: 'POST',
    body: JSON.stringify(call.body),
    headers: { 'content-type': 'application/json', ...call.headers },
    timeoutMs,
    signal,
    maxBytes: MAX_ANSWER_BYTES,
  });
  if (response.status < 200 || response.status >= 300) throw parseGoogleError(call.service, response.status, response.body);
  let parsed: unknown;
  try {
    parsed = JSON.parse(response.body.toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new GoogleServiceError(call.service, response.status, 'BadAnswer', 'the answer is not a JSON object');
  }
  return parsed as Record<string, unknown>;
}

/** A token Google issued: printable ASCII without spaces, as OAuth 2.0 tokens are; anything else is refused. */
function tokenField(answer: Record<string, unknown>, field: string): string | undefined {
  const value = answer[field];
  return typeof value === 'string' && /^[\x21-\x7e]{16,16384}$/.test(value) ? value : undefined;
}

export const gcpWifProvider: CredentialProvider<GcpWifTrait> = {
  type: 'gcp-wif',
  defaultAudience: (trait) => `https://iam.googleapis.com/${trait.workloadIdentityProvider}`,

  async exchange(input: ExchangeInput<GcpWifTrait>): Promise<IssuedCredentials> {
    const { trait, token, log } = input;
    // The build normalises the endpoints but does not refuse plain http: the token must never travel there.
    const stsUrl = parseSafeUrl(`${trait.stsEndpoint}/v1/token`, 'gcp-wif stsEndpoint', 'ERR_METADATA_INVALID');
    const iamUrl = trait.serviceAccount
      ? parseSafeUrl(
          `${trait.iamCredentialsEndpoint}/v1/projects/-/serviceAccounts/${trait.serviceAccount}:generateAccessToken`,
          'gcp-wif iamCredentialsEndpoint',
          'ERR_METADATA_INVALID',
        )
      : undefined;
    const attemptMs = input.timeouts?.requestMs ?? PROVIDER_DEADLINE.attemptMs;
    const totalMs = input.timeouts?.totalMs ?? PROVIDER_DEADLINE.totalMs;
    const started = Date.now();
    const secrets: string[] = [token.raw];
    const identity = trait.serviceAccount ?? trait.workloadIdentityProvider;

    /** One call with retries, within what is left of the exchange's total budget. */
    const send = async (call: Call): Promise<Record<string, unknown>> => {
      try {
        return await withRetry((_, signal) => postJson(call, signal, attemptMs), {
          ...PROVIDER_RETRY,
          attemptTimeoutMs: attemptMs,
          budgetMs: Math.max(1, totalMs - (Date.now() - started)),
          isTransient: isTransientGoogleError,
          ...(input.sleep ? { sleep: input.sleep } : {}),
          onRetry: ({ attempt, delayMs, error }) => log.warn(`Google ${call.service} answered ${errorCode(error)} (attempt ${attempt}); retrying in ${delayMs} ms`),
        });
      } catch (error) {
        const code = errorCode(error);
        const detail = describe(error, secrets);
        if (error instanceof DeadlineError || isTransientGoogleError(error)) {
          const issuerTrouble = error instanceof GoogleServiceError && ISSUER_UNREACHABLE.test(error.description);
          throw new OamError('ERR_EXCHANGE_FAILED', `Google ${call.service} stayed unavailable for ${identity} after retries: ${code}: ${detail}`, {
            hint: issuerTrouble
              ? `Google could not fetch ${token.claims.iss}/.well-known/openid-configuration or its keys: a self-managed GitLab must be reachable from Google; re-run the job later`
              : `Google ${call.service} or the network is failing; re-run the job later`,
            cause: error,
          });
        }
        const refusal = error instanceof GoogleServiceError ? error : new GoogleServiceError(call.service, 0, code, detail);
        throw new OamError(
          'ERR_EXCHANGE_FAILED',
          call.service === 'STS'
            ? `Google STS refused the token exchange for ${trait.workloadIdentityProvider}: ${code}: ${detail}`
            : `Google IAM Credentials refused generateAccessToken for ${trait.serviceAccount}: ${code}: ${detail}`,
          { hint: call.service === 'STS' ? stsHint(refusal, input) : iamHint(refusal, input), cause: error },
        );
      }
    };

    const exchanged = await send({
      service: 'STS',
      url: stsUrl,
      body: {
        audience: `//iam.googleapis.com/${trait.workloadIdentityProvider}`,
        grantType: GRANT_TYPE,
        requestedTokenType: ACCESS_TOKEN_TYPE,
        scope: trait.scopes.join(' '),
        subjectTokenType: SUBJECT_TOKEN_TYPE,
        subjectToken: token.raw,
      },
    });
    const federated = tokenField(exchanged, 'access_token');
    const expiresIn = exchanged.expires_in;
    if (!federated || typeof expiresIn !== 'number' || !Number.isInteger(expiresIn) || expiresIn <= 0) {
      throw new OamError('ERR_EXCHANGE_FAILED', `Google STS answered without a usable access_token and expires_in for ${trait.workloadIdentityProvider}`, {
        hint: 'check that stsEndpoint points at Google STS (default https://sts.googleapis.com)',
      });
    }
    secrets.push(federated);
    // At once: a failing generateAccessToken's error (and its cause, shown with --debug) must not carry it.
    registerSecret(federated);

    let accessToken = federated;
    let expiresAt = new Date(Date.now() + expiresIn * 1000);
    if (trait.serviceAccount && iamUrl) {
      const generated = await send({
        service: 'IAM Credentials',
        url: iamUrl,
        headers: { authorization: `Bearer ${federated}` },
        body: { scope: [...trait.scopes], lifetime: `${trait.durationSeconds}s` },
      });
      const saToken = tokenField(generated, 'accessToken');
      const expireTime = typeof generated.expireTime === 'string' ? Date.parse(generated.expireTime) : Number.NaN;
      if (!saToken || Number.isNaN(expireTime)) {
        throw new OamError('ERR_EXCHANGE_FAILED', `Google IAM Credentials answered without a usable accessToken and expireTime for ${trait.serviceAccount}`, {
          hint: 'check that iamCredentialsEndpoint points at IAM Credentials (default https://iamcredentials.googleapis.com)',
        });
      }
      secrets.push(saToken);
      if (expireTime > Date.now() + trait.durationSeconds * 1000 + CLOCK_SKEW_MS) {
        throw new OamError('ERR_EXCHANGE_FAILED', `Google IAM Credentials issued a token for ${trait.serviceAccount} until ${new Date(expireTime).toISOString()}, longer than durationSeconds ${trait.durationSeconds} allows; it was not exported`, {
          hint: 'check that iamCredentialsEndpoint points at IAM Credentials',
        });
      }
      accessToken = saToken;
      expiresAt = new Date(expireTime);
    } else if (input.maxDurationSeconds !== undefined && expiresIn > input.maxDurationSeconds) {
      // The file sets no lifetime here; Google does (about an hour), and the holder cannot shorten or revoke it.
      throw new OamError(
        'ERR_POLICY_DENIED',
        `Google STS issued a federated token for ${expiresIn} s, longer than the credential-limits cap of ${input.maxDurationSeconds} s for this component; it was not exported`,
        { hint: `set serviceAccount in the gcp-wif trait (its token lives durationSeconds, at most ${input.maxDurationSeconds}), or raise maxDurationSeconds` },
      );
    }

    const variables: [string, string][] = [
      ['CLOUDSDK_AUTH_ACCESS_TOKEN', accessToken],
      ['GOOGLE_OAUTH_ACCESS_TOKEN', accessToken],
    ];
    if (trait.projectId) variables.push(['CLOUDSDK_CORE_PROJECT', trait.projectId], ['GOOGLE_CLOUD_PROJECT', trait.projectId]);
    return {
      variables,
      secrets: secrets.slice(1),
      expiresAt,
      identity:
        trait.serviceAccount ?? `principal://iam.googleapis.com/${poolOf(trait.workloadIdentityProvider)}/subject/${token.claims.sub}`,
      sessionName: '',
    };
  },
};
