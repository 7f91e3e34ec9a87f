/**
 * The service worker (built by vite-plugin-pwa, injectManifest).
 *
 * App shell: precached. The first version installed takes control at once (the first visit waits
 * for it before loading a model); a later version waits until the page asks for it (the page shows
 * "An update is ready" and posts SKIP_WAITING when the user reloads into it), so an open tab never
 * runs one version's page against another version's files. When a new version activates, files of
 * the old precache that it no longer lists (the old hashed chunks, above all the worker chunk that a
 * tab loads when it switches models) move to PREVIOUS_CACHE and are still served to the pages that
 * were open before the update; the move keeps them until no such page is left.
 *
 * Models: files are kept in the Cache API as they are fetched, cache-first, so that after one online
 * visit the app reloads and generates offline. HEAD requests (the loader probes files with HEAD) are
 * answered from the cached GET response; Range requests are cut from a cached full response; partial
 * (206) responses are never stored. A model is cached whole or not at all: if storing one of its
 * files fails (quota), every file of its folder is evicted and no more are stored until the page
 * settles the load (`msn-model-settle`, after it succeeded or failed); then a loaded model's folder
 * is audited (src/app/model-cache.ts) and either recorded as cached or evicted, and the page is
 * told which and why; a failed load's files are evicted, unless they belong to a model recorded
 * whole before and still whole. Offline, a file that a recorded (whole) model does not list answers 404, as it
 * did online: the loader reads only 404 as "absent" and any other failure as an error.
 *
 * Large downloads: a same-origin model file whose transfer breaks is resumed by the service worker
 * itself (`resumingBody`: `Range: bytes=N-` from the bytes received, else a restart from 0), so one
 * break does not cost a multi-GB file nor its cached copy. Requests made with `cache: 'no-store'`
 * (the page's storage check, src/app/storage.ts) are never stored, and a folder the page loads
 * without caching (`msn-model-skip-cache`, after a StorageQuotaError) stores nothing.
 */
import { PrecacheController, PrecacheRoute, cleanupOutdatedCaches } from 'workbox-precaching';
import { registerRoute, setCatchHandler } from 'workbox-routing';
import type { RouteHandlerCallbackOptions } from 'workbox-core/types.js';
import { cacheNames, clientsClaim, setCacheNameDetails } from 'workbox-core';
import { createPartialResponse } from 'workbox-range-requests';
import { CACHE_PREFIX, CACHE_VERSION, MODEL_CACHE, PREVIOUS_CACHE, isModelFile, type CacheStats, type SettleResult } from './cache-names.js';
import { announcedBodyLength } from '../model/body-length.js';
import { resumingBody } from '../model/source.js';
import { auditFolder, evictFailedLoad, evictFolder, folderOf, readRecord, writeRecord } from './model-cache.js';

type WithManifest = { __WB_MANIFEST: Array<{ url: string; revision: string | null }> };
const sw = self as unknown as ServiceWorkerGlobalScope;
const appBase = new URL(sw.registration.scope);

setCacheNameDetails({ prefix: CACHE_PREFIX, suffix: CACHE_VERSION });
const precache = new PrecacheController();
// (The literal `self.__WB_MANIFEST` is where the build injects the precache list.)
precache.addToCacheList((self as unknown as WithManifest).__WB_MANIFEST);

// -- versions: install, activate, the previous version's files ---------------------------------

sw.addEventListener('install', (event) => {
  precache.install(event);
  // Only the first version takes over at once; an update waits for the page's SKIP_WAITING.
  if (!sw.registration.active) void sw.skipWaiting();
});

/** Key (in PREVIOUS_CACHE) of the ids of the pages that were open when the files there were retired. */
const PREVIOUS_CLIENTS = new URL('__msn-previous-clients', appBase).href;

async function previousClientIds(cache: Cache): Promise<string[]> {
  try {
    return ((await (await cache.match(PREVIOUS_CLIENTS))?.json()) as string[] | undefined) ?? [];
  } catch {
    return [];
  }
}

/** Ids among `ids` of pages still open. */
async function alive(ids: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const id of ids) if (await sw.clients.get(id)) out.push(id);
  return out;
}

/** Drops PREVIOUS_CACHE once every page that was open when its files were retired is gone. */
async function prunePrevious(): Promise<void> {
  if (!(await caches.has(PREVIOUS_CACHE))) return;
  const ids = await previousClientIds(await caches.open(PREVIOUS_CACHE));
  if ((await alive(ids)).length === 0) await caches.delete(PREVIOUS_CACHE);
}

/**
 * On activation: moves the precached files this version no longer lists to PREVIOUS_CACHE (keyed
 * by their plain URL), and records the pages open now (all of an older version) as their users.
 */
