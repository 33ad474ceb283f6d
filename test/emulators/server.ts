import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => Promise<void> | void;

/** A loopback HTTP server, shared by the emulators. */
export interface LoopbackServer {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Reads the whole request body as UTF-8; the emulators only speak text protocols. */
export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * Whether the client gave up on this response: it closed before its answer
 * was written. An emulator checks it after an injected delay, so that nothing
 * is issued, or counted as answered, for a request nobody reads. One listener
 * per response, not per kept-alive socket.
 */
export function clientGaveUp(res: ServerResponse): () => boolean {
  let gaveUp = false;
  res.once('close', () => {
    if (!res.writableEnded) gaveUp = true;
  });
  return () => gaveUp;
}

/**
 * Listens on 127.0.0.1 (port 0 unless given). A handler that throws answers
 * 500 instead of hanging the client, so a bug in an emulator shows up as a
 * failed test rather than a timeout.
 */
export async function listenLoopback(handler: Handler, port = 0): Promise<LoopbackServer> {
  const server: Server = createServer((req, res) => {
    readBody(req)
      .then((body) => handler(req, res, body))
      .catch((err: unknown) => {
        if (!res.headersSent && !res.destroyed) {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`emulator error: ${err instanceof Error ? err.message : String(err)}`);
        } else if (!res.writableEnded) {
          res.destroy();
        }
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actualPort = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actualPort}`,
    port: actualPort,
    close: () =>
      new Promise<void>((resolve) => {
        // Clients keep connections alive (undici, the AWS SDK); without this close() would wait for them.
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    ...headers,
  });
  res.end(body);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
