/**
 * The request evidence as every later job re-verifies it: what was asked is
 * recomputed from the access file, and each field an approver approved must
 * agree with it (a tampered field is named), then the token is bound to this
 * job's pipeline. Real RS256 tokens from the loopback issuer, real files.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { writeRequestEvidence } from '../../src/approval/evidence.ts';
import { compareRequested, verifyRequest } from '../../src/approval/verify-request.ts';
import { httpGet } from '../../src/lib/http.ts';
import { describeRequestedAccess, type RequestedAccess, type RequestedCredential } from '../../src/providers/requested-access.ts';
import type { TokenVerifier } from '../../src/token/types.ts';
import { IssuerTokenVerifier } from '../../src/token/verify.ts';
import { type Issuer, startIssuer } from '../emulators/index.ts';
import { accessFile, awsTrait, component } from '../helpers/model.ts';

const PATH = '.oam-grant/request.json';
const TAMPER_HINT = 'evidence files are written by the request job only; rerun the pipeline instead of editing them';

const aws: RequestedCredential = { provider: 'aws-sts', identity: 'arn:aws:iam::1:role/deploy', region: 'eu-west-1', durationSeconds: 900, scopeDigest: 'a1', scopeSummary: 'the role' };
const vault: RequestedCredential = { provider: 'vault-jwt', identity: 'deploy', scopeDigest: 'b2', scopeSummary: 'role deploy' };
const one: RequestedAccess = { component: 'deploy-prod', credentials: [aws], durationSeconds: 900, scopeDigest: 'd1', scopeSummary: 'the role' };
const two: RequestedAccess = { ...one, credentials: [aws, vault], scopeSummary: 'the role; role deploy' };

describe('compareRequested: each approved field must agree with the access file', () => {
  it('accepts a record equal to what the file gives, whatever its key order', () => {
    compareRequested(PATH, { scopeSummary: one.scopeSummary, scopeDigest: one.scopeDigest, durationSeconds: 900, credentials: [{ ...aws }], component: 'deploy-prod' }, one);
    compareRequested(PATH, two, two);
    // No region on either side is no difference.
    compareRequested(PATH, { ...one, credentials: [{ ...aws, region: undefined }] }, { ...one, credentials: [{ ...aws, region: undefined }] });
  });

  // [what, recorded (as the evidence says), actual (as the access file gives), the field named]
  const tampered: [string, RequestedAccess, RequestedAccess, string][] = [
    ['another component', { ...one, component: 'deploy-dev' }, one, 'requested.component'],
    ['a credential dropped', one, two, 'requested.credentials'],
    ['a credential added', two, one, 'requested.credentials'],
    ['another provider', { ...one, credentials: [{ ...aws, provider: 'gcp-wif' }] }, one, 'requested.provider'],
    ['another role (named roleArn for AWS)', { ...one, credentials: [{ ...aws, identity: 'arn:aws:iam::1:role/admin' }] }, one, 'requested.roleArn'],
    ['another Vault role', { ...two, credentials: [aws, { ...vault, identity: 'admin' }] }, two, 'requested.credentials[1].identity'],
    ['another region', { ...one, credentials: [{ ...aws, region: 'us-east-1' }] }, one, 'requested.region'],
    ['a region dropped', { ...one, credentials: [{ ...aws, region: undefined }] }, one, 'requested.region'],
    ['a region added', one, { ...one, credentials: [{ ...aws, region: undefined }] }, 'requested.region'],
    ['a longer credential', { ...one, credentials: [{ ...aws, durationSeconds: 3600 }] }, one, 'requested.durationSeconds'],
    ['a wider scope of the second credential', { ...two, credentials: [aws, { ...vault, scopeDigest: 'ff' }] }, two, 'requested.credentials[1].scopeDigest'],
    ['a wider scope', { ...one, credentials: [{ ...aws, scopeDigest: 'ff' }] }, one, 'requested.scopeDigest'],
    ['a longer lifetime overall', { ...one, durationSeconds: 3600 }, one, 'requested.durationSeconds'],
    ['another overall digest', { ...one, scopeDigest: 'ff' }, one, 'requested.scopeDigest'],
    ['another summary (what the approver read)', { ...one, scopeSummary: 'read-only' }, one, 'requested'],
    ['another summary of a credential', { ...one, credentials: [{ ...aws, scopeSummary: 'read-only' }] }, one, 'requested'],
  ];
  for (const [what, recorded, actual, field] of tampered) {
    it(`refuses ${what}, naming ${field}`, () => {
      assert.throws(() => compareRequested(PATH, recorded, actual), {
        code: 'ERR_APPROVAL_INVALID',
        message: `${PATH}: ${field} differs from the access file at this commit (tampered, or made from another file)`,
        hint: TAMPER_HINT,
      });
    });
  }
});

describe('verifyRequest', () => {
  let issuer: Issuer;
  let verifier: TokenVerifier;
  let outDir: string;
  const comp = component('deploy-prod', { traits: [awsTrait()] });
  const file = accessFile({ components: [comp] });
  const target = { file, component: comp, traits: [awsTrait()] };

  before(async () => {
    issuer = await startIssuer();
    verifier = new IssuerTokenVerifier({ issuer: issuer.url, get: httpGet });
  });
  after(() => issuer.close());
  beforeEach(() => {
    outDir = join(mkdtempSync(join(tmpdir(), 'oam-request-')), '.oam-grant');
  });

  async function writeRequest(overrides: { component?: string; accessFileDigest?: string; requested?: RequestedAccess } = {}) {
    await writeRequestEvidence(outDir, {
      version: 1,
      kind: 'request',
      component: overrides.component ?? 'deploy-prod',
      token: await issuer.mint({ user_id: '42', user_login: 'dev', job_id: '800' }, { aud: 'oam-grant' }),
      requested: overrides.requested ?? describeRequestedAccess(comp, [awsTrait()]),
      accessFileDigest: overrides.accessFileDigest ?? file.digest,
      createdAt: '2026-01-01T00:00:00Z',
    }, dirname(outDir));
  }
  const own = async () => verifier.verify(await issuer.mint({ job_id: '1000' }), { audience: 'sts.amazonaws.com', purpose: 'exchange', source: 'OAM_ID_TOKEN' });

  it('verifies the request and returns what the access file asks for', async () => {
    await writeRequest();
    const verified = await verifyRequest(target, await own(), outDir, verifier);
    assert.equal(verified.path, join(outDir, 'request.json'));
    assert.equal(verified.token.claims.job_id, '800');
    assert.deepEqual(verified.requested, describeRequestedAccess(comp, [awsTrait()]));
  });

  it('refuses without request evidence (ERR_APPROVAL_MISSING, telling how to hand it on)', async () => {
    await assert.rejects(verifyRequest(target, await own(), outDir, verifier), {
      code: 'ERR_APPROVAL_MISSING',
      message: `${join(outDir, 'request.json')}: no request evidence; component deploy-prod needs approval`,
      hint: 'run the request job first and hand its out-dir on as artifacts (needs: [oam:request])',
    });
  });

  it("refuses another component's request even when its requested field was copied from this one", async () => {
    await writeRequest({ component: 'deploy-dev' });
    await assert.rejects(verifyRequest(target, await own(), outDir, verifier), {
      code: 'ERR_APPROVAL_INVALID',
      message: `${join(outDir, 'request.json')}: the request is for component deploy-dev, not deploy-prod`,
      hint: 'give each component its own --out-dir, or run the request job for this component',
    });
  });

  it('refuses a request made from another access file, even when this component asks the same', async () => {
    await writeRequest({ accessFileDigest: 'f'.repeat(64) });
    await assert.rejects(verifyRequest(target, await own(), outDir, verifier), {
      code: 'ERR_APPROVAL_INVALID',
      message: `${join(outDir, 'request.json')}: accessFileDigest differs from the access file at this commit (tampered, or made from another file)`,
    });
  });

  it('refuses a request whose recorded access was widened', async () => {
    await writeRequest({ requested: describeRequestedAccess(comp, [awsTrait({ roleArn: 'arn:aws:iam::123456789012:role/admin' })]) });
    await assert.rejects(verifyRequest(target, await own(), outDir, verifier), {
      code: 'ERR_APPROVAL_INVALID',
      message: `${join(outDir, 'request.json')}: requested.roleArn differs from the access file at this commit (tampered, or made from another file)`,
    });
  });
});
