/**
 * The heavy dependencies straight from node_modules: what src/ uses when it
 * runs from source (tests, tsx). The bundle's CLI chunk replaces this module
 * with one that fails loudly (scripts/build.mjs): there, the entry installs
 * its own loader before anything runs, and there is no node_modules.
 */
import { createRequire } from 'node:module';
import type { LazyDependencies, Re2jsModule } from './lazy-module.ts';

export function packageDependencies(): LazyDependencies {
  return {
    awsSts: () => import('@aws-sdk/client-sts'),
    gitbeaker: () => import('@gitbeaker/rest'),
    re2js: () => createRequire(import.meta.url)('re2js') as Re2jsModule,
    openidClient: () => import('openid-client'),
  };
}
