import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkInstanceVariables } from '../../src/commands/instance.ts';
import { OamError } from '../../src/errors.ts';
import { accessFile } from '../helpers/model.ts';

const SELF_MANAGED = {
  ...accessFile(),
  gitlab: { url: 'https://gitlab.example.com', issuer: 'https://gitlab.example.com', apiUrl: 'https://gitlab.example.com/api/v4', stated: true },
};

function refusal(env: Record<string, string>, file = SELF_MANAGED): OamError {
  try {
    checkInstanceVariables(file, env);
  } catch (error) {
    assert.ok(error instanceof OamError);
    return error;
  }
  assert.fail(`accepted ${JSON.stringify(env)}`);
}

describe('checkInstanceVariables', () => {
  it('accepts variables that agree with the file, however spelt, and no variables at all', () => {
    checkInstanceVariables(SELF_MANAGED, {});
    checkInstanceVariables(SELF_MANAGED, {
      CI_SERVER_URL: 'https://GitLab.example.com/',
      CI_API_V4_URL: 'https://gitlab.example.com:443/api/v4',
      OAM_ISSUER: 'https://gitlab.example.com',
    });
  });

  it('refuses each variable that names another instance, with exit 2 and the file field', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ OAM_ISSUER: 'https://attacker.example' }, /^OAM_ISSUER "https:\/\/attacker\.example" names another GitLab instance than \.gitlab\/oam\.yaml \(spec\.gitlab\.issuer: https:\/\/gitlab\.example\.com\)$/],
      [{ CI_SERVER_URL: 'http://127.0.0.1:8080' }, /^CI_SERVER_URL .* \(spec\.gitlab\.url: https:\/\/gitlab\.example\.com\)$/],
      // Same host, another path: the API token would reach whatever answers there.
      [{ CI_API_V4_URL: 'https://gitlab.example.com/evil/api/v4' }, /^CI_API_V4_URL .* \(spec\.gitlab\.url \+ \/api\/v4: https:\/\/gitlab\.example\.com\/api\/v4\)$/],
      [{ CI_API_V4_URL: 'https://gitlab.example.com:8443/api/v4' }, /^CI_API_V4_URL /],
      [{ CI_SERVER_URL: 'not a url' }, /^CI_SERVER_URL /],
    ];
    for (const [env, message] of cases) {
      const error = refusal(env);
      assert.equal(error.code, 'ERR_USAGE');
      assert.equal(error.exitCode, 2);
      assert.match(error.message, message);
      assert.match(error.hint ?? '', /reviewed/);
    }
  });

  it('holds a file that names no instance to gitlab.com, and says how to name one', () => {
    const error = refusal({ CI_SERVER_URL: 'https://gitlab.example.com' }, accessFile());
    assert.match(error.message, /it names no instance, so https:\/\/gitlab\.com is assumed/);
    assert.match(error.hint ?? '', /spec: \{ gitlab: \{ url: <your GitLab URL> \} \}/);
    checkInstanceVariables(accessFile(), { CI_SERVER_URL: 'https://gitlab.com', CI_API_V4_URL: 'https://gitlab.com/api/v4' });
  });

  it('holds OAM_ISSUER to spec.gitlab.issuer where it differs from the url', () => {
    const file = { ...SELF_MANAGED, gitlab: { ...SELF_MANAGED.gitlab, issuer: 'https://oidc.example.com' } };
    checkInstanceVariables(file, { OAM_ISSUER: 'https://oidc.example.com', CI_SERVER_URL: 'https://gitlab.example.com' });
    assert.match(refusal({ OAM_ISSUER: 'https://gitlab.example.com' }, file).message, /spec\.gitlab\.issuer: https:\/\/oidc\.example\.com/);
  });
});
