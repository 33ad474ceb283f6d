/**
 * compareAccess, table-driven: the default branch's file against a branch's
 * edit of it. Each row names the widenings expected (by subject), so a check
 * that stops seeing a widening fails its row.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAccessFile } from '../../src/access-file/load.ts';
import { compareAccess } from '../../src/narrowing/compare.ts';

const BASE = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: payments-api
spec:
  gitlab:
    url: https://gitlab.example.com
  components:
    - name: deploy-prod
      type: gitlab-job
      properties:
        environment: production
      traits:
        - type: aws-sts
          properties:
            roleArn: arn:aws:iam::123456789012:role/ci-deploy
            region: eu-west-1
            durationSeconds: 1800
            sessionPolicy:
              Version: "2012-10-17"
              Statement:
                - {Effect: Allow, Action: ["s3:PutObject"], Resource: ["arn:aws:s3:::releases/*"]}
                - {Effect: Allow, Action: ["s3:GetObject"], Resource: ["arn:aws:s3:::releases/*"]}
                - {Effect: Deny, Action: ["s3:DeleteObject"], Resource: ["*"]}
            policyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
        - type: gcp-wif
          properties:
            workloadIdentityProvider: projects/123456/locations/global/workloadIdentityPools/gitlab-pool/providers/gitlab-prov
            serviceAccount: deploy@proj.iam.gserviceaccount.com
            scopes: ["https://www.googleapis.com/auth/cloud-platform", "https://www.googleapis.com/auth/devstorage.read_only"]
        - type: mr-audit
          properties: {required: true}
    - name: other
      type: gitlab-job
      traits:
        - type: aws-sts
          properties: {roleArn: "arn:aws:iam::123456789012:role/other"}
  policies:
    - name: protected-main
      type: gitlab-conditions
      properties:
        refProtected: true
        refs: ["main", "release/*"]
        refTypes: ["branch"]
        environments: ["production"]
        pipelineSources: ["push", "web"]
        projectPaths: ["acme/payments"]
    - name: short
      type: credential-limits
      properties: {maxDurationSeconds: 3600}
  workflow:
    steps:
      - name: approve-prod
        type: jit-approval
        timeout: 2h
        properties:
          component: deploy-prod
          approvers: {users: [alice, bob], groups: [acme/sre]}
          minApprovals: 2
          forbid: [requester, mrAuthor, commitAuthor]
          requireReason: true
          reasonPattern: "^OPS-[0-9]+"
          validFor: 30m
`;

const base = parseAccessFile(BASE, 'main:.gitlab/oam.yaml');

/** `BASE` with each [from, to] replaced once; every `from` must be there. */
function edited(...edits: [string, string][]): string {
  let text = BASE;
  for (const [from, to] of edits) {
    assert.ok(text.includes(from), `the base file lacks ${JSON.stringify(from)}`);
    text = text.replace(from, to);
  }
  return text;
}

interface Row {
  readonly name: string;
  /** The default branch's file, when not BASE. */
  readonly base?: string;
  readonly file: string;
  readonly component?: string;
  /** Subjects of the widenings, in any order. */
  readonly widens: readonly string[];
  /** Subjects of changes that are not widenings. */
  readonly narrows?: readonly string[];
}

