/**
 * Runs the build-time compiled schema validator and turns ajv's errors into
 * short located problems: one per real problem, worded for people, with the
 * if/then and anyOf bookkeeping left out.
 */
import { type SchemaError, type SchemaValidator, validate } from './generated/validate-schema.js';
import { joinPointer, valueAt } from './pointer.ts';
import type { ProblemList } from './problems.ts';

/** What each schema pattern means, in words; a test keeps this in step with the schema. */
export const PATTERN_PHRASES: Readonly<Record<string, string>> = {
  '^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$': 'must be a name of lower-case letters and digits, with "-", "_" or "." only inside',
  '^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$':
    'must be an IAM role ARN like arn:aws:iam::123456789012:role/ci-deploy',
  '^[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}$': 'must be an AWS region like eu-west-1',
  '^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/[A-Za-z0-9+=,.@_/-]{1,512}$':
    'must be a managed policy ARN like arn:aws:iam::aws:policy/ReadOnlyAccess',
  '^([A-Za-z_][A-Za-z0-9_]*)?$': 'must be a variable name prefix: letters, digits and "_", not starting with a digit',
  '^[0-9]+[smhd]$': 'must be a duration: a whole number and s, m, h or d, e.g. 30m',
  '^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$': 'must be a full GitLab path like acme/payments',
  '^[A-Za-z0-9_][A-Za-z0-9_.-]*$': 'must be a GitLab username (without @)',
  '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$': 'must be a GUID like 00000000-0000-0000-0000-000000000001',
  '^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$': 'must be a Vault mount path like jwt or gitlab/jwt',
  '^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*/?$': 'must be a Vault namespace like team-a or admin/team-a',
  '^[A-Za-z0-9_.@-]{1,128}$': 'must be a Vault role name: letters, digits, "_", ".", "@" and "-"',
  '^[A-Za-z_][A-Za-z0-9_]*$': 'must be a variable name: letters, digits and "_", not starting with a digit',
  '^[\\x20-\\x7E]+$': 'must be an OAuth client_id: printable ASCII characters only',
  '^[^\\s]+/\\.default$': 'must be one resource as <resource>/.default, e.g. https://management.azure.com/.default',
  '^[a-z0-9][a-z0-9.-]{0,62}@[a-z0-9][a-z0-9.-]*\\.gserviceaccount\\.com$': 'must be a service account email like deployer@my-project.iam.gserviceaccount.com',
  '^[a-z][a-z0-9-]{4,28}[a-z0-9]$': 'must be a Google Cloud project id like my-project',
  '^https://www\\.googleapis\\.com/auth/[a-z0-9._/-]+$': 'must be a Google OAuth scope like https://www.googleapis.com/auth/cloud-platform',
  '^projects/[0-9]{1,20}/locations/global/workloadIdentityPools/[a-z0-9-]{4,32}/providers/[a-z0-9-]{4,32}$':
    'must be a workload identity provider name: projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>',
};

const TYPE_WORDS: Readonly<Record<string, string>> = {
  string: 'a string',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  null: 'empty',
};

/** A short rendering of a value for "(got ...)". */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  return String(value);
}

function quoteList(values: readonly unknown[]): string {
  return values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ');
}

/** Levenshtein distance, capped: only small distances matter for "did you mean". */
function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

function closest(value: string, candidates: readonly string[]): string | undefined {
  return candidates.find((name) => name.toLowerCase() === value.toLowerCase() || distance(name, value) <= 2);
}

function unknownField(key: string, allowed: readonly string[]): string {
  if (allowed.length === 0) return 'unknown field (this mapping takes no fields)';
  const close = closest(key, allowed);
  if (close) return `unknown field; did you mean ${close}?`;
  return `unknown field (expected ${allowed.length === 1 ? '' : 'one of: '}${allowed.join(', ')})`;
}

