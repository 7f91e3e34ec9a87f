/**
 * One stream interface over model files, wherever they live: `http(s):` URLs (and relative URLs in a
 * browser) through `fetch`; local paths and `file:` URLs in Node through `fs` (Node 20's fetch cannot
 * read `file:` URLs).
 *
 * A file is *absent* only when the server says so (HTTP 404 or 410, or a static host's HTML
 * fallback page) or the file system does (ENOENT, ENOTDIR). Every other failure — a 5xx, 401/403,
 * a refused connection, EACCES — is a NetworkError naming the file, so an optional file that could
 * not be read is never silently skipped. A transfer that breaks is a NetworkError too, and a body
 * that ends short of (or past) its announced length (the file size, or a content-length that is the
 * body's length: see `body-length.ts`) is a ModelFormatError naming the file.
 */
import { ModelFormatError, NetworkError } from '../errors.js';
import { announcedBodyLength, announcedLength } from './body-length.js';

/** An opened file: its size in bytes when known, and its bytes as a stream. */
export interface OpenedFile {
  size: number | null;
  stream: ReadableStream<Uint8Array>;
}

/** A model folder. File names are relative to it (e.g. `config.json`). */
export interface ModelSource {
  /** The folder as given (URL or path), for messages. */
  readonly location: string;
  /**
   * Opens a file for streaming. The stream fails with a NetworkError naming the file when the
   * transfer breaks, and with a ModelFormatError naming it when it ends short of (or past) the
   * announced size.
   * @throws NetworkError when it is missing or unreadable.
   */
  open(name: string, signal?: AbortSignal): Promise<OpenedFile>;
  /**
   * Size of a file in bytes, or null if unknown, for progress and memory figures (`open` gives the
   * size a body is checked against); @throws NetworkError when missing.
   */
  size(name: string): Promise<number | null>;
  /**
   * Whether a file exists: false only when it is absent (HTTP 404 or 410, a static host's HTML
   * fallback page, ENOENT / ENOTDIR on disk).
   * @throws NetworkError naming the file for any other failure (5xx, 401/403, refused
   *   connection, EACCES…), so an unreadable optional file is never taken for an absent one.
   */
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

/** HTTP statuses that mean "this file is not there" (any other failure is an error, never "absent"). */
const ABSENT_STATUS = new Set([404, 410]);
/** Local-file errors that mean "not there": no such file, or a path component is a file. */
const ABSENT_CODES = new Set(['ENOENT', 'ENOTDIR']);

/** Why a fetch failed, for messages: the system error code when there is one (`ECONNREFUSED`, `ENOTFOUND`). */
function fetchFailure(e: unknown): string {
  const err = e as Error & { cause?: { code?: unknown; message?: unknown } };
  const code = err.cause?.code;
  if (typeof code === 'string' && code) return code;
  const cause = err.cause?.message;
  return typeof cause === 'string' && cause ? `${err.message}: ${cause}` : err.message || String(e);
}

/**
 * `body` of file `name` (at URL or path `where`) as a stream that fails with a NetworkError naming
 * `where` when the transfer breaks (a dropped connection, a read error), and with a ModelFormatError
 * naming the file when it ends at other than `expected` bytes (the response's content-length when
 * it is the body's length, or the file size): a truncated copy, e.g. in a cache, is a bad file
 * (`detail.file`, so callers can evict it), not a network failure. Abort errors pass through.
 */
function checkedBody(body: ReadableStream<Uint8Array>, name: string, where: string, expected: number | null): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let n = 0;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        c.error((e as Error)?.name === 'AbortError' ? e : new NetworkError(where, `transfer failed after ${n} bytes: ${fetchFailure(e)}`));
        return;
      }
      if (r.done) {
        if (expected !== null && n !== expected) c.error(new ModelFormatError(`${name} (${where}) is truncated: ${n} of its ${expected} bytes arrived.`, { file: name, url: where, expected, received: n }));
        else c.close();
        return;
      }
      n += r.value.byteLength;
      if (expected !== null && n > expected) {
        c.error(new ModelFormatError(`${name} (${where}) is longer than its announced ${expected} bytes.`, { file: name, url: where, expected, received: n }));
        reader.cancel().catch(() => {});
        return;
      }
      c.enqueue(r.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
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
  async #fetch(name: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(this.url(name), init);
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      throw new NetworkError(this.url(name), fetchFailure(e));
    }
  }
  /** A HEAD response, or a GET one (body cancelled) from servers that refuse HEAD (405, 501). */
  async #head(name: string): Promise<Response> {
    const res = await this.#fetch(name, { method: 'HEAD' });
    if (res.status !== 405 && res.status !== 501) return res;
    const get = await this.#fetch(name, {});
    await get.body?.cancel().catch(() => {});
    return get;
  }
  async open(name: string, signal?: AbortSignal): Promise<OpenedFile> {
    const res = await this.#fetch(name, { signal });
    if (!res.ok || !res.body || isHtmlFallback(name, res)) {
      await res.body?.cancel().catch(() => {});
      throw new NetworkError(this.url(name), res.ok ? 'an HTML page instead of the file (SPA fallback?)' : res.status);
    }
    const size = announcedBodyLength(res);
    return { size, stream: checkedBody(res.body, name, this.url(name), size) };
  }
  /**
   * The announced size (HEAD), for progress and memory figures: from another origin it may count
   * compressed bytes (see body-length.ts), which `open` never checks a body against.
   */
  async size(name: string): Promise<number | null> {
    const res = await this.#head(name);
    if (!res.ok || isHtmlFallback(name, res)) throw new NetworkError(this.url(name), res.ok ? 'an HTML page instead of the file (SPA fallback?)' : res.status);
    return announcedLength(res);
  }
  /** True when the file is there; false only for 404 / 410 (or a static host's HTML fallback page). @throws NetworkError otherwise. */
  async exists(name: string): Promise<boolean> {
    const res = await this.#head(name);
    if (ABSENT_STATUS.has(res.status)) return false;
    if (!res.ok) throw new NetworkError(this.url(name), res.status);
    return !isHtmlFallback(name, res);
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
    return { size: st.size, stream: checkedBody(stream.Readable.toWeb(rs) as unknown as ReadableStream<Uint8Array>, name, p, st.size) };
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
  /** True when the file is there; false only for ENOENT / ENOTDIR. @throws NetworkError for any other stat failure (EACCES, ELOOP, EIO…). */
  async exists(name: string): Promise<boolean> {
    const { fs } = await node();
    const p = await this.path(name);
    try {
      await fs.promises.stat(p);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'unreadable';
      if (ABSENT_CODES.has(code)) return false;
      throw new NetworkError(p, code);
    }
  }
}

/**
 * Reads a whole (small) file as UTF-8 text (a leading BOM dropped, invalid bytes as U+FFFD, as
 * `Response.text()` does).
 *
 * It reads the stream itself: `new Response(stream).text()` would hand a stream error to the
 * browser's body reader, and Chromium then rejects with a plain `TypeError: Failed to fetch`, so
 * the file's typed error (a NetworkError, or a ModelFormatError for a truncated cached copy, which
 * callers evict) would be lost.
 * @throws what the file's stream throws (NetworkError, ModelFormatError, IntegrityError, AbortError).
 */
export async function readText(src: ModelSource, name: string, signal?: AbortSignal): Promise<string> {
  const f = await src.open(name, signal);
  const reader = f.stream.getReader();
  const decoder = new TextDecoder('utf-8');
  let text = '';
  for (let r = await reader.read(); !r.done; r = await reader.read()) text += decoder.decode(r.value, { stream: true });
  return text + decoder.decode();
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