const ROWS: Row[] = [
  { name: 'the same file', file: BASE, widens: [] },
  // Instance
  { name: 'another GitLab instance', file: edited(['url: https://gitlab.example.com', 'url: https://evil.example.com']), widens: ['gitlab url', 'gitlab issuer'] },
  // Component
  { name: 'a new component', file: edited(['    - name: other\n', '    - name: brand-new\n      type: gitlab-job\n      traits: [{type: aws-sts, properties: {roleArn: "arn:aws:iam::123456789012:role/x"}}]\n    - name: other\n']), component: 'brand-new', widens: ['component "brand-new"'] },
  { name: 'component environment changed', file: edited(['environment: production\n      traits', 'environment: staging\n      traits']), widens: ['component environment'] },
  { name: 'component environment dropped', file: edited(['      properties:\n        environment: production\n', '']), widens: ['component environment'] },
  // Identity
  { name: 'another role', file: edited(['role/ci-deploy', 'role/admin']), widens: ['aws-sts roleArn'] },
  { name: 'another region', file: edited(['region: eu-west-1', 'region: us-east-1']), widens: ['aws-sts region'] },
  { name: 'an STS endpoint', file: edited(['region: eu-west-1', 'region: eu-west-1\n            stsEndpoint: https://sts.evil.example.com']), widens: ['aws-sts stsEndpoint'] },
  { name: 'another service account', file: edited(['deploy@proj', 'owner@proj']), widens: ['gcp-wif serviceAccount'] },
  { name: 'a new credential trait type', file: edited(['        - type: mr-audit\n', '        - type: vault-jwt\n          properties: {address: "https://vault.example.com", role: ci}\n        - type: mr-audit\n']), widens: ['vault-jwt credentials'] },
  { name: 'a credential trait removed', file: edited(['        - type: gcp-wif\n          properties:\n            workloadIdentityProvider: projects/123456/locations/global/workloadIdentityPools/gitlab-pool/providers/gitlab-prov\n            serviceAccount: deploy@proj.iam.gserviceaccount.com\n            scopes: ["https://www.googleapis.com/auth/cloud-platform", "https://www.googleapis.com/auth/devstorage.read_only"]\n', '']), widens: [], narrows: ['gcp-wif credentials'] },
  // Duration
  { name: 'longer durationSeconds', file: edited(['durationSeconds: 1800', 'durationSeconds: 3000']), widens: ['aws-sts durationSeconds'] },
  { name: 'shorter durationSeconds', file: edited(['durationSeconds: 1800', 'durationSeconds: 900']), widens: [], narrows: ['aws-sts durationSeconds'] },
  { name: 'gcp durationSeconds raised from the default', file: edited(['serviceAccount: deploy@proj.iam.gserviceaccount.com', 'serviceAccount: deploy@proj.iam.gserviceaccount.com\n            durationSeconds: 3600']), widens: ['gcp-wif durationSeconds'] },
  { name: 'a higher cap', file: edited(['maxDurationSeconds: 3600', 'maxDurationSeconds: 7200']), widens: ['policy "short" maxDurationSeconds'] },
  { name: 'a lower cap', file: edited(['maxDurationSeconds: 3600', 'maxDurationSeconds: 1800']), widens: [], narrows: ['policy "short" maxDurationSeconds'] },
  { name: 'the cap removed', file: edited(['    - name: short\n      type: credential-limits\n      properties: {maxDurationSeconds: 3600}\n', '']), widens: ['policy "short"'] },
  // Scope
  { name: 'an Allow statement removed', file: edited(['                - {Effect: Allow, Action: ["s3:GetObject"], Resource: ["arn:aws:s3:::releases/*"]}\n', '']), widens: [], narrows: ['aws-sts session policies'] },
  { name: 'an Allow statement added', file: edited(['                - {Effect: Deny', '                - {Effect: Allow, Action: ["iam:*"], Resource: ["*"]}\n                - {Effect: Deny']), widens: ['aws-sts session policies'] },
  { name: 'a statement widened in place', file: edited(['Action: ["s3:PutObject"]', 'Action: ["s3:*"]']), widens: ['aws-sts session policies'] },
  { name: 'a Deny statement removed', file: edited(['                - {Effect: Deny, Action: ["s3:DeleteObject"], Resource: ["*"]}\n', '']), widens: ['aws-sts session policies'] },
  { name: 'the inline policy removed, a managed one left', file: edited(['            sessionPolicy:\n              Version: "2012-10-17"\n              Statement:\n                - {Effect: Allow, Action: ["s3:PutObject"], Resource: ["arn:aws:s3:::releases/*"]}\n                - {Effect: Allow, Action: ["s3:GetObject"], Resource: ["arn:aws:s3:::releases/*"]}\n                - {Effect: Deny, Action: ["s3:DeleteObject"], Resource: ["*"]}\n', '']), widens: ['aws-sts session policies'] },
  { name: 'every session policy removed', file: edited(['            sessionPolicy:\n              Version: "2012-10-17"\n              Statement:\n                - {Effect: Allow, Action: ["s3:PutObject"], Resource: ["arn:aws:s3:::releases/*"]}\n                - {Effect: Allow, Action: ["s3:GetObject"], Resource: ["arn:aws:s3:::releases/*"]}\n                - {Effect: Deny, Action: ["s3:DeleteObject"], Resource: ["*"]}\n', ''], ['            policyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess"]\n', '']), widens: ['aws-sts session policies'] },
  { name: 'a managed policy added', file: edited(['policyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess"]', 'policyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::aws:policy/AdministratorAccess"]']), widens: ['aws-sts session policies'] },
  { name: 'a managed policy removed', file: edited(['            policyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess"]\n', '']), widens: [], narrows: ['aws-sts session policies'] },
  { name: 'a GCP scope added', file: edited(['devstorage.read_only"]', 'devstorage.read_only", "https://www.googleapis.com/auth/compute"]']), widens: ['gcp-wif scopes'] },
  { name: 'a GCP scope removed', file: edited(['"https://www.googleapis.com/auth/cloud-platform", ', '']), widens: [], narrows: ['gcp-wif scopes'] },
  // Conditions
  { name: 'a ref pattern added', file: edited(['refs: ["main", "release/*"]', 'refs: ["main", "release/*", "feature/*"]']), widens: ['policy "protected-main" refs'] },
  { name: 'a plain ref an old glob covers', file: edited(['refs: ["main", "release/*"]', 'refs: ["main", "release/1.0"]']), widens: [], narrows: ['policy "protected-main" refs'] },
  { name: 'a glob in place of a plain ref', file: edited(['refs: ["main", "release/*"]', 'refs: ["ma*", "release/*"]']), widens: ['policy "protected-main" refs'] },
  { name: 'refs dropped', file: edited(['        refs: ["main", "release/*"]\n', '']), widens: ['policy "protected-main" refs'] },
  { name: 'a ref removed', file: edited(['refs: ["main", "release/*"]', 'refs: ["main"]']), widens: [], narrows: ['policy "protected-main" refs'] },
  { name: 'refProtected dropped', file: edited(['        refProtected: true\n', '']), widens: ['policy "protected-main" refProtected'] },
  { name: 'refProtected true -> false', file: edited(['refProtected: true', 'refProtected: false']), widens: ['policy "protected-main" refProtected'] },
  { name: 'a ref type added', file: edited(['refTypes: ["branch"]', 'refTypes: ["branch", "tag"]']), widens: ['policy "protected-main" refTypes'] },
  { name: 'an environment added', file: edited(['environments: ["production"]', 'environments: ["production", "review"]']), widens: ['policy "protected-main" environments'] },
  { name: 'a pipeline source added', file: edited(['pipelineSources: ["push", "web"]', 'pipelineSources: ["push", "web", "merge_request_event"]']), widens: ['policy "protected-main" pipelineSources'] },
  { name: 'a pipeline source removed', file: edited(['pipelineSources: ["push", "web"]', 'pipelineSources: ["push"]']), widens: [], narrows: ['policy "protected-main" pipelineSources'] },
  { name: 'a project path added', file: edited(['projectPaths: ["acme/payments"]', 'projectPaths: ["acme/payments", "mallory/fork"]']), widens: ['policy "protected-main" projectPaths'] },
  { name: 'projectPaths dropped', file: edited(['        projectPaths: ["acme/payments"]\n', '']), widens: ['policy "protected-main" projectPaths'] },
  { name: 'the conditions policy removed', file: edited(['    - name: protected-main\n      type: gitlab-conditions\n      properties:\n        refProtected: true\n        refs: ["main", "release/*"]\n        refTypes: ["branch"]\n        environments: ["production"]\n        pipelineSources: ["push", "web"]\n        projectPaths: ["acme/payments"]\n', '']), widens: ['policy "protected-main"'] },
  { name: 'the policy moved to another component', file: edited(['      type: gitlab-conditions\n      properties:\n', '      type: gitlab-conditions\n      properties:\n        componentNames: [other]\n']), widens: ['policy "protected-main"'] },
  { name: 'the policy renamed', file: edited(['name: protected-main', 'name: protected-main-2']), widens: ['policy "protected-main"'], narrows: ['policy "protected-main-2"'] },
  { name: 'a policy added', file: edited(['  workflow:\n', '    - name: tags-too\n      type: gitlab-conditions\n      properties: {refTypes: [tag]}\n  workflow:\n']), widens: [], narrows: ['policy "tags-too"'] },
  // Approvals
  { name: 'the step removed', file: edited(['  workflow:\n', '  x-workflow:\n']).replace(/ {2}x-workflow:[\s\S]*$/, ''), widens: ['approval step'] },
  { name: 'fewer approvals', file: edited(['minApprovals: 2', 'minApprovals: 1']), widens: ['step "approve-prod" minApprovals'] },
  { name: 'more approvals', file: edited(['minApprovals: 2', 'minApprovals: 3']), widens: [], narrows: ['step "approve-prod" minApprovals'] },
  { name: 'an approver added', file: edited(['users: [alice, bob]', 'users: [alice, bob, mallory]']), widens: ['step "approve-prod" approvers.users'] },
  { name: 'an approver group added', file: edited(['groups: [acme/sre]', 'groups: [acme/sre, acme]']), widens: ['step "approve-prod" approvers.groups'] },
  { name: 'an approver removed', file: edited(['users: [alice, bob]', 'users: [alice]']), widens: [], narrows: ['step "approve-prod" approvers.users'] },
  { name: 'a forbid entry removed', file: edited(['forbid: [requester, mrAuthor, commitAuthor]', 'forbid: [requester, mrAuthor]']), widens: ['step "approve-prod" forbid'] },
  { name: 'requireReason off', file: edited(['requireReason: true', 'requireReason: false']), widens: ['step "approve-prod" requireReason'] },
  { name: 'the unsigned Run-form reason accepted where it was refused', base: edited(['requireReason: true', 'requireReason: true\n          acceptReasonVariable: false']), file: BASE, widens: ['step "approve-prod" acceptReasonVariable'] },
  { name: 'the unsigned Run-form reason refused', file: edited(['requireReason: true', 'requireReason: true\n          acceptReasonVariable: false']), widens: [], narrows: ['step "approve-prod" acceptReasonVariable'] },
  { name: 'reasonPattern removed', file: edited(['          reasonPattern: "^OPS-[0-9]+"\n', '']), widens: ['step "approve-prod" reasonPattern'] },
  { name: 'reasonPattern changed', file: edited(['reasonPattern: "^OPS-[0-9]+"', 'reasonPattern: "^OPS-[0-9]+$"']), widens: ['step "approve-prod" reasonPattern'] },
  { name: 'a longer timeout', file: edited(['timeout: 2h', 'timeout: 3h']), widens: ['step "approve-prod" timeout'] },
  { name: 'a longer validFor', file: edited(['validFor: 30m', 'validFor: 1h']), widens: ['step "approve-prod" validFor'] },
  { name: 'a shorter validFor', file: edited(['validFor: 30m', 'validFor: 10m']), widens: [], narrows: ['step "approve-prod" validFor'] },
  { name: 'mr-audit no longer required', file: edited(['properties: {required: true}', 'properties: {required: false}']), widens: ['mr-audit required'] },
  // Without a Deny to lose, dropping the only session policy must still count (the role's full permissions).
  { name: 'the only session policy removed', base: edited(['                - {Effect: Deny, Action: ["s3:DeleteObject"], Resource: ["*"]}\n', ''], ['            policyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess"]\n', '']), file: edited(['            sessionPolicy:\n              Version: "2012-10-17"\n              Statement:\n                - {Effect: Allow, Action: ["s3:PutObject"], Resource: ["arn:aws:s3:::releases/*"]}\n                - {Effect: Allow, Action: ["s3:GetObject"], Resource: ["arn:aws:s3:::releases/*"]}\n                - {Effect: Deny, Action: ["s3:DeleteObject"], Resource: ["*"]}\n', ''], ['            policyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess"]\n', '']), widens: ['aws-sts session policies'] },
  // Another component's changes do not bear on this one.
  { name: "another component's role changed", file: edited(['role/other', 'role/admin']), widens: [] },
];

