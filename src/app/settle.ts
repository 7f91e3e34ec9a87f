/**
 * The page's half of whole-or-nothing model caching (the service worker's half is `settle` in
 * sw.ts): after a model load, the page tells the service worker whether it succeeded, so that the
 * files the load stored are recorded as a whole model or evicted. Used by the app (pwa.ts, main.ts)
 * and by `<msn-chat>` (its loads on a page the app's service worker controls, e.g. the example
 * page). Free of workbox-window, so the library can import it.
 */
import type { SettleRequest, SettleResult } from './cache-names.js';

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
