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
 *
 * Over HTTP a transfer that breaks (a network error, or a body that ends short of its announced
 * length) is first repaired where it can be ({@link resumingBody}): the file is asked for again from
 * the bytes already received (`Range: bytes=N-`), a bounded number of times with backoff, and the
 * stream goes on as if nothing happened; only a break that cannot be repaired fails it as above.
 */
import { GatedModelError, ModelFormatError, MsnError, NetworkError } from '../errors.js';
import { announcedBodyLength, announcedLength } from './body-length.js';
import { isLocalFolder, LocalFolderSource, type ModelLocation } from './local-folder.js';

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

/** How a broken HTTP transfer is repaired ({@link resumingBody}). */
export interface ResumeOptions {
  /** Re-requests after breaks that delivered no new byte, before the break fails the stream (default 4). */
  retries?: number;
  /** Wait before the first re-request, in ms; doubled for each further one without progress (default 500). */
  backoffMs?: number;
  /**
   * The `cache` mode of every request (default: the browser's). `no-store` also tells the app's
   * service worker not to keep what it fetches (the storage check's probe, src/app/storage.ts).
   */
  cache?: RequestCache;
  /**
   * A Hugging Face access token for gated and private repositories (huggingface_hub's `HF_TOKEN`),
   * sent as `Authorization: Bearer <token>` only to the URLs {@link sendsHubToken} allows: the Hub
   * itself, plus {@link hubTokenOrigins}. Never put in a URL, a message or an error's detail.
   */
  hubToken?: string;
  /**
   * Further origins (`https://host[:port]`) trusted with {@link hubToken} besides the Hub's: the
   * `HF_ENDPOINT` mirror the user configured (Node), or the page's own origin, which holds the token
   * already (the app). Default none.
   */
  hubTokenOrigins?: string[];
}

/** The Hub's own origins, the only ones that get a Hugging Face token by default (https only). */
export const HUB_ORIGINS: readonly string[] = ['https://huggingface.co', 'https://www.huggingface.co', 'https://hf.co'];

/**
 * Whether a request to `url` may carry the Hugging Face token: its origin is one of the Hub's
 * ({@link HUB_ORIGINS}) or one of `extraOrigins`. The file servers the Hub redirects weight
 * downloads to (`cdn-lfs.huggingface.co`, `cas-bridge.xethub.hf.co`, …) are other origins and get no
 * token: the redirect URL is signed, and fetch drops `Authorization` on a cross-origin redirect
 * (Fetch standard, "HTTP-redirect fetch" step 13; Node's undici does the same), which
 * test/model/hub-auth.test.ts checks.
 */
export function sendsHubToken(url: string, extraOrigins: readonly string[] = []): boolean {
  let origin: string;
  try {
    origin = new URL(url).origin;
  } catch {
    return false;
  }
  return HUB_ORIGINS.includes(origin) || extraOrigins.some((o) => {
    try {
      return new URL(o).origin === origin;
    } catch {
      return false;
    }
  });
}

/**
 * The repository a Hub URL names (`owner/name` of `https://huggingface.co/owner/name/resolve/…`), or
 * null when `url` is not a Hub file or folder URL.
 */
export function hubRepoOf(url: string): string | null {
  const m = /^https?:\/\/[^/]+\/([^/]+\/[^/]+)\/(?:resolve|tree|blob|raw)\//.exec(url);
  return m ? decodeURIComponent(m[1]) : null;
}

/** Default {@link ResumeOptions}: 4 re-requests, 0.5 + 1 + 2 + 4 s of waiting at most between progress. */
export const DEFAULT_RESUME: Required<Pick<ResumeOptions, 'retries' | 'backoffMs'>> = { retries: 4, backoffMs: 500 };

/**
 * Creates a source for a folder URL, (in Node) a local path, or (in a browser) a folder opened from
 * disk (`LocalFolder`: a directory handle or the files of a webkitdirectory input, src/model/local-folder.ts).
 * @param resume how broken HTTP transfers are repaired (unused for local files).
 */
