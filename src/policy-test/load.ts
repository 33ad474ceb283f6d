/**
 * Loads the policy test file with the access file's own machinery: bounded
 * read, strict UTF-8, one YAML document with positions, the generated schema
 * validator, then the checks against the access file it tests. Fails closed:
 * an unknown key, or an input the evaluation would never read (approvals for
 * a component without an approval step), is an error at its FILE:LINE:COL.
 */
import { approvalStepFor, policiesFor } from '../access-file/lookup.ts';
import { readBounded } from '../access-file/load.ts';
import type { AccessFile } from '../access-file/model.ts';
import { DURATION_PATTERN } from '../access-file/duration.ts';
import { joinPointer, valueAt } from '../access-file/pointer.ts';
import { ProblemList } from '../access-file/problems.ts';
import { checkSchema } from '../access-file/schema-problems.ts';
import { decodeUtf8, LIMITS, readYaml, type YamlSource } from '../access-file/yaml-source.ts';
import { AccessFileError, OamError } from '../errors.ts';
import { validate } from './generated/validate-tests.js';
import type { ClaimValues, DenialCode, Expectation, Person, PolicyTestFile, TestApproval, TestCase } from './model.ts';

export const TESTS_HINT = 'write the test cases there (docs/policy-tests.md), or point --tests (OAM_TESTS) at them';

/** Where the tests live by default: beside the access file, `oam.yaml` -> `oam.test.yaml`. */
export function defaultTestsPath(accessFilePath: string): string {
  const match = /^(.*)\.(ya?ml)$/i.exec(accessFilePath);
  return match ? `${match[1]}.test.${match[2]}` : `${accessFilePath}.test.yaml`;
}

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400 };
/** Offsets are times after the request; a year is past any timeout or validFor the access file allows. */
const MAX_OFFSET_SECONDS = 365 * 86400;
/** An approval's `after` when the case does not say. */
export const DEFAULT_AFTER_SECONDS = 60;

/** Seconds in `10m`-style text the schema has already checked the form of; undefined otherwise. */
function offsetSeconds(text: unknown): number | undefined {
  const match = typeof text === 'string' ? DURATION_PATTERN.exec(text) : null;
  return match ? Number(match[1]) * (UNIT_SECONDS[match[2] ?? ''] ?? 0) : undefined;
}

/**
 * The schema's words for a claim of the wrong type ("must be one of: true,
 * false, null (got true)") hide the usual cause: YAML read `true` as a
 * boolean. Say that instead.
 */
class TestProblemList extends ProblemList {
  readonly #root: unknown;

  constructor(file: string, source: YamlSource) {
    super(file, source);
    this.#root = source.value;
  }

  override add(pointer: string, text: string, options: { key?: boolean } = {}): void {
    const value = valueAt(this.#root, pointer);
    const isClaimValue = /^(\/defaults|\/cases\/[0-9]+)\/claims\/[^/]+$/.test(pointer) && !options.key;
    if (isClaimValue && value !== null && typeof value !== 'string') {
      const fix =
        typeof value === 'boolean' || typeof value === 'number' ? `: write "${String(value)}" in quotes` : ` (got ${Array.isArray(value) ? 'a list' : 'a mapping'}); null makes a claim absent`;
      super.add(pointer, `claims are strings, as GitLab sends them${fix}`);
      return;
    }
    super.add(pointer, text, options);
  }
}

type Entry = Record<string, unknown>;
const asEntry = (value: unknown): Entry | undefined =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Entry) : undefined;
const asList = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/** Case fields the grant stage reads when the component has an approval step, and nothing else does. */
const APPROVAL_FIELDS = ['approvals', 'requester', 'mrAuthor', 'commitAuthors', 'now'] as const;

/** The name evaluatePolicies gives the component's own environment binding. */
const bindingName = (component: string): string => `component ${component}`;

