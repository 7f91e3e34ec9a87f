/**
 * Page side of the offline PWA: service worker registration (production builds only) with update
 * handling (workbox-window), whole-or-nothing model caching (settle a model after it loaded; list
 * the cached models) and the "clear cached models" action.
 */
import { Workbox } from 'workbox-window';
import { CACHE_PREFIX, MODEL_CACHE, type CacheStats } from './cache-names.js';
import { listFolders, type CachedFolder } from './model-cache.js';

export { settleModelCache } from './settle.js';

/** How often an open tab asks the server for a new version (ms); also when it becomes visible. */
const UPDATE_CHECK_MS = 60 * 60 * 1000;
/** Least time between two checks triggered by the tab becoming visible (ms). */
const VISIBLE_CHECK_MS = 10 * 60 * 1000;

let wb: Workbox | null = null;
let registration: ServiceWorkerRegistration | undefined;
let applying = false;

const sleep = (ms: number) => new Promise<null>((r) => setTimeout(() => r(null), ms));

/** Options of {@link registerServiceWorker}. */
export interface RegisterOptions {
  /** Bound (ms) on the wait for the first install to take control of this page. */
  timeoutMs?: number;
  /**
   * Called when a new version is ready: installed and waiting for this page (show "An update is
   * ready"; {@link applyUpdate} reloads into it), or already activated from another tab (this page
   * still runs the old version's code, which keeps working; a reload brings the new one).
   */
  onUpdateReady?: () => void;
}

/**
 * Registers `sw.js` (production builds) and resolves once this page is controlled by it, so the
 * model files fetched next go through it and land in the cache (on the first visit the worker
 * installs, activates and claims the page; `timeoutMs` bounds the wait). Later versions wait: the
 * page learns of them through `onUpdateReady`, and checks for them hourly and when it becomes
 * visible again (at most every 10 minutes), besides the browser's own check on navigation.
 * @returns whether a service worker controls the page.
 */
export async function registerServiceWorker({ timeoutMs = 8000, onUpdateReady }: RegisterOptions = {}): Promise<boolean> {
  if (!import.meta.env.PROD || !('serviceWorker' in navigator)) return false;
  const sw = navigator.serviceWorker;
  const hadController = !!sw.controller;
  wb = new Workbox(new URL('sw.js', document.baseURI).href, { scope: './' });
  wb.addEventListener('waiting', () => onUpdateReady?.());
  // A new version activated from another tab: this page's code is now the older one.
  wb.addEventListener('controlling', () => {
    if (hadController && !applying) onUpdateReady?.();
  });
  try {
    registration = await wb.register({ immediate: true });
  } catch (e) {
    console.warn('Service worker registration failed; the app works online only.', e);
    return false;
  }
  let lastCheck = Date.now();
  const check = () => {
    lastCheck = Date.now();
    wb?.update().catch(() => { /* offline: try again later */ });
  };
  setInterval(check, UPDATE_CHECK_MS);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && Date.now() - lastCheck >= VISIBLE_CHECK_MS) check();
  });
  if (sw.controller) return true;
  await Promise.race([
    new Promise((r) => sw.addEventListener('controllerchange', r, { once: true })),
    sleep(timeoutMs),
  ]);
  return !!sw.controller;
}

/**
 * Reloads into the new version: a waiting service worker is told to activate (SKIP_WAITING) and
 * the page reloads once it controls the page (or after `timeoutMs`); with none waiting (activated
 * from another tab), the page just reloads.
 */
export async function applyUpdate(timeoutMs = 10_000): Promise<void> {
  applying = true;
  if (registration?.waiting && wb) {
    const controlling = new Promise((r) => navigator.serviceWorker.addEventListener('controllerchange', r, { once: true }));
    wb.messageSkipWaiting();
    await Promise.race([controlling, sleep(timeoutMs)]);
  }
  location.reload();
}

/** Asks the controlling service worker what it served from the model cache. */
export async function cacheStats(): Promise<CacheStats | null> {
  const c = navigator.serviceWorker?.controller;
  if (!c) return null;
  const ch = new MessageChannel();
  const reply = new Promise<CacheStats>((r) => { ch.port1.onmessage = (e) => r(e.data as CacheStats); });
  c.postMessage({ type: 'msn-cache-stats' }, [ch.port2]);
  return Promise.race([reply, sleep(2000)]);
}

/**
 * Model folders in the cache: whole models (recorded after their load, every file present with its
 * size) and incomplete ones (with the reason), and their files and bytes.
 */
export async function cachedModels(): Promise<CachedFolder[]> {
  if (!('caches' in globalThis) || !(await caches.has(MODEL_CACHE))) return [];
  return listFolders(await caches.open(MODEL_CACHE));
}

/** Deletes every cached model (all versions); returns how many caches were removed. */
export async function clearCachedModels(): Promise<number> {
  if (!('caches' in globalThis)) return 0;
  const names = (await caches.keys()).filter((n) => n.startsWith(`${CACHE_PREFIX}-models-`));
  await Promise.all(names.map((n) => caches.delete(n)));
  return names.length;
}
