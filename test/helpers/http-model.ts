/** A local HTTP server that serves a model folder, with per-file faults (status codes, truncated bodies). */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';

/** What to do for one file instead of serving it: an HTTP status, or a handler. */
export type Fault = number | ((req: IncomingMessage, res: ServerResponse, body: Buffer | null) => void);

export interface ModelServer {
  /** Base URL of the server, without a trailing slash. */
  origin: string;
  /** Files (or whole paths) answered with a fault instead of their bytes; change it between requests. */
  faults: Map<string, Fault>;
  /** Request log: `METHOD /path`. */
  log: string[];
  close(): Promise<void>;
}

/** Answers with `content-length` of the whole body, sends half of it, then drops the connection. */
export const truncate: Fault = (_req, res, body) => {
  const b = body ?? Buffer.alloc(64);
  res.writeHead(200, { 'content-length': String(b.length), 'content-type': 'application/octet-stream' });
  res.write(b.subarray(0, b.length >> 1), () => res.socket?.destroy());
};

/**
 * Serves the files of `dir` under `prefix` (e.g. `/owner/name/resolve/main/`), GET and HEAD.
 * Missing files answer 404; files named in `faults` answer the fault.
 */
export async function serveModel(dir: string, prefix = '/m/'): Promise<ModelServer> {
  const faults = new Map<string, Fault>();
  const log: string[] = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    log.push(`${req.method} ${path}`);
    const name = path.startsWith(prefix) ? path.slice(prefix.length) : null;
    const file = name && !name.includes('..') ? join(dir, name) : null;
    const body = file && existsSync(file) ? readFileSync(file) : null;
    const fault = (name !== null && faults.get(name)) ?? faults.get(path);
    if (typeof fault === 'function') return fault(req, res, body);
    if (typeof fault === 'number') {
      res.writeHead(fault, { 'content-type': 'text/plain' });
      return res.end(`status ${fault}`);
    }
    if (!body) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return res.end('not found');
    }
    res.writeHead(200, { 'content-length': String(body.length), 'content-type': name!.endsWith('.json') ? 'application/json' : 'application/octet-stream' });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    faults,
    log,
    close: () => new Promise<void>((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    }),
  };
}

/** A local port with nothing listening on it (connections are refused). */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((ok) => s.close(() => ok()));
  return port;
}
