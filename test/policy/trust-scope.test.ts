/**
 * The scope every cloud's trust configuration is built from: never wider than
 * the gitlab-conditions policies that apply to the component, a refusal where
 * the file leaves a cloud nothing narrow to pin, and a note for each condition
 * only oam-grant can enforce.
 */
import assert from 'node:assert/strict';
import { OamError } from '../../src/errors.ts';
import { describe, it } from 'node:test';
import type { ApprovalStep, GitlabConditionsPolicy, Policy } from '../../src/access-file/model.ts';
import { DEFAULT_SUB_NOTE, subjectsOf, type TrustScope, trustScopeOf } from '../../src/policy/trust-scope.ts';
import { accessFile, component } from '../helpers/model.ts';

let policyIndex = 0;
const conditions = (properties: Partial<Omit<GitlabConditionsPolicy, 'type'>>): Policy => ({
  type: 'gitlab-conditions', name: `p${policyIndex}`, pointer: `/spec/policies/${policyIndex++}`, ...properties,
});
const cap = (maxDurationSeconds: number, componentNames?: string[]): Policy => ({
  type: 'credential-limits', name: 'cap', pointer: '/spec/policies/9', maxDurationSeconds, ...(componentNames ? { componentNames } : {}),
});
const step = (componentName: string): ApprovalStep => ({
  type: 'jit-approval', name: 'approve', pointer: '/spec/workflow/steps/0', component: componentName, timeoutSeconds: 86400,
  approvers: { users: ['alice'], groups: [] }, minApprovals: 1, forbid: ['requester', 'mrAuthor'], requireReason: false, acceptReasonVariable: true, validForSeconds: 3600,
});

const NO_REF_TYPES = 'the access file sets no refTypes: the configuration admits branches only; to admit tags, add refTypes [branch, tag] (or [tag]) to a gitlab-conditions policy and protect the tags';
const SEVERAL_REFS = (refs: string) => `several policies list refs; all must hold, so the configuration admits only the patterns every one of them covers: ${refs}`;
const REF_PROTECTED = 'refProtected is checked by oam-grant only where the cloud cannot read the ref_protected claim; keep refs to branches and tags that are protected in the project settings';
const ENVIRONMENTS = 'environment conditions are enforced by oam-grant only';
const PIPELINE_SOURCES = 'pipeline source conditions are enforced by oam-grant only';
const APPROVALS = 'approvals are enforced by oam-grant only: the trust configuration must pin protected refs so a changed job script cannot skip them';

type Build = { policies: Policy[]; steps?: ApprovalStep[]; environment?: string; projectPath?: string };
function scopeOf({ policies, steps = [], environment, projectPath }: Build): TrustScope {
  const c = component('deploy-prod', environment === undefined ? {} : { environment });
  return trustScopeOf(accessFile({ components: [c, component('other')], policies, steps }), c, projectPath);
}

const base: Pick<TrustScope, 'projects' | 'refTypes' | 'refs' | 'warnings'> = { projects: ['acme/payments'], refTypes: ['branch'], refs: ['main'], warnings: [] };

