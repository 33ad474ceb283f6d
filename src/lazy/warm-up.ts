/**
 * The training run behind the code caches (src/entry/chunks.ts): real
 * commands of the CLI against stand-ins on loopback (an issuer with a fresh
 * RSA key, STS, the GitLab API), so that V8 has compiled the functions a job
 * runs when the caches are written. Only the build and the image's build run
 * it; it is its own chunk, never compiled by a job. The stand-ins answer just
 * enough: the emulators under test/ are the reference for GitLab and AWS.
 */
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type Main = (argv: readonly string[], env: Readonly<Record<string, string | undefined>>, io: { stdout: (text: string) => void; stderr: (text: string) => void }) => Promise<number>;

const ROLE = 'arn:aws:iam::123456789012:role/oam-grant-warm-up';
const STS_NS = 'https://sts.amazonaws.com/doc/2011-06-15/';

function accessFile(issuer: string): string {
  return `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: warm-up}
spec:
  gitlab: {url: "${issuer}"}
  components:
    - name: deploy
      type: gitlab-job
      traits:
        - type: aws-sts
          properties: {roleArn: "${ROLE}", region: eu-west-1}
        - type: mr-audit
          properties: {required: false}
    - name: release
      type: gitlab-job
      traits:
        - type: aws-sts
          properties: {roleArn: "${ROLE}"}
  policies:
    - name: main-only
      type: gitlab-conditions
      properties: {refProtected: true, refs: [main]}
    - name: caps
      type: credential-limits
      properties: {maxDurationSeconds: 3600}
  workflow:
    steps:
      - name: approve-release
        type: jit-approval
        properties:
          component: release
          approvers: {users: [lead]}
          requireReason: true
          reasonPattern: "^[A-Z]+-[0-9]+"
`;
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}

function listen(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => handle(req, res));
  });
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` })));
}

export async function warmUp(main: Main): Promise<void> {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomUUID();
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' };
  let notes = 0;
  const gitlab = await listen((req, res) => {
    const path = req.url ?? '/';
    if (path === '/.well-known/openid-configuration') {
      return send(res, 200, 'application/json', JSON.stringify({ issuer: gitlab.url, jwks_uri: `${gitlab.url}/oauth/discovery/keys`, id_token_signing_alg_values_supported: ['RS256'] }));
    }
    if (path === '/oauth/discovery/keys') return send(res, 200, 'application/json', JSON.stringify({ keys: [jwk] }));
    // The API: enough for the narrowing guard (on the default branch), and for a note to be looked for and posted.
    if (req.method === 'GET' && /^\/api\/v4\/projects\/[0-9]+$/.test(path)) return send(res, 200, 'application/json', JSON.stringify({ id: 1217, default_branch: 'main' }));
    if (req.method === 'GET' && path === '/api/v4/user') return send(res, 200, 'application/json', JSON.stringify({ id: 1, username: 'oam-grant' }));
    if (req.method === 'GET') return send(res, 200, 'application/json', '[]');
    notes += 1;
    return send(res, 201, 'application/json', JSON.stringify({ id: notes, body: '', author: { username: 'oam-grant' } }));
  });
  const sts = await listen((_req, res) => {
    const expiration = `${new Date(Date.now() + 900_000).toISOString().slice(0, 19)}Z`;
    const result = `<Credentials><AccessKeyId>ASIAWARMUP0000000000</AccessKeyId><SecretAccessKey>warm-up-secret</SecretAccessKey><SessionToken>warm-up-session</SessionToken><Expiration>${expiration}</Expiration></Credentials><SubjectFromWebIdentityToken>warm-up</SubjectFromWebIdentityToken><AssumedRoleUser><AssumedRoleId>AROAWARMUP:warm-up</AssumedRoleId><Arn>arn:aws:sts::123456789012:assumed-role/oam-grant-warm-up/warm-up</Arn></AssumedRoleUser><Provider>${gitlab.url}</Provider><Audience>sts.amazonaws.com</Audience>`;
    send(res, 200, 'text/xml', `<AssumeRoleWithWebIdentityResponse xmlns="${STS_NS}"><AssumeRoleWithWebIdentityResult>${result}</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>`);
  });
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: gitlab.url,
    aud: 'sts.amazonaws.com',
    sub: 'project_path:acme/payments:ref_type:branch:ref:main',
    iat: now,
    nbf: now - 5,
    exp: now + 600,
    jti: randomUUID(),
    namespace_id: '72',
    namespace_path: 'acme',
    project_id: '1217',
    project_path: 'acme/payments',
    user_id: '42',
    user_login: 'dev',
    user_email: 'dev@example.com',
    pipeline_id: '1',
    pipeline_source: 'push',
    job_id: '2',
    ref: 'main',
    ref_type: 'branch',
    ref_path: 'refs/heads/main',
    ref_protected: 'true',
    sha: '0000000000000000000000000000000000000000',
  };
  const input = `${base64url({ alg: 'RS256', typ: 'JWT', kid })}.${base64url(claims)}`;
  const token = `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;

  const home = mkdtempSync(join(tmpdir(), 'oam-grant-warm-up-'));
  // The project directory of a job: the dotenv file must be inside it.
  const cwd = process.cwd();
  process.chdir(home);
  try {
    mkdirSync(join(home, '.gitlab'));
    const file = join(home, '.gitlab', 'oam.yaml');
    writeFileSync(file, accessFile(gitlab.url));
    const env = {
      HOME: home,
      CI_SERVER_URL: gitlab.url,
      CI_API_V4_URL: `${gitlab.url}/api/v4`,
      CI_PROJECT_ID: '1217',
      CI_PROJECT_PATH: 'acme/payments',
      CI_MERGE_REQUEST_IID: '1',
      CI_PIPELINE_ID: '1',
      CI_JOB_ID: '2',
      CI_COMMIT_SHA: claims.sha,
      OAM_ID_TOKEN: token,
      // No API token: the narrowing guard then goes on for the protected ref without the API (and posts no note).
      AWS_ENDPOINT_URL_STS: sts.url,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    const common = ['--file', file];
    const output: string[] = [];
    const io = { stdout: (text: string) => void output.push(text), stderr: (text: string) => void output.push(text) };
    const runs: [readonly string[], number][] = [
      [['--help'], 0],
      [['validate', ...common], 0],
      [['plan', '--component', 'deploy', ...common], 0],
      [['trust-policy', '--component', 'deploy', ...common], 0],
      [['grant', '--component', 'deploy', ...common], 0],
    ];
    for (const [argv, expected] of runs) {
      output.length = 0;
      const status = await main(argv, env, io);
      // A training run that fails trains the wrong path: say so, and the build stops.
      if (status !== expected) throw new Error(`warm-up: oam-grant ${argv[0]} exited ${status}, not ${expected}:\n${output.join('')}`);
    }
  } finally {
    process.chdir(cwd);
    rmSync(home, { recursive: true, force: true });
    gitlab.server.closeAllConnections();
    sts.server.closeAllConnections();
    gitlab.server.close();
    sts.server.close();
  }
}
