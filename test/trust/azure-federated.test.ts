import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AzureFederatedTrait, Policy } from '../../src/access-file/model.ts';
import { OamError } from '../../src/errors.ts';
import { trustScopeOf } from '../../src/policy/trust-scope.ts';
import { azureFederatedCredentials, supportsFlexibleCredentials } from '../../src/trust/azure-federated.ts';
import { matchesRefGlob } from '../../src/access-file/glob.ts';
import { type FederatedCredential, startEntra, wildcardMatches } from '../emulators/entra.ts';
import { type Issuer, startIssuer } from '../emulators/issuer.ts';
import { accessFile, component } from '../helpers/model.ts';

const TENANT = '11111111-2222-3333-4444-555555555555';
const CLIENT = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const AUD = 'api://AzureADTokenExchange';
const P = 'project_path:acme/payments';

const trait: AzureFederatedTrait = { type: 'azure-federated', tenantId: TENANT, clientId: CLIENT, scope: 'https://management.azure.com/.default', authorityHost: 'https://login.microsoftonline.com', exportPrefix: '' };

const conditions = (properties: Record<string, unknown>): Policy => ({ type: 'gitlab-conditions', name: 'p', pointer: '/spec/policies/0', ...properties }) as Policy;

interface Credential {
  name: string;
  issuer: string;
  subject?: string | null;
  claimsMatchingExpression?: { value: string; languageVersion: number };
  audiences: string[];
  description: string;
}

function build(properties: Record<string, unknown>, issuer = 'https://gitlab.com', audience = AUD) {
  const c = component('deploy-prod', { traits: [trait] });
  const file = accessFile({ components: [c], policies: [conditions({ projectPaths: ['acme/payments'], ...properties })] });
  const built = azureFederatedCredentials({ trait, component: c, scope: trustScopeOf(file, c, undefined), issuer, audience });
  return { ...built, credentials: built.config.federatedIdentityCredentials as Credential[] };
}

