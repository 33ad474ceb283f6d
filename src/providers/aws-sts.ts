/**
 * AWS: AssumeRoleWithWebIdentity through @aws-sdk/client-sts, with our own
 * retry policy so that permanent refusals fail at once and transient ones are
 * retried with backoff and jitter within a bounded time.
 */
import type { AssumeRoleWithWebIdentityCommandOutput } from '@aws-sdk/client-sts';
import type { AwsStsTrait } from '../access-file/model.ts';
import { OamError } from '../errors.ts';
import { PROVIDER_RETRY, STS_DEADLINE } from '../lib/deadlines.ts';
import { isLoopbackHost, parseSafeUrl } from '../lib/http.ts';
import { loadAwsSts } from '../lib/lazy-module.ts';
import { isTransientNetworkError, withRetry } from '../lib/retry.ts';
import type { CredentialProvider, ExchangeInput, IssuedCredentials } from './types.ts';

const TRANSIENT_CODES = new Set([
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'IDPCommunicationError',
  'IDPCommunicationErrorException',
  'InternalFailure',
  'InternalError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'RequestTimeout',
  'RequestTimeoutException',
]);

interface AwsErrorShape {
  name?: string;
  message?: string;
  $fault?: string;
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

function asAwsError(error: unknown): AwsErrorShape {
  return error !== null && typeof error === 'object' ? (error as AwsErrorShape) : {};
}

/** Throttling, IdP hiccups, 5xx and socket failures are worth another try; refusals are not. */
export function isTransientAwsError(error: unknown): boolean {
  const e = asAwsError(error);
  if (e.name && TRANSIENT_CODES.has(e.name)) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  return isTransientNetworkError(error);
}

/** The variables AWS's tools read for the STS endpoint, most specific first. */
const ENDPOINT_VARIABLES = ['AWS_ENDPOINT_URL_STS', 'AWS_ENDPOINT_URL'] as const;

export interface StsEndpointChoice {
  /** Undefined = the SDK's regional endpoint. */
  readonly endpoint: string | undefined;
  /** A variable that was set but not honoured, for a warning. */
  readonly ignored?: { readonly variable: string; readonly value: string };
}

/**
 * Where the exchange token goes: the trait's `stsEndpoint` (reviewed), else
 * AWS's own endpoint. AWS's endpoint variables may redirect it only to a
 * loopback host (tests, local runs): whoever runs a pipeline may set them, and
 * a real exchange token sent to their host is a key to the role.
 */
export function chooseStsEndpoint(trait: Pick<AwsStsTrait, 'stsEndpoint'>, env: Readonly<Record<string, string | undefined>>): StsEndpointChoice {
  for (const variable of ENDPOINT_VARIABLES) {
    const value = env[variable]?.trim();
    if (!value) continue;
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      url = undefined;
    }
    if (url && isLoopbackHost(url.hostname)) return { endpoint: parseSafeUrl(value, variable).href.replace(/\/$/, '') };
    return { endpoint: trait.stsEndpoint, ignored: { variable, value } };
  }
  return { endpoint: trait.stsEndpoint };
}

/** The region STS is called in without `region` in the trait: the role's partition's usual one. */
export function defaultRegionFor(roleArn: string): string {
  const partition = roleArn.split(':')[1];
  if (partition === 'aws-cn') return 'cn-north-1';
  if (partition === 'aws-us-gov') return 'us-gov-west-1';
  return 'us-east-1';
}

function permanentHint(code: string, input: ExchangeInput<AwsStsTrait>): string {
  const { claims } = input.token;
  switch (code) {
    case 'AccessDenied':
      return (
        `the role's trust policy must allow this token: sub ${JSON.stringify(claims.sub)}, aud ${JSON.stringify(claims.aud.join(','))}, ` +
        `federated principal for ${claims.iss.replace(/^https?:\/\//, '')}; print a matching policy with \`oam-grant trust-policy --component <name>\``
      );
    case 'InvalidIdentityToken':
    case 'InvalidIdentityTokenException':
      return `register ${claims.iss} as an IAM OIDC identity provider with audience ${JSON.stringify(claims.aud[0] ?? '')}, and make sure AWS can reach its /.well-known/openid-configuration`;
    case 'ExpiredTokenException':
      return 'the ID token expired before the exchange; re-run the job';
    case 'PackedPolicyTooLarge':
    case 'PackedPolicyTooLargeException':
      return 'shorten sessionPolicy or use fewer policyArns';
    case 'MalformedPolicyDocument':
    case 'MalformedPolicyDocumentException':
      return 'fix sessionPolicy in the access file; `oam-grant validate` checks its shape';
    case 'ValidationError':
      return "check roleArn, durationSeconds (at most the role's maximum session duration) and region";
    case 'RegionDisabledException':
      return 'activate STS in this region, or set region in the aws-sts trait';
    default:
      return 'see the message above; nothing was exported';
  }
}

