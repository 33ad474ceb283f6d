// The GitLab API client part of the bundle, built as its own chunk (see src/lib/lazy-module.ts).
export { Gitlab } from '@gitbeaker/rest';
