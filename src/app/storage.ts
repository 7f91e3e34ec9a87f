/**
 * Room for a model in the browser's storage, before it is downloaded into the offline cache:
 * persistent storage (asked once, before the first model download) and the quota check (the
 * folder's bytes against `navigator.storage.estimate()`). Free of workbox-window, so the library
 * could use it too.
 *
 * Storage API: https://storage.spec.whatwg.org/ (`persist()`, `persisted()`, `estimate()`). An
 * origin's storage is "best effort" unless persisted: under storage pressure the browser may evict
 * it whole, a cached 4.5 GB model included. `estimate()` gives the origin's quota and usage; both
 * are estimates (Chromium pads opaque responses), so the check is the best that can be known
 * before writing, and the service worker still evicts a model whole if a write fails on quota.
 */
import { StorageQuotaError } from '../errors.js';
import { describeModel } from '../model/loader.js';
import { createModelSource, type ModelSource, type ResumeOptions } from '../model/source.js';

/** The part of `navigator.storage` used here (injectable for tests). */
export type StorageLike = Partial<Pick<StorageManager, 'persist' | 'persisted' | 'estimate'>>;

const defaultStorage = (): StorageLike | undefined => (typeof navigator === 'undefined' ? undefined : navigator.storage);

let asked: Promise<boolean | null> | null = null;

/**
 * Asks once per page for persistent storage (`persisted()`, else `persist()`); later calls return the
 * first answer. Chromium grants it without a prompt to sites the user engages with (installed,
 * bookmarked, notifications), Firefox asks the user.
 * @returns true (persistent), false (refused: best effort), or null (no Storage API here, or it threw).
 */
export function requestPersistentStorage(storage: StorageLike | undefined = defaultStorage()): Promise<boolean | null> {
  asked ??= (async () => {
    if (!storage?.persist) return null;
    try {
      return (await storage.persisted?.()) || (await storage.persist());
    } catch {
      return null;
    }
  })();
  return asked;
}

/** Forgets the answer of {@link requestPersistentStorage} (tests). */
export function resetPersistentStorageRequest(): void {
  asked = null;
}

/** The page's sentence on the answer of {@link requestPersistentStorage}. */
export function describePersistence(persisted: boolean | null): string {
  if (persisted === true) return 'Storage: persistent. The browser keeps cached models until you clear them.';
  if (persisted === false) return 'Storage: not persistent (the browser did not grant it). It may evict cached models when the disk fills up; installing the app or bookmarking the page usually earns persistence.';
  return 'Storage: this browser does not say whether it keeps cached models (no Storage API).';
}

/** Files besides the weights that a load reads, counted when the folder has no manifest.json. */
const SMALL_FILES = ['config.json', 'generation_config.json', 'model.safetensors.index.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja'];

/**
 * Bytes the offline cache needs for the model in `src`: every file of its `manifest.json` when it
 * has one (the sizes listed there), else the weights as the loader knows them (the index's shards,
 * each sized by HEAD `Content-Length`) plus the other files a load reads that exist (HEAD).
 * @returns null when a size is unknown (no Content-Length).
 * @throws what describeModel throws (NetworkError, ModelFormatError, UnsupportedModelError).
 */
export async function folderBytes(src: ModelSource, signal?: AbortSignal): Promise<number | null> {
  const desc = await describeModel(src, signal);
  if (desc.manifest) return desc.manifest.reduce((s, e) => s + e.size, 0) + (desc.manifest.some((e) => e.path === 'manifest.json') ? 0 : (await src.size('manifest.json')) ?? 0);
  if (desc.totalBytes === null) return null;
  let total = desc.totalBytes;
  for (const name of SMALL_FILES) {
    if (!(await src.exists(name))) continue;
    const s = await src.size(name);
    if (s === null) return null;
    total += s;
  }
  return total;
}

/** Outcome of {@link checkStorageQuota}. */
export interface QuotaCheck {
  /** Bytes the model still needs in the cache (null: unknown, not checked). */
  neededBytes: number | null;
  /** quota − usage, or null when the browser gives no estimate. */
  availableBytes: number | null;
}

/**
 * Checks, before a model is downloaded into the offline cache, that the site's storage has room
 * for it: the folder's bytes ({@link folderBytes}, probed with `cache: 'no-store'` requests, which
 * the service worker does not keep), less `cachedBytes` already in the cache for it, against
 * `estimate()`'s quota − usage. Nothing is cached by the check.
 * @param folder the model folder URL (ending in `/`).
 * @param cachedBytes bytes of this folder already in the cache (they need no new room).
 * @throws StorageQuotaError naming needed and available bytes and what to do, when it does not fit;
 *   the errors of {@link folderBytes} when the folder cannot be read (a GatedModelError for a gated
 *   repository). `auth`: the Hugging Face token and the origins trusted with it (src/model/source.ts).
 */
export async function checkStorageQuota(folder: string, cachedBytes = 0, storage: StorageLike | undefined = defaultStorage(), signal?: AbortSignal, auth: Pick<ResumeOptions, 'hubToken' | 'hubTokenOrigins'> = {}): Promise<QuotaCheck> {
  const total = await folderBytes(createModelSource(folder, { ...auth, cache: 'no-store' }), signal);
  const neededBytes = total === null ? null : Math.max(0, total - cachedBytes);
  let est: StorageEstimate | undefined;
  try {
    est = await storage?.estimate?.();
  } catch {
    est = undefined;
  }
  if (!est || typeof est.quota !== 'number' || typeof est.usage !== 'number') return { neededBytes, availableBytes: null };
  const availableBytes = Math.max(0, est.quota - est.usage);
  if (neededBytes !== null && neededBytes > availableBytes) throw new StorageQuotaError(folder, neededBytes, est.quota, est.usage);
  return { neededBytes, availableBytes };
}
