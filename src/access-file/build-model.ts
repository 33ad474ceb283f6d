/**
 * Schema-valid, semantically checked value -> the typed, frozen model, with
 * design.md's defaults applied and durations in seconds.
 */
import { parseDuration } from './duration.ts';
import type {
  AccessFile,
  ApprovalStep,
  GitlabInstance,
  Component,
  ForbiddenPerson,
  Policy,
  SourcePosition,
  Trait,
} from './model.ts';
import { DEFAULT_DURATION_SECONDS } from './semantic-checks.ts';
import { normalizeServiceUrl } from './service-url.ts';

export const APPROVAL_DEFAULTS = {
  timeout: '24h',
  validFor: '1h',
  minApprovals: 1,
  forbid: ['requester', 'mrAuthor'] as readonly ForbiddenPerson[],
  requireReason: false,
  acceptReasonVariable: true,
} as const;

// The shape the schema guarantees; only this module relies on it.
interface RawTrait {
  type: Trait['type'];
  properties?: Record<string, unknown>;
}
interface RawComponent {
  name: string;
  type: 'gitlab-job';
  properties?: { environment?: string; job?: string };
  traits: RawTrait[];
}
interface RawPolicy {
  name: string;
  type: 'gitlab-conditions' | 'credential-limits';
  properties: Record<string, unknown>;
}
interface RawStep {
  name: string;
  type: 'jit-approval';
  timeout?: string;
  properties: {
    component: string;
    approvers: { users?: string[]; groups?: string[] };
    minApprovals?: number;
    forbid?: ForbiddenPerson[];
    requireReason?: boolean;
    reasonPattern?: string;
    acceptReasonVariable?: boolean;
    validFor?: string;
  };
}
interface RawApplication {
  metadata: { name: string };
  spec: { gitlab?: RawGitlab; components: RawComponent[]; policies?: RawPolicy[]; workflow?: { steps: RawStep[] } };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value) && !(value instanceof Map)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

function structuredCopy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** The defaults design.md gives the traits' endpoints and options: the real services. */
export const TRAIT_DEFAULTS = {
  gcpStsEndpoint: 'https://sts.googleapis.com',
  gcpIamCredentialsEndpoint: 'https://iamcredentials.googleapis.com',
  gcpScopes: ['https://www.googleapis.com/auth/cloud-platform'],
  gcpDurationSeconds: 900,
  azureScope: 'https://management.azure.com/.default',
  azureAuthorityHost: 'https://login.microsoftonline.com',
  vaultMount: 'jwt',
  requestedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
} as const;

function optional<K extends string>(key: K, value: unknown): { [P in K]?: string } {
  return (typeof value === 'string' ? { [key]: value } : {}) as { [P in K]?: string };
}

function toTrait(raw: RawTrait): Trait {
  const p = raw.properties ?? {};
  const exportPrefix = typeof p.exportPrefix === 'string' ? p.exportPrefix : '';
  switch (raw.type) {
    case 'mr-audit':
      return { type: 'mr-audit', required: p.required === true };
    case 'gcp-wif':
      return {
        type: 'gcp-wif',
        workloadIdentityProvider: p.workloadIdentityProvider as string,
        ...optional('serviceAccount', p.serviceAccount),
        ...optional('projectId', p.projectId),
        durationSeconds: typeof p.durationSeconds === 'number' ? p.durationSeconds : TRAIT_DEFAULTS.gcpDurationSeconds,
        scopes: Array.isArray(p.scopes) ? (p.scopes as string[]) : [...TRAIT_DEFAULTS.gcpScopes],
        stsEndpoint: normalizeServiceUrl(typeof p.stsEndpoint === 'string' ? p.stsEndpoint : TRAIT_DEFAULTS.gcpStsEndpoint),
        iamCredentialsEndpoint: normalizeServiceUrl(
          typeof p.iamCredentialsEndpoint === 'string' ? p.iamCredentialsEndpoint : TRAIT_DEFAULTS.gcpIamCredentialsEndpoint,
        ),
        exportPrefix,
      };
    case 'azure-federated':
      return {
        type: 'azure-federated',
        tenantId: p.tenantId as string,
        clientId: p.clientId as string,
        ...optional('subscriptionId', p.subscriptionId),
        scope: typeof p.scope === 'string' ? p.scope : TRAIT_DEFAULTS.azureScope,
        authorityHost: normalizeServiceUrl(typeof p.authorityHost === 'string' ? p.authorityHost : TRAIT_DEFAULTS.azureAuthorityHost),
        exportPrefix,
      };
    case 'vault-jwt':
      return {
        type: 'vault-jwt',
        address: normalizeServiceUrl(p.address as string),
        role: p.role as string,
        mount: typeof p.mount === 'string' ? p.mount : TRAIT_DEFAULTS.vaultMount,
        ...optional('namespace', p.namespace),
        exportPrefix,
      };
    case 'token-exchange':
      return {
        type: 'token-exchange',
        issuer: normalizeServiceUrl(p.issuer as string),
        ...optional('clientId', p.clientId),
        ...optional('audience', p.audience),
        ...optional('resource', p.resource),
        ...optional('scope', p.scope),
        requestedTokenType: typeof p.requestedTokenType === 'string' ? p.requestedTokenType : TRAIT_DEFAULTS.requestedTokenType,
        exportAs: p.exportAs as string,
        exportPrefix,
      };
    case 'aws-sts':
      return {
        type: 'aws-sts',
        roleArn: p.roleArn as string,
        ...(typeof p.stsEndpoint === 'string' ? { stsEndpoint: normalizeServiceUrl(p.stsEndpoint) } : {}),
        ...optional('region', p.region),
        durationSeconds: typeof p.durationSeconds === 'number' ? p.durationSeconds : DEFAULT_DURATION_SECONDS,
        ...(p.sessionPolicy !== undefined ? { sessionPolicy: structuredCopy(p.sessionPolicy as Record<string, unknown>) } : {}),
        policyArns: Array.isArray(p.policyArns) ? (p.policyArns as string[]) : [],
        exportPrefix,
      };
  }
}

