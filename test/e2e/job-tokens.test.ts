/**
 * The environment claims the e2e jobs' tokens carry, as GitLab's jwt.rb adds
 * them (environment, environment_protected, deployment_tier,
 * environment_action) with Environment#guess_tier for the tier.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { environmentClaims, guessTier } from './job-tokens.ts';

describe('environmentClaims', () => {
  it('adds nothing for a job without an environment', () => {
    assert.deepEqual(environmentClaims(undefined, []), {});
    assert.deepEqual(environmentClaims({ action: 'prepare' }, []), {});
  });

  it('names the environment, its protection, tier and action', () => {
    assert.deepEqual(environmentClaims({ name: 'production', action: 'prepare' }, ['production']), {
      environment: 'production',
      environment_protected: 'true',
      deployment_tier: 'production',
      environment_action: 'prepare',
    });
    assert.deepEqual(environmentClaims('review/x', []), {
      environment: 'review/x',
      environment_protected: 'false',
      deployment_tier: 'development',
      environment_action: 'start',
    });
    assert.equal(environmentClaims({ name: 'oam-grant', deployment_tier: 'staging' }, []).deployment_tier, 'staging');
  });

  for (const [name, tier] of [
    ['production', 'production'],
    ['live', 'production'],
    ['staging', 'staging'],
    ['qa', 'testing'],
    ['dev', 'development'],
    ['oam-grant', 'other'],
    ['oam-grant-approval', 'other'],
  ] as const) {
    it(`guesses ${tier} for ${name}, as GitLab does`, () => assert.equal(guessTier(name), tier));
  }
});
