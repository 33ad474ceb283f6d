/**
 * Small HTTP helpers on node:http/https. The first `fetch()` in a Node process
 * costs ~25 ms (it loads undici); a GET through node:http costs ~5 ms, and
 * every CI job pays the difference, so the token path uses these.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { OamError, type ErrorCode } from '../errors.ts';

/** Plain http:// is accepted only for these hosts (tests, the embedded demo). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127(\.[0-9]{1,3}){3}$/.test(host);
}

/**
 * Parse `value` as a URL that oam-grant may call: https anywhere, http only on
 * loopback. `what` names the input in the message (e.g. "OAM_ISSUER").
 */
export function parseSafeUrl(value: string, what: string, code: ErrorCode = 'ERR_USAGE'): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new OamError(code, `${what}: not a valid URL`, { hint: 'give an absolute https:// URL' });
  }
  if (url.username || url.password) {
    throw new OamError(code, `${what}: credentials in the URL are not allowed`, { hint: 'remove user:password@ from the URL' });
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return url;
  throw new OamError(code, `${what}: ${url.protocol}//${url.host} must use https (plain http is accepted only for loopback hosts)`, {
    hint: 'use the https:// URL of the service',
  });
}

export class HttpStatusError extends Error {
  readonly status: number;
  constructor(url: string, status: number) {
    super(`${url} answered HTTP ${status}`);
    this.name = 'HttpStatusError';
    this.status = status;
  }
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface HttpGetOptions {
  timeoutMs?: number;
  /** Refuse bodies larger than this (a hostile server must not exhaust memory). */
  maxBytes?: number;
  headers?: Record<string, string>;
}

export type HttpGet = (url: URL, options?: HttpGetOptions) => Promise<HttpResponse>;

/** GET without redirects: an issuer that redirects its keys elsewhere is refused, not followed. */
export const httpGet: HttpGet = async (url, options = {}) => {
  const { request } = url.protocol === 'https:' ? await import('node:https') : await import('node:http');
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  return new Promise<HttpResponse>((resolve, reject) => {
    const req = request(
      url,
      { method: 'GET', headers: { accept: 'application/json', 'user-agent': 'oam-grant', ...options.headers }, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            req.destroy(new Error(`${url.origin}${url.pathname}: response larger than ${maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => {
      const error = new Error(`${url.origin}${url.pathname}: no answer within ${timeoutMs} ms`);
      error.name = 'TimeoutError';
      req.destroy(error);
    });
    req.on('error', reject);
    req.end();
  });
};

/** GET a JSON document; non-2xx becomes HttpStatusError (5xx and 429 are worth a retry). */
export async function getJson(get: HttpGet, url: URL, options?: HttpGetOptions): Promise<unknown> {
  const response = await get(url, options);
  if (response.status < 200 || response.status >= 300) throw new HttpStatusError(`${url.origin}${url.pathname}`, response.status);
  try {
    return JSON.parse(response.body.toString('utf8')) as unknown;
  } catch {
    throw new Error(`${url.origin}${url.pathname}: response is not JSON`);
  }
}

export function isTransientHttpError(error: unknown): boolean {
  return error instanceof HttpStatusError && (error.status >= 500 || error.status === 429 || error.status === 408);
}
