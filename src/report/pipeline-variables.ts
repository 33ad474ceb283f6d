/**
 * Whether the project lets people below Maintainer set pipeline variables.
 * Whoever may set them can override any variable of a job they run (a new
 * pipeline, or Run on a manual job), GitLab's predefined variables and the
 * OAM_* settings included: the request job says so in its log and its note.
 * The setting comes from `GET /projects/:id`, which shows it to Maintainers
 * only (lib/api/entities/project.rb): with a weaker token nothing is known,
 * and only a debug line says so.
 */
import type { GitlabApi, GitlabPipelineVariablesSetting } from '../lib/gitlab-api.ts';
import type { Logger } from '../lib/log.ts';

const SETTING = 'Settings > CI/CD > Variables > "Minimum role to use pipeline variables"';

/**
 * The warning for a setting that lets Developers set pipeline variables, or
 * undefined when only Maintainers (or no one) may, or when the token cannot
 * see the setting. GitLab's rule (ProjectCiCdSetting#override_pipeline_variables_allowed?):
 * `restrict_user_defined_variables: false` lets everyone who may run a
 * pipeline set variables; true applies `ci_pipeline_variables_minimum_override_role`
 * (GitLab 17.1+), and meant Maintainer before it.
 *
 * @example pipelineVariablesRisk({ restrictUserDefinedVariables: false }, '1217') // 'project 1217 lets Developers ...'
 */
export function pipelineVariablesRisk(setting: GitlabPipelineVariablesSetting, project: string): string | undefined {
  let why: string;
  if (setting.restrictUserDefinedVariables === false) {
    why = 'restrict_user_defined_variables is false';
  } else if (setting.restrictUserDefinedVariables === true && setting.minimumOverrideRole === 'developer') {
    why = 'the minimum role to use pipeline variables is Developer';
  } else {
    return undefined;
  }
  return (
    `project ${project} lets Developers set pipeline variables (${why}): whoever may set them can override this job's variables, ` +
    `OAM_* and GitLab's predefined ones included, when running a pipeline or pressing Run on a manual job. ` +
    `Set ${SETTING} to "No one allowed" or "Maintainer"`
  );
}

function describe(setting: GitlabPipelineVariablesSetting): string {
  if (setting.restrictUserDefinedVariables === undefined) return 'not shown to this token (GET /projects/:id shows it to Maintainers only)';
  const role = setting.minimumOverrideRole ?? 'maintainer (GitLab before 17.1)';
  return `restrict_user_defined_variables ${setting.restrictUserDefinedVariables}, minimum role ${role}`;
}

/**
 * Read the setting and return the warnings for the log and the note (none or
 * one). Never fails the job: without a token, a field or an answer, it only
 * writes a debug line (with `--debug`).
 */
export async function pipelineVariablesNotices(
  api: GitlabApi | undefined,
  projectId: string | undefined,
  log: Logger,
  debug: boolean,
): Promise<string[]> {
  const trace = (text: string): void => {
    if (debug) log.info(`debug: pipeline variables: ${text}`);
  };
  if (!api || !projectId) {
    trace(api ? 'no project id, setting not checked' : 'no OAM_GITLAB_TOKEN, setting not checked');
    return [];
  }
  let setting: GitlabPipelineVariablesSetting;
  try {
    setting = await api.getPipelineVariablesSetting(projectId);
  } catch (error) {
    trace(`setting not checked: ${error instanceof Error ? error.message : 'unknown error'}`);
    return [];
  }
  const risk = pipelineVariablesRisk(setting, projectId);
  if (!risk) {
    trace(describe(setting));
    return [];
  }
  log.warn(risk);
  return [risk];
}