export function createModelSource(location: ModelLocation, resume: ResumeOptions = {}): ModelSource {
  if (isLocalFolder(location)) return new LocalFolderSource(location);
  if (/^https?:\/\//i.test(location) || !isNode) return new FetchSource(location, resume);
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
export function checkedBody(body: ReadableStream<Uint8Array>, name: string, where: string, expected: number | null): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let n = 0;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        c.error((e as Error)?.name === 'AbortError' || e instanceof MsnError ? e : new NetworkError(where, `transfer failed after ${n} bytes: ${fetchFailure(e)}`));
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

/** `Content-Range: bytes a-b/size` parsed (size null for `*`), or null when absent or malformed. */
function contentRange(res: Response): { start: number; end: number; size: number | null } | null {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec((res.headers.get('content-range') ?? '').trim());
  return m ? { start: Number(m[1]), end: Number(m[2]), size: m[3] === '*' ? null : Number(m[3]) } : null;
}

/** A wait of `ms` that an abort cuts short (rejecting with the signal's reason). */
function pause(ms: number, signal?: AbortSignal | null): Promise<void> {
  return new Promise((ok, fail) => {
    if (signal?.aborted) return fail(signal.reason as Error);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', stop);
      ok();
    }, ms);
    const stop = () => {
      clearTimeout(t);
      fail(signal!.reason as Error);
    };
    signal?.addEventListener('abort', stop, { once: true });
  });
}

/** A break that re-requesting cannot repair: the file changed on the server during the download. */
class Changed extends Error {}
/** The break of a body that ended cleanly but short of its length. */
const SHORT = Symbol('short body');

/**
 * The body of `first` (a 200 answer to a GET of `url`), with breaks repaired: when the transfer
 * fails (a network error) or the body ends short of `expected` bytes, the file is requested again
 * with `Range: bytes=N-`, N being the bytes received so far, and the stream continues with the new
 * body. The answer is accepted when it is 206 with `Content-Range: bytes N-…/total` (total = the
 * file's size when known) and the same `ETag` and `Last-Modified` as the first answer where it gave
 * them (RFC 9110 §14.4, §8.8). A 200 (a server that ignores Range) with the same validators restarts
 * the file from byte 0: its first N bytes are read and dropped, so the reader still sees each byte
 * once, in order, and nothing more is held in memory. A 206 for other bytes or a 416 makes the next
 * re-request one for the whole file (restart from 0); any other answer (5xx, a network error) counts
 * as another break too. Before each re-request the stream waits
 * `backoffMs`, doubled after each re-request that brought no new byte; after `retries` of those the
 * last break ends the stream as it would have ended without repair (the transfer's error, or a
 * clean end short of `expected`), for {@link checkedBody} to report. A different ETag or
 * Last-Modified (or a restarted body of another length) means the bytes already delivered belong to
 * an older version of the file: that fails at once with a NetworkError saying so. Aborts
 * (`init.signal`) pass through. Used by FetchSource and the service worker (sw.ts).
 * @param first the answer to `fetch(url, init)`, status 200, with a body.
 * @param expected the body's length in bytes (announcedBodyLength), or null when unknown: then only
 *   transfer errors are repaired.
 */
