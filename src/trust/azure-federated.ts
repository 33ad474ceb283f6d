/**
 * The federated identity credentials an azure-federated trait's app
 * registration (or user-assigned managed identity) needs: one per subject the
 * file admits, each {name, issuer, subject, audiences, description} as
 * Microsoft Graph takes it (and, for exact subjects, `az ad app federated-credential create`).
 *
 * Entra matches `subject` exactly and case-sensitively; wildcards are not
 * supported in it. A ref glob therefore becomes a flexible federated identity
 * credential (`claimsMatchingExpression`, preview) where Entra offers those:
 * for app registrations, and GitLab issuers https://gitlab.com and
 * https://gitlab.<name>.com|ca only. Elsewhere a glob cannot be expressed, and
 * is left out with a warning (narrower than the file, never wider).
 */
import { createHash } from 'node:crypto';
import type { AzureFederatedTrait } from '../access-file/model.ts';
import { OamError } from '../errors.ts';
import { parseSafeUrl } from '../lib/http.ts';
import { DEFAULT_SUB_NOTE, type TrustScope } from '../policy/trust-scope.ts';
import { normalizeIssuer } from '../token/discovery.ts';
import type { TrustBuilder } from './types.ts';

/** Entra's limit per application or user-assigned managed identity. */
export const MAX_FEDERATED_CREDENTIALS = 20;

/** Graph's rule for a credential's name: 3-120 characters, alphanumeric first, then alphanumeric, `-`, `_`. */
const MAX_NAME = 120;

/** Issuers Entra offers flexible credentials for (its GitLab tab: gitlab.com, gitlab.<name>.com, gitlab.<name>.ca). */
export function supportsFlexibleCredentials(issuer: string): boolean {
  return issuer === 'https://gitlab.com' || /^https:\/\/gitlab\.[a-z0-9-]+\.(com|ca)$/.test(issuer);
}

function isGlob(ref: string): boolean {
  return /[*?]/.test(ref);
}

/** Our glob to Entra's `matches`: `**` and `*` both become `*` (any run, '/' included), `?` stays (any one character). */
function toMatchesPattern(ref: string): string {
  return ref.replace(/\*\*/g, '*');
}

function slug(text: string): string {
  return text
    .replace(/\*\*/g, 'all')
    .replace(/\*/g, 'any')
    .replace(/\?/g, 'x')
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

interface Subject {
  readonly project: string;
  readonly refType: string;
  readonly ref: string;
}

/** Readable, unique on the app, within Graph's rule; a hash of the subject keeps long or clashing names apart. */
function nameFor(component: string, s: Subject, withProject: boolean, taken: Set<string>): string {
  const parts = ['oam', slug(component), ...(withProject ? [slug(s.project)] : []), s.refType, slug(s.ref)].filter(Boolean);
  let name = parts.join('-');
  const key = `${s.project}:${s.refType}:${s.ref}`;
  if (name.length > MAX_NAME || taken.has(name)) name = `${name.slice(0, MAX_NAME - 9)}-${shortHash(key)}`;
  taken.add(name);
  return name;
}

function subjectsIn(scope: TrustScope, refs: readonly string[]): Subject[] {
  return scope.projects.flatMap((project) => scope.refTypes.flatMap((refType) => refs.map((ref) => ({ project, refType, ref }))));
}

const sub = (s: Subject, ref = s.ref) => `project_path:${s.project}:ref_type:${s.refType}:ref:${ref}`;

export const azureFederatedCredentials: TrustBuilder<AzureFederatedTrait> = ({ trait, component, scope, issuer, audience }) => {
  // GitLab's `iss` has no trailing slash, and Entra compares it character for character.
  const iss = normalizeIssuer(issuer);
  parseSafeUrl(iss, 'spec.gitlab.issuer');
  const warnings = [...scope.warnings];
  const notes = [...scope.notes];
  const flexible = supportsFlexibleCredentials(iss);
  const withProject = scope.projects.length > 1;
  const taken = new Set<string>();
  const credentials: Record<string, unknown>[] = [];
  const describe = (s: Subject) => `oam-grant component ${component.name}: ${s.project} ${s.refType} ${s.ref}`;

  for (const s of subjectsIn(
    scope,
    scope.refs.filter((r) => !isGlob(r)),
  )) {
    credentials.push({ name: nameFor(component.name, s, withProject, taken), issuer: iss, subject: sub(s), audiences: [audience], description: describe(s) });
  }

  const globs = scope.refs.filter(isGlob);
  const expressible = globs.filter((r) => flexible && !`${r}${scope.projects.join('')}`.includes("'"));
  const leftOut = globs.filter((r) => !expressible.includes(r));
  for (const s of subjectsIn(scope, expressible)) {
    credentials.push({
      name: nameFor(component.name, s, withProject, taken),
      issuer: iss,
      // Graph: subject and claimsMatchingExpression are mutually exclusive, and subject must then be null.
      subject: null,
      audiences: [audience],
      claimsMatchingExpression: { value: `claims['sub'] matches '${sub(s, toMatchesPattern(s.ref))}'`, languageVersion: 1 },
      description: describe(s),
    });
  }
  if (leftOut.length > 0) {
    warnings.push(
      `refs ${leftOut.join(', ')} cannot be expressed for issuer ${iss}: Entra matches subject exactly, and offers wildcards (flexible federated identity credentials) only for https://gitlab.com and https://gitlab.<name>.com|ca and never with a single quote in the pattern; ` +
        'jobs on those refs will be refused by Entra (AADSTS700213) until you list the refs you need exactly in the access file',
    );
  }
  if (credentials.length === 0) {
    throw new OamError('ERR_USAGE', `no federated identity credential can express the refs of ${component.name} (${scope.refs.join(', ')}) for issuer ${iss}`, {
      hint: 'Entra matches subject exactly: list exact refs (e.g. main) in the gitlab-conditions policy for this component',
    });
  }
  if (expressible.length > 0) {
    notes.push(
      "the claimsMatchingExpression credentials are flexible federated identity credentials (preview): create them through Microsoft Graph's beta API or the Azure portal; the Azure CLI's federated-credential commands and the Terraform providers cannot create them yet",
    );
    if (expressible.some((r) => r.replace(/\*\*/g, '').includes('*') || r.includes('?'))) {
      notes.push("Entra's `*` and `?` also match '/', so `release/*` admits `release/a/b` at Entra; oam-grant still enforces the narrower glob");
    }
  }
  if (credentials.length > MAX_FEDERATED_CREDENTIALS) {
    warnings.push(
      `${credentials.length} federated identity credentials exceed Entra's limit of ${MAX_FEDERATED_CREDENTIALS} per app registration or managed identity: use fewer refs or projects, or one app registration per component`,
    );
  }
  notes.push(
    `app ${trait.clientId} in tenant ${trait.tenantId} holds at most ${MAX_FEDERATED_CREDENTIALS} federated identity credentials; these ${credentials.length} count against it. ` +
      `Create each with \`az rest --method POST --uri https://graph.microsoft.com/beta/applications/<object ID of app ${trait.clientId}>/federatedIdentityCredentials --body <one credential as JSON>\` (a managed identity: \`az identity federated-credential create\`); Entra may take a few minutes to use a new one`,
  );
  notes.push(DEFAULT_SUB_NOTE);
  return { config: { clientId: trait.clientId, tenantId: trait.tenantId, federatedIdentityCredentials: credentials }, warnings, notes };
};
