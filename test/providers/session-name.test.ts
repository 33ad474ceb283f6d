import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sessionNameFor } from '../../src/providers/session-name.ts';
import { toGitlabClaims } from '../../src/token/claims.ts';

const AWS_SESSION_NAME = /^[\w+=,.@-]{2,64}$/;

describe('sessionNameFor', () => {
  it('names the project, pipeline and job', () => {
    const name = sessionNameFor(toGitlabClaims({ project_path: 'acme/payments', pipeline_id: '1001', job_id: '829489' }));
    assert.equal(name, 'acme.payments@p1001.j829489');
  });

  it('keeps within AWS rules for long and odd project paths, keeping the ids', () => {
    const path = `${'very-long-group/'.repeat(6)}my project (old)`;
    const name = sessionNameFor(toGitlabClaims({ project_path: path, pipeline_id: '123456789012', job_id: '987654321098' }));
    assert.match(name, AWS_SESSION_NAME);
    assert.ok(name.endsWith('@p123456789012.j987654321098'));
    assert.ok(name.includes('my-project--old-'));
  });

  it('falls back to the project id', () => {
    assert.match(sessionNameFor(toGitlabClaims({ project_id: '7' })), /^project-7@p0\.j0$/);
  });
});
