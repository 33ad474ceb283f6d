/**
 * Reads templates/*.yml into a header (the `spec:` document) and a body (the
 * jobs), as GitLab sees them before interpolation.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../e2e/gitlab-ci-local.ts';

export const TEMPLATES_DIR = join(REPO_ROOT, 'templates');

export interface TemplateFile {
  readonly name: string;
  readonly source: string;
  readonly header: unknown;
  readonly body: unknown;
  /** The body's text after the `---` line. */
  readonly bodySource: string;
}

export function readTemplate(name: string): TemplateFile {
  const source = readFileSync(join(TEMPLATES_DIR, `${name}.yml`), 'utf8');
  const docs = parseAllDocuments(source);
  if (!Array.isArray(docs) || docs.length !== 2) throw new Error(`templates/${name}.yml: expected a header and a body`);
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`templates/${name}.yml: ${doc.errors[0]?.message}`);
  }
  const separator = source.search(/^---$/m);
  return {
    name,
    source,
    header: docs[0]?.toJS(),
    body: docs[1]?.toJS(),
    bodySource: source.slice(separator + 4),
  };
}

export function templateNames(): string[] {
  return readdirSync(TEMPLATES_DIR)
    .filter((f) => f.endsWith('.yml'))
    .map((f) => f.slice(0, -4))
    .sort();
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function packageVersion(): string {
  const pkg: unknown = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
  if (!isRecord(pkg) || typeof pkg.version !== 'string') throw new Error('package.json has no version');
  return pkg.version;
}

/** How a default is written in descriptions (the same rule as scripts/component-docs.mjs). */
export function formatDefault(value: unknown): string {
  if (typeof value === 'string') return value === '' ? "''" : value;
  return JSON.stringify(value);
}

/**
 * The variables every component job clears before it starts the CLI
 * (`env -u NAME ... oam-grant <command>`): they make Node, OpenSSL or the
 * dynamic loader run other code, widen TLS trust, route traffic or write
 * debug output (docs/components.md, "Variables the jobs clear").
 */
export const CLEARED_VARIABLES = [
  'NODE_OPTIONS',
  'NODE_PATH',
  'NODE_PRESERVE_SYMLINKS',
  'NODE_REPL_EXTERNAL_MODULE',
  'NODE_COMPILE_CACHE',
  'NODE_ICU_DATA',
  'OPENSSL_CONF',
  'OPENSSL_MODULES',
  'OPENSSL_ENGINES',
  'OAM_GRANT_BUILD_CODE_CACHE',
  'NODE_TLS_REJECT_UNAUTHORIZED',
  'NODE_EXTRA_CA_CERTS',
  'NODE_USE_SYSTEM_CA',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'NODE_USE_ENV_PROXY',
  'NODE_DEBUG',
  'NODE_DEBUG_NATIVE',
  'NODE_V8_COVERAGE',
  'NODE_REDIRECT_WARNINGS',
  'LD_PRELOAD',
  'LD_LIBRARY_PATH',
  'LD_AUDIT',
] as const;

/** The one script line of a component job that runs `command`. */
export function cliLine(command: string): string {
  return `env ${CLEARED_VARIABLES.map((name) => `-u ${name}`).join(' ')} oam-grant ${command}`;
}

/** The rule the components default to: branch pipelines of the default branch. */
export const DEFAULT_BRANCH_RULE = '$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH';
