/**
 * Page side of the offline PWA: service worker registration (production builds only), the model
 * cache summary and the "clear cached models" action.
 */
import { CACHE_PREFIX, MODEL_CACHE, type CacheStats } from './cache-names.js';

/**
 * Registers `sw.js` (production builds) and resolves once this page is controlled by it, so the
 * model files fetched next go through it and land in the cache (on the first visit the worker
 * installs, activates and claims the page; `timeoutMs` bounds the wait).
 */
export async function registerServiceWorker(timeoutMs = 8000): Promise<boolean> {
  if (!import.meta.env.PROD || !('serviceWorker' in navigator)) return false;
  const sw = navigator.serviceWorker;
  try {
    await sw.register(new URL('sw.js', document.baseURI).href, { scope: './' });
  } catch (e) {
    console.warn('Service worker registration failed; the app works online only.', e);
    return false;
  }
  if (sw.controller) return true;
  await Promise.race([
    new Promise((r) => sw.addEventListener('controllerchange', r, { once: true })),
    new Promise((r) => setTimeout(r, timeoutMs)),
  ]);
  return !!sw.controller;
}

/** Asks the controlling service worker what it served from the model cache. */
export async function cacheStats(): Promise<CacheStats | null> {
  const c = navigator.serviceWorker?.controller;
  if (!c) return null;
  const ch = new MessageChannel();
  const reply = new Promise<CacheStats>((r) => { ch.port1.onmessage = (e) => r(e.data as CacheStats); });
  c.postMessage({ type: 'msn-cache-stats' }, [ch.port2]);
  return Promise.race([reply, new Promise<null>((r) => setTimeout(() => r(null), 2000))]);
}

/** Cached model folders and their byte counts (from the stored Content-Length headers). */
export async function cachedModels(): Promise<Array<{ folder: string; files: number; bytes: number }>> {
  if (!('caches' in globalThis) || !(await caches.has(MODEL_CACHE))) return [];
  const cache = await caches.open(MODEL_CACHE);
  const folders = new Map<string, { files: number; bytes: number }>();
  for (const req of await cache.keys()) {
    const folder = req.url.slice(0, req.url.lastIndexOf('/') + 1);
    const res = await cache.match(req);
    const f = folders.get(folder) ?? { files: 0, bytes: 0 };
    f.files++;
    // Compressed responses carry no Content-Length; the cached body's blob knows its size.
    const len = res?.headers.get('content-length');
    f.bytes += len && !res?.headers.get('content-encoding') ? Number(len) : ((await res?.blob())?.size ?? 0);
    folders.set(folder, f);
  }
  return [...folders].map(([folder, f]) => ({ folder, ...f }));
}

/** Deletes every cached model (all versions); returns how many caches were removed. */
export async function clearCachedModels(): Promise<number> {
  if (!('caches' in globalThis)) return 0;
  const names = (await caches.keys()).filter((n) => n.startsWith(`${CACHE_PREFIX}-models-`));
  await Promise.all(names.map((n) => caches.delete(n)));
  return names.length;
}

/** Asks the browser to keep this origin's storage (the cached models) under storage pressure. */
export async function persistStorage(): Promise<boolean> {
  try {
    return (await navigator.storage?.persisted?.()) || ((await navigator.storage?.persist?.()) ?? false);
  } catch {
    return false;
  }
}
