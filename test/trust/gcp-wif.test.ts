import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { matchesRefGlob } from '../../src/access-file/glob.ts';
import type { GcpWifTrait, Policy } from '../../src/access-file/model.ts';
import { OamError } from '../../src/errors.ts';
import { trustScopeOf } from '../../src/policy/trust-scope.ts';
import { attributeConditionFor, celString, gcpTrustConfig, globToRe2, refToCel } from '../../src/trust/gcp-wif.ts';
import { compileCel } from '../emulators/cel.ts';
import { accessFile, component } from '../helpers/model.ts';

const WIP = 'projects/123456789/locations/global/workloadIdentityPools/gitlab/providers/gitlab-ci';
const POOL = 'projects/123456789/locations/global/workloadIdentityPools/gitlab';
const AUD = `https://iam.googleapis.com/${WIP}`;
const SA = 'deployer@my-project.iam.gserviceaccount.com';

const trait = (overrides: Partial<GcpWifTrait> = {}): GcpWifTrait => ({
  type: 'gcp-wif',
  workloadIdentityProvider: WIP,
  serviceAccount: SA,
  durationSeconds: 900,
  scopes: ['https://www.googleapis.com/auth/cloud-platform'],
  stsEndpoint: 'https://sts.googleapis.com',
  iamCredentialsEndpoint: 'https://iamcredentials.googleapis.com',
  exportPrefix: '',
  ...overrides,
});
const conditions = (properties: Record<string, unknown>, name = 'p'): Policy => ({ type: 'gitlab-conditions', name, pointer: '/spec/policies/0', ...properties }) as Policy;

function build(policies: Policy[], t = trait(), projectPath: string | undefined = 'acme/payments') {
  const c = component('deploy', { traits: [t] });
  const file = accessFile({ components: [c], policies });
  return gcpTrustConfig({ trait: t, component: c, scope: trustScopeOf(file, c, projectPath), issuer: 'https://gitlab.com/', audience: AUD });
}
const conditionOf = (config: Record<string, unknown>) => (config.workloadIdentityPoolProvider as { attributeCondition: string }).attributeCondition;

