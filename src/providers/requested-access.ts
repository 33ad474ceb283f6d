import { createHash } from 'node:crypto';
import type { AwsStsTrait, Component, CredentialTrait, CredentialTraitType } from '../access-file/model.ts';

/** One credential a component asks for, in the words of the note, the plan and the audit record. */
export interface RequestedCredential {
  readonly provider: CredentialTraitType;
  /** Who the credentials act as: a role ARN, a service account, an app registration, a Vault role, an issuer. */
  readonly identity: string;
  readonly region?: string;
  /** The lifetime the file asks for; absent where the provider alone decides it (Entra ID, Vault's role, token exchange). */
  readonly durationSeconds?: number;
  /** sha256 hex over the canonical scope: everything of the trait that widens or narrows what the credential can do, endpoints included. */
  readonly scopeDigest: string;
  /** One line a reviewer can read: "s3:PutObject on arn:aws:s3:::releases/*" or "the role's full permissions". */
  readonly scopeSummary: string;
}

/** What a component asks for: every credential, all granted or none. */
export interface RequestedAccess {
  readonly component: string;
  readonly credentials: readonly RequestedCredential[];
  /** The shortest lifetime any credential asks for, when one does. */
  readonly durationSeconds?: number;
  /** sha256 hex over every credential as described: what an approver approved. */
  readonly scopeDigest: string;
  /** The credentials' summaries, one after the other. */
  readonly scopeSummary: string;
}

/** JSON with sorted keys, so the digest does not depend on key order in the YAML. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function asList(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  return typeof value === 'string' ? [value] : [];
}

function summariseAwsScope(trait: AwsStsTrait): string {
  const parts: string[] = [];
  const statements = trait.sessionPolicy?.Statement;
  for (const statement of Array.isArray(statements) ? statements : statements ? [statements] : []) {
    if (statement === null || typeof statement !== 'object') continue;
    const s = statement as Record<string, unknown>;
    const effect = s.Effect === 'Deny' ? 'deny ' : '';
    parts.push(`${effect}${asList(s.Action).join(', ') || '*'} on ${asList(s.Resource).join(', ') || '*'}`);
  }
  if (trait.policyArns.length > 0) parts.push(`managed: ${trait.policyArns.join(', ')}`);
  return parts.length > 0 ? parts.join('; ') : "the role's full permissions";
}

/** What one trait asks for. The digest covers every property but the export prefix, which changes names, not power. */
export function describeCredential(trait: CredentialTrait): RequestedCredential {
  const { exportPrefix: _prefix, ...scope } = trait;
  const scopeDigest = sha256(canonicalJson(scope));
  switch (trait.type) {
    case 'aws-sts':
      return {
        provider: trait.type,
        identity: trait.roleArn,
        ...(trait.region ? { region: trait.region } : {}),
        durationSeconds: trait.durationSeconds,
        // Kept to the session policies, as before several providers existed, so the AWS digest reads the same.
        scopeDigest: sha256(canonicalJson({ sessionPolicy: trait.sessionPolicy ?? null, policyArns: trait.policyArns, stsEndpoint: trait.stsEndpoint })),
        scopeSummary: summariseAwsScope(trait),
      };
    case 'gcp-wif':
      return {
        provider: trait.type,
        identity: trait.serviceAccount ?? trait.workloadIdentityProvider,
        ...(trait.serviceAccount ? { durationSeconds: trait.durationSeconds } : {}),
        scopeDigest,
        scopeSummary: `${trait.scopes.map((s) => s.replace('https://www.googleapis.com/auth/', '')).join(', ')}${trait.serviceAccount ? ` as ${trait.serviceAccount}` : ' as the federated principal'}${trait.projectId ? ` in ${trait.projectId}` : ''}`,
      };
    case 'azure-federated':
      return {
        provider: trait.type,
        identity: `${trait.clientId}@${trait.tenantId}`,
        scopeDigest,
        scopeSummary: `${trait.scope}${trait.subscriptionId ? ` in subscription ${trait.subscriptionId}` : ''}`,
      };
    case 'vault-jwt':
      return {
        provider: trait.type,
        identity: `${trait.address}${trait.namespace ? `/${trait.namespace}` : ''} auth/${trait.mount} role ${trait.role}`,
        scopeDigest,
        scopeSummary: `the policies of Vault role ${trait.role}`,
      };
    case 'token-exchange':
      return {
        provider: trait.type,
        identity: trait.issuer,
        scopeDigest,
        scopeSummary: [trait.scope && `scope ${trait.scope}`, trait.audience && `audience ${trait.audience}`, trait.resource && `resource ${trait.resource}`]
          .filter(Boolean)
          .join(', ') || 'what the server grants by default',
      };
  }
}

export function describeRequestedAccess(component: Component, traits: readonly CredentialTrait[]): RequestedAccess {
  const credentials = traits.map(describeCredential);
  const durations = credentials.map((c) => c.durationSeconds).filter((d): d is number => d !== undefined);
  return {
    component: component.name,
    credentials,
    ...(durations.length > 0 ? { durationSeconds: Math.min(...durations) } : {}),
    scopeDigest: credentials.length === 1 ? credentials[0]!.scopeDigest : sha256(canonicalJson(credentials)),
    scopeSummary: credentials.length === 1 ? credentials[0]!.scopeSummary : credentials.map((c) => `${c.provider}: ${c.scopeSummary}`).join('; '),
  };
}
