/**
 * One stream interface over model files, wherever they live: `http(s):` URLs (and relative URLs in a
 * browser) through `fetch`; local paths and `file:` URLs in Node through `fs` (Node 20's fetch cannot
 * read `file:` URLs).
 */
import { ModelFormatError, NetworkError } from '../errors.js';

/** An opened file: its size in bytes when known, and its bytes as a stream. */
export interface OpenedFile {
  size: number | null;
  stream: ReadableStream<Uint8Array>;
}

/** A model folder. File names are relative to it (e.g. `config.json`). */
export interface ModelSource {
  /** The folder as given (URL or path), for messages. */
  readonly location: string;
  /** Opens a file for streaming. @throws NetworkError when it is missing or unreadable. */
  open(name: string, signal?: AbortSignal): Promise<OpenedFile>;
  /** Size of a file in bytes, or null if unknown; @throws NetworkError when missing. */
  size(name: string): Promise<number | null>;
  /** Whether a file exists. */
  exists(name: string): Promise<boolean>;
  /** The file's URL (sources backed by fetch), e.g. to evict it from the Cache API. */
  urlOf?(name: string): string;
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined';

/** Creates a source for a folder URL or (in Node) a local path. */
export function createModelSource(location: string): ModelSource {
  if (/^https?:\/\//i.test(location) || !isNode) return new FetchSource(location);
  return new FsSource(location);
}

function join(base: string, name: string): string {
  return base.endsWith('/') ? base + name : `${base}/${name}`;
}

/** Static hosts with a single-page-app fallback answer 200 + index.html for missing files. */
function isHtmlFallback(name: string, res: Response): boolean {
  return !/\.html?$/i.test(name) && (res.headers.get('content-type') ?? '').startsWith('text/html');
}

class FetchSource implements ModelSource {
  readonly #base: string;
  constructor(readonly location: string) {
    const href = typeof location === 'string' && typeof globalThis.location !== 'undefined' ? new URL(location, globalThis.location.href).href : location;
    this.#base = href.endsWith('/') ? href : `${href}/`;
  }
  url(name: string): string {
    return join(this.#base, name);
  }
  urlOf(name: string): string {
    return this.url(name);
  }
  async open(name: string, signal?: AbortSignal): Promise<OpenedFile> {
    let res: Response;
    try {
      res = await fetch(this.url(name), { signal });
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      throw new NetworkError(this.url(name), (e as Error).message);
    }
    if (!res.ok || !res.body || isHtmlFallback(name, res)) throw new NetworkError(this.url(name), res.ok ? 'an HTML page instead of the file (SPA fallback?)' : res.status);
    const len = res.headers.get('content-length');
    const enc = res.headers.get('content-encoding');
    return { size: len && !enc ? Number(len) : null, stream: res.body };
  }
  async size(name: string): Promise<number | null> {
    let res: Response;
    try {
      res = await fetch(this.url(name), { method: 'HEAD' });
    } catch (e) {
      throw new NetworkError(this.url(name), (e as Error).message);
    }
    if (!res.ok || isHtmlFallback(name, res)) throw new NetworkError(this.url(name), res.status);
    const len = res.headers.get('content-length');
    return len && !res.headers.get('content-encoding') ? Number(len) : null;
  }
  async exists(name: string): Promise<boolean> {
    try {
      const res = await fetch(this.url(name), { method: 'HEAD' });
      return res.ok && !isHtmlFallback(name, res);
    } catch {
      return false;
    }
  }
}

type Fs = typeof import('node:fs');
type Stream = typeof import('node:stream');
let nodeMods: Promise<{ fs: Fs; stream: Stream; url: typeof import('node:url') }> | undefined;
function node() {
  // Indirect specifiers keep bundlers from pulling Node built-ins into the browser build.
  const load = (m: string) => import(/* @vite-ignore */ m);
  nodeMods ??= Promise.all([load('node:fs'), load('node:stream'), load('node:url')]).then(([fs, stream, url]) => ({ fs, stream, url }));
  return nodeMods;
}

class FsSource implements ModelSource {
  constructor(readonly location: string) {}
  async path(name: string): Promise<string> {
    const { url } = await node();
    const base = this.location.startsWith('file:') ? url.fileURLToPath(this.location) : this.location;
    return join(base, name);
  }
  async open(name: string): Promise<OpenedFile> {
    const { fs, stream } = await node();
    const p = await this.path(name);
    let st: import('node:fs').Stats;
    try {
      st = await fs.promises.stat(p);
    } catch (e) {
      throw new NetworkError(p, (e as NodeJS.ErrnoException).code ?? 'unreadable');
    }
    if (!st.isFile()) throw new NetworkError(p, 'not a file');
    const rs = fs.createReadStream(p, { highWaterMark: 1 << 20 });
    return { size: st.size, stream: stream.Readable.toWeb(rs) as unknown as ReadableStream<Uint8Array> };
  }
  async size(name: string): Promise<number | null> {
    const { fs } = await node();
    const p = await this.path(name);
    try {
      return (await fs.promises.stat(p)).size;
    } catch (e) {
      throw new NetworkError(p, (e as NodeJS.ErrnoException).code ?? 'unreadable');
    }
  }
  async exists(name: string): Promise<boolean> {
    const { fs } = await node();
    return fs.existsSync(await this.path(name));
  }
}

/** Reads a whole (small) file as text. */
export async function readText(src: ModelSource, name: string, signal?: AbortSignal): Promise<string> {
  const f = await src.open(name, signal);
  return new Response(f.stream).text();
}

/** Reads and parses a JSON file; a parse failure names the file. */
export async function readJson(src: ModelSource, name: string, signal?: AbortSignal): Promise<unknown> {
  const text = await readText(src, name, signal);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelFormatError(`${name} in ${src.location} is not valid JSON: ${(e as Error).message}`, { file: name });
  }
}
