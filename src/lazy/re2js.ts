// The RE2 regular expression engine, built as its own chunk (see src/entry/chunks.ts):
// only files with a reasonPattern load it.
export { RE2JS } from 're2js';
