/**
 * The request evidence, re-verified by every later job: its token is
 * GitLab's word for who asked, in which pipeline, at which commit; what was
 * asked is recomputed from the access file at that commit, so the unsigned
 * `requested` field can only agree, never decide.
 */
import type { ComponentTarget } from '../access-file/model.ts';
import { OamError } from '../errors.ts';
import { canonicalJson, describeRequestedAccess, type RequestedAccess } from '../providers/requested-access.ts';
import type { TokenVerifier, VerifiedToken } from '../token/types.ts';
import { checkBinding, checkComponentAudience, verifyEvidenceToken } from './checks.ts';
import { readRequestEvidence, type RequestEvidence, requestEvidencePath } from './evidence.ts';

export interface VerifiedRequest {
  readonly path: string;
  readonly evidence: RequestEvidence;
  readonly token: VerifiedToken;
  /** Recomputed from the access file: what the grant will actually ask for. */
  readonly requested: RequestedAccess;
}

function tampered(path: string, what: string): OamError {
  return new OamError('ERR_APPROVAL_INVALID', `${path}: ${what} differs from the access file at this commit (tampered, or made from another file)`, {
    hint: 'evidence files are written by the request job only; rerun the pipeline instead of editing them',
  });
}

/** The fields of what is requested that an approver approved, compared one by one for a precise message. */
export function compareRequested(path: string, recorded: RequestedAccess, actual: RequestedAccess): void {
  if (recorded.component !== actual.component) throw tampered(path, 'requested.component');
  if (recorded.credentials.length !== actual.credentials.length) throw tampered(path, 'requested.credentials');
  actual.credentials.forEach((want, i) => {
    const got = recorded.credentials[i]!;
    const field = (name: string) => (actual.credentials.length === 1 ? `requested.${name}` : `requested.credentials[${i}].${name}`);
    if (got.provider !== want.provider) throw tampered(path, field('provider'));
    // Named roleArn for AWS, as approvers and the docs know it.
    if (got.identity !== want.identity) throw tampered(path, field(want.provider === 'aws-sts' ? 'roleArn' : 'identity'));
    if ((got.region ?? '') !== (want.region ?? '')) throw tampered(path, field('region'));
    if (got.durationSeconds !== want.durationSeconds) throw tampered(path, field('durationSeconds'));
    if (got.scopeDigest !== want.scopeDigest) throw tampered(path, field('scopeDigest'));
  });
  if (recorded.durationSeconds !== actual.durationSeconds) throw tampered(path, 'requested.durationSeconds');
  if (recorded.scopeDigest !== actual.scopeDigest) throw tampered(path, 'requested.scopeDigest');
  // Whatever else differs (a summary, say): the record must be what the file gives, to the letter.
  if (canonicalJson(recorded) !== canonicalJson(actual)) throw tampered(path, 'requested');
}

/**
 * Read and verify `<outDir>/request.json` against this job's own token.
 * Throws ERR_APPROVAL_MISSING when there is none.
 */
export async function verifyRequest(
  target: ComponentTarget,
  own: VerifiedToken,
  outDir: string,
  verifier: TokenVerifier,
): Promise<VerifiedRequest> {
  const located = await readRequestEvidence(outDir);
  if (!located) {
    throw new OamError('ERR_APPROVAL_MISSING', `${requestEvidencePath(outDir)}: no request evidence; component ${target.component.name} needs approval`, {
      hint: 'run the request job first and hand its out-dir on as artifacts (needs: [oam:request])',
    });
  }
  const { path, evidence } = located;
  if (evidence.component !== target.component.name) {
    throw new OamError('ERR_APPROVAL_INVALID', `${path}: the request is for component ${evidence.component}, not ${target.component.name}`, {
      hint: 'give each component its own --out-dir, or run the request job for this component',
    });
  }
  const token = await verifyEvidenceToken(verifier, evidence.token, path);
  checkBinding(token.claims, own.claims, path);
  checkComponentAudience(token.claims, target.component.name, path);
  const requested = describeRequestedAccess(target.component, target.traits);
  if (evidence.accessFileDigest !== target.file.digest) throw tampered(path, 'accessFileDigest');
  compareRequested(path, evidence.requested, requested);
  return { path, evidence, token, requested };
}
