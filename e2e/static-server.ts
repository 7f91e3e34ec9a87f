/**
 * For the e2e specs that need the production build (PWA/offline, the library on a plain page): a
 * tiny static server over `dist/` (plus the test fixture models at /test/fixtures/models/) that the
 * test can really stop, and a build step that runs `vite build` only when dist/ is older than its
 * sources. Every response is `Cache-Control: no-store`, so after the server stops nothing can come
 * from the HTTP cache: whatever still loads came from the service worker's Cache API.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, createReadStream, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { gzipSync } from 'node:zlib';

const ROOT = resolve(import.meta.dirname, '..');
const DIST = join(ROOT, 'dist');
const FIXTURES = join(ROOT, 'test/fixtures/models');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.wgsl': 'text/plain', '.jinja': 'text/plain; charset=utf-8',
  '.safetensors': 'application/octet-stream',
};

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let m = 0;
  for (const f of readdirSync(path)) if (f !== 'models') m = Math.max(m, newestMtime(join(path, f)));
  return m;
}

/** Runs `vite build` when dist/ is missing or older than the sources it is built from. */
export function ensureBuild(): void {
  const built = Math.min(newestMtime(join(DIST, 'index.html')), newestMtime(join(DIST, 'lib/msn-webgpu.js')), newestMtime(join(DIST, 'sw.js')));
  const sources = Math.max(...['src', 'shaders', 'public', 'index.html', 'vite.config.ts', 'package-lock.json'].map((p) => newestMtime(join(ROOT, p))));
  if (built > sources) return;
  execFileSync('npx', ['vite', 'build', '--logLevel', 'warn'], { cwd: ROOT, stdio: 'inherit' });
}

/**
 * Builds the app from a copy of the sources into a temporary folder, after `edit` changed the copy
 * (e.g. one line of the worker source, as a new deployment would): the copy's src/ and index.html
 * are real files, public/, shaders/ and node_modules are links to this checkout's. Returns the
 * built `dist` folder; `dispose` removes the whole copy.
 */
export function buildVariant(edit: (copyRoot: string) => void): { dist: string; dispose: () => void } {
  const copy = mkdtempSync(join(tmpdir(), 'msn-build-'));
  for (const f of ['src', 'index.html', 'vite.config.ts', 'package.json', 'tsconfig.json']) cpSync(join(ROOT, f), join(copy, f), { recursive: true });
  for (const f of ['public', 'shaders', 'node_modules']) symlinkSync(join(ROOT, f), join(copy, f));
  edit(copy);
  execFileSync('npx', ['vite', 'build', '--logLevel', 'warn'], { cwd: copy, stdio: 'inherit' });
  return { dist: join(copy, 'dist'), dispose: () => rmSync(copy, { recursive: true, force: true }) };
}

export interface StaticServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Paths requested so far (`METHOD /path`). */
  requests: string[];
  /** Serves the app from another built folder from now on (a new deployment in place of the old). */
  serve(dist: string): void;
  /** While true, every request's connection is dropped unanswered (the network is down). */
  down: boolean;
  /** Paths (e.g. `/test/fixtures/models/x/tokenizer.json`) answered with an HTTP status instead of the file. */
  faults: Map<string, number>;
  /** Paths whose requests (any method) wait unanswered until the promise settles (a slow server). */
  holds: Map<string, Promise<unknown>>;
  /** Paths whose next whole GET is broken after this many body bytes (the connection is dropped); one-shot. */
  breaks: Map<string, number>;
  /** GET requests with a Range header: `/path bytes=N-`. A `bytes=N-` range is answered 206. */
  ranges: string[];
  /** With the `auth` option: `METHOD /path <Authorization header or "-">` of each request under its prefix. */
  authorizations: string[];
  /** Stops listening and drops open connections (the server is really gone). */
  stop(): Promise<void>;
}

