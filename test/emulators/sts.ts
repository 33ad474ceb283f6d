import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { compactVerify, createRemoteJWKSet, decodeJwt, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { clientGaveUp, listenLoopback, sleep } from './server.ts';
import { computeSignature, parseAmzDate, parseAuthorization, signaturesEqual } from './sigv4.ts';

/**
 * An AWS STS emulator on loopback speaking the AWS Query protocol (form
 * POST in, XML out, AWS's error shapes), for AssumeRoleWithWebIdentity and a
 * SigV4-verified GetCallerIdentity. It verifies web identity tokens the way
 * AWS does: registered provider, discovery + JWKS over HTTP, RS256,
 * audience, expiry, then the role's trust policy.
 */
export interface StsEmulator {
  readonly url: string;
  readonly accountId: string;
  readonly calls: StsCall[];
  readonly issued: IssuedCredentials[];
  /** Each fault is consumed by exactly one request, in order. */
  injectFaults(...faults: StsFault[]): void;
  /** Moves the emulator's clock (token and credential expiry), e.g. to expire issued credentials. */
  advanceClock(seconds: number): void;
  close(): Promise<void>;
}

export interface StsProvider {
  /** The `iss` exactly as tokens carry it. */
  readonly issuerUrl: string;
  /** The provider's client IDs: a token's `aud` must contain one. */
  readonly audiences: string[];
}

export interface StsRole {
  readonly arn: string;
  /** Seconds, default 3600 as on AWS. */
  readonly maxSessionDuration?: number;
  readonly trust: {
    readonly issuerUrl: string;
    readonly audience: string;
    /** IAM StringLike patterns for `sub`: `*` any run, `?` one character. */
    readonly subPatterns: string[];
  };
}

export interface StsOptions {
  readonly providers: StsProvider[];
  readonly roles: StsRole[];
  readonly port?: number;
  readonly accountId?: string;
}

export interface StsCall {
  readonly action: string;
  readonly params: Record<string, string>;
  readonly status: number;
  readonly errorCode?: string;
  readonly at: number;
}

export interface IssuedCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
  readonly roleArn: string;
  readonly sessionName: string;
  readonly policy?: string;
  readonly policyArns: string[];
  /** The verified token's `sub`, for assertions on what was exchanged. */
  readonly subject: string;
}

export type StsFault =
  | { readonly kind: 'throttle' }
  | { readonly kind: 'idp-communication' }
  | { readonly kind: 'status'; readonly status: 500 | 503 }
  | { readonly kind: 'reset' }
  | { readonly kind: 'delay'; readonly ms: number };

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const VERSION = '2011-06-15';
const ROLE_ARN = /^arn:aws[a-z-]*:iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]{1,64})$/;
const POLICY_ARN = /^arn:aws[a-z-]*:iam::(\d{12}|aws):policy\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]{1,128}$/;
const SESSION_NAME = /^[\w+=,.@-]*$/;
const MAX_PACKED_POLICY = 2048;
/** AWS refuses SigV4 requests whose x-amz-date is further than this from its clock. */
const MAX_REQUEST_SKEW_MS = 15 * 60 * 1000;

/** An STS error: code and HTTP status as AWS sends them. */
class StsError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, status: number, message: string) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

const validation = (problems: string[]) =>
  new StsError(
    'ValidationError',
    400,
    `${problems.length} validation error${problems.length === 1 ? '' : 's'} detected: ${problems.join('; ')}`,
  );
const accessDenied = () => new StsError('AccessDenied', 403, 'Not authorized to perform sts:AssumeRoleWithWebIdentity');
const invalidToken = (message: string) => new StsError('InvalidIdentityToken', 400, message);
const idpCommunication = () =>
  new StsError(
    'IDPCommunicationError',
    400,
    "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements",
  );
const invalidClientTokenId = () =>
  new StsError('InvalidClientTokenId', 403, 'The security token included in the request is invalid.');

function xmlEscape(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function randomUpperAlnum(length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/** AWS timestamps carry seconds, not milliseconds. */
function awsTime(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

/** IAM StringLike: `*` matches any run (including `/`), `?` one character, case-sensitive. */
export function stringLike(pattern: string, value: string): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\*?]/g, (c) => (c === '*' ? '.*' : c === '?' ? '.' : `\\${c}`));
  return new RegExp(`^${source}$`, 's').test(value);
}

