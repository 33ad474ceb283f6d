/**
 * The bundle as shipped: one file, copied away from the repository (so no
 * node_modules can be found), with and without its optional code caches.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_SHA, type EmbeddedDefault, startEmbeddedDefault } from '../emulators/index.ts';
import { CLI, runProgram } from '../helpers/cli.ts';
import { withInstance } from '../helpers/access-file.ts';

const ACCESS_FILE = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: bundle-test}
spec:
  components:
    - name: deploy
      type: gitlab-job
      traits:
        - type: aws-sts
          properties: {roleArn: "arn:aws:iam::123456789012:role/ci-deploy"}
        - type: mr-audit
          properties: {required: true}
  policies:
    - name: main-only
      type: gitlab-conditions
      properties: {refs: [main]}
`;

describe('the shipped bundle', () => {
  let world: EmbeddedDefault;
  before(async () => {
    world = await startEmbeddedDefault({ gitlab: { tokens: ['glpat-bundle-test-0001'] } });
  });
  after(() => world.close());

  const variants = [
    ['alone, without code caches', false],
    ['with the code caches made at build time', true],
  ] as const;
  for (const [name, withCaches] of variants) {
    it(`runs ${name}, away from node_modules: grant with STS and the MR note`, async () => {
      const home = mkdtempSync(join(tmpdir(), 'oam-bundle-'));
      const bin = join(home, 'bin');
      mkdirSync(bin);
      copyFileSync(CLI, join(bin, 'oam-grant.mjs'));
      // The build writes a cache per chunk for each Node version it found, the machine's at least.
      const caches = readdirSync('dist').filter((f) => f.endsWith('.code-cache'));
      const ours = caches.filter((f) => f.startsWith(`oam-grant.mjs.node${process.versions.node.split('.')[0]}.`));
      if (withCaches) {
        assert.ok(caches.length >= 4, 'the build writes a code cache per chunk');
        for (const file of caches) copyFileSync(join('dist', file), join(bin, file));
      }
      const project = join(home, 'project');
      mkdirSync(join(project, '.gitlab'), { recursive: true });
      writeFileSync(join(project, '.gitlab/oam.yaml'), withInstance(ACCESS_FILE, world.issuer.url));
      const token = await world.issuer.mint({ ref: 'main', ref_type: 'branch', pipeline_id: withCaches ? '71' : '70' });
      const result = await runProgram(process.execPath, [join(bin, 'oam-grant.mjs'), 'grant', '--component', 'deploy'], {
        cwd: project,
        env: {
          CI_SERVER_URL: world.issuer.url,
          CI_API_V4_URL: `${world.issuer.url}/api/v4`,
          CI_PROJECT_ID: '1217',
          CI_MERGE_REQUEST_IID: '7',
          CI_COMMIT_SHA: DEFAULT_SHA,
          OAM_GITLAB_TOKEN: 'glpat-bundle-test-0001',
          OAM_ID_TOKEN: token,
          AWS_ENDPOINT_URL_STS: world.sts.url,
          OAM_GRANT_TRACE_CHUNKS: '1',
        },
      });
      assert.equal(result.status, 0, result.stderr);
      // V8 takes this node's caches; without them (or with none built for this version) it compiles.
      const compiled = withCaches && ours.length > 0 ? 'cached' : 'compiled';
      // The order follows the command's steps (the narrowing guard asks the API before the exchange).
      const chunks = /oam-grant chunks: (.*)\n/.exec(result.stderr)?.[1]?.split(' ').sort();
      assert.deepEqual(chunks, [`aws-sts=${compiled}`, `core=${compiled}`, `gitbeaker=${compiled}`]);
      assert.ok(statSync(join(project, 'oam-grant.env')).size > 0);
      assert.ok(!result.stderr.includes('Warning'), 'no runtime warnings in the job log');
      assert.ok(world.gitlab.notes('1217', 7).some((n) => n.body.includes(`pipeline=${withCaches ? '71' : '70'} `)));
      assert.equal(existsSync(join(project, 'node_modules')), false);
    });
  }

  it('exits as soon as the command is done, even with the issuer still silent', async () => {
    // An issuer that accepts connections and never answers: the key prefetch hangs.
    const held: Socket[] = [];
    const silent = createServer((socket) => void held.push(socket));
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
    const port = (silent.address() as { port: number }).port;
    try {
      const project = mkdtempSync(join(tmpdir(), 'oam-bundle-'));
      mkdirSync(join(project, '.gitlab'));
      writeFileSync(join(project, '.gitlab/oam.yaml'), 'not: [valid');
      const started = Date.now();
      const result = await runProgram(process.execPath, [CLI, 'grant', '--component', 'deploy'], {
        cwd: project,
        env: { CI_SERVER_URL: `http://127.0.0.1:${port}`, OAM_ID_TOKEN: 'x.y.z' },
      });
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr, /error\[ERR_METADATA_INVALID\]/);
      assert.ok(Date.now() - started < 3_000, `took ${Date.now() - started} ms: the process waited for the prefetch`);
    } finally {
      for (const socket of held) socket.destroy();
      silent.close();
    }
  });
});