describe('trustScopeOf', () => {
  const cases: [string, Build, TrustScope][] = [
    ['the narrowest file: only the refProtected note', { policies: [conditions({ projectPaths: ['acme/payments'], refTypes: ['branch'], refs: ['main'], refProtected: true })] }, { ...base, refProtected: true, notes: [REF_PROTECTED] }],
    ['refProtected false is kept as false', { policies: [conditions({ projectPaths: ['acme/payments'], refTypes: ['branch'], refs: ['main'], refProtected: false })] }, { ...base, refProtected: false, notes: [REF_PROTECTED] }],
    ['the same refProtected in two policies', { policies: [conditions({ refs: ['main'], refTypes: ['branch'], refProtected: true }), conditions({ refProtected: true })], projectPath: 'acme/payments' }, { ...base, refProtected: true, notes: [REF_PROTECTED] }],
    ['no projectPaths: the pipeline project', { policies: [conditions({ refTypes: ['branch'], refs: ['main'] })], projectPath: 'acme/payments' }, { ...base, notes: [] }],
    ['projectPaths win over the pipeline project', { policies: [conditions({ projectPaths: ['acme/payments'], refTypes: ['branch'], refs: ['main'] })], projectPath: 'mallory/payments' }, { ...base, notes: [] }],
    ['projectPaths of two policies intersect', { policies: [conditions({ projectPaths: ['acme/a', 'acme/payments'], refTypes: ['branch'], refs: ['main'] }), conditions({ projectPaths: ['acme/payments', 'acme/b'] })] }, { ...base, notes: [] }],
    ['refTypes of two policies intersect', { policies: [conditions({ refTypes: ['branch', 'tag'], refs: ['main'] }), conditions({ refTypes: ['branch'] })], projectPath: 'acme/payments' }, { ...base, notes: [] }],
    ['no refTypes: branches only, and a note', { policies: [conditions({ refs: ['main'] })], projectPath: 'acme/payments' }, { ...base, notes: [NO_REF_TYPES] }],
    ['refs of several policies: only what all of them admit, and a note', { policies: [conditions({ refTypes: ['branch'], refs: ['main', 'release/*'] }), conditions({ refs: ['main'] })], projectPath: 'acme/payments' }, { ...base, notes: [SEVERAL_REFS('main')] }],
    ['refs of several policies: a literal ref under a wider pattern of the other', { policies: [conditions({ refTypes: ['branch'], refs: ['release/*', 'dev/**'] }), conditions({ refs: ['release/1.0', 'main', 'dev/x/y'] })], projectPath: 'acme/payments' }, { ...base, refs: ['release/1.0', 'dev/x/y'], notes: [SEVERAL_REFS('release/1.0, dev/x/y')] }],
    ['refs of several policies: a pattern covered by one found is left to it', { policies: [conditions({ refTypes: ['branch'], refs: ['**'] }), conditions({ refs: ['main', '**'] })], projectPath: 'acme/payments' }, { ...base, refs: ['**'], notes: [SEVERAL_REFS('**'), 'refs includes "**": any branch of the project is admitted; pin protected refs here'] }],
    ['refs "**": a note that every branch passes', { policies: [conditions({ refTypes: ['branch'], refs: ['**'] })], projectPath: 'acme/payments' }, { ...base, refs: ['**'], notes: ['refs includes "**": any branch of the project is admitted; pin protected refs here'] }],
    ['environments in a policy', { policies: [conditions({ refTypes: ['branch'], refs: ['main'], environments: ['production'] })], projectPath: 'acme/payments' }, { ...base, notes: [ENVIRONMENTS] }],
    ["the component's environment", { policies: [conditions({ refTypes: ['branch'], refs: ['main'] })], environment: 'production', projectPath: 'acme/payments' }, { ...base, notes: [ENVIRONMENTS] }],
    ['pipelineSources', { policies: [conditions({ refTypes: ['branch'], refs: ['main'], pipelineSources: ['push'] })], projectPath: 'acme/payments' }, { ...base, notes: [PIPELINE_SOURCES] }],
    ['an approval step for the component', { policies: [conditions({ refTypes: ['branch'], refs: ['main'] })], steps: [step('deploy-prod')], projectPath: 'acme/payments' }, { ...base, notes: [APPROVALS] }],
    ['an approval step for another component only', { policies: [conditions({ refTypes: ['branch'], refs: ['main'] })], steps: [step('other')], projectPath: 'acme/payments' }, { ...base, notes: [] }],
    ['the shortest credential-limits cap that applies', { policies: [conditions({ refTypes: ['branch'], refs: ['main'] }), cap(1800), cap(600, ['other'])], projectPath: 'acme/payments' }, { ...base, maxDurationSeconds: 1800, notes: [] }],
    // Another component's policies are not this one's: a wider refs list (first in the file) must not widen it, a narrower one must not be taken for it.
    ["another component's policies are left out", {
      policies: [
        conditions({ componentNames: ['other'], projectPaths: ['acme/other'], refTypes: ['tag'], refs: ['**'], refProtected: false, environments: ['x'], pipelineSources: ['web'] }),
        conditions({ componentNames: ['deploy-prod', 'other'], refTypes: ['branch'], refs: ['main'] }),
      ],
      projectPath: 'acme/payments',
    }, { ...base, notes: [] }],
    ['every note at once, in order', {
      policies: [conditions({ refs: ['**'], refProtected: true, environments: ['production'], pipelineSources: ['push'] }), conditions({ refs: ['main'] })],
      steps: [step('deploy-prod')],
      projectPath: 'acme/payments',
    }, { ...base, refProtected: true, notes: [NO_REF_TYPES, SEVERAL_REFS('main'), REF_PROTECTED, ENVIRONMENTS, PIPELINE_SOURCES, APPROVALS] }],
  ];
  for (const [name, build, expected] of cases) {
    it(name, () => {
      assert.deepEqual(scopeOf(build), expected);
    });
  }

  it('refuses refs of several policies that share no pattern, rather than admit one policy\'s wider list', () => {
    for (const lists of [[['release/*'], ['hotfix/*']], [['release/*'], ['release/**']]]) {
      assert.throws(
        () => scopeOf({ policies: lists.map((refs, i) => conditions({ ...(i === 0 ? { refTypes: ['branch'] } : {}), refs })), projectPath: 'acme/payments' }),
        (e: unknown) => e instanceof OamError && e.code === 'ERR_USAGE' && /share no pattern the trust configuration could admit/.test(e.message),
      );
    }
  });

  it('admits tags only where the file names them, with a warning naming every ref', () => {
    const scope = scopeOf({ policies: [conditions({ refTypes: ['branch', 'tag'], refs: ['main', 'v*'] })], projectPath: 'acme/payments' });
    assert.deepEqual({ ...scope, warnings: [] }, { ...base, refTypes: ['branch', 'tag'], refs: ['main', 'v*'], notes: [] });
    assert.equal(scope.warnings.length, 1);
    assert.match(scope.warnings[0] ?? '', /^the configuration admits tags matching main, v\* \(refTypes names tag\), and the cloud cannot see ref_protected: /);
    assert.match(scope.warnings[0] ?? '', /Protected tags, Allowed to create/);
  });

  it('says that "**" admits every branch and tag when tags are named', () => {
    const scope = scopeOf({ policies: [conditions({ refTypes: ['branch', 'tag'], refs: ['**'] })], projectPath: 'acme/payments' });
    assert.deepEqual(scope.notes, ['refs includes "**": any branch or tag of the project is admitted; pin protected refs here']);
  });

  const refused: [string, Build, string, RegExp][] = [
    ['no project path at all', { policies: [conditions({ refTypes: ['branch'], refs: ['main'] })] }, 'no project path for the trust configuration of deploy-prod', /projectPaths/],
    ['projectPaths that have nothing in common', { policies: [conditions({ projectPaths: ['acme/a'], refs: ['main'] }), conditions({ projectPaths: ['acme/b'] })], projectPath: 'acme/a' }, 'no project path for the trust configuration of deploy-prod', /projectPaths/],
    ['refTypes that have nothing in common', { policies: [conditions({ refTypes: ['branch'], refs: ['main'] }), conditions({ refTypes: ['tag'] })], projectPath: 'acme/payments' }, 'the refTypes of the gitlab-conditions policies for deploy-prod have nothing in common: no ref could pass', /refTypes that overlap/],
    ['no refs', { policies: [conditions({ refTypes: ['branch'], refProtected: true })], projectPath: 'acme/payments' }, 'no refs condition applies to deploy-prod: the trust configuration would admit every branch and tag of the project', /add refs/],
    ["refs only in another component's policy", { policies: [conditions({ componentNames: ['other'], refs: ['main'] }), conditions({ refTypes: ['branch'] })], projectPath: 'acme/payments' }, 'no refs condition applies to deploy-prod: the trust configuration would admit every branch and tag of the project', /add refs/],
    ['refProtected both true and false', { policies: [conditions({ refs: ['main'], refProtected: true }), conditions({ refProtected: false })], projectPath: 'acme/payments' }, 'the gitlab-conditions policies for deploy-prod require refProtected both true and false: no ref could pass', /the same refProtected/],
  ];
  for (const [name, build, message, hint] of refused) {
    it(`refuses ${name} (ERR_USAGE)`, () => {
      assert.throws(
        () => scopeOf(build),
        (error: unknown) => {
          assert.ok(error instanceof Error && 'code' in error && 'hint' in error);
          assert.equal(error.code, 'ERR_USAGE');
          assert.equal(error.message, message);
          assert.match(String(error.hint), hint);
          return true;
        },
      );
    });
  }
});

