/**
 * Google's side of a gcp-wif trait: the workload identity pool provider (issuer,
 * allowed audience, attribute mapping, an attribute condition as narrow as the
 * file) and, with a service account, the roles/iam.workloadIdentityUser binding
 * that lets the project's federated principals act as it.
 *
 * Shapes as Google documents them: the provider is the REST resource
 * WorkloadIdentityPoolProvider (attributeMapping, attributeCondition in CEL, at
 * most 4096 characters; oidc.issuerUri, oidc.allowedAudiences), and members
 * are `principalSet://iam.googleapis.com/<pool>/attribute.<name>/<value>`.
 * Unlike AWS, Google reads the token's claims themselves, so the condition
 * checks project_path, ref_type, ref and ref_protected directly, not `sub`.
 */
import type { GcpWifTrait } from '../access-file/model.ts';
import { OamError } from '../errors.ts';
import { type TrustScope, unprotectedTagWarning } from '../policy/trust-scope.ts';
import { normalizeIssuer } from '../token/discovery.ts';
import type { TrustBuilder } from './types.ts';

/** Google's limit on attributeCondition. */
const MAX_CONDITION_CHARS = 4096;
/** Google's limit on a mapped google.subject. */
const MAX_SUBJECT_BYTES = 127;

/** The mapping the condition and the bindings rely on: each claim as an attribute of the same name. */
export const GCP_ATTRIBUTE_MAPPING: Readonly<Record<string, string>> = {
  'google.subject': 'assertion.sub',
  'attribute.project_path': 'assertion.project_path',
  'attribute.ref': 'assertion.ref',
  'attribute.ref_type': 'assertion.ref_type',
  'attribute.ref_protected': 'assertion.ref_protected',
};

/** A CEL string literal: single quotes, with `\` and `'` escaped. */
export function celString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * Our ref glob as an anchored RE2 pattern, exactly: `**` any run, `*` any
 * run without '/', `?` one character but '/', the rest literal. RE2 (which
 * CEL's `matches` uses) counts characters, not bytes, as our globs do.
 */
export function globToRe2(glob: string): string {
  const chars = Array.from(glob);
  let out = '';
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '*' && chars[i + 1] === '*') {
      out += '.*';
      i++;
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else out += /[\\.+*?()|[\]{}^$]/.test(c) ? `\\${c}` : c;
  }
  return `^${out}$`;
}

/** One ref as CEL: equality for a plain name, startsWith for `prefix/**`, else an anchored match. */
export function refToCel(ref: string): string {
  if (!/[*?]/.test(ref)) return `assertion.ref == ${celString(ref)}`;
  const prefix = ref.slice(0, -2);
  if (ref.endsWith('**') && !/[*?]/.test(prefix)) return `assertion.ref.startsWith(${celString(prefix)})`;
  return `assertion.ref.matches(${celString(globToRe2(ref))})`;
}

function anyOf(terms: readonly string[]): string {
  return terms.length === 1 ? terms[0]! : `(${terms.join(' || ')})`;
}

/** The attribute condition that admits what the scope admits, and nothing else. */
export function attributeConditionFor(scope: Pick<TrustScope, 'projects' | 'refTypes' | 'refs' | 'refProtected'>): string {
  const clauses = [
    anyOf(scope.projects.map((p) => `assertion.project_path == ${celString(p)}`)),
    anyOf(scope.refTypes.map((t) => `assertion.ref_type == ${celString(t)}`)),
  ];
  // `**` admits every ref of those types: a clause would only repeat it.
  if (!scope.refs.includes('**')) clauses.push(anyOf(scope.refs.map(refToCel)));
  if (scope.refProtected !== undefined) clauses.push(`assertion.ref_protected == ${celString(String(scope.refProtected))}`);
  return clauses.join(' && ');
}

/** `projects/<n>/locations/global/workloadIdentityPools/<pool>` of a provider's name. */
export function poolOf(workloadIdentityProvider: string): string {
  return workloadIdentityProvider.replace(/\/providers\/[^/]+$/, '');
}

