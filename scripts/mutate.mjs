#!/usr/bin/env node
// Mutation testing with StrykerJS (stryker.config.json): mutates the security
// core (src/token, src/policy, src/approval, src/export, src/report/publish.ts),
// runs the unit tests that cover each mutant, and prints the mutation score
// per folder as the README's table. Incremental: the results of unchanged
// code and tests are taken from reports/mutation/stryker-incremental.json.
//
// The test files run on Node 22 (from .ci/node-versions, installed on first
// use), which strips the types itself: a process per test file per mutant
// starts in half the time it takes through tsx on Node 20.
//
// Usage: npm run mutate [-- <src path>... [stryker flags]]   e.g. npm run mutate -- src/export --concurrency 1
//        npm run mutate -- --scores          only print the scores of the last report
// Not part of npm test (a run from scratch takes tens of minutes on 2 cores).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { installNodeVersions, nodeVersions } from './node-versions.mjs';

const REPORT = 'reports/mutation/mutation.json';
const FOLDERS = ['src/token', 'src/policy', 'src/approval', 'src/export', 'src/report/publish.ts'];
const DETECTED = new Set(['Killed', 'Timeout']);
// Not counted, as Stryker counts: mutants that do not compile or that Stryker ignored.
const INVALID = new Set(['CompileError', 'RuntimeError', 'Ignored']);

const args = process.argv.slice(2);
if (!args.includes('--scores')) {
  // Paths to mutate; anything from the first flag on goes to Stryker as it is (e.g. --concurrency 1).
  const firstFlag = args.findIndex((a) => a.startsWith('--'));
  const paths = firstFlag === -1 ? args : args.slice(0, firstFlag);
  const strykerFlags = firstFlag === -1 ? [] : args.slice(firstFlag);
  const mutate = paths.flatMap((p) => (p.endsWith('.ts') ? [p] : [`${p.replace(/\/$/, '')}/**/*.ts`]));
  installNodeVersions();
  const node22 = nodeVersions().find((node) => node.major === 22);
  if (!node22) throw new Error('Node 22 not found in .ci/node-versions');
  // Stryker's tap runner starts `node` from PATH for each test file.
  const env = { ...process.env, PATH: `${dirname(node22.path)}:${process.env.PATH}` };
  const result = spawnSync(process.execPath, ['node_modules/@stryker-mutator/core/bin/stryker.js', 'run', ...(mutate.length > 0 ? ['--mutate', mutate.join(',')] : []), ...strykerFlags], {
    stdio: 'inherit',
    env,
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

if (!existsSync(REPORT)) {
  console.error(`${REPORT} is missing: run npm run mutate first`);
  process.exit(1);
}
const report = JSON.parse(readFileSync(REPORT, 'utf8'));
const rows = FOLDERS.map((folder) => {
  const count = { detected: 0, survived: 0, noCoverage: 0, valid: 0 };
  for (const [path, file] of Object.entries(report.files)) {
    if (!(path === folder || path.startsWith(`${folder}/`))) continue;
    for (const mutant of file.mutants) {
      if (INVALID.has(mutant.status)) continue;
      count.valid++;
      if (DETECTED.has(mutant.status)) count.detected++;
      else if (mutant.status === 'NoCoverage') count.noCoverage++;
      else count.survived++;
    }
  }
  return { folder, ...count };
});
console.log('\n| folder | mutants | killed or timed out | survived | no coverage | score |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) {
  const score = r.valid === 0 ? 'n/a' : `${((100 * r.detected) / r.valid).toFixed(1)} %`;
  console.log(`| \`${r.folder}\` | ${r.valid} | ${r.detected} | ${r.survived} | ${r.noCoverage} | ${score} |`);
}