function toComponent(raw: RawComponent, i: number): Component {
  return {
    name: raw.name,
    type: 'gitlab-job',
    pointer: `/spec/components/${i}`,
    ...(raw.properties?.environment !== undefined ? { environment: raw.properties.environment } : {}),
    ...(raw.properties?.job !== undefined ? { job: raw.properties.job } : {}),
    traits: raw.traits.map(toTrait),
  };
}

function pick<K extends string>(source: Record<string, unknown>, keys: readonly K[]): Partial<Record<K, unknown>> {
  const out: Partial<Record<K, unknown>> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out;
}

function toPolicy(raw: RawPolicy, i: number): Policy {
  const pointer = `/spec/policies/${i}`;
  if (raw.type === 'credential-limits') {
    return { type: 'credential-limits', name: raw.name, pointer, ...pick(raw.properties, ['componentNames', 'maxDurationSeconds']) } as Policy;
  }
  const fields = ['componentNames', 'refProtected', 'refs', 'refTypes', 'environments', 'pipelineSources', 'projectPaths'] as const;
  return { type: 'gitlab-conditions', name: raw.name, pointer, ...pick(raw.properties, fields) } as Policy;
}

function toStep(raw: RawStep, i: number): ApprovalStep {
  const p = raw.properties;
  return {
    type: 'jit-approval',
    name: raw.name,
    pointer: `/spec/workflow/steps/${i}`,
    component: p.component,
    timeoutSeconds: parseDuration(raw.timeout ?? APPROVAL_DEFAULTS.timeout),
    approvers: { users: p.approvers.users ?? [], groups: p.approvers.groups ?? [] },
    minApprovals: p.minApprovals ?? APPROVAL_DEFAULTS.minApprovals,
    forbid: p.forbid ?? [...APPROVAL_DEFAULTS.forbid],
    requireReason: p.requireReason ?? APPROVAL_DEFAULTS.requireReason,
    ...(p.reasonPattern !== undefined ? { reasonPattern: p.reasonPattern } : {}),
    acceptReasonVariable: p.acceptReasonVariable ?? APPROVAL_DEFAULTS.acceptReasonVariable,
    validForSeconds: parseDuration(p.validFor ?? APPROVAL_DEFAULTS.validFor),
  };
}

/** GitLab.com unless the file names its instance: a default no variable can move. */
export const DEFAULT_GITLAB_URL = 'https://gitlab.com';

interface RawGitlab {
  url: string;
  issuer?: string;
  allowWideningFrom?: { refs: string[] };
}

function toGitlabInstance(raw: RawGitlab | undefined): GitlabInstance {
  const url = normalizeServiceUrl(raw?.url ?? DEFAULT_GITLAB_URL);
  return {
    url,
    issuer: raw?.issuer !== undefined ? normalizeServiceUrl(raw.issuer) : url,
    apiUrl: `${url}/api/v4`,
    stated: raw !== undefined,
    ...(raw?.allowWideningFrom ? { allowWideningFrom: { refs: raw.allowWideningFrom.refs } } : {}),
  };
}

export interface ModelInput {
  path: string;
  digest: string;
  positions: ReadonlyMap<string, SourcePosition>;
}

/** Call only with a value that passed the schema and the semantic checks. */
export function buildAccessFile(value: unknown, input: ModelInput): AccessFile {
  // The structure was proven by the schema; copy so the model shares nothing with the parse tree.
  const app = structuredCopy(value) as RawApplication;
  return deepFreeze({
    path: input.path,
    digest: input.digest,
    name: app.metadata.name,
    gitlab: toGitlabInstance(app.spec.gitlab),
    components: app.spec.components.map(toComponent),
    policies: (app.spec.policies ?? []).map(toPolicy),
    steps: (app.spec.workflow?.steps ?? []).map(toStep),
    positions: input.positions,
  });
}
