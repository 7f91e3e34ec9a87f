/**
 * Cache API names and the model-file test, shared by the service worker (sw.ts) and the page.
 * Bump CACHE_VERSION when the cached formats change: the service worker deletes every
 * `msn-webgpu-*` cache of another version when it activates.
 */
export const CACHE_PREFIX = 'msn-webgpu';
export const CACHE_VERSION = 'v1';
/** Model files (config, tokenizer, weights), cache-first, filled as they are fetched. */
export const MODEL_CACHE = `${CACHE_PREFIX}-models-${CACHE_VERSION}`;

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
/** Reply: what the service worker served from the model cache since it started. */
export interface CacheStats {
  version: string;
  /** Per URL: responses served from the Cache API, and their body bytes (Content-Length). */
  hits: Record<string, { count: number; bytes: number }>;
  /** Per URL: responses fetched from the network and stored. */
  stored: Record<string, number>;
}
