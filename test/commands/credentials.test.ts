import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CredentialTrait } from '../../src/access-file/model.ts';
import { assertRefreshable } from '../../src/commands/credentials.ts';
import type { Target } from '../../src/commands/target.ts';
import { awsTrait } from '../helpers/model.ts';

const vault: CredentialTrait = { type: 'vault-jwt', address: 'https://vault.example.com', role: 'r', mount: 'jwt', exportPrefix: '' };
const targetWith = (traits: CredentialTrait[]) => ({ component: { name: 'deploy-prod' }, grants: traits.map((trait) => ({ trait })) }) as unknown as Target;

describe('assertRefreshable', () => {
  it('accepts one aws-sts trait', () => assert.doesNotThrow(() => assertRefreshable(targetWith([awsTrait()]))));
  const refused: [string, CredentialTrait[]][] = [
    ['another provider', [vault]],
    ['aws-sts with another provider', [awsTrait(), vault]],
    ['no credential trait', []],
  ];
  for (const [name, traits] of refused) {
    it(`refuses ${name} (ERR_USAGE, naming the traits)`, () => {
      assert.throws(() => assertRefreshable(targetWith(traits)), (e: { code?: string; message?: string }) => {
        assert.equal(e.code, 'ERR_USAGE');
        assert.match(e.message ?? '', /credentials serves AWS credential_process only, but component deploy-prod has/);
        return true;
      });
    });
  }
});
