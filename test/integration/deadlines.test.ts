/**
 * Bounded time through the built bundle: an issuer that answers its headers
 * and then drips one byte every 100 ms (well inside any idle timeout) must
 * end the job in ERR_TOKEN_INVALID with exit 1 and the issuer hint, not hang
 * it. The per-request deadline is shortened with OAM_TEST_HTTP_DEADLINE_MS
 * (honoured for loopback hosts only, and never lengthening a deadline); the
 * retries, their backoff and the exit are the real ones.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Issuer, startIssuer } from '../emulators/issuer.ts';
import { withInstance } from '../helpers/access-file.ts';
import { CLI, runCli, workspace } from '../helpers/cli.ts';
import { type DripServer, startDripServer } from '../helpers/drip-server.ts';

const ACCESS_FILE = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: deadlines}
spec:
  components:
    - name: deploy
      type: gitlab-job
      traits:
        - type: aws-sts
          properties: {roleArn: "arn:aws:iam::123456789012:role/ci-deploy"}
`;

describe('deadlines through the bundle', () => {
  let issuer: Issuer;
  let drip: DripServer;
  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build`);
    issuer = await startIssuer();
    drip = await startDripServer({ intervalMs: 100 });
  });
  after(async () => {
    await drip.close();
    await issuer.close();
  });

  for (const command of ['grant', 'request']) {
    it(`${command}: a dripping issuer ends the job with ERR_TOKEN_INVALID and exit 1, in bounded time`, async () => {
      const dir = workspace(withInstance(ACCESS_FILE, drip.url));
      const token = await issuer.mint({ ref: 'main', ref_type: 'branch' }, { iss: drip.url, aud: command === 'grant' ? 'sts.amazonaws.com' : 'oam-grant' });
      const before = drip.requests();
      const started = Date.now();
      const result = await runCli([command, '--component', 'deploy'], {
        cwd: dir,
        env: { CI_SERVER_URL: drip.url, OAM_ID_TOKEN: token, OAM_EVIDENCE_TOKEN: token, OAM_TEST_HTTP_DEADLINE_MS: '300' },
      });
      const elapsed = Date.now() - started;
      assert.equal(result.status, 1, result.stderr);
      assert.match(result.stderr, /^error\[ERR_TOKEN_INVALID\]: cannot read the issuer's discovery document at http:\/\/127\.0\.0\.1:\d+\/\.well-known\/openid-configuration: no complete answer within 300 ms$/m);
      assert.match(result.stderr, /^hint: check spec\.gitlab in the access file and that this runner can reach the GitLab instance$/m);
      assert.equal(drip.requests() - before, 4, 'the real retries: four attempts');
      // Four 300 ms attempts and at most 1.4 s of backoff, plus the start of a process on a loaded machine.
      assert.ok(elapsed < 8_000, `${elapsed} ms`);
      assert.equal(existsSync(join(dir, 'oam-grant.env')), false);
      await drip.allClosed();
    });
  }
});