export const awsStsProvider: CredentialProvider<AwsStsTrait> = {
  type: 'aws-sts',
  defaultAudience: () => 'sts.amazonaws.com',

  async exchange(input: ExchangeInput<AwsStsTrait>): Promise<IssuedCredentials> {
    const { trait, token, sessionName, env, log } = input;
    const { endpoint, ignored } = chooseStsEndpoint(trait, env);
    if (ignored) {
      log.warn(
        `${ignored.variable} is ignored: the STS endpoint comes from the access file (stsEndpoint) and a variable may only point it at a loopback host; ` +
          `using ${endpoint ?? "AWS's regional endpoint"}`,
      );
    }
    // Not AWS_REGION: a variable must not pick where the token goes, even among AWS's regions.
    const region = trait.region ?? defaultRegionFor(trait.roleArn);
    // The bundled SDK is pinned; its warning about future SDK releases needing Node 22 is
    // not something a pipeline can act on, so it stays out of the job log.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    // Loaded here so that validate, plan and trust-policy never pay for the SDK.
    const { STSClient, AssumeRoleWithWebIdentityCommand } = await loadAwsSts();
    const connectMs = input.timeouts?.connectMs ?? STS_DEADLINE.connectMs;
    const attemptMs = input.timeouts?.requestMs ?? STS_DEADLINE.attemptMs;
    const totalMs = input.timeouts?.totalMs ?? STS_DEADLINE.totalMs;
    const client = new STSClient({
      region,
      ...(endpoint ? { endpoint } : {}),
      // The SDK would otherwise read AWS_ENDPOINT_URL(_STS) and a profile's endpoint_url itself, and send the token there.
      ignoreConfiguredEndpointUrls: true,
      maxAttempts: 1,
      requestHandler: {
        connectionTimeout: connectMs,
        // The SDK's requestTimeout ends at the response headers, not at the body's last
        // byte; the attempt deadline below (an abortSignal per send) bounds the rest.
        requestTimeout: attemptMs,
        // Without it the SDK only logs a warning when the time is up, and keeps waiting.
        throwOnRequestTimeout: true,
      },
    });
    const command = new AssumeRoleWithWebIdentityCommand({
      RoleArn: trait.roleArn,
      RoleSessionName: sessionName,
      WebIdentityToken: token.raw,
      DurationSeconds: trait.durationSeconds,
      ...(trait.sessionPolicy ? { Policy: JSON.stringify(trait.sessionPolicy) } : {}),
      ...(trait.policyArns.length > 0 ? { PolicyArns: trait.policyArns.map((arn) => ({ arn })) } : {}),
    });
    let output: AssumeRoleWithWebIdentityCommandOutput;
    try {
      // The abort signal fires at the attempt's deadline: the SDK then destroys the request and its socket.
      output = await withRetry((_, signal) => client.send(command, { abortSignal: signal }), {
        ...PROVIDER_RETRY,
        attemptTimeoutMs: attemptMs,
        budgetMs: totalMs,
        isTransient: isTransientAwsError,
        ...(input.sleep ? { sleep: input.sleep } : {}),
        onRetry: ({ attempt, delayMs, error }) =>
          log.warn(`STS answered ${asAwsError(error).name ?? 'an error'} (attempt ${attempt}); retrying in ${delayMs} ms`),
      });
    } catch (error) {
      const e = asAwsError(error);
      const code = e.name ?? 'Error';
      const transient = isTransientAwsError(error);
      const message = (e.message ?? String(error)).slice(0, 500);
      throw new OamError(
        'ERR_EXCHANGE_FAILED',
        transient
          ? `STS stayed unavailable for ${trait.roleArn} after retries: ${code}: ${message}`
          : `STS refused AssumeRoleWithWebIdentity for ${trait.roleArn}: ${code}: ${message}`,
        { hint: transient ? 'STS or the network is failing; re-run the job later' : permanentHint(code, input), cause: error },
      );
    } finally {
      client.destroy();
    }
    const credentials = output.Credentials;
    if (!credentials?.AccessKeyId || !credentials.SecretAccessKey || !credentials.SessionToken || !credentials.Expiration) {
      throw new OamError('ERR_EXCHANGE_FAILED', `STS answered without complete credentials for ${trait.roleArn}`, {
        hint: 'check that stsEndpoint (or a loopback AWS_ENDPOINT_URL_STS) points at STS',
      });
    }
    const variables: [string, string][] = [
      ['AWS_ACCESS_KEY_ID', credentials.AccessKeyId],
      ['AWS_SECRET_ACCESS_KEY', credentials.SecretAccessKey],
      ['AWS_SESSION_TOKEN', credentials.SessionToken],
    ];
    if (trait.region) variables.push(['AWS_REGION', trait.region], ['AWS_DEFAULT_REGION', trait.region]);
    return {
      variables,
      // The key id is not secret to AWS, but nothing needs it in a log either.
      secrets: [credentials.AccessKeyId, credentials.SecretAccessKey, credentials.SessionToken],
      expiresAt: credentials.Expiration,
      identity: output.AssumedRoleUser?.Arn ?? trait.roleArn,
      sessionName,
    };
  },
};
