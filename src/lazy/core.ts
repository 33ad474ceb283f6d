// Everything but the loader: the CLI itself, built as its own chunk (see src/entry/chunks.ts),
// and the registry through which it loads the other chunks.
export { main } from '../cli.ts';
export { installLazyDependencies } from '../lib/lazy-module.ts';
