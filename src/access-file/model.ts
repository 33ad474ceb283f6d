/**
 * The typed access file, after parsing, schema validation and semantic checks.
 * Defaults from design.md are already applied; durations are in seconds.
 */

/** Where a node of the access file starts (1-based), for messages that point at it. */
export interface SourcePosition {
  line: number;
  col: number;
}

export interface AccessFile {
  /** Path as given (relative paths stay relative, for readable messages). */
  readonly path: string;
  /** sha256 hex of the file's bytes: binds evidence to the exact file. */
  readonly digest: string;
  readonly name: string;
  /** The GitLab instance the file trusts (`spec.gitlab`, default gitlab.com). */
  readonly gitlab: GitlabInstance;
  readonly components: readonly Component[];
  readonly policies: readonly Policy[];
  readonly steps: readonly ApprovalStep[];
  /** Position of each node by JSON pointer (`/spec/components/0/traits/1`), for later messages. */
  readonly positions: ReadonlyMap<string, SourcePosition>;
}

/**
 * The GitLab instance, from the reviewed file and never from a variable:
 * whoever runs a pipeline may set CI_SERVER_URL and friends.
 */
export interface GitlabInstance {
  /** Normal form (no trailing slash), e.g. https://gitlab.example.com. */
  readonly url: string;
  /** The ID tokens' `iss`; `url` unless the file names another. */
  readonly issuer: string;
  /** `<url>/api/v4`: the only place OAM_GITLAB_TOKEN is sent. */
  readonly apiUrl: string;
  /** False when the file says nothing and gitlab.com is assumed. */
  readonly stated: boolean;
  /**
   * Refs whose pipelines may use a file that widens this one; counts only in
   * the default branch's file (src/narrowing), never in the branch's own.
   */
  readonly allowWideningFrom?: { readonly refs: readonly string[] };
}

export interface Component {
  readonly name: string;
  readonly type: 'gitlab-job';
  /** JSON pointer of this component in the file. */
  readonly pointer: string;
  /** When set, the grant token's `environment` claim must equal it. */
  readonly environment?: string;
  /** The GitLab job name (`properties.job`): informational, for notes and plans; never checked. */
  readonly job?: string;
  readonly traits: readonly Trait[];
}

export type Trait = CredentialTrait | MrAuditTrait;

export interface AwsStsTrait {
  readonly type: 'aws-sts';
  readonly roleArn: string;
  /** Normal form of `stsEndpoint`; undefined = AWS's regional endpoint. */
  readonly stsEndpoint?: string;
  readonly region?: string;
  /** 900..43200, default 900. */
  readonly durationSeconds: number;
  /** Inline session policy, as an object; serialised compactly when sent. */
  readonly sessionPolicy?: Readonly<Record<string, unknown>>;
  readonly policyArns: readonly string[];
  readonly exportPrefix: string;
}

/** Google workload identity federation: STS token exchange, then optionally generateAccessToken as a service account. */
export interface GcpWifTrait {
  readonly type: 'gcp-wif';
  /** projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>. */
  readonly workloadIdentityProvider: string;
  readonly serviceAccount?: string;
  readonly projectId?: string;
  /** Service account token lifetime, 300..3600, default 900; meaningful only with serviceAccount. */
  readonly durationSeconds: number;
  readonly scopes: readonly string[];
  /** Normal forms; defaults are Google's own endpoints. */
  readonly stsEndpoint: string;
  readonly iamCredentialsEndpoint: string;
  readonly exportPrefix: string;
}

/** Entra ID client credentials with the ID token as client_assertion. */
export interface AzureFederatedTrait {
  readonly type: 'azure-federated';
  readonly tenantId: string;
  readonly clientId: string;
  readonly subscriptionId?: string;
  /** `<resource>/.default`, default https://management.azure.com/.default. */
  readonly scope: string;
  /** Normal form, default https://login.microsoftonline.com. */
  readonly authorityHost: string;
  readonly exportPrefix: string;
}