describe('azureFederatedCredentials', () => {
  it('prints one exact credential per subject: issuer, subject, the one audience, a Graph-valid name', () => {
    const { config, credentials, warnings } = build({ refs: ['main', 'release/v1'], refTypes: ['branch'] }, 'https://gitlab.example.org/');
    assert.equal(config.clientId, CLIENT);
    assert.equal(config.tenantId, TENANT);
    assert.deepEqual(credentials, [
      { name: 'oam-deploy-prod-branch-main', issuer: 'https://gitlab.example.org', subject: `${P}:ref_type:branch:ref:main`, audiences: [AUD], description: 'oam-grant component deploy-prod: acme/payments branch main' },
      { name: 'oam-deploy-prod-branch-release-v1', issuer: 'https://gitlab.example.org', subject: `${P}:ref_type:branch:ref:release/v1`, audiences: [AUD], description: 'oam-grant component deploy-prod: acme/payments branch release/v1' },
    ]);
    assert.deepEqual(warnings, []);
    for (const c of credentials) assert.match(c.name, /^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$/);
  });

  it('admits branches only when the file names no refTypes', () => {
    const { credentials, notes, warnings } = build({ refs: ['main'] });
    assert.deepEqual(credentials.map((c) => c.subject), [`${P}:ref_type:branch:ref:main`]);
    assert.deepEqual(warnings, []);
    assert.ok(notes.some((n) => /sets no refTypes: the configuration admits branches only/.test(n)));
  });

  it('admits tags only where refTypes names them, with the warning to protect them', () => {
    const { credentials, warnings } = build({ refs: ['v1.0'], refTypes: ['branch', 'tag'] });
    assert.deepEqual(credentials.map((c) => c.subject), [`${P}:ref_type:branch:ref:v1.0`, `${P}:ref_type:tag:ref:v1.0`]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /admits tags matching v1.0 .*Protected tags/);
  });

  it('turns globs into flexible credentials on gitlab.com, matching no sub the file refuses but across "/"', () => {
    const { credentials, notes } = build({ refs: ['main', 'release/*', 'hotfix/**'], refTypes: ['branch'] });
    const flexible = credentials.filter((c) => c.claimsMatchingExpression);
    assert.deepEqual(
      flexible.map((c) => [c.name, c.claimsMatchingExpression, c.subject]),
      [
        ['oam-deploy-prod-branch-release-any', { value: `claims['sub'] matches '${P}:ref_type:branch:ref:release/*'`, languageVersion: 1 }, null],
        ['oam-deploy-prod-branch-hotfix-all', { value: `claims['sub'] matches '${P}:ref_type:branch:ref:hotfix/*'`, languageVersion: 1 }, null],
      ],
    );
    const pattern = (c: Credential) => /matches '(.*)'$/.exec(c.claimsMatchingExpression!.value)![1]!;
    // Never wider than the file in what counts: other projects, ref types and prefixes stay out.
    for (const sub of [`${P}:ref_type:tag:ref:release/1`, `project_path:acme/other:ref_type:branch:ref:release/1`, `${P}:ref_type:branch:ref:releases/1`]) {
      assert.ok(!flexible.some((c) => wildcardMatches(pattern(c), sub)), sub);
    }
    assert.ok(wildcardMatches(pattern(flexible[0]!), `${P}:ref_type:branch:ref:release/a/b`), 'Entra\'s * spans "/": said in a note');
    assert.ok(notes.some((n) => /Entra's `\*` and `\?` also match '\/'/.test(n)));
    assert.ok(notes.some((n) => /flexible federated identity credentials \(preview\)/.test(n)));
  });

  it('leaves globs out, with a warning, where Entra offers no flexible credentials; refuses when nothing is left', () => {
    const { credentials, warnings } = build({ refs: ['main', 'release/*'] }, 'https://git.example.org');
    assert.deepEqual(credentials.map((c) => c.subject), [`${P}:ref_type:branch:ref:main`]);
    assert.ok(credentials.every((c) => !c.claimsMatchingExpression));
    assert.match(warnings.join('\n'), /refs release\/\* cannot be expressed for issuer https:\/\/git.example.org/);
    assert.throws(
      () => build({ refs: ['release/*'] }, 'https://git.example.org'),
      (e: unknown) => e instanceof OamError && e.code === 'ERR_USAGE' && /no federated identity credential can express the refs of deploy-prod/.test(e.message),
    );
  });

  it('refuses a component without refs, which would admit every ref', () => {
    assert.throws(() => build({ refProtected: true }), (e: unknown) => e instanceof OamError && e.code === 'ERR_USAGE' && /would admit every branch and tag/.test(e.message));
  });

  it('keeps names unique, Graph-valid and at most 120 characters', () => {
    const long = `feature/${'x'.repeat(200)}`;
    const { credentials } = build({ refs: ['a.b', 'a-b', long] });
    const names = credentials.map((c) => c.name);
    assert.equal(new Set(names).size, names.length);
    for (const name of names) assert.match(name, /^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$/);
    for (const c of credentials) assert.ok(c.subject!.length <= 600 && c.description.length <= 600);
  });

  it('names the project when several are admitted, and warns past 20 credentials per app', () => {
    const refs = Array.from({ length: 11 }, (_, i) => `r${i}`);
    const { credentials, warnings, notes } = build({ refs, projectPaths: ['acme/payments', 'acme/ledger'] });
    assert.equal(credentials.length, 22);
    assert.equal(credentials[0]!.name, 'oam-deploy-prod-acme-payments-branch-r0');
    assert.match(warnings.join('\n'), /22 federated identity credentials exceed Entra's limit of 20 per app registration or managed identity/);
    assert.ok(notes.some((n) => n.includes(`federatedIdentityCredentials --body <one credential as JSON>`) && n.includes(CLIENT) && /at most 20 federated identity credentials; these 22 count against it/.test(n)));
  });

  it('uses the audience the token carries for this trait', () => {
    assert.deepEqual(build({ refs: ['main'] }, 'https://gitlab.com', 'api://AzureADTokenExchangeUSGov').credentials[0]!.audiences, ['api://AzureADTokenExchangeUSGov']);
  });
});

describe('the printed credentials at the Entra emulator', () => {
  let issuer: Issuer;
  before(async () => {
    issuer = await startIssuer();
  });
  after(() => issuer.close());

  it('admit every ref the file admits, and of the others only what a note names', async () => {
    const refs = ['main', 'release/*', 'hotfix/**'];
    const { credentials } = build({ refs, refTypes: ['branch'] });
    // As printed for gitlab.com, moved to the loopback issuer that signs the test tokens.
    const entra = await startEntra({ tenants: [{ tenantId: TENANT, apps: [{ clientId: CLIENT, federatedCredentials: credentials.map((c) => ({ ...c, issuer: issuer.url }) as FederatedCredential) }] }] });
    try {
      const accepted = async (ref: string, refType = 'branch') => {
        const res = await fetch(`${entra.url}/${TENANT}/oauth2/v2.0/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            client_id: CLIENT,
            scope: 'https://management.azure.com/.default',
            grant_type: 'client_credentials',
            client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
            client_assertion: await issuer.mint({ ref, ref_type: refType }, { aud: AUD }),
          }).toString(),
        });
        return res.status === 200;
      };
      for (const ref of ['main', 'release/1.2', 'hotfix/a/b', 'Main', 'mainline', 'releases/1', 'feature/x', 'release/a/b']) {
        const file = refs.some((glob) => matchesRefGlob(glob, ref));
        const cloud = await accepted(ref);
        if (file) assert.ok(cloud, `${ref}: the file admits it, Entra must too`);
        // release/a/b is the one documented widening (Entra's * spans '/'); nothing else the file refuses gets in.
        else assert.equal(cloud, ref === 'release/a/b', ref);
      }
      assert.equal(await accepted('main', 'tag'), false, 'a tag named main is not the branch');
    } finally {
      await entra.close();
    }
  });
});

describe('supportsFlexibleCredentials', () => {
  const table: [string, boolean][] = [
    ['https://gitlab.com', true],
    ['https://gitlab.acme.com', true],
    ['https://gitlab.acme.ca', true],
    ['https://git.acme.com', false],
    ['https://gitlab.acme.org', false],
    ['https://gitlab.a.b.com', false],
    ['https://example.com/gitlab', false],
    ['http://127.0.0.1:8080', false],
  ];
  for (const [issuer, expected] of table) it(`${issuer}: ${expected}`, () => assert.equal(supportsFlexibleCredentials(issuer), expected));
});
