/**
 * HashiCorp Vault: a login at the JWT auth method with the job's ID token
 * (`POST /v1/auth/<mount>/login {role, jwt}`), on node:http through
 * httpRequest. Vault's role decides the token's policies and TTL, so the
 * answer is checked against the file's credential-limits cap; a token that
 * could outlive it is revoked at once and refused. `revoke` is Vault's
 * `auth/token/revoke-self`, which the default policy allows every token.
 *
 * Vault's answers, as its source gives them: errors are `{"errors": [...]}`;
 * a refused login is 400 with the plugin's message (vault-plugin-auth-jwt
 * path_login.go, claims.go; hashicorp/cap jwt.go), an unknown mount 403
 * "permission denied" (hashicorp/vault#13162), a sealed Vault 503 "Vault is
 * sealed"; 412, 429 and 5xx other than 501 are worth another try (Vault's
 * HTTP API page).
 */
import type { VaultJwtTrait } from '../access-file/model.ts';
import { OamError } from '../errors.ts';
import { foreignLine } from '../lib/log.ts';
import { PROVIDER_DEADLINE, PROVIDER_RETRY } from '../lib/deadlines.ts';
import { httpRequest, parseSafeUrl } from '../lib/http.ts';
import { registerSecret } from '../lib/redact.ts';
import { isTransientNetworkError, withRetry } from '../lib/retry.ts';
import type { CredentialProvider, ExchangeInput, IssuedCredentials } from './types.ts';
import { isJsonObject as isRecord } from '../lib/json.ts';

/**
 * The longest a Vault token may live when no credential-limits cap applies:
 * the most any trait's durationSeconds may ask for. Vault's own default is
 * 32 days, and the dotenv can be downloaded for as long as the token lives.
 */
export const VAULT_TTL_CEILING_SECONDS = 43_200;

/** Vault answered with an HTTP error; `errors` is its `errors` array. */
export class VaultApiError extends Error {
  readonly status: number;
  readonly errors: readonly string[];
  constructor(path: string, status: number, errors: readonly string[]) {
    super(`${path}: HTTP ${status}${errors.length > 0 ? `: ${errors.join('; ')}` : ''}`);
    this.name = 'VaultApiError';
    this.status = status;
    this.errors = errors;
  }
}

/**
 * Sealed, overloaded, not yet consistent (412, Enterprise), socket trouble,
 * and a login that failed because Vault could not fetch GitLab's keys (like
 * STS's IDPCommunicationError): worth another try. 501 (not initialised)
 * and every other 4xx are not.
 */
export function isTransientVaultError(error: unknown): boolean {
  if (error instanceof VaultApiError) {
    if (error.status === 412 || error.status === 429 || (error.status >= 500 && error.status !== 501)) return true;
    return error.status === 400 && error.errors.some((e) => e.includes('fetching keys'));
  }
  return isTransientNetworkError(error);
}

interface VaultCall {
  readonly method: 'GET' | 'POST';
  /** Below /v1/, e.g. `auth/jwt/login`. */
  readonly path: string;
  readonly body?: Record<string, unknown>;
  /** Sent as X-Vault-Token. */
  readonly token?: string;
}

