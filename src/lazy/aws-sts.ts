// The AWS SDK part of the bundle, built as its own chunk (see src/entry/chunks.ts).
export { AssumeRoleWithWebIdentityCommand, STSClient } from '@aws-sdk/client-sts';
