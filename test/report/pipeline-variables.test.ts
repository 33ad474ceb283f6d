/**
 * The request job's warning about the project's pipeline-variable setting:
 * GitLab's rule as a table, then read through the API emulator as a
 * Maintainer token, a weaker token, no token and a failing API see it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createGitlabApi } from '../../src/lib/gitlab-api.ts';
import { Logger } from '../../src/lib/log.ts';
import { pipelineVariablesNotices, pipelineVariablesRisk } from '../../src/report/pipeline-variables.ts';
import { renderNote } from '../../src/report/render-note.ts';
import { type EmbeddedDefault, startEmbeddedDefault } from '../emulators/index.ts';

const BOT_TOKEN = 'glpat-pipeline-variables-bot';
const DEV_TOKEN = 'glpat-pipeline-variables-dev';

function capture(): { log: Logger; text: () => string } {
  const lines: string[] = [];
  return { log: new Logger({ sink: { write: (t) => lines.push(t) } }), text: () => lines.join('') };
}

describe('pipelineVariablesRisk', () => {
  const cases = [
    { setting: { restrictUserDefinedVariables: false }, risk: 'restrict_user_defined_variables is false' },
    // The role is ignored while the restriction is off (ProjectCiCdSetting#override_pipeline_variables_allowed?).
    { setting: { restrictUserDefinedVariables: false, minimumOverrideRole: 'no_one_allowed' }, risk: 'restrict_user_defined_variables is false' },
    { setting: { restrictUserDefinedVariables: true, minimumOverrideRole: 'developer' }, risk: 'the minimum role to use pipeline variables is Developer' },
    { setting: { restrictUserDefinedVariables: true, minimumOverrideRole: 'maintainer' } },
    { setting: { restrictUserDefinedVariables: true, minimumOverrideRole: 'owner' } },
    { setting: { restrictUserDefinedVariables: true, minimumOverrideRole: 'no_one_allowed' } },
    // GitLab before 17.1: restricted meant Maintainer and above.
    { setting: { restrictUserDefinedVariables: true } },
    // Not shown to the token: nothing known, nothing said.
    { setting: {} },
  ];
  for (const { setting, risk } of cases) {
    it(`${JSON.stringify(setting)}: ${risk ?? 'no warning'}`, () => {
      const text = pipelineVariablesRisk(setting, '1217');
      if (!risk) return assert.equal(text, undefined);
      assert.equal(
        text,
        `project 1217 lets Developers set pipeline variables (${risk}): whoever may set them can override this job's variables, OAM_* and GitLab's predefined ones included, when running a pipeline or pressing Run on a manual job. Set Settings > CI/CD > Variables > "Minimum role to use pipeline variables" to "No one allowed" or "Maintainer"`,
      );
    });
  }
});

describe('pipelineVariablesNotices through the API', () => {
  let world: EmbeddedDefault;
  before(async () => {
    world = await startEmbeddedDefault({
      gitlab: {
        tokens: [BOT_TOKEN],
        tokenOwners: { [DEV_TOKEN]: 42 },
        projects: [
          { id: '1217', path: 'acme/payments', pipelineVariablesMinimumOverrideRole: 'developer' },
          { id: '1218', path: 'acme/safe', pipelineVariablesMinimumOverrideRole: 'maintainer' },
          { id: '1219', path: 'acme/old', restrictUserDefinedVariables: false, pipelineVariablesMinimumOverrideRole: null },
        ],
      },
    });
  });
  after(() => world.close());
  const api = (token: string) => createGitlabApi({ apiUrl: `${world.gitlab.url}/api/v4`, token, sleep: async () => {} });

  it('warns in the log, naming the risk and the setting, when Developers may set pipeline variables', async () => {
    const { log, text } = capture();
    const notices = await pipelineVariablesNotices(api(BOT_TOKEN), '1217', log, false);
    assert.equal(notices.length, 1);
    assert.match(notices[0]!, /^project 1217 lets Developers set pipeline variables \(the minimum role to use pipeline variables is Developer\)/);
    assert.equal(text(), `warning: ${notices[0]}\n`);
    const old = await pipelineVariablesNotices(api(BOT_TOKEN), '1219', capture().log, false);
    assert.match(old[0] ?? '', /restrict_user_defined_variables is false/, 'a GitLab before 17.1 that allows them');
  });

  it('says nothing but a debug line when only Maintainers may, when the token cannot see the setting, without a token, or when the API fails', async () => {
    const quiet = async (fn: (log: Logger, debug: boolean) => Promise<string[]>, debugLine: RegExp) => {
      const plain = capture();
      assert.deepEqual(await fn(plain.log, false), []);
      assert.equal(plain.text(), '');
      const verbose = capture();
      assert.deepEqual(await fn(verbose.log, true), []);
      assert.match(verbose.text(), debugLine);
    };
    await quiet((log, debug) => pipelineVariablesNotices(api(BOT_TOKEN), '1218', log, debug), /^debug: pipeline variables: restrict_user_defined_variables true, minimum role maintainer\n$/);
    // dev is a Developer: GET /projects/:id leaves the setting out for it.
    await quiet((log, debug) => pipelineVariablesNotices(api(DEV_TOKEN), '1217', log, debug), /not shown to this token \(GET \/projects\/:id shows it to Maintainers only\)/);
    await quiet((log, debug) => pipelineVariablesNotices(undefined, '1217', log, debug), /no OAM_GITLAB_TOKEN, setting not checked/);
    world.gitlab.injectFaults({ status: 500, times: 8, match: { pathIncludes: '/projects/1217' } });
    await quiet((log, debug) => pipelineVariablesNotices(api(BOT_TOKEN), '1217', log, debug), /setting not checked: GitLab API project: HTTP 500/);
  });

  it('shows the warning under the note headline, escaped', async () => {
    const notices = await pipelineVariablesNotices(api(BOT_TOKEN), '1217', capture().log, false);
    const body = renderNote(
      {
        component: 'deploy-prod',
        pipelineId: '1',
        projectPath: 'acme/payments',
        commitSha: 'a'.repeat(40),
        approvals: [],
        matchedPolicies: [],
        outcome: { kind: 'requested' },
      },
      notices,
    );
    const lines = body.split('\n');
    assert.match(lines[1]!, /^### oam-grant · /);
    assert.match(lines[3]!, /^> ⚠️ \*\*Warning\*\*: project 1217 lets Developers set pipeline variables/);
    assert.match(lines[3]!, /OAM\\_\\\*/, 'escaped: OAM_* does not turn into emphasis');
    assert.match(lines[3]!, /Minimum role to use pipeline variables/);
  });
});
