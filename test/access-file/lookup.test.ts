import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAccessFile } from '../../src/access-file/load.ts';
import { approvalStepFor, auditTraitOf, credentialTraitOf, findComponent, policiesFor } from '../../src/access-file/lookup.ts';
import type { Component } from '../../src/access-file/model.ts';
import { describeCredential } from '../../src/providers/requested-access.ts';

const file = parseAccessFile(
  `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: lookups}
spec:
  components:
    - name: deploy
      type: gitlab-job
      traits:
        - {type: mr-audit, properties: {required: true}}
        - {type: aws-sts, properties: {roleArn: "arn:aws:iam::123456789012:role/deploy"}}
    - name: tests
      type: gitlab-job
      traits: [{type: aws-sts, properties: {roleArn: "arn:aws:iam::123456789012:role/tests"}}]
  policies:
    - {name: everyone, type: gitlab-conditions, properties: {refProtected: true}}
    - {name: deploy-only, type: gitlab-conditions, properties: {componentNames: [deploy], refs: [main]}}
    - {name: caps, type: credential-limits, properties: {componentNames: [tests, deploy], maxDurationSeconds: 900}}
  workflow:
    steps:
      - {name: gate, type: jit-approval, properties: {component: deploy, approvers: {users: [alice]}}}
`,
  'lookups.yaml',
);

describe('findComponent', () => {
  it('finds a component by name', () => {
    assert.equal(findComponent(file, 'tests').pointer, '/spec/components/1');
  });

  it('throws ERR_COMPONENT_UNKNOWN with the known names as a hint', () => {
    assert.throws(
      () => findComponent(file, 'deploy-prod'),
      (error: unknown) => {
        const { code, message, hint } = error as { code: string; message: string; hint: string };
        assert.deepEqual(
          { code, message, hint },
          {
            code: 'ERR_COMPONENT_UNKNOWN',
            message: 'lookups.yaml has no component "deploy-prod"',
            hint: 'pass --component (or OAM_COMPONENT) with one of: deploy, tests',
          },
        );
        return true;
      },
    );
  });

  it('says when no component was selected', () => {
    assert.throws(() => findComponent(file, ''), { code: 'ERR_COMPONENT_UNKNOWN', message: 'no component selected in lookups.yaml' });
  });
});

describe('policiesFor / approvalStepFor', () => {
  it('returns the policies that apply, in file order', () => {
    assert.deepEqual(
      policiesFor(file, findComponent(file, 'deploy')).map((p) => p.name),
      ['everyone', 'deploy-only', 'caps'],
    );
    assert.deepEqual(
      policiesFor(file, 'tests').map((p) => p.name),
      ['everyone', 'caps'],
    );
  });

  it('finds the approval step of a component, if any', () => {
    assert.equal(approvalStepFor(file, 'deploy')?.name, 'gate');
    assert.equal(approvalStepFor(file, findComponent(file, 'tests')), undefined);
  });
});

describe('credentialTraitOf / auditTraitOf', () => {
  it('picks the traits by type, wherever they are listed', () => {
    const deploy = findComponent(file, 'deploy');
    assert.equal(describeCredential(credentialTraitOf(deploy)).identity, 'arn:aws:iam::123456789012:role/deploy');
    assert.deepEqual(auditTraitOf(deploy), { type: 'mr-audit', required: true });
    assert.equal(auditTraitOf(findComponent(file, 'tests')), undefined);
  });

  it('refuses a hand-built component without a credential trait', () => {
    const bare: Component = { name: 'bare', type: 'gitlab-job', pointer: '/x', traits: [{ type: 'mr-audit', required: false }] };
    assert.throws(() => credentialTraitOf(bare), { code: 'ERR_METADATA_INVALID', message: 'component "bare" has no credential trait' });
  });
});
