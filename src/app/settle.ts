/**
 * The page's half of whole-or-nothing model caching (the service worker's half is `settle` in
 * sw.ts): after a model load, the page tells the service worker whether it succeeded, so that the
 * files the load stored are recorded as a whole model or evicted. Used by the app (pwa.ts, main.ts)
 * and by `<msn-chat>` (its loads on a page the app's service worker controls, e.g. the example
 * page). Free of workbox-window, so the library can import it.
 */
import type { SettleRequest, SettleResult, SkipCacheRequest } from './cache-names.js';

/**
 * Before loading the model in `folder` without caching it (the user's choice after a
 * StorageQuotaError): tells the service worker to store none of its files until the load is settled
 * ({@link settleModelCache}), and waits for its answer so that no file of the load is stored before.
 * @returns whether a service worker acknowledged it (false: none controls the page, so nothing is cached anyway).
 */
export async function skipModelCache(folder: string, timeoutMs = 5000): Promise<boolean> {
  const c = typeof navigator === 'undefined' ? null : navigator.serviceWorker?.controller;
  if (!c) return false;
  const ch = new MessageChannel();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const reply = new Promise<boolean>((r) => { ch.port1.onmessage = () => r(true); });
  const timeout = new Promise<boolean>((r) => { timer = setTimeout(() => r(false), timeoutMs); });
  c.postMessage({ type: 'msn-model-skip-cache', folder } satisfies SkipCacheRequest, [ch.port2]);
  try {
    return await Promise.race([reply, timeout]);
  } finally {
    clearTimeout(timer);
    ch.port1.close();
  }
}

/**
 * After the model in `folder` (URL ending in `/`) loaded (`loaded`) or failed to: asks the service
 * worker to finish writing its files, then keep a loaded model as a whole cached model or evict all
 * of it; after a failed load, it evicts the folder's files unless they are a model recorded whole
 * before and still whole (see sw.ts). A service worker that does not speak this protocol (another
 * site's, on a page that embeds the library) ignores the message.
 * @returns the outcome (with the reason when it was evicted), or null without a controlling
 *   service worker or when it did not answer within `timeoutMs`.
 */
export async function settleModelCache(folder: string, loaded = true, timeoutMs = 120_000): Promise<SettleResult | null> {
  const c = typeof navigator === 'undefined' ? null : navigator.serviceWorker?.controller;
  if (!c) return null;
  const ch = new MessageChannel();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const reply = new Promise<SettleResult>((r) => { ch.port1.onmessage = (e) => r(e.data as SettleResult); });
  const timeout = new Promise<null>((r) => { timer = setTimeout(() => r(null), timeoutMs); });
  c.postMessage({ type: 'msn-model-settle', folder, loaded } satisfies SettleRequest, [ch.port2]);
  try {
    return await Promise.race([reply, timeout]);
  } finally {
    clearTimeout(timer);
    ch.port1.close();
  }
}
