/**
 * Access files for tests against the embedded default: the file states its
 * GitLab instance (the loopback issuer, which also serves the API), as a real
 * project's file states gitlab.com or its own instance.
 */

/** `yaml` with `spec.gitlab.url` set to `url`, inserted as the first key under `spec:`. */
export function withInstance(yaml: string, url: string): string {
  const marker = /^spec:[ \t]*\n/m;
  if (!marker.test(yaml)) throw new Error('withInstance: the access file has no top-level "spec:" line');
  return yaml.replace(marker, (line) => `${line}  gitlab:\n    url: ${url}\n`);
}