describe('subjectsOf', () => {
  it('writes every project x ref type x ref, each ref through the cloud pattern', () => {
    const scope: TrustScope = { projects: ['a/x', 'b/y'], refTypes: ['branch', 'tag'], refs: ['main', 'v*'], warnings: [], notes: [] };
    assert.deepEqual(subjectsOf(scope, (ref) => `<${ref}>`), [
      'project_path:a/x:ref_type:branch:ref:<main>', 'project_path:a/x:ref_type:branch:ref:<v*>',
      'project_path:a/x:ref_type:tag:ref:<main>', 'project_path:a/x:ref_type:tag:ref:<v*>',
      'project_path:b/y:ref_type:branch:ref:<main>', 'project_path:b/y:ref_type:branch:ref:<v*>',
      'project_path:b/y:ref_type:tag:ref:<main>', 'project_path:b/y:ref_type:tag:ref:<v*>',
    ]);
  });

  it("the sub note names GitLab's default sub and the project setting that must keep it", () => {
    assert.match(DEFAULT_SUB_NOTE, /"project_path:\{group\}\/\{project\}:ref_type:\{type\}:ref:\{ref\}"/);
    assert.match(DEFAULT_SUB_NOTE, /ci_id_token_sub_claim_components at project_path, ref_type, ref/);
  });
});
