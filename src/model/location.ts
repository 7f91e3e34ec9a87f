/**
 * Model locations as people type them, parsed in one place for every entry point: the app,
 * `<msn-chat>`, `createEngine`, `createNodeEngine`, the CLI and the benchmark. Each form becomes an
 * absolute folder URL ending in `/` or, in Node, an absolute local path:
 *
 * - `hf:owner/name[@revision][/sub/folder]` (also `hf://…`), read like huggingface_hub's `hf://`
 *   paths (`HfFileSystem`): a revision that contains `/` is written percent-encoded
 *   (`@feature%2Fx`), except the special refs `refs/pr/N` and `refs/convert/NAME`. It resolves
 *   against the Hugging Face endpoint (default `https://huggingface.co`), as
 *   `<endpoint>/owner/name/resolve/<revision>/[sub/folder/]`.
 * - Hugging Face links (`huggingface.co`, `hf.co`, with or without `https://`): the repository page
 *   `…/owner/name`, `…/tree/<rev>[/folder]`, `…/blob/<rev>/<file>`, `…/raw/<rev>/<file>` and
 *   `…/resolve/<rev>/[folder/][file]`, with the revision encoded or a special ref.
 * - Any other `http(s):` URL of the folder, or of one of its files (the folder is taken).
 * - Node: a local folder path (POSIX or Windows, relative to the current directory) or a `file:`
 *   URL; a path to one of the folder's files names the folder.
 * - Browser: a path or relative URL on the page's site.
 *
 * Query strings and fragments are dropped (they belong to one file, not to a folder).
 */
import { InvalidArgumentError } from '../errors.js';

/** The Hugging Face Hub endpoint that `hf:` names resolve against by default. */
export const HF_DEFAULT_ENDPOINT = 'https://huggingface.co';

/** Local-path operations (Node). */
export interface LocalPaths {
  /** Absolute path of `p`, relative paths taken against the current directory (node:path `resolve`). */
  resolve(p: string): string;
  /** Local path of a `file:` URL (node:url `fileURLToPath`); may throw on a URL with a host. */
  fromFileUrl(url: string): string;
}

/** Where a location is resolved. */
export interface LocationContext {
  /** Browser: the page URL that paths and relative URLs resolve against. */
  base?: string;
  /** Node: with these, paths and `file:` URLs name local folders (resolved to absolute paths). */
  paths?: LocalPaths;
  /** Hub endpoint for `hf:` names (like huggingface_hub's `HF_ENDPOINT`); default {@link HF_DEFAULT_ENDPOINT}. */
  hfEndpoint?: string;
}

const FORMS = 'Use hf:owner/name[@revision], a https://huggingface.co/owner/name link, or a model folder URL such as https://huggingface.co/<owner>/<model>/resolve/main/';
const HF_HOST = /^(?:www\.)?(?:huggingface\.co|hf\.co)$/i;
/** Last path segments that name a file rather than a folder (the folder is taken instead). */
const FILE_LIKE = /\.(?:json|safetensors|jinja|md|txt|model|bin|gguf|onnx|py)$/i;
/** First path segments of huggingface.co that are not user or organization names. */
const HF_RESERVED = new Set(['api', 'docs', 'models', 'collections', 'papers', 'blog', 'organizations', 'settings', 'login', 'join', 'pricing', 'learn', 'posts', 'new', 'tasks', 'chat', 'search', 'enterprise', 'inference-endpoints']);
const WINDOWS_PATH = /^(?:[a-z]:(?:[\\/]|$)|\\\\)/i;

function invalid(input: string, why: string): InvalidArgumentError {
  return new InvalidArgumentError(`Model location "${input}" ${why}. ${FORMS}.`, { input });
}

function decodeSegment(input: string, s: string): string {
  let out: string;
  try {
    out = decodeURIComponent(s);
  } catch {
    throw invalid(input, `has a malformed percent-encoding in "${s}"`);
  }
  if (out === '.' || out === '..' || /[\\/]/.test(out)) throw invalid(input, `has the invalid path segment "${out}"`);
  return out;
}

