/**
 * Cache API names and the model-file test, shared by the service worker (sw.ts) and the page.
 * Bump CACHE_VERSION when the cached formats change: the service worker deletes every
 * `msn-webgpu-*` cache of another version when it activates.
 */
export const CACHE_PREFIX = 'msn-webgpu';
export const CACHE_VERSION = 'v1';
/** Model files (config, tokenizer, weights), cache-first, filled as they are fetched. */
export const MODEL_CACHE = `${CACHE_PREFIX}-models-${CACHE_VERSION}`;
/**
 * App files of earlier deployments that pages opened before an update still load (their lazily
 * loaded worker chunk above all): the service worker moves them here from the precache when a new
 * version activates, and drops them once no page of those versions is left.
 */
export const PREVIOUS_CACHE = `${CACHE_PREFIX}-previous-${CACHE_VERSION}`;

/** File names of a Hugging Face model folder that the runtime reads. */
const MODEL_FILE = /^(?:config\.json|generation_config\.json|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|chat_template\.jinja|manifest\.json|model\.safetensors\.index\.json|[^/]*\.safetensors)$/;

/**
 * Whether `url` is a model file to cache: anything under the app's `models/` folder except the
 * model list (`models/index.json`, precached with the app), or a model-folder file name on any host.
 */
export function isModelFile(url: URL, appBase: URL): boolean {
  const name = url.pathname.slice(url.pathname.lastIndexOf('/') + 1);
  if (url.origin === appBase.origin) {
    const modelsDir = new URL('models/', appBase).pathname;
    if (url.pathname.startsWith(modelsDir)) return url.pathname !== `${modelsDir}index.json`;
  }
  return MODEL_FILE.test(decodeURIComponent(name));
}

/** Message the page sends the service worker to read its cache statistics. */
export interface CacheStatsRequest { type: 'msn-cache-stats' }
/**
 * Message the page sends after loading a model (`loaded`) or failing to: the service worker
 * finishes its pending writes of that folder, then keeps a loaded model whole (and records it) or
 * evicts all of it; after a failed load it evicts the folder's files, unless they are a model
 * recorded whole before that is still whole.
 */
export interface SettleRequest { type: 'msn-model-settle'; folder: string; loaded: boolean }
/**
 * Reply to {@link SettleRequest}: cached whole (recorded now, or after a failed load, recorded
 * before and kept); evicted because a write failed or the model was not whole, and why; or (a failed
 * load) its files evicted, nothing cached.
 */
export type SettleResult =
  | { folder: string; cached: true; files: number; bytes: number }
  | { folder: string; cached: false; reason: string }
  | { folder: string; cached: null };
/**
 * Message the page sends before loading a model it chose not to cache (after a StorageQuotaError):
 * the service worker stores none of that folder's files until the load is settled. Reply: `true`.
 */
export interface SkipCacheRequest { type: 'msn-model-skip-cache'; folder: string }
/** Message the page sends a waiting service worker to activate it (workbox-window's format). */
export interface SkipWaitingRequest { type: 'SKIP_WAITING' }
/** Reply: what the service worker served from the model cache since it started. */
export interface CacheStats {
  version: string;
  /** Per URL: responses served from the Cache API, and their body bytes (Content-Length). */
  hits: Record<string, { count: number; bytes: number }>;
  /** Per URL: responses fetched from the network and stored. */
  stored: Record<string, number>;
}