describe('gcpTrustConfig', () => {
  it('prints the provider (issuer, audience, mapping, condition) and the service account binding, as narrow as the file', () => {
    const { config, warnings, notes } = build([conditions({ projectPaths: ['acme/payments'], refTypes: ['branch'], refs: ['main', 'release/*'], refProtected: true })]);
    const member = `principalSet://iam.googleapis.com/${POOL}/attribute.project_path/acme/payments`;
    const condition =
      "assertion.project_path == 'acme/payments' && assertion.ref_type == 'branch' && (assertion.ref == 'main' || assertion.ref.matches('^release/[^/]*$')) && assertion.ref_protected == 'true'";
    assert.deepEqual(config, {
      workloadIdentityPoolProvider: {
        name: WIP,
        oidc: { issuerUri: 'https://gitlab.com', allowedAudiences: [AUD] },
        attributeMapping: {
          'google.subject': 'assertion.sub',
          'attribute.project_path': 'assertion.project_path',
          'attribute.ref': 'assertion.ref',
          'attribute.ref_type': 'assertion.ref_type',
          'attribute.ref_protected': 'assertion.ref_protected',
        },
        attributeCondition: condition,
      },
      serviceAccountIamBinding: { serviceAccount: SA, role: 'roles/iam.workloadIdentityUser', members: [member] },
      gcloud: [
        `gcloud iam workload-identity-pools providers create-oidc gitlab-ci --project=123456789 --location=global --workload-identity-pool=gitlab --issuer-uri=https://gitlab.com --allowed-audiences=${AUD} --attribute-mapping=google.subject=assertion.sub,attribute.project_path=assertion.project_path,attribute.ref=assertion.ref,attribute.ref_type=assertion.ref_type,attribute.ref_protected=assertion.ref_protected '--attribute-condition=${condition.replace(/'/g, `'\\''`)}'`,
        `gcloud iam service-accounts add-iam-policy-binding ${SA} --role=roles/iam.workloadIdentityUser --member=${member}`,
      ],
    });
    assert.deepEqual(warnings, []);
    assert.ok(notes.some((n) => /^Google checks ref_protected: the attribute condition requires "true"/.test(n)));
    assert.ok(!notes.some((n) => /^refProtected is checked by oam-grant only/.test(n)), 'Google does read ref_protected');
    assert.ok(notes.some((n) => /every token of this provider/.test(n)));
  });

  it('admits branches only when the file names no refTypes, and requires no ref_protected the file does not', () => {
    const { config, warnings, notes } = build([conditions({ refs: ['main'] })]);
    assert.equal(conditionOf(config), "assertion.project_path == 'acme/payments' && assertion.ref_type == 'branch' && assertion.ref == 'main'");
    assert.deepEqual(warnings, []);
    assert.ok(notes.some((n) => /sets no refTypes: the configuration admits branches only/.test(n)));
  });

  it('admits tags only where the file names them, with the warning that they must be protected', () => {
    const { config, warnings } = build([conditions({ refs: ['v*'], refTypes: ['branch', 'tag'] })]);
    assert.match(conditionOf(config), /\(assertion\.ref_type == 'branch' \|\| assertion\.ref_type == 'tag'\)/);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /admits tags matching v\*.*cannot see ref_protected/);
  });

  it('softens the tag warning to a note when the file requires protected refs, which Google checks', () => {
    const { config, warnings, notes } = build([conditions({ refs: ['v*'], refTypes: ['tag'], refProtected: true })]);
    assert.match(conditionOf(config), /assertion\.ref_protected == 'true'$/);
    assert.deepEqual(warnings, []);
    assert.ok(notes.some((n) => /admits tags matching v\* \(refTypes names tag\), protected ones only: Google checks ref_protected/.test(n)));
  });

  it('names every project of the file, in the condition and as members', () => {
    const { config } = build([conditions({ projectPaths: ['acme/payments', 'acme/billing'], refs: ['**'] })], trait(), undefined);
    assert.equal(conditionOf(config), "(assertion.project_path == 'acme/payments' || assertion.project_path == 'acme/billing') && assertion.ref_type == 'branch'");
    assert.deepEqual((config.serviceAccountIamBinding as { members: string[] }).members, [
      `principalSet://iam.googleapis.com/${POOL}/attribute.project_path/acme/payments`,
      `principalSet://iam.googleapis.com/${POOL}/attribute.project_path/acme/billing`,
    ]);
  });

  it('without serviceAccount prints the principal sets to grant resource roles to', () => {
    const { config, notes } = build([conditions({ refs: ['main'] })], trait({ serviceAccount: undefined }));
    assert.equal(config.serviceAccountIamBinding, undefined);
    assert.deepEqual(config.principalSets, [`principalSet://iam.googleapis.com/${POOL}/attribute.project_path/acme/payments`]);
    assert.equal((config.gcloud as string[]).length, 1);
    assert.ok(notes.some((n) => /without serviceAccount the job acts as its federated principal/.test(n)));
  });

  it('refuses what would admit every ref, or no ref (the shared scope rules)', () => {
    assert.throws(() => build([conditions({ refProtected: true })]), (e: unknown) => e instanceof OamError && e.code === 'ERR_USAGE' && /would admit every branch and tag/.test(e.message));
    assert.throws(
      () => build([conditions({ refs: ['main'], refProtected: true }), conditions({ refProtected: false }, 'q')]),
      (e: unknown) => e instanceof OamError && e.code === 'ERR_USAGE' && /refProtected both true and false/.test(e.message),
    );
  });

  it("refuses a condition longer than Google's 4096 characters", () => {
    const refs = Array.from({ length: 200 }, (_, i) => `release/team-${i}/*`);
    assert.throws(() => build([conditions({ refs })]), (e: unknown) => e instanceof OamError && e.code === 'ERR_USAGE' && /Google accepts at most 4096/.test(e.message));
  });

  it("warns when GitLab's sub would exceed Google's 127-byte google.subject", () => {
    const { warnings } = build([conditions({ projectPaths: [`acme/${'x'.repeat(90)}`], refs: ['main'] })], trait(), undefined);
    assert.ok(warnings.some((w) => /at least 1\d\d bytes, and Google refuses a mapped google.subject over 127/.test(w)));
    assert.deepEqual(build([conditions({ refs: ['main'] })]).warnings, []);
  });
});

describe('ref globs in CEL', () => {
  const refs = ['main', 'release/1.2', 'release/1.2/hotfix', 'release/', 'releasex', 'v1.2.3', 'v1x2', 'feature/a.b', 'a+b(c)', "it's", 'ré/1', 'x$y'];
  const globs = ['main', 'release/*', 'release/**', 'release/?.?', 'v1.2.*', 'v*', '**', '*/*', 'a+b(c)', "it's", 'r?/*', 'x$y', 'feature/**/b', '*.b'];

  it('translates every glob exactly: the RE2 pattern and the CEL expression agree with matchesRefGlob', () => {
    for (const glob of globs) {
      const re = new RegExp(globToRe2(glob), 'u');
      const cel = compileCel(refToCel(glob));
      for (const ref of refs) {
        const expected = matchesRefGlob(glob, ref);
        assert.equal(re.test(ref), expected, `${glob} ~ ${ref} (RE2 ${globToRe2(glob)})`);
        assert.equal(cel({ assertion: { ref } }), expected, `${glob} ~ ${ref} (CEL ${refToCel(glob)})`);
      }
    }
  });

  it('writes plain names as equality and prefix/** as startsWith', () => {
    assert.equal(refToCel('main'), "assertion.ref == 'main'");
    assert.equal(refToCel('release/**'), "assertion.ref.startsWith('release/')");
    assert.equal(refToCel('release/*'), "assertion.ref.matches('^release/[^/]*$')");
    assert.equal(celString("it's \\ here"), "'it\\'s \\\\ here'");
  });

  it('evaluates the whole condition in the emulator as the file decides', () => {
    const condition = compileCel(attributeConditionFor({ projects: ['acme/payments'], refTypes: ['branch'], refs: ['main', 'release/*'], refProtected: true }));
    const claims = (ref: string, extra: Record<string, string> = {}) => ({ assertion: { project_path: 'acme/payments', ref_type: 'branch', ref, ref_protected: 'true', ...extra } });
    assert.equal(condition(claims('main')), true);
    assert.equal(condition(claims('release/2')), true);
    assert.equal(condition(claims('release/2/x')), false);
    assert.equal(condition(claims('main', { ref_protected: 'false' })), false);
    assert.equal(condition(claims('main', { ref_type: 'tag' })), false);
    assert.equal(condition(claims('main', { project_path: 'acme/other' })), false);
  });
});