/** For the printed gcloud commands: one shell word. */
function shellWord(value: string): string {
  return /^[A-Za-z0-9_./:=@,+-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

function gcloud(args: readonly string[]): string {
  return ['gcloud', ...args.map(shellWord)].join(' ');
}

function softenedTagNote(refs: readonly string[]): string {
  return (
    `the configuration admits tags matching ${refs.join(', ')} (refTypes names tag), protected ones only: Google checks ref_protected through the attribute condition; ` +
    'still, whoever may create a protected tag (Settings > Repository > Protected tags, Allowed to create) can use it, so allow only the people you trust'
  );
}

export const gcpTrustConfig: TrustBuilder<GcpWifTrait> = ({ trait, component, scope, issuer, audience }) => {
  const match = /^projects\/([0-9]+)\/locations\/global\/workloadIdentityPools\/([^/]+)\/providers\/([^/]+)$/.exec(trait.workloadIdentityProvider);
  if (!match) {
    throw new OamError('ERR_METADATA_INVALID', `${trait.workloadIdentityProvider} is not a workload identity pool provider's name`, {
      hint: 'fix workloadIdentityProvider in the gcp-wif trait: projects/<project number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>',
    });
  }
  const [, projectNumber, poolId, providerId] = match as unknown as [string, string, string, string];
  const condition = attributeConditionFor(scope);
  if (condition.length > MAX_CONDITION_CHARS) {
    throw new OamError('ERR_USAGE', `the attribute condition for ${component.name} would be ${condition.length} characters; Google accepts at most ${MAX_CONDITION_CHARS}`, {
      hint: 'list fewer projects or refs (a pattern such as release/* instead of each release branch)',
    });
  }
  const pool = poolOf(trait.workloadIdentityProvider);
  const members = scope.projects.map((p) => `principalSet://iam.googleapis.com/${pool}/attribute.project_path/${p}`);
  const issuerUri = normalizeIssuer(issuer);

  // Google reads ref_protected: with the file requiring it, only protected tags pass, and the warning becomes a note.
  const warnings = scope.warnings.filter((w) => !(scope.refProtected === true && w === unprotectedTagWarning(scope.refs)));
  const notes = scope.notes.filter((n) => !n.startsWith('refProtected is checked by oam-grant only'));
  if (scope.refProtected === true && scope.refTypes.includes('tag')) notes.push(softenedTagNote(scope.refs));
  if (scope.refProtected !== undefined) notes.push(`Google checks ref_protected: the attribute condition requires "${scope.refProtected}", through the mapped claim`);
  notes.push(
    'the attribute condition holds for every token of this provider: give each component (or each set of refs) its own provider in the pool, or join their conditions with ||',
  );
  const longest = Math.max(
    ...scope.projects.flatMap((p) => scope.refTypes.flatMap((t) => scope.refs.map((r) => Buffer.byteLength(`project_path:${p}:ref_type:${t}:ref:${r.replace(/[*?]/g, '')}`)))),
  );
  if (longest > MAX_SUBJECT_BYTES) {
    warnings.push(
      `GitLab's sub for these refs is at least ${longest} bytes, and Google refuses a mapped google.subject over ${MAX_SUBJECT_BYTES}: map google.subject to something shorter, e.g. assertion.project_id + ":" + assertion.ref_type + ":" + assertion.ref`,
    );
  }

  const provider = {
    name: trait.workloadIdentityProvider,
    oidc: { issuerUri, allowedAudiences: [audience] },
    attributeMapping: { ...GCP_ATTRIBUTE_MAPPING },
    attributeCondition: condition,
  };
  const commands = [
    gcloud([
      'iam',
      'workload-identity-pools',
      'providers',
      'create-oidc',
      providerId,
      `--project=${projectNumber}`,
      '--location=global',
      `--workload-identity-pool=${poolId}`,
      `--issuer-uri=${issuerUri}`,
      `--allowed-audiences=${audience}`,
      `--attribute-mapping=${Object.entries(GCP_ATTRIBUTE_MAPPING)
        .map(([k, v]) => `${k}=${v}`)
        .join(',')}`,
      `--attribute-condition=${condition}`,
    ]),
  ];
  if (trait.serviceAccount) {
    for (const member of members) {
      commands.push(gcloud(['iam', 'service-accounts', 'add-iam-policy-binding', trait.serviceAccount, '--role=roles/iam.workloadIdentityUser', `--member=${member}`]));
    }
  } else {
    notes.push(
      `without serviceAccount the job acts as its federated principal: grant roles on the resources it needs to ${members.join(', ')} (gcloud ... add-iam-policy-binding --member=<that principalSet>)`,
    );
  }
  const config = {
    workloadIdentityPoolProvider: provider,
    ...(trait.serviceAccount
      ? { serviceAccountIamBinding: { serviceAccount: trait.serviceAccount, role: 'roles/iam.workloadIdentityUser', members } }
      : { principalSets: members }),
    gcloud: commands,
  };
  return { config, warnings, notes };
};
