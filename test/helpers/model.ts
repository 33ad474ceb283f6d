/** Typed access-file objects for unit tests that do not exercise the loader. */
import type { AccessFile, AwsStsTrait, Component, Policy } from '../../src/access-file/model.ts';

export function awsTrait(overrides: Partial<AwsStsTrait> = {}): AwsStsTrait {
  return { type: 'aws-sts', roleArn: 'arn:aws:iam::123456789012:role/ci-deploy', durationSeconds: 900, policyArns: [], exportPrefix: '', ...overrides };
}

export function component(name = 'deploy-prod', overrides: Partial<Component> = {}): Component {
  return { name, type: 'gitlab-job', pointer: '/spec/components/0', traits: [awsTrait()], ...overrides };
}

export function accessFile(parts: { components?: Component[]; policies?: Policy[]; steps?: AccessFile['steps'] } = {}): AccessFile {
  return {
    path: '.gitlab/oam.yaml',
    digest: '0'.repeat(64),
    name: 'payments-api',
    gitlab: { url: 'https://gitlab.com', issuer: 'https://gitlab.com', apiUrl: 'https://gitlab.com/api/v4', stated: false },
    components: parts.components ?? [component()],
    policies: parts.policies ?? [],
    steps: parts.steps ?? [],
    positions: new Map([['/spec/policies/0', { line: 20, col: 7 }]]),
  };
}
