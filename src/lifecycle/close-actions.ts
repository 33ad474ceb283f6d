/**
 * The provider-specific end of a credential, where there is one. Vault tokens
 * end with revoke-self at the trait's address — taken from the reviewed
 * access file, never from a variable, so the token is only ever sent to the
 * Vault that issued it. AWS STS sessions and Google or Entra access tokens
 * have no revocation a job could call: their short duration is the bound.
 */
import type { CredentialTrait } from '../access-file/model.ts';
import type { Env } from '../context.ts';
import { type HttpRequest, httpRequest } from '../lib/http.ts';
import { registerSecret } from '../lib/redact.ts';

export type CloseResult =
  | { readonly ended: 'revoked'; readonly at: Date }
  | { readonly ended: 'expires'; readonly why: string }
  | { readonly ended: 'revoke-failed'; readonly why: string };

export interface CloseInput {
  readonly trait: CredentialTrait;
  readonly env: Env;
  readonly now: () => Date;
  readonly request?: HttpRequest;
}

const REVOKE_TIMEOUT_MS = 10_000;

/** Vault: POST /v1/auth/token/revoke-self with the grant's own token, handed on by the grant job's dotenv. */
async function revokeVault(input: CloseInput & { readonly trait: Extract<CredentialTrait, { type: 'vault-jwt' }> }): Promise<CloseResult> {
  const { trait, env } = input;
  const variable = `${trait.exportPrefix}VAULT_TOKEN`;
  const token = env[variable]?.trim();
  if (!token) return { ended: 'revoke-failed', why: `${variable} was not handed on (needs: the grant job, with its dotenv)` };
  registerSecret(token);
  const base = trait.address.endsWith('/') ? trait.address : `${trait.address}/`;
  const url = new URL('v1/auth/token/revoke-self', base);
  const headers: Record<string, string> = { 'x-vault-token': token, 'content-type': 'application/json' };
  if (trait.namespace) headers['x-vault-namespace'] = trait.namespace;
  try {
    const response = await (input.request ?? httpRequest)(url, { method: 'POST', headers, body: '{}', timeoutMs: REVOKE_TIMEOUT_MS, maxBytes: 64 * 1024 });
    if (response.status === 204 || response.status === 200) return { ended: 'revoked', at: input.now() };
    // Not claimed as revoked: the token may be expired or revoked already, or not the grant's at all.
    if (response.status === 403) return { ended: 'revoke-failed', why: `Vault refused the token (HTTP 403) at ${url.origin}: expired, revoked already, or not this grant's` };
    return { ended: 'revoke-failed', why: `Vault answered HTTP ${response.status} to revoke-self at ${url.origin}` };
  } catch (error) {
    return { ended: 'revoke-failed', why: `revoke-self at ${url.origin} failed: ${error instanceof Error ? error.message : 'unknown error'}` };
  }
}

const CANNOT: Readonly<Record<Exclude<CredentialTrait['type'], 'vault-jwt'>, string>> = {
  'aws-sts': 'an STS session cannot be revoked by its holder',
  'gcp-wif': 'a Google access token cannot be revoked by its holder here',
  'azure-federated': 'an Entra access token cannot be revoked',
  'token-exchange': 'the token service offers no revocation oam-grant knows of',
};

export async function closeCredential(input: CloseInput): Promise<CloseResult> {
  const { trait } = input;
  if (trait.type === 'vault-jwt') return revokeVault({ ...input, trait });
  return { ended: 'expires', why: CANNOT[trait.type] };
}
