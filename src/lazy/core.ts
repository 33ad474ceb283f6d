// Everything but the loader: the CLI itself, built as its own chunk (see src/lib/lazy-module.ts).
export { main } from '../cli.ts';