/** HashiCorp Vault JWT auth: POST /v1/auth/<mount>/login {role, jwt}. */
export interface VaultJwtTrait {
  readonly type: 'vault-jwt';
  /** Normal form of Vault's address. */
  readonly address: string;
  readonly role: string;
  /** Default jwt. */
  readonly mount: string;
  readonly namespace?: string;
  readonly exportPrefix: string;
}

/** A generic RFC 8693 token exchange at an OAuth 2.0 authorization server found by discovery. */
export interface TokenExchangeTrait {
  readonly type: 'token-exchange';
  /** Normal form of the authorization server's issuer. */
  readonly issuer: string;
  /** A public client's id, sent as `client_id` (no secret); absent = no client identification. */
  readonly clientId?: string;
  readonly audience?: string;
  readonly resource?: string;
  readonly scope?: string;
  /** Default urn:ietf:params:oauth:token-type:access_token. */
  readonly requestedTokenType: string;
  /** The variable that carries the issued token. */
  readonly exportAs: string;
  readonly exportPrefix: string;
}

export interface MrAuditTrait {
  readonly type: 'mr-audit';
  /** No audit note posted => no credentials exported. Default false. */
  readonly required: boolean;
}

/** The trait types that yield credentials (one provider each). */
export type CredentialTrait = AwsStsTrait | GcpWifTrait | AzureFederatedTrait | VaultJwtTrait | TokenExchangeTrait;

export type CredentialTraitType = CredentialTrait['type'];

/** Every credential trait type, in the order a grant exchanges them. */
export const CREDENTIAL_TRAIT_TYPES: readonly CredentialTraitType[] = ['aws-sts', 'gcp-wif', 'azure-federated', 'vault-jwt', 'token-exchange'];

/** A component picked from its file, with its credential traits: what every step after loading works on. */
export interface ComponentTarget {
  readonly file: AccessFile;
  readonly component: Component;
  /** One or more, of different types, in exchange order: granted together or not at all. */
  readonly traits: readonly CredentialTrait[];
}

export type Policy = GitlabConditionsPolicy | CredentialLimitsPolicy;

export interface GitlabConditionsPolicy {
  readonly type: 'gitlab-conditions';
  readonly name: string;
  readonly pointer: string;
  /** Omitted = every component. */
  readonly componentNames?: readonly string[];
  readonly refProtected?: boolean;
  readonly refs?: readonly string[];
  readonly refTypes?: readonly ('branch' | 'tag')[];
  readonly environments?: readonly string[];
  readonly pipelineSources?: readonly string[];
  readonly projectPaths?: readonly string[];
}

export interface CredentialLimitsPolicy {
  readonly type: 'credential-limits';
  readonly name: string;
  readonly pointer: string;
  readonly componentNames?: readonly string[];
  readonly maxDurationSeconds?: number;
}

export type ForbiddenPerson = 'requester' | 'mrAuthor' | 'commitAuthor';

export interface ApprovalStep {
  readonly type: 'jit-approval';
  readonly name: string;
  readonly pointer: string;
  readonly component: string;
  /** request -> approval must happen within this. Default 24h. */
  readonly timeoutSeconds: number;
  readonly approvers: { readonly users: readonly string[]; readonly groups: readonly string[] };
  /** Distinct people. Default 1. */
  readonly minApprovals: number;
  /** Default [requester, mrAuthor]. */
  readonly forbid: readonly ForbiddenPerson[];
  /** The approver must give a reason: a line `oam-grant approve <component>: <reason>` in their own comment. Default false. */
  readonly requireReason: boolean;
  readonly reasonPattern?: string;
  /**
   * Whether a Run-form `OAM_APPROVAL_REASON` counts where the approver wrote
   * no comment (labelled unsigned). Default true; false: only the comment counts.
   */
  readonly acceptReasonVariable: boolean;
  /** approval -> grant must happen within this. Default 1h. */
  readonly validForSeconds: number;
}
