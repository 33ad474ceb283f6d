// The RE2 regular expression engine, built as its own chunk (see src/lib/lazy-module.ts):
// only files with a reasonPattern load it.
export { RE2JS } from 're2js';
