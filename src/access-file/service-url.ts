/**
 * URLs of the services the access file trusts (the GitLab instance, its
 * issuer, cloud endpoints): https, or plain http on a loopback host; no
 * credentials, query or fragment. Compared in one normal form so that
 * `https://GitLab.example.com/` and `https://gitlab.example.com` agree.
 */
import { isLoopbackHost } from '../lib/http.ts';

/** Why `value` is not a usable service URL, or undefined when it is. */
export function checkServiceUrl(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not an absolute URL';
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    return `must use https (plain http only for loopback hosts), got ${url.protocol}//${url.host}`;
  }
  if (url.username || url.password) return 'must not carry credentials (user:password@)';
  if (url.search || url.hash) return 'must not have a query or fragment';
  return undefined;
}

/** `scheme://host[:port][/path]` without a trailing slash; call only on a URL that passed {@link checkServiceUrl}. */
export function normalizeServiceUrl(value: string): string {
  const url = new URL(value);
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

/** The same service, whatever the spelling (case of the host, default port, trailing slash); false for anything unparsable. */
export function sameServiceUrl(a: string, b: string): boolean {
  try {
    return normalizeServiceUrl(a) === normalizeServiceUrl(b);
  } catch {
    return false;
  }
}
