import { createHash } from 'node:crypto';
import type { AwsStsTrait, Component } from '../access-file/model.ts';

/** What a component asks for, in the words of the note, the plan and the audit record. */
export interface RequestedAccess {
  readonly component: string;
  readonly provider: 'aws-sts';
  readonly roleArn: string;
  readonly region?: string;
  readonly durationSeconds: number;
  /** sha256 hex over the canonical scope (session policy + managed policy ARNs); "" scope = the role's own. */
  readonly scopeDigest: string;
  /** One line a reviewer can read: "s3:PutObject on arn:aws:s3:::releases/*" or "the role's full permissions". */
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

function asList(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  return typeof value === 'string' ? [value] : [];
}

function summariseScope(trait: AwsStsTrait): string {
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

export function describeRequestedAccess(component: Component, trait: AwsStsTrait): RequestedAccess {
  const scope = canonicalJson({ sessionPolicy: trait.sessionPolicy ?? null, policyArns: trait.policyArns });
  return {
    component: component.name,
    provider: 'aws-sts',
    roleArn: trait.roleArn,
    ...(trait.region ? { region: trait.region } : {}),
    durationSeconds: trait.durationSeconds,
    scopeDigest: createHash('sha256').update(scope).digest('hex'),
    scopeSummary: summariseScope(trait),
  };
}
