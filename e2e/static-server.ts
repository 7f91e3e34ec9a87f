/**
 * For the e2e specs that need the production build (PWA/offline, the library on a plain page): a
 * tiny static server over `dist/` (plus the test fixture models at /test/fixtures/models/) that the
 * test can really stop, and a build step that runs `vite build` only when dist/ is older than its
 * sources. Every response is `Cache-Control: no-store`, so after the server stops nothing can come
 * from the HTTP cache: whatever still loads came from the service worker's Cache API.
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve } from 'node:path';

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

export interface StaticServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Paths requested so far (`METHOD /path`). */
  requests: string[];
  /** Stops listening and drops open connections (the server is really gone). */
  stop(): Promise<void>;
}

/** Serves dist/ and the fixture models; `pages` adds in-memory files (path → body). */
export async function startStaticServer(pages: Record<string, string> = {}): Promise<StaticServer> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(`${req.method} ${path}`);
    const headers = { 'cache-control': 'no-store', 'access-control-allow-origin': '*' };
    if (pages[path] !== undefined) {
      res.writeHead(200, { ...headers, 'content-type': TYPES[extname(path)] ?? 'text/html; charset=utf-8' });
      res.end(req.method === 'HEAD' ? undefined : pages[path]);
      return;
    }
    let file = path.startsWith('/test/fixtures/models/') ? join(FIXTURES, path.slice('/test/fixtures/models/'.length)) : join(DIST, path);
    file = normalize(file);
    if (!file.startsWith(DIST) && !file.startsWith(FIXTURES)) {
      res.writeHead(403, headers).end();
      return;
    }
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': statSync(file).size });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    stop: () => new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    }),
  };
}