/** One request to Vault; a non-2xx answer becomes VaultApiError. */
async function callVault(trait: VaultJwtTrait, call: VaultCall, signal: AbortSignal, timeoutMs: number): Promise<unknown> {
  const url = parseSafeUrl(`${trait.address}/v1/${call.path}`, 'vault-jwt address', 'ERR_METADATA_INVALID');
  const headers: Record<string, string> = { 'x-vault-request': 'true' };
  if (call.body) headers['content-type'] = 'application/json';
  if (trait.namespace) headers['x-vault-namespace'] = trait.namespace;
  if (call.token) headers['x-vault-token'] = call.token;
  const response = await httpRequest(url, {
    method: call.method,
    headers,
    ...(call.body ? { body: JSON.stringify(call.body) } : {}),
    timeoutMs,
    signal,
    maxBytes: 256 * 1024,
  });
  const text = response.body.toString('utf8');
  let json: unknown;
  try {
    json = text.trim() === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (response.status >= 200 && response.status < 300) return json;
  const errors = isRecord(json) && Array.isArray(json.errors) ? json.errors.filter((e): e is string => typeof e === 'string') : [];
  throw new VaultApiError(call.path, response.status, errors);
}

/** What oam-grant needs of a login's `auth` block. */
interface VaultAuth {
  readonly clientToken: string;
  /** Empty for batch tokens, which have none. */
  readonly accessor: string;
  readonly leaseDuration: number;
  readonly renewable: boolean;
  readonly batch: boolean;
  readonly policies: readonly string[];
}

/** Reads the login answer; anything but a complete auth block is refused (fail closed). */
function readAuth(answer: unknown, trait: VaultJwtTrait): VaultAuth {
  const auth = isRecord(answer) ? answer.auth : undefined;
  if (isRecord(auth) && auth.mfa_requirement && !auth.client_token) {
    throw new OamError('ERR_EXCHANGE_FAILED', `Vault asks for MFA to finish the login of role ${trait.role} at auth/${trait.mount}`, {
      hint: 'a job cannot answer an MFA challenge: exempt this JWT auth mount or role from login MFA enforcement',
    });
  }
  const token = isRecord(auth) ? auth.client_token : undefined;
  const lease = isRecord(auth) ? auth.lease_duration : undefined;
  if (!isRecord(auth) || typeof token !== 'string' || token === '' || typeof lease !== 'number' || !Number.isFinite(lease)) {
    throw new OamError('ERR_EXCHANGE_FAILED', `Vault answered the login of role ${trait.role} without a client token and its lease duration`, {
      hint: `check that address (${trait.address}) points at Vault's API`,
    });
  }
  const tokenType = typeof auth.token_type === 'string' ? auth.token_type : '';
  return {
    clientToken: token,
    accessor: typeof auth.accessor === 'string' ? auth.accessor : '',
    leaseDuration: lease,
    renewable: auth.renewable === true,
    batch: tokenType === 'batch' || token.startsWith('hvb.'),
    policies: Array.isArray(auth.policies) ? auth.policies.filter((p): p is string => typeof p === 'string') : [],
  };
}

/** One line, bounded, without the ID token or the Vault token even if Vault echoed them. */
function describeFailure(error: unknown, hide: readonly string[]): string {
  let text: string;
  if (error instanceof VaultApiError) text = `HTTP ${error.status}${error.errors.length > 0 ? `: ${error.errors.join('; ')}` : ''}`;
  else if (error instanceof Error) text = `${error.name}: ${error.message}`;
  else text = String(error);
  return foreignLine(text, 400, hide);
}

const q = (value: string | undefined): string => (value === undefined ? 'absent' : JSON.stringify(value));

/** The claims Vault's role checks, as the job's token carries them. */
function tokenClaims(input: ExchangeInput<VaultJwtTrait>): string {
  const c = input.token.claims;
  return (
    `iss ${q(c.iss)}, aud ${q(c.aud.join(','))}, sub ${q(c.sub)}, project_path ${q(c.project_path)}, ` +
    `ref_type ${q(c.ref_type)}, ref ${q(c.ref)}, ref_protected ${q(c.ref_protected)}`
  );
}

const TRUST_POLICY = 'print the matching auth config and role with `oam-grant trust-policy --component <name>`';

/** What to fix for a login Vault refused, from its message. */
function loginHint(error: unknown, input: ExchangeInput<VaultJwtTrait>): string {
  const { trait } = input;
  const where = `auth/${trait.mount}${trait.namespace ? ` in namespace ${trait.namespace}` : ''}`;
  if (!(error instanceof VaultApiError)) return 'see the message above; nothing was exported';
  const text = error.errors.join(' ');
  if (error.status >= 300 && error.status < 400) {
    return "address answered with a redirect (a standby node without request forwarding?); oam-grant does not follow redirects: point address at the active node or the cluster's load balancer";
  }
  if (error.status === 403) {
    return `Vault answers 403 to a login when nothing is mounted at ${where}, or when the role's token_bound_cidrs exclude this runner: check mount and namespace in the vault-jwt trait`;
  }
  if (error.status === 404) return `check address (${trait.address}, without /v1) and mount (${trait.mount})`;
  if (error.status === 501) return 'Vault is not initialised';
  if (/could not be found/.test(text)) return `create role ${trait.role} at ${where}, or fix role in the vault-jwt trait; ${TRUST_POLICY}`;
  if (/error validating claims/.test(text)) return `the role's bound_claims must admit this token: ${tokenClaims(input)}; ${TRUST_POLICY}`;
  if (/audience/.test(text)) return `the role's bound_audiences must contain the token's aud ${q(input.token.claims.aud.join(','))}; ${TRUST_POLICY}`;
  if (/issuer \(iss\)/.test(text)) return `bound_issuer in ${where}/config must be the token's iss ${q(input.token.claims.iss)}`;
  if (/subject \(sub\)/.test(text)) return `the role's bound_subject does not match sub ${q(input.token.claims.sub)}; bind claims with bound_claims instead (${TRUST_POLICY})`;
  if (/signature|token validator|could not load configuration|algorithm/.test(text)) {
    return `configure ${where}/config with oidc_discovery_url=${input.token.claims.iss} (Vault must reach ${input.token.claims.iss}/.well-known/openid-configuration and its keys)`;
  }
  if (/expired|not yet valid|in the future/.test(text)) return "the ID token's times do not fit Vault's clock: re-run the job, and check the clock of Vault's host";
  if (/claim ".*" (not found|could not be converted)/.test(text)) return "the role's user_claim must name a string claim GitLab sends, e.g. user_email";
  if (/oidc role_type/.test(text)) return 'set role_type=jwt on the role';
  return `see Vault's message above; ${TRUST_POLICY}`;
}

function transientHint(error: unknown): string {
  if (error instanceof VaultApiError && error.errors.some((e) => /sealed/i.test(e))) return 'Vault is sealed: unseal it (or wait for auto-unseal), then re-run the job';
  if (error instanceof VaultApiError && error.status === 400) return "Vault could not fetch the issuer's keys: check that Vault can reach the GitLab instance, then re-run the job";
  return 'Vault or the network is failing; re-run the job later';
}

interface Budget {
  readonly attemptMs: number;
  /** Epoch ms by which every call of this exchange must be done. */
  readonly deadline: number;
}

function retryFor(input: ExchangeInput<VaultJwtTrait>, budget: Budget, what: string) {
  return <T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> =>
    withRetry((_, signal) => fn(signal), {
      ...PROVIDER_RETRY,
      attemptTimeoutMs: budget.attemptMs,
      budgetMs: Math.max(1, budget.deadline - Date.now()),
      isTransient: isTransientVaultError,
      ...(input.sleep ? { sleep: input.sleep } : {}),
      onRetry: ({ attempt, delayMs, error }) =>
        input.log.warn(`Vault answered ${describeFailure(error, [input.token.raw]).slice(0, 120)} to ${what} (attempt ${attempt}); retrying in ${delayMs} ms`),
    });
}

/** Ends the token early; a second call does nothing (exec and a failed grant may both ask). */
function revokerFor(input: ExchangeInput<VaultJwtTrait>, auth: VaultAuth, attemptMs: number): () => Promise<void> {
  let revoked = false;
  return async () => {
    if (revoked) return;
    // Its own budget: revocation runs after the exchange's time may be spent.
    const budget = { attemptMs, deadline: Date.now() + Math.min(15_000, 3 * attemptMs) };
    try {
      await retryFor(input, budget, 'revoke-self')((signal) =>
        callVault(input.trait, { method: 'POST', path: 'auth/token/revoke-self', token: auth.clientToken }, signal, attemptMs),
      );
    } catch (error) {
      throw new Error(`Vault revoke-self failed: ${describeFailure(error, [auth.clientToken, input.token.raw])}`);
    }
    revoked = true;
  };
}

/** The token's explicit max TTL and period, from lookup-self (the login answer carries neither). */
async function lookupSelf(input: ExchangeInput<VaultJwtTrait>, auth: VaultAuth, budget: Budget): Promise<{ explicitMaxTtl: number; period: number }> {
  const answer = await retryFor(input, budget, 'lookup-self')((signal) =>
    callVault(input.trait, { method: 'GET', path: 'auth/token/lookup-self', token: auth.clientToken }, signal, budget.attemptMs),
  );
  const data = isRecord(answer) ? answer.data : undefined;
  const explicit = isRecord(data) ? data.explicit_max_ttl : undefined;
  const period = isRecord(data) ? data.period : undefined;
  if (typeof explicit !== 'number') throw new Error('lookup-self answered without explicit_max_ttl');
  return { explicitMaxTtl: explicit, period: typeof period === 'number' ? period : 0 };
}

/**
 * A token that lives, or may be renewed, past the cap is refused: the cap is
 * the file's, Vault's role decides the TTL. Without a cap the ceiling is
 * 12 h and renewal is only warned about.
 */
async function checkLifetime(input: ExchangeInput<VaultJwtTrait>, auth: VaultAuth, budget: Budget): Promise<void> {
  const { trait, maxDurationSeconds: cap, log } = input;
  const limit = cap ?? VAULT_TTL_CEILING_SECONDS;
  const limitText = cap !== undefined ? `the credential-limits cap of ${cap} s` : `oam-grant's ceiling of ${VAULT_TTL_CEILING_SECONDS} s (no credential-limits cap applies)`;
  const roleHint = `set token_ttl, token_max_ttl and token_explicit_max_ttl of Vault role ${trait.role} to at most ${limit} s (\`oam-grant trust-policy\` prints them)`;
  if (auth.leaseDuration <= 0 || auth.leaseDuration > limit) {
    const lease = auth.leaseDuration <= 0 ? 'no expiry' : `a TTL of ${auth.leaseDuration} s`;
    throw new OamError('ERR_POLICY_DENIED', `Vault role ${trait.role} issued a token with ${lease}, longer than ${limitText}`, { hint: roleHint });
  }
  if (!auth.renewable) return;
  let self: { explicitMaxTtl: number; period: number };
  try {
    self = await lookupSelf(input, auth, budget);
  } catch (error) {
    const why = describeFailure(error, [auth.clientToken, input.token.raw]);
    if (cap === undefined) {
      log.warn(`could not read the Vault token's max TTL (${why}); its holder may renew it up to the role's token_max_ttl`);
      return;
    }
    throw new OamError('ERR_EXCHANGE_FAILED', `Vault did not tell how far the token of role ${trait.role} can be renewed (lookup-self: ${why})`, {
      hint: isTransientVaultError(error)
        ? 'Vault or the network is failing; re-run the job later'
        : 'keep the default policy on the role (token_no_default_policy=false): it lets a token look itself up and revoke itself',
    });
  }
  if (self.explicitMaxTtl > 0 && self.explicitMaxTtl <= limit) return;
  const renewal = self.period > 0 ? `periodic (${self.period} s) without an explicit max TTL within it` : self.explicitMaxTtl > 0 ? `renewable up to ${self.explicitMaxTtl} s` : 'renewable without an explicit max TTL';
  if (cap === undefined) {
    log.warn(`the Vault token of role ${trait.role} is ${renewal}: whoever holds it may renew it up to the role's token_max_ttl; set token_explicit_max_ttl on the role`);
    return;
  }
  throw new OamError('ERR_POLICY_DENIED', `the Vault token of role ${trait.role} is ${renewal}, so it could be renewed past ${limitText}`, { hint: roleHint });
}

function identityOf(trait: VaultJwtTrait, auth: VaultAuth): string {
  const base = `${trait.address}${trait.namespace ? `/${trait.namespace.replace(/\/$/, '')}` : ''} auth/${trait.mount} role ${trait.role}`;
  return auth.accessor ? `${base}, accessor ${auth.accessor}` : `${base}, batch token`;
}

export const vaultJwtProvider: CredentialProvider<VaultJwtTrait> = {
  type: 'vault-jwt',
  // GitLab's Vault guide binds the audience to Vault's address.
  defaultAudience: (trait) => trait.address,

  async exchange(input: ExchangeInput<VaultJwtTrait>): Promise<IssuedCredentials> {
    const { trait, token, log } = input;
    const attemptMs = input.timeouts?.requestMs ?? PROVIDER_DEADLINE.attemptMs;
    const budget: Budget = { attemptMs, deadline: Date.now() + (input.timeouts?.totalMs ?? PROVIDER_DEADLINE.totalMs) };
    let auth: VaultAuth;
    try {
      const answer = await retryFor(input, budget, 'the login')((signal) =>
        callVault(trait, { method: 'POST', path: `auth/${trait.mount}/login`, body: { role: trait.role, jwt: token.raw } }, signal, attemptMs),
      );
      auth = readAuth(answer, trait);
      // Before anything about the answer is logged: from here on the token exists.
      registerSecret(auth.clientToken);
      for (const warning of (isRecord(answer) && Array.isArray(answer.warnings) ? answer.warnings : []).slice(0, 3)) {
        if (typeof warning === 'string') log.warn(`Vault: ${foreignLine(warning, 200)}`);
      }
    } catch (error) {
      if (error instanceof OamError) throw error;
      const transient = isTransientVaultError(error);
      const detail = describeFailure(error, [token.raw]);
      const at = `role ${trait.role} at ${trait.address} auth/${trait.mount}${trait.namespace ? ` (namespace ${trait.namespace})` : ''}`;
      throw new OamError(
        'ERR_EXCHANGE_FAILED',
        transient ? `Vault stayed unavailable for the JWT login of ${at} after retries: ${detail}` : `Vault refused the JWT login of ${at}: ${detail}`,
        { hint: transient ? transientHint(error) : loginHint(error, input), cause: error },
      );
    }
    const answeredAt = Date.now();
    // Batch tokens cannot be revoked (Vault: "batch tokens cannot be revoked"); their TTL is the bound.
    const revoke = auth.batch || !auth.accessor ? undefined : revokerFor(input, auth, attemptMs);
    try {
      await checkLifetime(input, auth, budget);
    } catch (error) {
      if (revoke) {
        await revoke().then(
          () => log.info('revoked the refused Vault token'),
          (e: unknown) => log.warn(`the refused Vault token could not be revoked (${e instanceof Error ? e.message : 'unknown error'}); it expires in ${auth.leaseDuration} s`),
        );
      } else {
        log.warn(`the refused Vault token is a batch token and cannot be revoked; it expires in ${auth.leaseDuration} s`);
      }
      throw error;
    }
    const variables: [string, string][] = [
      ['VAULT_ADDR', trait.address],
      ['VAULT_TOKEN', auth.clientToken],
    ];
    if (trait.namespace) variables.push(['VAULT_NAMESPACE', trait.namespace]);
    log.info(`vault-jwt: policies ${auth.policies.join(', ') || 'none'}`);
    return {
      variables,
      secrets: [auth.clientToken],
      expiresAt: new Date(answeredAt + auth.leaseDuration * 1000),
      identity: identityOf(trait, auth),
      sessionName: auth.accessor || 'batch token',
      ...(revoke ? { revoke } : {}),
    };
  },
};
