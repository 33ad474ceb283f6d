// The job side of test/e2e/job-tokens.ts: run at the start of each job (the
// e2e consumer's `default: before_script`), it fetches the job's ID tokens and
// prints them as `export NAME='token'` lines for the job's shell to eval, as
// GitLab hands a job its `id_tokens:` when the job starts. Test-only.
const base = process.env.E2E_JOB_TOKENS_URL;
const job = process.env.CI_JOB_NAME;
if (!base || !job) {
  console.error('fetch-job-tokens: E2E_JOB_TOKENS_URL and CI_JOB_NAME must be set');
  process.exit(1);
}
const response = await fetch(`${base}/jobs/${encodeURIComponent(job)}/id_tokens`);
const body = await response.json();
if (!response.ok) {
  console.error(`fetch-job-tokens: ${response.status} ${JSON.stringify(body)}`);
  process.exit(1);
}
for (const [name, token] of Object.entries(body)) {
  // Checked so that the eval can only ever assign a variable.
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || typeof token !== 'string' || !/^[A-Za-z0-9._-]+$/.test(token)) {
    console.error(`fetch-job-tokens: unexpected token ${JSON.stringify(name)}`);
    process.exit(1);
  }
  process.stdout.write(`export ${name}='${token}'\n`);
}