/** Options of {@link startStaticServer}. */
export interface StaticServerOptions {
  /**
   * Compress `.json` files with gzip for requests that accept it, as many hosts do: the response
   * says `Content-Encoding: gzip` and `Content-Length` is the compressed size; the encoding is not
   * exposed to other origins (no `Access-Control-Expose-Headers`), so a page on another origin sees
   * the compressed length and the decoded body.
   */
  gzip?: boolean;
  /**
   * A gated folder, as the Hugging Face Hub answers one: requests for paths under `prefix` get 401
   * (the Hub's text) unless their `Authorization` header is `Bearer <token>`.
   */
  auth?: { prefix: string; token: string };
}

/** Serves `dist` (default: dist/) and the fixture models; `pages` adds in-memory files (path → body). */
export async function startStaticServer(pages: Record<string, string> = {}, dist = DIST, options: StaticServerOptions = {}): Promise<StaticServer> {
  const requests: string[] = [];
  const faults = new Map<string, number>();
  const breaks = new Map<string, number>();
  const holds = new Map<string, Promise<unknown>>();
  const ranges: string[] = [];
  const authorizations: string[] = [];
  let root = dist;
  const state = { down: false };
  const server = http.createServer((req, res) => {
    if (state.down) {
      req.socket.destroy();
      return;
    }
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(`${req.method} ${path}`);
    const hold = holds.get(path);
    if (hold) void hold.then(() => answer(req, res, path), () => answer(req, res, path));
    else answer(req, res, path);
  });
  function answer(req: http.IncomingMessage, res: http.ServerResponse, path: string): void {
    const headers = { 'cache-control': 'no-store', 'access-control-allow-origin': '*' };
    if (options.auth && path.startsWith(options.auth.prefix)) {
      authorizations.push(`${req.method} ${path} ${req.headers.authorization ?? '-'}`);
      if (req.headers.authorization !== `Bearer ${options.auth.token}`) {
        res.writeHead(401, { ...headers, 'content-type': 'text/plain' }).end('Access to this model is restricted. You must have access to it and be authenticated to access it. Please log in.');
        return;
      }
    }
    const fault = faults.get(path);
    if (fault !== undefined) {
      res.writeHead(fault, { ...headers, 'content-type': 'text/plain' }).end(`status ${fault}`);
      return;
    }
    if (pages[path] !== undefined) {
      res.writeHead(200, { ...headers, 'content-type': TYPES[extname(path)] ?? 'text/html; charset=utf-8' });
      res.end(req.method === 'HEAD' ? undefined : pages[path]);
      return;
    }
    let file = path.startsWith('/test/fixtures/models/') ? join(FIXTURES, path.slice('/test/fixtures/models/'.length)) : join(root, path);
    file = normalize(file);
    if (!file.startsWith(root + sep) && !file.startsWith(FIXTURES + sep)) {
      res.writeHead(403, headers).end();
      return;
    }
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const type = TYPES[extname(file)] ?? 'application/octet-stream';
    if (options.gzip && extname(file) === '.json' && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
      const body = gzipSync(readFileSync(file));
      res.writeHead(200, { ...headers, 'content-type': type, 'content-encoding': 'gzip', 'content-length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    const size = statSync(file).size;
    const range = req.method === 'GET' ? /^bytes=(\d+)-$/.exec(String(req.headers.range ?? '')) : null;
    if (req.headers.range && req.method === 'GET') ranges.push(`${path} ${req.headers.range}`);
    if (range && Number(range[1]) < size) {
      const start = Number(range[1]);
      res.writeHead(206, { ...headers, 'content-type': type, 'content-length': size - start, 'content-range': `bytes ${start}-${size - 1}/${size}` });
      createReadStream(file, { start }).pipe(res);
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': type, 'content-length': size });
    const cut = req.method === 'GET' ? breaks.get(path) : undefined;
    if (cut !== undefined) {
      breaks.delete(path);
      // Drop the connection a moment after the bytes left, so the client reads them before the reset.
      res.write(readFileSync(file).subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 300));
      return;
    }
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  }
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    faults,
    breaks,
    holds,
    ranges,
    authorizations,
    serve: (d) => {
      root = d;
    },
    get down() {
      return state.down;
    },
    set down(v: boolean) {
      state.down = v;
    },
    stop: () => new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    }),
  };
}