function checkCase(raw: Entry, base: string, file: AccessFile, list: ProblemList): void {
  const componentName = typeof raw.component === 'string' ? raw.component : undefined;
  const component = componentName === undefined ? undefined : file.components.find((c) => c.name === componentName);
  if (componentName !== undefined && !component) {
    list.add(`${base}/component`, `no component ${JSON.stringify(componentName)} in ${file.path} (it has: ${file.components.map((c) => c.name).join(', ')})`);
  }
  const stage = raw.stage === 'request' ? 'request' : 'grant';
  const given = APPROVAL_FIELDS.filter((field) => raw[field] !== undefined);
  for (const field of given) {
    if (stage === 'request') {
      list.add(`${base}/${field}`, `${field} belongs to the grant stage: the request stage evaluates the conditions only`, { key: true });
    } else if (component && !approvalStepFor(file, component)) {
      list.add(`${base}/${field}`, `component ${component.name} has no jit-approval step in ${file.path}, so its grant reads no approvals`, { key: true });
    }
  }

  const approvals = asList(raw.approvals);
  let latest: { index: number; seconds: number } | undefined;
  approvals.forEach((approval, i) => {
    const after = asEntry(approval)?.after;
    const seconds = offsetSeconds(after);
    if (seconds !== undefined && seconds > MAX_OFFSET_SECONDS) list.add(`${base}/approvals/${i}/after`, 'must be at most 365d');
    const at = seconds ?? (after === undefined ? DEFAULT_AFTER_SECONDS : undefined);
    if (at !== undefined && (latest === undefined || at > latest.seconds)) latest = { index: i, seconds: at };
  });
  const now = offsetSeconds(raw.now);
  if (now !== undefined && now > MAX_OFFSET_SECONDS) list.add(`${base}/now`, 'must be at most 365d');
  if (now !== undefined && latest !== undefined && now < latest.seconds) {
    list.add(`${base}/now`, `the grant would run before approval ${latest.index + 1} (its after is later than now): an approval counts only once its job has run`);
  }

  const expect = asEntry(raw.expect);
  if (expect && typeof expect.policy === 'string') {
    const policy = expect.policy;
    if (expect.denied !== 'ERR_POLICY_DENIED') {
      list.add(`${base}/expect/policy`, 'names the policy of an ERR_POLICY_DENIED denial only', { key: true });
    } else if (component) {
      const names = policiesFor(file, component).map((p) => p.name);
      if (component.environment !== undefined && stage === 'grant') names.unshift(bindingName(component.name));
      if (!names.includes(policy)) {
        list.add(`${base}/expect/policy`, `no policy ${JSON.stringify(policy)} applies to component ${component.name} (${names.length === 0 ? 'none does' : `these do: ${names.join(', ')}`})`);
      }
    }
  }
}

function checkCases(value: unknown, file: AccessFile, list: ProblemList): void {
  const seen = new Map<string, number>();
  asList(asEntry(value)?.cases).forEach((item, i) => {
    const raw = asEntry(item);
    if (!raw) return;
    const base = `/cases/${i}`;
    if (typeof raw.name === 'string') {
      const earlier = seen.get(raw.name);
      if (earlier === undefined) seen.set(raw.name, i);
      else list.add(`${base}/name`, `duplicate case name ${JSON.stringify(raw.name)} (already used by case ${earlier + 1})`);
    }
    checkCase(raw, base, file, list);
  });
}

// The shapes the schema guarantees; only the builder below relies on them.
interface RawPerson {
  user_login: string;
  user_id?: string;
  user_email?: string;
}
interface RawApproval extends RawPerson {
  groups?: string[];
  emails?: string[];
  after?: string;
  reason?: string;
}
interface RawCase {
  name: string;
  component: string;
  stage?: 'request' | 'grant';
  claims?: Record<string, string | null>;
  requester?: RawPerson;
  mrAuthor?: RawPerson;
  commitAuthors?: string[];
  approvals?: RawApproval[];
  now?: string;
  expect: 'granted' | { denied: DenialCode; policy?: string };
}
interface RawTestFile {
  defaults?: { claims?: Record<string, string | null> };
  cases: RawCase[];
}

function person(raw: RawPerson): Person {
  return { login: raw.user_login, ...(raw.user_id !== undefined ? { id: raw.user_id } : {}), ...(raw.user_email !== undefined ? { email: raw.user_email } : {}) };
}