async function retireOutdated(): Promise<void> {
  await prunePrevious();
  const pre = await caches.open(cacheNames.precache);
  const current = new Set(precache.getURLsToCacheKeys().values());
  const outdated = (await pre.keys()).filter((r) => !current.has(r.url));
  if (outdated.length > 0) {
    const prev = await caches.open(PREVIOUS_CACHE);
    for (const req of outdated) {
      const url = new URL(req.url);
      url.searchParams.delete('__WB_REVISION__');
      const res = await pre.match(req);
      if (res && !precache.getCacheKeyForURL(url.href)) await prev.put(url.href, res);
      await pre.delete(req);
    }
    const pages = (await sw.clients.matchAll({ type: 'window', includeUncontrolled: true })).map((c) => c.id);
    const ids = [...new Set([...(await alive(await previousClientIds(prev))), ...pages])];
    await prev.put(PREVIOUS_CLIENTS, new Response(JSON.stringify(ids), { headers: { 'content-type': 'application/json' } }));
  }
  // Versioned caches: drop every msn-webgpu cache that is not of this version.
  const keep = new Set([cacheNames.precache, cacheNames.runtime, MODEL_CACHE, PREVIOUS_CACHE]);
  await Promise.all((await caches.keys()).filter((n) => n.startsWith(`${CACHE_PREFIX}-`) && !keep.has(n)).map((n) => caches.delete(n)));
}

sw.addEventListener('activate', (event) => event.waitUntil(retireOutdated()));
clientsClaim();
cleanupOutdatedCaches();

// `?model=…` and other query parameters must not defeat the precache of index.html.
registerRoute(new PrecacheRoute(precache, { ignoreURLParametersMatching: [/.*/] }));

sw.addEventListener('fetch', (event) => {
  // A navigation may be the last old page going away: drop the previous version's files then.
  if (event.request.mode === 'navigate') event.waitUntil(prunePrevious().catch(() => {}));
});

// -- model files -------------------------------------------------------------------------------

const stats: CacheStats = { version: CACHE_VERSION, hits: {}, stored: {} };
/** Per folder: files served whole (GET, 200) since the last settle; the audit checks them. */
const served = new Map<string, Set<string>>();
/** Per folder: cache writes still running. */
const writing = new Map<string, Set<Promise<void>>>();
/** Per folder: why storing one of its files failed (its files are evicted, no more are stored). */
const failed = new Map<string, string>();
/** The reason in `failed` of a folder loaded without caching, as the page asked (`msn-model-skip-cache`). */
const SKIPPED = 'it was loaded without caching, as asked after the storage check';

function note(folder: string, name: string): void {
  let s = served.get(folder);
  if (!s) served.set(folder, (s = new Set()));
  s.add(name);
}

/** `QuotaExceededError while storing tokenizer.json: <message>` (no final period). */
function describeFailure(e: unknown, what: string): string {
  const [name, message] = e instanceof Error || e instanceof DOMException ? [e.name, e.message] : ['Error', String(e)];
  return `${name} while ${what}: ${message.replace(/\.$/, '')}`;
}

/** Stores one whole model file; on failure evicts its whole folder and stops storing that folder. */
function store(cache: Cache, folder: string, url: string, res: Response): Promise<void> {
  const name = url.slice(folder.length);
  const p = cache.put(url, res).then(() => {
    stats.stored[url] = (stats.stored[url] ?? 0) + 1;
  }, async (e: unknown) => {
    if (!failed.has(folder)) failed.set(folder, describeFailure(e, `storing ${name}`));
    await evictFolder(cache, folder);
  }).finally(() => {
    writing.get(folder)?.delete(p);
  });
  let w = writing.get(folder);
  if (!w) writing.set(folder, (w = new Set()));
  w.add(p);
  return p;
}

