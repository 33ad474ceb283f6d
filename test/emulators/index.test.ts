import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { AssumeRoleWithWebIdentityCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { Gitlab } from '@gitbeaker/rest';
import { DEFAULT_ROLE_ARN, startEmbeddedDefault } from './index.ts';

describe('embedded default', () => {
  it('wires issuer, STS and GitLab API together', async () => {
    const world = await startEmbeddedDefault();
    try {
      const sts = new STSClient({ endpoint: world.sts.url, region: 'us-east-1', maxAttempts: 1 });
      const assume = async (claims: Record<string, unknown>) =>
        sts.send(
          new AssumeRoleWithWebIdentityCommand({
            RoleArn: DEFAULT_ROLE_ARN,
            RoleSessionName: 'embedded',
            WebIdentityToken: await world.issuer.mint(claims),
          }),
        );
      const { Credentials } = await assume({});
      await assume({ ref: 'v2.0.0', ref_type: 'tag' });
      await assert.rejects(assume({ ref: 'develop' }), { name: 'AccessDenied' });
      await assert.rejects(assume({ project_path: 'acme/other' }), { name: 'AccessDenied' });

      const signed = new STSClient({
        endpoint: world.sts.url,
        region: 'us-east-1',
        credentials: {
          accessKeyId: Credentials!.AccessKeyId!,
          secretAccessKey: Credentials!.SecretAccessKey!,
          sessionToken: Credentials!.SessionToken!,
        },
      });
      const who = await signed.send(new GetCallerIdentityCommand({}));
      assert.equal(who.Arn, 'arn:aws:sts::123456789012:assumed-role/ci-deploy/embedded');

      const gitlab = new Gitlab({ host: world.gitlab.url, token: 'any' });
      await gitlab.MergeRequestNotes.create('acme/payments', 7, 'hello');
      assert.equal(world.gitlab.notes('1217', 7)[0]?.body, 'hello');
      assert.equal((await gitlab.MergeRequests.show(1217, 7)).author.username, 'dev');
      const carol = await gitlab.GroupMembers.show('acme/sre', 45, { includeInherited: true });
      assert.equal(carol.username, 'carol');
    } finally {
      await world.close();
    }
  });

  it('runs as a process that prints its URLs and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/emulators/cli.ts'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
      const urls = JSON.parse(line) as { issuer: string; sts: string; gitlab: string };
      for (const url of Object.values(urls)) assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const discovery = (await (await fetch(`${urls.issuer}/.well-known/openid-configuration`)).json()) as {
        issuer: string;
      };
      assert.equal(discovery.issuer, urls.issuer);
      const token = await (await fetch(`${urls.issuer}/mint?format=raw`)).text();
      assert.equal(token.split('.').length, 3);
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
  });
});
