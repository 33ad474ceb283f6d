/**
 * Small HTTP helpers on node:http/https. The first `fetch()` in a Node process
 * costs ~25 ms (it loads undici); a GET through node:http costs ~5 ms, and
 * every CI job pays the difference, so the token path uses these.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { OamError, type ErrorCode } from '../errors.ts';
import { ISSUER_DEADLINE } from './deadlines.ts';

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
  /**
   * Deadline for the whole request: connect, headers and the last byte of the
   * body (default ISSUER_DEADLINE.attemptMs). Not a socket-idle timeout: a
   * server that drips one byte at a time is cut off on time.
   */
  timeoutMs?: number;
  /** Aborts the request (destroying its socket), e.g. when a retry budget runs out. */
  signal?: AbortSignal;
  /** Refuse bodies larger than this (a hostile server must not exhaust memory). */
  maxBytes?: number;
  headers?: Record<string, string>;
}

export type HttpGet = (url: URL, options?: HttpGetOptions) => Promise<HttpResponse>;

export interface HttpRequestOptions extends HttpGetOptions {
  /** Default GET. */
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Sent as is; set content-type in `headers`. */
  body?: string;
}

/** Any method, same contract as {@link httpGet}: a total deadline, no redirects, a bounded body. */
export type HttpRequest = (url: URL, options?: HttpRequestOptions) => Promise<HttpResponse>;

/** Callers name the URL (discovery does, with its context). */
function timeoutError(ms: number): Error {
  const error = new Error(`no complete answer within ${ms} ms`);
  error.name = 'TimeoutError';
  return error;
}

function abortError(url: URL, signal: AbortSignal): Error {
  if (signal.reason instanceof Error) return signal.reason;
  const error = new Error(`${url.origin}${url.pathname}: request aborted`);
  error.name = 'AbortError';
  return error;
}

/** GET without redirects: an issuer that redirects its keys elsewhere is refused, not followed. */
export const httpGet: HttpGet = (url, options = {}) => httpRequest(url, { ...options, method: 'GET' });

/**
 * One HTTP request without redirects (a provider that redirects a token
 * elsewhere is refused, not followed), under one total deadline.
 */
export const httpRequest: HttpRequest = async (url, options = {}) => {
  const { request } = url.protocol === 'https:' ? await import('node:https') : await import('node:http');
  const timeoutMs = options.timeoutMs ?? ISSUER_DEADLINE.attemptMs;
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  const { signal } = options;
  if (signal?.aborted) throw abortError(url, signal);
  return new Promise<HttpResponse>((resolve, reject) => {
    let settled = false;
    // Every way out passes here: the timer and the abort listener go, and a failed request is destroyed with its socket.
    const settle = (error: Error | undefined, response?: HttpResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (error) {
        req.destroy();
        reject(error);
      } else if (response) {
        resolve(response);
      }
    };
    const onAbort = (): void => settle(signal ? abortError(url, signal) : new Error('aborted'));
    const body = options.body === undefined ? undefined : Buffer.from(options.body, 'utf8');
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'oam-grant', ...options.headers };
    if (body) headers['content-length'] = String(body.length);
    const req = request(url, { method: options.method ?? 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          settle(new Error(`${url.origin}${url.pathname}: response larger than ${maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => settle(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', (error) => settle(error));
      res.on('close', () => {
        if (!res.complete) settle(Object.assign(new Error(`${url.origin}${url.pathname}: the connection closed before the answer was complete`), { code: 'ECONNRESET' }));
      });
    });
    const timer = setTimeout(() => settle(timeoutError(timeoutMs)), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (error) => settle(error));
    req.end(body);
  });
};

/**
 * The bundle's tests run against a dripping loopback issuer and cannot wait
 * for the real deadline. This variable shortens the per-request deadline, and
 * only for loopback hosts (where plain http is allowed: tests and the demo);
 * it can never lengthen or disable a deadline, and a real issuer ignores it.
 */
export const TEST_DEADLINE_VARIABLE = 'OAM_TEST_HTTP_DEADLINE_MS';

/** `httpGet`, with the per-request deadline for loopback hosts shortened when the test variable asks for it. */
export function httpGetFor(env: Readonly<Record<string, string | undefined>>): HttpGet {
  const raw = env[TEST_DEADLINE_VARIABLE]?.trim();
  if (!raw) return httpGet;
  if (!/^[1-9][0-9]{0,5}$/.test(raw)) {
    throw new OamError('ERR_USAGE', `${TEST_DEADLINE_VARIABLE}: ${JSON.stringify(raw.slice(0, 20))} is not a number of milliseconds`, {
      hint: `unset ${TEST_DEADLINE_VARIABLE}: it is for oam-grant's own tests`,
    });
  }
  const testMs = Number(raw);
  return (url, options = {}) =>
    isLoopbackHost(url.hostname) ? httpGet(url, { ...options, timeoutMs: Math.min(testMs, options.timeoutMs ?? ISSUER_DEADLINE.attemptMs) }) : httpGet(url, options);
}

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

/** Statuses worth another attempt: a timeout, throttling, a server error. */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

export function isTransientHttpError(error: unknown): boolean {
  return error instanceof HttpStatusError && isTransientStatus(error.status);
}
