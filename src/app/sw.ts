/**
 * The service worker (built by vite-plugin-pwa, injectManifest): precaches the app shell, and keeps
 * model files in the Cache API as they are fetched, cache-first, so that after one online visit the
 * app reloads and generates offline. HEAD requests (the loader probes files with HEAD) are answered
 * from the cached GET response; Range requests are cut from a cached full response; partial (206)
 * responses are never stored.
 */
import { cleanupOutdatedCaches, matchPrecache, precacheAndRoute } from 'workbox-precaching';
import { registerRoute, setCatchHandler } from 'workbox-routing';
import type { RouteHandlerCallbackOptions } from 'workbox-core/types.js';
import { cacheNames, clientsClaim, setCacheNameDetails } from 'workbox-core';
import { createPartialResponse } from 'workbox-range-requests';
import { CACHE_PREFIX, CACHE_VERSION, MODEL_CACHE, isModelFile, type CacheStats } from './cache-names.js';

type WithManifest = { __WB_MANIFEST: Array<{ url: string; revision: string | null }> };
const sw = self as unknown as ServiceWorkerGlobalScope;
const appBase = new URL(sw.registration.scope);

setCacheNameDetails({ prefix: CACHE_PREFIX, suffix: CACHE_VERSION });
void sw.skipWaiting();
clientsClaim();
// `?model=…` and other query parameters must not defeat the precache of index.html.
// (The literal `self.__WB_MANIFEST` is where the build injects the precache list.)
precacheAndRoute((self as unknown as WithManifest).__WB_MANIFEST, { ignoreURLParametersMatching: [/.*/] });
cleanupOutdatedCaches();

const stats: CacheStats = { version: CACHE_VERSION, hits: {}, stored: {} };

async function modelFile({ request, event }: RouteHandlerCallbackOptions): Promise<Response> {
  const req = request as Request;
  const cache = await caches.open(MODEL_CACHE);
  const cached = await cache.match(req.url);
  if (cached) {
    const h = (stats.hits[req.url] ??= { count: 0, bytes: 0 });
    h.count++;
    h.bytes += Number(cached.headers.get('content-length') ?? 0);
    if (req.method === 'HEAD') return new Response(null, { status: cached.status, statusText: cached.statusText, headers: cached.headers });
    if (req.headers.has('range')) return createPartialResponse(req, cached);
    return cached;
  }
  const res = await fetch(req);
  // Only whole files are stored: no HEAD, no Range requests, no 206, no errors.
  if (req.method === 'GET' && !req.headers.has('range') && res.status === 200 && !res.headers.has('content-range')) {
    const copy = res.clone();
    (event as ExtendableEvent).waitUntil(cache.put(req.url, copy).then(() => {
      stats.stored[req.url] = (stats.stored[req.url] ?? 0) + 1;
    }, () => { /* quota or a broken stream: the file is simply not cached */ }));
  }
  return res;
}

const matchModel = ({ url }: { url: URL }) => isModelFile(url, appBase);
registerRoute(matchModel, modelFile, 'GET');
registerRoute(matchModel, modelFile, 'HEAD');

// Offline navigation to a page that is not precached: the offline page.
setCatchHandler(async ({ request }) => {
  if ((request as Request).destination === 'document') return (await matchPrecache('offline.html')) ?? Response.error();
  return Response.error();
});

sw.addEventListener('activate', (event) => {
  // Versioned caches: drop every msn-webgpu cache that is not of this version.
  const keep = new Set([cacheNames.precache, cacheNames.runtime, MODEL_CACHE]);
  event.waitUntil(caches.keys().then((names) => Promise.all(names.filter((n) => n.startsWith(`${CACHE_PREFIX}-`) && !keep.has(n)).map((n) => caches.delete(n)))));
});

sw.addEventListener('message', (event) => {
  if ((event.data as { type?: string })?.type === 'msn-cache-stats') event.ports[0]?.postMessage(stats);
});
