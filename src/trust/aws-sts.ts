/** The IAM role trust policy for an aws-sts trait: federated principal of the issuer, its aud, the scope's subs. */
import type { AwsStsTrait } from '../access-file/model.ts';
import { OamError } from '../errors.ts';
import { parseSafeUrl } from '../lib/http.ts';
import { DEFAULT_SUB_NOTE, subjectsOf } from '../policy/trust-scope.ts';
import { normalizeIssuer } from '../token/discovery.ts';
import type { TrustBuilder } from './types.ts';

/** Our glob (`*` stops at '/', `**` does not) to IAM StringLike, where `*` matches anything. */
function toIamPattern(glob: string): string {
  return glob.replace(/\*\*/g, '*');
}

export const awsTrustPolicy: TrustBuilder<AwsStsTrait> = ({ trait, component, scope, issuer, audience }) => {
  const url = parseSafeUrl(normalizeIssuer(issuer), 'spec.gitlab.issuer');
  const providerHost = `${url.host}${url.pathname.replace(/\/+$/, '')}`;
  const account = /^arn:aws[a-z-]*:iam::([0-9]{12}):role\//.exec(trait.roleArn)?.[1];
  const partition = /^arn:(aws[a-z-]*):/.exec(trait.roleArn)?.[1] ?? 'aws';
  if (!account) throw new OamError('ERR_METADATA_INVALID', `${trait.roleArn} is not an IAM role ARN`, { hint: 'fix roleArn in the aws-sts trait' });
  const subjects = subjectsOf(scope, toIamPattern);
  const notes = [...scope.notes];
  if (scope.refs.some((r) => r.includes('*') && !r.includes('**'))) {
    notes.push("IAM's `*` also matches '/', so `release/*` admits `release/a/b` at the trust policy; oam-grant still enforces the narrower glob");
  }
  notes.push(DEFAULT_SUB_NOTE);
  const config = {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: `OamGrant${component.name.replace(/[^A-Za-z0-9]/g, '')}`.slice(0, 64),
        Effect: 'Allow',
        Principal: { Federated: `arn:${partition}:iam::${account}:oidc-provider/${providerHost}` },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: {
          StringEquals: { [`${providerHost}:aud`]: audience },
          StringLike: { [`${providerHost}:sub`]: subjects.length === 1 ? subjects[0] : subjects },
        },
      },
    ],
  };
  return { config, warnings: scope.warnings, notes };
};