describe('compareAccess', () => {
  for (const row of ROWS) {
    it(row.name, () => {
      const branch = parseAccessFile(row.file, '.gitlab/oam.yaml');
      const baseline = row.base === undefined ? base : parseAccessFile(row.base, 'main:.gitlab/oam.yaml');
      const changes = compareAccess(baseline, branch, row.component ?? 'deploy-prod');
      const widening = changes.filter((c) => c.widens).map((c) => c.subject);
      assert.deepEqual([...widening].sort(), [...row.widens].sort(), JSON.stringify(changes, null, 1));
      if (row.narrows) assert.deepEqual(changes.filter((c) => !c.widens).map((c) => c.subject).sort(), [...row.narrows].sort());
    });
  }

  it('says old -> new and points into the branch file', () => {
    const branch = parseAccessFile(edited(['refs: ["main", "release/*"]', 'refs: ["main", "release/*", "feature/*"]']), '.gitlab/oam.yaml');
    const [change] = compareAccess(base, branch, 'deploy-prod');
    assert.deepEqual(change, {
      category: 'conditions',
      subject: 'policy "protected-main" refs',
      old: '["main","release/*"]',
      new: '["main","release/*","feature/*"]',
      widens: true,
      pointer: '/spec/policies/0/properties/refs',
      pointerIn: 'branch',
    });
    assert.ok(branch.positions.get(change!.pointer), 'the pointer has a position');
  });
});
