/**
 * A peer that never finishes: a loopback node:http server that answers 200
 * with its headers at once, then one byte of body every `intervalMs`,
 * forever. A socket-idle timeout never fires against it; only a total
 * deadline ends the request. It counts open connections, so a test can check
 * that an abandoned request was destroyed rather than left open.
 */
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';

export interface DripServer {
  readonly url: string;
  /** Requests received so far (attempts, retries included). */
  readonly requests: () => number;
  /** Connections still open right now. */
  readonly openConnections: () => number;
  /** The most connections that were open at once since the last call (then reset). */
  readonly takePeakConnections: () => number;
  /** Resolves once every connection is closed, or rejects after `withinMs`. */
  readonly allClosed: (withinMs?: number) => Promise<void>;
  readonly close: () => Promise<void>;
}

export async function startDripServer(options: { intervalMs?: number; contentType?: string } = {}): Promise<DripServer> {
  const intervalMs = options.intervalMs ?? 300;
  const sockets = new Set<Socket>();
  let requests = 0;
  let peak = 0;
  const server: Server = createServer((req, res) => {
    requests++;
    req.resume();
    // A body that looks like the start of a JSON (or XML) answer, so clients start parsing and wait for more.
    res.writeHead(200, { 'content-type': options.contentType ?? 'application/json', 'content-length': '1000000' });
    res.write(options.contentType?.includes('xml') ? '<' : '{');
    const timer = setInterval(() => res.write(' '), intervalMs);
    res.on('close', () => clearInterval(timer));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    peak = Math.max(peak, sockets.size);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('drip server has no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    requests: () => requests,
    openConnections: () => sockets.size,
    takePeakConnections: () => {
      const seen = peak;
      peak = sockets.size;
      return seen;
    },
    allClosed: async (withinMs = 2_000) => {
      const until = Date.now() + withinMs;
      while (sockets.size > 0) {
        if (Date.now() > until) throw new Error(`${sockets.size} connection(s) still open after ${withinMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * `promise`, or a failure once `ms` have passed: a regression that removes a
 * deadline makes the test fail rather than hang.
 */
export async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
