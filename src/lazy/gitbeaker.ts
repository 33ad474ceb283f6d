// The GitLab API client part of the bundle, built as its own chunk (see src/entry/chunks.ts).
export { Gitlab } from '@gitbeaker/rest';