export function resumingBody(first: Response, url: string, init: RequestInit, expected: number | null, resume: ResumeOptions = {}): ReadableStream<Uint8Array> {
  const { retries, backoffMs } = { ...DEFAULT_RESUME, ...resume };
  const etag = first.headers.get('etag');
  const modified = first.headers.get('last-modified');
  let reader = first.body!.getReader();
  let size = expected;
  /** Bytes delivered; bytes of the current body still to drop (a restart from 0); re-requests since the last new byte, and where that was. */
  let n = 0;
  let skip = 0;
  let failures = 0;
  let mark = 0;
  /** Whether to ask for the rest (Range) or, after a 206 for other bytes or a 416, for the whole file again. */
  let ranged = true;
  const sameVersion = (res: Response) => (etag === null || res.headers.get('etag') === etag) && (modified === null || res.headers.get('last-modified') === modified);
  /** Re-requests the rest of the file after `broken`; resolves when a usable body is open, rejects with the break it could not repair. */
  const reopen = async (broken: unknown): Promise<void> => {
    for (;;) {
      if (failures >= retries) throw broken;
      await pause(backoffMs * 2 ** failures, init.signal);
      failures++;
      mark = n;
      reader.cancel().catch(() => {});
      let res: Response;
      try {
        res = await fetch(url, ranged && n > 0 ? { ...init, headers: { ...(init.headers as Record<string, string> | undefined), range: `bytes=${n}-` } } : init);
      } catch (e) {
        if ((e as Error)?.name === 'AbortError') throw e;
        broken = e;
        continue;
      }
      const usable = !!res.body && (res.status === 200 || res.status === 206);
      if (usable && !sameVersion(res)) {
        await res.body!.cancel().catch(() => {});
        throw new Changed(`it changed on the server during the download (ETag or Last-Modified differs after ${n} bytes); load the model again`);
      }
      const range = res.status === 206 ? contentRange(res) : null;
      if (usable && range && range.start === n && (range.size === null || size === null || range.size === size)) {
        size ??= range.size;
        reader = res.body!.getReader();
        skip = 0;
        return;
      }
      if (usable && res.status === 200) {
        const len = announcedBodyLength(res);
        if (size !== null && len !== null && len !== size) {
          await res.body!.cancel().catch(() => {});
          throw new Changed(`it changed on the server during the download (now ${len} bytes, was ${size}); load the model again`);
        }
        reader = res.body!.getReader();
        skip = n;
        return;
      }
      if (res.status === 206 || res.status === 416) ranged = false;
      await res.body?.cancel().catch(() => {});
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      for (;;) {
        let r: ReadableStreamReadResult<Uint8Array>;
        let broken: unknown = null;
        try {
          r = await reader.read();
        } catch (e) {
          if ((e as Error)?.name === 'AbortError') return c.error(e);
          broken = e;
          r = { done: true, value: undefined };
        }
        if (broken === null && r.done) {
          if (skip === 0 && (size === null || n >= size)) return c.close();
          broken = SHORT;
        }
        if (broken !== null) {
          try {
            await reopen(broken);
          } catch (e) {
            if (e === SHORT) return c.close();
            return c.error(e instanceof Changed ? new NetworkError(url, e.message) : e);
          }
          continue;
        }
        let chunk = r.value!;
        if (skip > 0) {
          const drop = Math.min(skip, chunk.byteLength);
          skip -= drop;
          chunk = chunk.subarray(drop);
          if (chunk.byteLength === 0) continue;
        }
        n += chunk.byteLength;
        if (n > mark) failures = 0;
        c.enqueue(chunk);
        return;
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

class FetchSource implements ModelSource {
  readonly #base: string;
  /** `{ authorization }` when this folder's requests may carry the Hub token, else `{}`. */
  readonly #auth: Record<string, string>;
  readonly resume: Omit<ResumeOptions, 'hubToken'>;
  constructor(readonly location: string, options: ResumeOptions = {}) {
    const href = typeof location === 'string' && typeof globalThis.location !== 'undefined' ? new URL(location, globalThis.location.href).href : location;
    this.#base = href.endsWith('/') ? href : `${href}/`;
    const { hubToken, ...resume } = options;
    this.resume = resume;
    this.#auth = hubToken && sendsHubToken(this.#base, options.hubTokenOrigins) ? { authorization: `Bearer ${hubToken}` } : {};
  }
  url(name: string): string {
    return join(this.#base, name);
  }
  urlOf(name: string): string {
    return this.url(name);
  }
  /** The init of every request: the cache mode, and the Hub token where it may go. */
  #init(init: RequestInit): RequestInit {
    return { ...init, ...(this.resume.cache ? { cache: this.resume.cache } : {}), ...(this.#auth.authorization ? { headers: { ...this.#auth } } : {}) };
  }
  async #fetch(name: string, init: RequestInit): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(this.url(name), this.#init(init));
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      throw new NetworkError(this.url(name), fetchFailure(e));
    }
    // 401/403 from the Hub (or an origin trusted with its token): a gated or private repository.
    if ((res.status === 401 || res.status === 403) && sendsHubToken(this.url(name), this.resume.hubTokenOrigins)) {
      await res.body?.cancel().catch(() => {});
      throw new GatedModelError(hubRepoOf(this.url(name)) ?? this.#base, this.url(name), res.status, !!this.#auth.authorization);
    }
    return res;
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
    const body = resumingBody(res, this.url(name), this.#init({ signal }), size, this.resume);
    return { size, stream: checkedBody(body, name, this.url(name), size) };
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