/** Checks one half of a Hub repository id (huggingface_hub `validate_repo_id`). */
function repoPart(input: string, s: string): string {
  if (!/^[\w.-]{1,96}$/.test(s) || s.includes('..') || s.includes('--') || /^[.-]|[.-]$/.test(s)) throw invalid(input, `has an invalid Hugging Face repository name "${s}" (letters, digits, "_", "-" and "." only, at most 96)`);
  return s;
}

function endpointOf(ctx: LocationContext): string {
  const e = (ctx.hfEndpoint ?? HF_DEFAULT_ENDPOINT).trim();
  let url: URL | null = null;
  try {
    url = new URL(e);
  } catch {
    /* reported below */
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash) {
    throw new InvalidArgumentError(`The Hugging Face endpoint "${e}" (MSN_HF_ENDPOINT or HF_ENDPOINT) is not an http(s) URL such as https://huggingface.co.`, { endpoint: e });
  }
  return url.href.replace(/\/+$/, '');
}

function hubFolder(endpoint: string, owner: string, name: string, rev: string, sub: string[]): string {
  return `${endpoint}/${owner}/${name}/resolve/${encodeURIComponent(rev)}/${sub.map((s) => `${encodeURIComponent(s)}/`).join('')}`;
}

/** A revision at the start of `segments` (raw, not yet decoded): a special ref spans three. */
function takeRevision(input: string, segments: string[]): { rev: string; rest: string[] } {
  const [a, b, c] = segments;
  if (a === 'refs' && ((b === 'pr' && /^\d+$/.test(c ?? '')) || (b === 'convert' && /^[\w.-]+$/.test(c ?? '')))) return { rev: `refs/${b}/${c}`, rest: segments.slice(3) };
  let rev: string;
  try {
    rev = decodeURIComponent(a ?? '');
  } catch {
    throw invalid(input, `has a malformed percent-encoding in the revision "${a}"`);
  }
  if (!rev) throw invalid(input, 'has an empty revision after "@"');
  if (rev === '.' || rev === '..') throw invalid(input, `has an invalid revision "${rev}"`);
  return { rev, rest: segments.slice(1) };
}

/** `owner/name[@rev][/path]` of an `hf:` location. */
function parseHub(input: string, spec: string, endpoint: string): string {
  const m = /^([^/@]+)\/([^/@]+)(.*)$/.exec(spec);
  if (!m) throw invalid(input, 'is not hf:owner/name (a model repository id has exactly one "/")');
  const [, owner, name] = m;
  let tail = m[3];
  if (owner === 'datasets' || owner === 'spaces') throw invalid(input, `names a Hugging Face ${owner === 'datasets' ? 'dataset' : 'Space'}, not a model repository`);
  repoPart(input, owner);
  repoPart(input, name);
  let rev = 'main';
  if (tail.startsWith('@')) {
    const segs = tail.slice(1).split('/');
    const r = takeRevision(input, segs);
    rev = r.rev;
    tail = r.rest.length ? `/${r.rest.join('/')}` : '';
  }
  if (tail && !tail.startsWith('/')) throw invalid(input, `has "${tail}" after the repository name`);
  const sub = tail.split('/').filter(Boolean).map((s) => decodeSegment(input, s));
  if (sub.length && FILE_LIKE.test(sub[sub.length - 1])) sub.pop();
  return hubFolder(endpoint, owner, name, rev, sub);
}

/** A huggingface.co link as a resolve folder URL. */
function parseHubLink(input: string, url: URL): string {
  const parts = url.pathname.split('/').filter(Boolean);
  const first = parts[0]?.toLowerCase();
  if (first === 'datasets' || first === 'spaces') throw invalid(input, `links a Hugging Face ${first === 'datasets' ? 'dataset' : 'Space'}, not a model repository`);
  if (!first || HF_RESERVED.has(first)) throw invalid(input, 'is not a link to a Hugging Face model repository');
  if (parts.length < 2) throw invalid(input, 'names a user or organization (or an old model id without an owner), not owner/name');
  const owner = repoPart(input, decodeSegment(input, parts[0]));
  const name = repoPart(input, decodeSegment(input, parts[1]));
  let rev = 'main';
  let rest: string[] = [];
  const kind = parts[2];
  if (parts.length >= 4 && (kind === 'tree' || kind === 'blob' || kind === 'raw' || kind === 'resolve')) {
    const r = takeRevision(input, parts.slice(3));
    rev = r.rev;
    rest = r.rest.map((s) => decodeSegment(input, s));
    // blob/raw links always name a file; a resolve link names one unless it ends in "/".
    if (rest.length && (kind === 'blob' || kind === 'raw' || (kind === 'resolve' && !url.pathname.endsWith('/') && FILE_LIKE.test(rest[rest.length - 1])))) rest.pop();
  }
  return hubFolder(HF_DEFAULT_ENDPOINT, owner, name, rev, rest);
}