async function modelFile({ request, event }: RouteHandlerCallbackOptions): Promise<Response> {
  const req = request as Request;
  const url = req.url;
  const folder = folderOf(url.split('?')[0]);
  const whole = req.method === 'GET' && !req.headers.has('range');
  const cache = await caches.open(MODEL_CACHE);
  const cached = await cache.match(url);
  if (cached) {
    const h = (stats.hits[url] ??= { count: 0, bytes: 0 });
    h.count++;
    h.bytes += Number(cached.headers.get('content-length') ?? 0);
    if (req.method === 'HEAD') return new Response(null, { status: cached.status, statusText: cached.statusText, headers: cached.headers });
    if (req.headers.has('range')) return createPartialResponse(req, cached);
    note(folder, url.slice(folder.length));
    return cached;
  }
  let res: Response;
  try {
    res = await fetch(req);
  } catch (e) {
    // Offline: a file that a model cached whole does not list was absent from that model (an
    // optional file such as manifest.json that answered 404 online), so it is absent now too.
    const name = url.split('?')[0].slice(folder.length);
    const record = await readRecord(cache, folder);
    if (record && !(name in record.files)) return new Response(null, { status: 404, statusText: 'Not part of the cached model' });
    throw e;
  }
  // A whole same-origin file whose transfer breaks is resumed here (Range: bytes=N-, see
  // resumingBody in src/model/source.ts), so the page and the cache both get one unbroken body. A
  // cross-origin response is passed as it is (its hidden Content-Encoding must stay hidden, see
  // src/model/body-length.ts); the page's own source resumes it, and its cache copy is evicted.
  if (whole && res.status === 200 && res.type === 'basic' && res.body && !res.headers.has('content-range')) {
    // A re-request carries the page's Hugging Face token when the first one did (same origin only here).
    const auth = req.headers.get('authorization');
    res = new Response(resumingBody(res, url, auth ? { headers: { authorization: auth } } : {}, announcedBodyLength(res)), { status: res.status, statusText: res.statusText, headers: res.headers });
  }
  // Only whole files are stored: no HEAD, no Range requests, no 206, no errors, and nothing asked
  // with `cache: 'no-store'` (the page's storage check probes the folder that way: src/app/storage.ts).
  if (whole && req.cache !== 'no-store' && res.status === 200 && !res.headers.has('content-range')) {
    note(folder, url.slice(folder.length));
    // A folder loaded without caching covers its sub-folders (shards) too.
    const skipped = [...failed].some(([f, why]) => why === SKIPPED && url.startsWith(f));
    if (!failed.has(folder) && !skipped) (event as ExtendableEvent).waitUntil(store(cache, folder, url, res.clone()));
  }
  return res;
}

/**
 * After the page loaded the model in `folder` (or failed to: `loaded` false): waits for that
 * folder's cache writes; if one failed, evicts every file of the model and says why. Otherwise a
 * loaded model is recorded as cached if it is whole (auditFolder), or evicted with the reason. A
 * failed load leaves nothing partial (evictFailedLoad): the folder's entries are evicted, unless it
 * holds a recorded model that is still whole, which stays (minus the files the failed load added).
 */
async function settle(folder: string, loaded: boolean): Promise<SettleResult> {
  for (let w = writing.get(folder); w && w.size > 0; w = writing.get(folder)) await Promise.allSettled([...w]);
  const cache = await caches.open(MODEL_CACHE);
  const names = served.get(folder) ?? new Set<string>();
  served.delete(folder);
  const reason = failed.get(folder);
  failed.delete(folder);
  if (reason !== undefined) {
    await evictFolder(cache, folder);
    return { folder, cached: false, reason };
  }
  if (!loaded) {
    const { kept } = await evictFailedLoad(cache, folder);
    return kept ? { folder, cached: true, files: Object.keys(kept.files).length, bytes: kept.bytes } : { folder, cached: null };
  }
  const audit = await auditFolder(cache, folder, [...names, ...Object.keys((await readRecord(cache, folder))?.files ?? {})]);
  if (!audit.ok) {
    await evictFolder(cache, folder);
    return { folder, cached: false, reason: audit.reason };
  }
  try {
    await writeRecord(cache, folder, audit.files);
  } catch (e) {
    await evictFolder(cache, folder);
    return { folder, cached: false, reason: describeFailure(e, 'storing the cache record') };
  }
  return { folder, cached: true, files: Object.keys(audit.files).length, bytes: audit.bytes };
}

const matchModel = ({ url }: { url: URL }) => isModelFile(url, appBase);
registerRoute(matchModel, modelFile, 'GET');
registerRoute(matchModel, modelFile, 'HEAD');

// -- the previous version's files, for pages opened before the update --------------------------

registerRoute(
  ({ url, request }) => url.origin === appBase.origin && url.pathname.startsWith(appBase.pathname) && request.mode !== 'navigate',
  async ({ request }) => (await caches.match((request as Request).url, { cacheName: PREVIOUS_CACHE, ignoreSearch: true })) ?? fetch(request as Request),
);

// Offline navigation to a page that is not precached: the offline page.
setCatchHandler(async ({ request }) => {
  if ((request as Request).destination === 'document') return (await precache.matchPrecache('offline.html')) ?? Response.error();
  return Response.error();
});

sw.addEventListener('message', (event) => {
  const data = event.data as { type?: string; folder?: unknown; loaded?: unknown } | null;
  if (data?.type === 'msn-cache-stats') event.ports[0]?.postMessage(stats);
  else if (data?.type === 'msn-model-settle' && typeof data.folder === 'string') {
    const folder = data.folder;
    event.waitUntil(settle(folder, data.loaded !== false).then(
      (r) => event.ports[0]?.postMessage(r),
      (e: unknown) => event.ports[0]?.postMessage({ folder, cached: false, reason: describeFailure(e, 'checking the cached files') } satisfies SettleResult),
    ));
  } else if (data?.type === 'msn-model-skip-cache' && typeof data.folder === 'string') {
    // Loaded without caching (the user's choice after the storage check): store none of its files.
    failed.set(data.folder, SKIPPED);
    event.ports[0]?.postMessage(true);
  } else if (data?.type === 'SKIP_WAITING') void sw.skipWaiting();
});