function constraint(value: string | null, field: string, rule: string): string {
  return `Value ${value === null ? 'null' : `'${value}'`} at '${field}' failed to satisfy constraint: Member must ${rule}`;
}

function checkLength(value: string, field: string, min: number, max: number, problems: string[]): void {
  if (value.length < min) problems.push(constraint(value, field, `have length greater than or equal to ${min}`));
  if (value.length > max) problems.push(constraint(value, field, `have length less than or equal to ${max}`));
}

interface ProviderKeys {
  readonly getKey: JWTVerifyGetKey;
}

/**
 * Starts the emulator on 127.0.0.1.
 *
 * @example
 *   const sts = await startSts({
 *     providers: [{ issuerUrl: issuer.url, audiences: ['sts.amazonaws.com'] }],
 *     roles: [{ arn: 'arn:aws:iam::123456789012:role/ci', trust: { issuerUrl: issuer.url, audience: 'sts.amazonaws.com', subPatterns: ['project_path:acme/payments:*'] } }],
 *   });
 *   new STSClient({ endpoint: sts.url, region: 'us-east-1' });
 */
export async function startSts(opts: StsOptions): Promise<StsEmulator> {
  const accountId = opts.accountId ?? ROLE_ARN.exec(opts.roles[0]?.arn ?? '')?.[1] ?? '123456789012';
  const calls: StsCall[] = [];
  const issued: IssuedCredentials[] = [];
  const faults: StsFault[] = [];
  const providerKeys = new Map<string, Promise<ProviderKeys>>();
  const roleIds = new Map<string, string>();
  let clockOffsetMs = 0;
  const now = () => Date.now() + clockOffsetMs;

  const roleId = (arn: string) => {
    let id = roleIds.get(arn);
    if (!id) {
      id = `AROA${randomUpperAlnum(17)}`;
      roleIds.set(arn, id);
    }
    return id;
  };

  /** Discovery, then a JWKS that jose caches; a failed discovery is not cached so a later call retries. */
  const keysFor = (issuerUrl: string): Promise<ProviderKeys> => {
    let pending = providerKeys.get(issuerUrl);
    if (!pending) {
      pending = (async () => {
        const res = await fetch(`${issuerUrl.replace(/\/$/, '')}/.well-known/openid-configuration`, {
          headers: { 'user-agent': 'sts-emulator' },
          signal: AbortSignal.timeout(5000),
        });
        if (res.status !== 200) throw new Error(`discovery answered ${res.status}`);
        const meta: unknown = await res.json();
        const jwksUri = typeof meta === 'object' && meta !== null ? (meta as Record<string, unknown>).jwks_uri : undefined;
        if (typeof jwksUri !== 'string') throw new Error('discovery has no jwks_uri');
        // cooldownDuration 0: a rotated key is picked up at once, as AWS does after its cache expires.
        return {
          getKey: createRemoteJWKSet(new URL(jwksUri), {
            cooldownDuration: 0,
            timeoutDuration: 5000,
            headers: { 'user-agent': 'sts-emulator' },
          }),
        };
      })();
      providerKeys.set(issuerUrl, pending);
      pending.catch(() => providerKeys.delete(issuerUrl));
    }
    return pending;
  };

  const verifyWebIdentity = async (token: string): Promise<{ payload: JWTPayload; audience: string }> => {
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(token);
    } catch {
      throw invalidToken('The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)');
    }
    const iss = typeof unverified.iss === 'string' ? unverified.iss : '';
    const provider = opts.providers.find((p) => p.issuerUrl === iss);
    if (!provider) throw invalidToken(`No OpenIDConnect provider found in your account for ${iss}`);
    let keys: ProviderKeys;
    try {
      keys = await keysFor(provider.issuerUrl);
    } catch {
      throw idpCommunication();
    }
    let payload: JWTPayload;
    try {
      const verified = await compactVerify(token, keys.getKey, { algorithms: ['RS256'] });
      payload = JSON.parse(new TextDecoder().decode(verified.payload)) as JWTPayload;
    } catch (err: unknown) {
      const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
      const tokenProblems = [
        'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
        'ERR_JWKS_NO_MATCHING_KEY',
        'ERR_JWKS_MULTIPLE_MATCHING_KEYS',
        'ERR_JOSE_ALG_NOT_ALLOWED',
        'ERR_JWS_INVALID',
        'ERR_JOSE_NOT_SUPPORTED',
      ];
      if (typeof code === 'string' && tokenProblems.includes(code)) {
        throw invalidToken('Couldn\'t verify the signature of the ID token, or no key in the JWKS matches its "kid"');
      }
      throw idpCommunication();
    }
    const auds = Array.isArray(payload.aud) ? payload.aud : typeof payload.aud === 'string' ? [payload.aud] : [];
    const audience = auds.find((a) => provider.audiences.includes(a));
    if (audience === undefined) throw invalidToken('Incorrect token audience');
    const nowSeconds = Math.floor(now() / 1000);
    if (typeof payload.exp !== 'number') throw invalidToken('The ID Token provided is missing the exp claim');
    if (payload.exp <= nowSeconds) {
      throw new StsError(
        'ExpiredTokenException',
        400,
        `Token expired: current date/time ${nowSeconds} must be before the expiration date/time${payload.exp}`,
      );
    }
    if (typeof payload.nbf === 'number' && payload.nbf > nowSeconds + 60) {
      throw invalidToken('Token is not yet valid (nbf is in the future)');
    }
    return { payload, audience };
  };

  const assumeRoleWithWebIdentity = async (params: Record<string, string>): Promise<string> => {
    const problems: string[] = [];
    const roleArn = params.RoleArn ?? null;
    const sessionName = params.RoleSessionName ?? null;
    const token = params.WebIdentityToken ?? null;
    if (roleArn === null) problems.push(constraint(null, 'roleArn', 'not be null'));
    else checkLength(roleArn, 'roleArn', 20, 2048, problems);
    if (sessionName === null) problems.push(constraint(null, 'roleSessionName', 'not be null'));
    else {
      checkLength(sessionName, 'roleSessionName', 2, 64, problems);
      if (!SESSION_NAME.test(sessionName)) {
        problems.push(constraint(sessionName, 'roleSessionName', 'satisfy regular expression pattern: [\\w+=,.@-]*'));
      }
    }
    if (token === null) problems.push(constraint(null, 'webIdentityToken', 'not be null'));
    else checkLength(token, 'webIdentityToken', 4, 20000, problems);
    let duration = 3600;
    if (params.DurationSeconds !== undefined) {
      duration = Number(params.DurationSeconds);
      if (!/^-?[0-9]+$/.test(params.DurationSeconds)) {
        problems.push(constraint(params.DurationSeconds, 'durationSeconds', 'be an integer'));
      } else if (duration < 900) {
        problems.push(constraint(params.DurationSeconds, 'durationSeconds', 'have value greater than or equal to 900'));
      } else if (duration > 43200) {
        problems.push(constraint(params.DurationSeconds, 'durationSeconds', 'have value less than or equal to 43200'));
      }
    }
    const policyArns: string[] = [];
    for (let n = 1; params[`PolicyArns.member.${n}.arn`] !== undefined; n++) {
      policyArns.push(params[`PolicyArns.member.${n}.arn`]!);
    }
    if (policyArns.length > 10) {
      problems.push(
        constraint(`[${policyArns.join(', ')}]`, 'policyArns', 'have length less than or equal to 10'),
      );
    }
    const policy = params.Policy;
    if (policy !== undefined) checkLength(policy, 'policy', 1, 100000, problems);
    if (problems.length > 0) throw validation(problems);

    const arnMatch = ROLE_ARN.exec(roleArn!);
    if (!arnMatch) throw new StsError('ValidationError', 400, 'Request ARN is invalid');
    for (const arn of policyArns) {
      if (!POLICY_ARN.test(arn)) throw new StsError('ValidationError', 400, `Invalid policy ARN: ${arn}`);
    }
    let packedLength = 0;
    if (policy !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(policy);
      } catch {
        throw new StsError('MalformedPolicyDocument', 400, 'Syntax errors in policy.');
      }
      const doc = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed : undefined;
      const statement = doc ? (doc as Record<string, unknown>).Statement : undefined;
      if (!doc || typeof statement !== 'object' || statement === null) {
        throw new StsError('MalformedPolicyDocument', 400, 'Syntax errors in policy.');
      }
      const version = (doc as Record<string, unknown>).Version;
      if (version !== undefined && version !== '2012-10-17' && version !== '2008-10-17') {
        throw new StsError('MalformedPolicyDocument', 400, 'The policy must contain a valid version string');
      }
      // AWS counts the policy without insignificant whitespace; re-serialising drops exactly that.
      packedLength = JSON.stringify(parsed).length;
    }
    // Managed policy ARNs take packed space too; roughly what AWS charges for each.
    packedLength += policyArns.reduce((sum, arn) => sum + arn.length, 0);
    const packedPercent = Math.ceil((packedLength / MAX_PACKED_POLICY) * 100);
    if (packedLength > MAX_PACKED_POLICY) {
      throw new StsError(
        'PackedPolicyTooLarge',
        400,
        `Packed policy consumes ${packedPercent}% of allotted space, please use smaller policy.`,
      );
    }

    const { payload, audience } = await verifyWebIdentity(token!);
    const role = opts.roles.find((r) => r.arn === roleArn);
    const sub = typeof payload.sub === 'string' ? payload.sub : '';
    const auds = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    const trusted =
      role !== undefined &&
      role.trust.issuerUrl === payload.iss &&
      auds.includes(role.trust.audience) &&
      role.trust.subPatterns.some((p) => stringLike(p, sub));
    if (!role || !trusted) throw accessDenied();
    if (duration > (role.maxSessionDuration ?? 3600)) {
      throw new StsError(
        'ValidationError',
        400,
        'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.',
      );
    }

    const roleName = arnMatch[2]!;
    const creds: IssuedCredentials = {
      accessKeyId: `ASIA${randomUpperAlnum(16)}`,
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: `IQoJb3JpZ2luX2VjE${randomBytes(300).toString('base64')}`,
      expiration: new Date(Math.floor(now() / 1000) * 1000 + duration * 1000),
      roleArn: roleArn!,
      sessionName: sessionName!,
      policy,
      policyArns,
      subject: sub,
    };
    issued.push(creds);
    return [
      '<Credentials>',
      `<AccessKeyId>${creds.accessKeyId}</AccessKeyId>`,
      `<SecretAccessKey>${xmlEscape(creds.secretAccessKey)}</SecretAccessKey>`,
      `<SessionToken>${xmlEscape(creds.sessionToken)}</SessionToken>`,
      `<Expiration>${awsTime(creds.expiration)}</Expiration>`,
      '</Credentials>',
      `<SubjectFromWebIdentityToken>${xmlEscape(sub)}</SubjectFromWebIdentityToken>`,
      '<AssumedRoleUser>',
      `<AssumedRoleId>${roleId(role.arn)}:${xmlEscape(creds.sessionName)}</AssumedRoleId>`,
      `<Arn>arn:aws:sts::${arnMatch[1]}:assumed-role/${xmlEscape(roleName)}/${xmlEscape(creds.sessionName)}</Arn>`,
      '</AssumedRoleUser>',
      policy !== undefined || policyArns.length > 0 ? `<PackedPolicySize>${packedPercent}</PackedPolicySize>` : '',
      `<Provider>${xmlEscape(String(payload.iss))}</Provider>`,
      `<Audience>${xmlEscape(audience)}</Audience>`,
    ].join('');
  };

  const getCallerIdentity = (req: IncomingMessage, body: string): string => {
    const header = req.headers.authorization;
    if (header === undefined) {
      throw new StsError('MissingAuthenticationToken', 403, 'Request is missing Authentication Token');
    }
    const auth = parseAuthorization(header);
    if (!auth) {
      throw new StsError(
        'IncompleteSignature',
        400,
        `Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. Authorization=${header.split(' ')[0]}`,
      );
    }
    const amzDate = req.headers['x-amz-date'];
    if (typeof amzDate !== 'string') {
      throw new StsError(
        'IncompleteSignature',
        400,
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
      );
    }
    const creds = issued.find((c) => c.accessKeyId === auth.accessKeyId);
    if (!creds || req.headers['x-amz-security-token'] !== creds.sessionToken) throw invalidClientTokenId();
    if (!auth.signedHeaders.includes('host') || !auth.signedHeaders.includes('x-amz-security-token')) {
      throw new StsError(
        'SignatureDoesNotMatch',
        403,
        "'Host' and 'X-Amz-Security-Token' must be a signed header.",
      );
    }
    const expected = computeSignature(
      { method: req.method ?? 'POST', url: req.url ?? '/', headers: req.headers, body },
      auth,
      amzDate,
      creds.secretAccessKey,
    );
    if (auth.service !== 'sts' || auth.date !== amzDate.slice(0, 8) || !signaturesEqual(expected, auth.signature)) {
      throw new StsError(
        'SignatureDoesNotMatch',
        403,
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
      );
    }
    if (creds.expiration.getTime() <= now()) {
      throw new StsError('ExpiredToken', 403, 'The security token included in the request is expired');
    }
    const signedAt = parseAmzDate(amzDate);
    if (Number.isNaN(signedAt) || Math.abs(Date.now() - signedAt) > MAX_REQUEST_SKEW_MS) {
      throw new StsError(
        'SignatureDoesNotMatch',
        403,
        `Signature expired: ${amzDate} is now earlier than ${new Date(Date.now() - MAX_REQUEST_SKEW_MS).toISOString()}`,
      );
    }
    const arn = ROLE_ARN.exec(creds.roleArn)!;
    return [
      `<Arn>arn:aws:sts::${arn[1]}:assumed-role/${xmlEscape(arn[2]!)}/${xmlEscape(creds.sessionName)}</Arn>`,
      `<UserId>${roleId(creds.roleArn)}:${xmlEscape(creds.sessionName)}</UserId>`,
      `<Account>${arn[1]}</Account>`,
    ].join('');
  };

  const send = (res: ServerResponse, status: number, xml: string, requestId: string) => {
    res.writeHead(status, {
      'content-type': 'text/xml',
      'content-length': String(Buffer.byteLength(xml)),
      'x-amzn-requestid': requestId,
      date: new Date().toUTCString(),
    });
    res.end(xml);
  };

  const sendError = (res: ServerResponse, err: StsError, requestId: string) => {
    const type = err.status >= 500 ? 'Receiver' : 'Sender';
    send(
      res,
      err.status,
      `<ErrorResponse xmlns="${NS}"><Error><Type>${type}</Type><Code>${err.code}</Code><Message>${xmlEscape(err.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>\n`,
      requestId,
    );
  };

  const server = await listenLoopback(async (req, res, body) => {
    const requestId = randomUUID();
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const params: Record<string, string> = Object.fromEntries(url.searchParams);
    for (const [key, value] of new URLSearchParams(body)) params[key] = value;
    const action = params.Action ?? '';
    // Recorded when it arrives, in the test that made it, and completed when answered: a
    // delayed answer the client abandoned must not land in a later test's counts.
    const call: { -readonly [K in keyof StsCall]: StsCall[K] } = { action, params, status: 0, errorCode: 'pending', at: Date.now() };
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
      // The client gave up meanwhile: nothing is issued for a request nobody reads.
      if (abandoned()) return record(0, 'abandoned');
    }
    const injected =
      fault?.kind === 'throttle'
        ? new StsError('Throttling', 400, 'Rate exceeded')
        : fault?.kind === 'idp-communication'
          ? idpCommunication()
          : fault?.kind === 'status'
            ? fault.status === 503
              ? new StsError('ServiceUnavailable', 503, 'Service is unavailable. Please try again later.')
              : new StsError('InternalFailure', 500, 'An internal error occurred. Please try again.')
            : undefined;
    try {
      if (injected) throw injected;
      if (params.Version !== VERSION || !['AssumeRoleWithWebIdentity', 'GetCallerIdentity'].includes(action)) {
        throw new StsError(
          'InvalidAction',
          400,
          `Could not find operation ${action} for version ${params.Version ?? 'NO_VERSION_SPECIFIED'}`,
        );
      }
      const result =
        action === 'AssumeRoleWithWebIdentity'
          ? await assumeRoleWithWebIdentity(params)
          : getCallerIdentity(req, body);
      record(200);
      if (res.destroyed) return;
      send(
        res,
        200,
        `<${action}Response xmlns="${NS}">\n<${action}Result>${result}</${action}Result>\n<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata>\n</${action}Response>\n`,
        requestId,
      );
    } catch (err: unknown) {
      // An emulator bug surfaces as InternalFailure with its message, rather than a hang.
      const stsError =
        err instanceof StsError
          ? err
          : new StsError('InternalFailure', 500, `emulator error: ${err instanceof Error ? err.message : String(err)}`);
      record(stsError.status, stsError.code);
      if (!res.destroyed) sendError(res, stsError, requestId);
    }
  }, opts.port);

  return {
    url: server.url,
    accountId,
    calls,
    issued,
    injectFaults: (...list) => {
      faults.push(...list);
    },
    advanceClock: (seconds) => {
      clockOffsetMs += seconds * 1000;
    },
    close: () => server.close(),
  };
}