function parseUrl(input: string, text: string, base?: string): URL {
  try {
    return new URL(text, base);
  } catch {
    throw invalid(input, 'is not a valid URL');
  }
}

/** An http(s) URL as a folder URL. */
function httpFolder(input: string, url: URL): string {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(input, `uses ${url.protocol} (Model URLs must use http or https)`);
  if (url.username || url.password) throw invalid(input, 'has a user name or password in it, which fetch refuses');
  if (HF_HOST.test(url.hostname)) return parseHubLink(input, url);
  url.hash = '';
  url.search = '';
  if (!url.pathname.endsWith('/')) {
    const last = url.pathname.slice(url.pathname.lastIndexOf('/') + 1);
    url.pathname = FILE_LIKE.test(decodeURIComponent(last)) ? url.pathname.slice(0, -last.length) : `${url.pathname}/`;
  }
  return url.href;
}

/** A local path as an absolute folder path. */
function localFolder(text: string, paths: LocalPaths): string {
  const abs = paths.resolve(text);
  if (/[\\/]$/.test(text)) return abs;
  const m = /^(.*[\\/])([^\\/]+)$/.exec(abs);
  return m && FILE_LIKE.test(m[2]) ? paths.resolve(m[1]) : abs;
}

/**
 * Resolves a model location typed by a person (see the module comment for the forms) to an
 * absolute folder URL ending in `/`, or, when `ctx.paths` is given (Node), to an absolute local
 * path for a local folder. Idempotent: resolving the result again gives the result.
 * @param ctx `{ base }` in a browser (the page URL), `{ paths, hfEndpoint }` in Node.
 * @throws InvalidArgumentError for an empty input, control characters, an unparsable URL, a
 *   scheme other than http(s)/hf (and file in Node), a Hugging Face link or `hf:` name that is not a
 *   model repository, a local path in a browser, or an endpoint that is not an http(s) URL.
 */
export function resolveModelLocation(input: string, ctx: LocationContext): string {
  const text = typeof input === 'string' ? input.trim() : '';
  if (!text) throw new InvalidArgumentError(`No model given. ${FORMS}${ctx.paths ? ', or a local folder' : ''}.`);
  if (/[\u0000-\u001f\u007f]/.test(text)) throw invalid(JSON.stringify(text).slice(1, -1), 'contains control characters');
  const hub = /^hf:(?:\/\/)?(.*)$/is.exec(text);
  if (hub) return parseHub(text, hub[1], endpointOf(ctx));
  if (/^(?:www\.)?(?:huggingface\.co|hf\.co)\//i.test(text)) return httpFolder(text, parseUrl(text, `https://${text}`));
  if (WINDOWS_PATH.test(text)) {
    if (!ctx.paths) throw invalid(text, 'is a local path, which a browser cannot read: serve the folder over http(s) and give its URL');
    return localFolder(text, ctx.paths);
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1].toLowerCase();
  if (scheme === 'file') {
    if (!ctx.paths) throw invalid(text, 'is a file: URL, which a browser cannot read: serve the folder over http(s) and give its URL');
    let path: string;
    try {
      path = ctx.paths.fromFileUrl(text);
    } catch (e) {
      throw invalid(text, `is not a local file: URL (${(e as Error).message})`);
    }
    return localFolder(path, ctx.paths);
  }
  if (scheme) return httpFolder(text, parseUrl(text, text));
  if (ctx.paths) return localFolder(text, ctx.paths);
  if (!ctx.base) throw invalid(text, 'is relative, and there is no page URL to resolve it against');
  return httpFolder(text, parseUrl(text, text, ctx.base));
}