function expectation(raw: RawCase['expect']): Expectation {
  if (raw === 'granted') return { outcome: 'granted' };
  return { outcome: 'denied', code: raw.denied, ...(raw.policy !== undefined ? { policy: raw.policy } : {}) };
}

function buildTestFile(raw: RawTestFile, path: string, source: YamlSource): PolicyTestFile {
  const defaults: ClaimValues = raw.defaults?.claims ?? {};
  const cases = raw.cases.map((c, i): TestCase => {
    const approvals = (c.approvals ?? []).map(
      (a): TestApproval => ({
        ...person(a),
        groups: a.groups ?? [],
        emails: a.emails ?? [],
        afterSeconds: offsetSeconds(a.after) ?? DEFAULT_AFTER_SECONDS,
        ...(a.reason !== undefined ? { reason: a.reason } : {}),
      }),
    );
    const now = offsetSeconds(c.now);
    return {
      number: i + 1,
      name: c.name,
      component: c.component,
      stage: c.stage ?? 'grant',
      claims: { ...defaults, ...c.claims },
      ...(c.requester ? { requester: person(c.requester) } : {}),
      ...(c.mrAuthor ? { mrAuthor: person(c.mrAuthor) } : {}),
      commitAuthors: c.commitAuthors ?? [],
      approvals,
      ...(now !== undefined ? { nowSeconds: now } : {}),
      expect: expectation(c.expect),
      position: source.positions.get(joinPointer('/cases', String(i))) ?? { line: 1, col: 1 },
    };
  });
  return { path, cases };
}

/** Validates test file content against the schema and against `file`; `path` names it in messages. */
export function parsePolicyTests(bytes: Buffer, path: string, file: AccessFile): PolicyTestFile {
  if (bytes.length > LIMITS.maxBytes) throw tooLarge(path, bytes.length);
  const decoded = decodeUtf8(bytes, path);
  if (!decoded.ok) throw new AccessFileError(decoded.problems, { hint: INVALID_HINT });
  const parsed = readYaml(decoded.text, path, 'policy test cases (cases: [...])');
  if (!parsed.ok) throw new AccessFileError(parsed.problems, { hint: INVALID_HINT });
  const list = new TestProblemList(path, parsed.source);
  checkSchema(parsed.source.value, list, validate);
  checkCases(parsed.source.value, file, list);
  if (list.problems.length > 0) throw new AccessFileError(list.sorted(), { hint: INVALID_HINT });
  return buildTestFile(parsed.source.value as RawTestFile, path, parsed.source);
}

const INVALID_HINT = 'fix the test file (docs/policy-tests.md; schema/oam-test.schema.json lets an editor check it as you type)';

const SIZE_HINT = `keep the test file under ${LIMITS.maxBytes / 1024} KiB`;

function tooLarge(path: string, size: number): AccessFileError {
  return new AccessFileError([{ file: path, line: 1, col: 1, path: '', message: `file is ${size} bytes; the limit is ${LIMITS.maxBytes}` }], { hint: SIZE_HINT });
}

/**
 * Reads and validates the policy tests at `path` for the access file `file`.
 * Throws ERR_USAGE when there is no such file, AccessFileError
 * (ERR_METADATA_INVALID) listing every problem otherwise.
 */
export async function loadPolicyTests(path: string, file: AccessFile, readFile: (path: string) => Promise<Buffer> = readBounded): Promise<PolicyTestFile> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    if (error instanceof AccessFileError) throw new AccessFileError(error.problems, { hint: SIZE_HINT });
    const code = error !== null && typeof error === 'object' && 'code' in error ? String(error.code) : '';
    if (code === 'ENOENT') throw new OamError('ERR_USAGE', `no policy tests at ${path}`, { hint: TESTS_HINT, cause: error });
    const why = code === 'ENOTREG' || code === 'EISDIR' ? 'is not a regular file' : `cannot read the file${code ? ` (${code.toLowerCase()})` : ''}`;
    throw new AccessFileError([{ file: path, line: 1, col: 1, path: '', message: why }], { hint: TESTS_HINT, cause: error });
  }
  return parsePolicyTests(bytes, path, file);
}