function numberLimit(error: SchemaError, data: unknown): string {
  const min = error.parentSchema?.minimum;
  const max = error.parentSchema?.maximum;
  const got = ` (got ${describeValue(data)})`;
  if (typeof min === 'number' && typeof max === 'number') return `must be between ${min} and ${max}${got}`;
  return error.keyword === 'minimum' ? `must be at least ${String(min)}${got}` : `must be at most ${String(max)}${got}`;
}

/**
 * Validates `value` against the access file schema (or another generated
 * validator, e.g. the policy test file's), adding every problem to `list`.
 * Returns whether it passed.
 */
export function checkSchema(value: unknown, list: ProblemList, validator: SchemaValidator = validate): boolean {
  if (validator(value)) return true;
  const errors = validator.errors ?? [];
  // anyOf reports each failed branch too; keep only the anyOf's own summary.
  const anyOfAt = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  for (const error of errors) {
    const pointer = error.instancePath;
    const data = valueAt(value, pointer);
    const params = error.params;
    if (error.keyword !== 'anyOf' && error.schemaPath.includes('/anyOf/') && [...anyOfAt].some((p) => pointer.startsWith(p))) continue;
    switch (error.keyword) {
      case 'if':
        break;
      case 'anyOf':
        list.add(pointer, `must be a mapping or a non-empty list of mappings (got ${describeValue(data)})`);
        break;
      case 'required':
        list.add(pointer, `missing required field ${String(params.missingProperty)}`);
        break;
      case 'additionalProperties': {
        const key = String(params.additionalProperty);
        const properties = error.parentSchema?.properties;
        const allowed = properties !== null && typeof properties === 'object' ? Object.keys(properties) : [];
        list.add(joinPointer(pointer, key), unknownField(key, allowed), { key: true });
        break;
      }
      case 'type': {
        list.add(pointer, `must be ${TYPE_WORDS[String(params.type)] ?? String(params.type)} (got ${describeValue(data)})`);
        break;
      }
      case 'enum': {
        const allowed = Array.isArray(params.allowedValues) ? params.allowedValues : [];
        const close = typeof data === 'string' ? closest(data, allowed.map(String)) : undefined;
        const guess = close ? `; did you mean ${close}?` : '';
        list.add(
          pointer,
          pointer.endsWith('/type')
            ? `unknown type ${describeValue(data)} (expected ${allowed.length === 1 ? '' : 'one of: '}${quoteList(allowed)}${guess})`
            : `must be one of: ${quoteList(allowed)} (got ${describeValue(data)}${guess})`,
        );
        break;
      }
      case 'const':
        list.add(pointer, `must be ${quoteList([params.allowedValue])} (got ${describeValue(data)})`);
        break;
      case 'minimum':
      case 'maximum':
        list.add(pointer, numberLimit(error, data));
        break;
      case 'minLength':
        list.add(pointer, params.limit === 1 ? 'must not be empty' : `must be at least ${String(params.limit)} characters`);
        break;
      case 'maxLength':
        list.add(pointer, `must be at most ${String(params.limit)} characters (got ${typeof data === 'string' ? data.length : '?'})`);
        break;
      case 'minItems':
        list.add(pointer, params.limit === 1 ? 'must not be empty' : `must list at least ${String(params.limit)} entries`);
        break;
      case 'maxItems':
        list.add(pointer, `must list at most ${String(params.limit)} entries (got ${Array.isArray(data) ? data.length : '?'})`);
        break;
      case 'uniqueItems': {
        // ajv's i/j order depends on the item type; report at the later copy.
        const later = Math.max(Number(params.i), Number(params.j));
        const earlier = Math.min(Number(params.i), Number(params.j));
        const item = Array.isArray(data) ? data[later] : undefined;
        list.add(joinPointer(pointer, String(later)), `repeats ${describeValue(item)} (already at index ${earlier})`);
        break;
      }
      case 'pattern': {
        const phrase = PATTERN_PHRASES[String(params.pattern)] ?? `must match ${String(params.pattern)}`;
        list.add(pointer, `${phrase} (got ${describeValue(data)})`);
        break;
      }
      default:
        list.add(pointer, error.message ?? `fails schema rule ${error.keyword}`);
    }
  }
  return false;
}
