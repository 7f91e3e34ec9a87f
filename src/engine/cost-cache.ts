/**
 * Where the adaptive tree's forward-cost table is kept between sessions, per (adapter, model, kernel configuration):
 * IndexedDB in browsers, a JSON file per key under a cache folder in Node (cost-cache-node.ts).
 * The cache is an optimisation only: a cache that is missing, broken, blocked or slow costs a new
 * probe, never a failed or stalled generation. Both persistent caches keep a memory copy, never
 * throw, and warn once (console.warn) when they cannot persist.
 */
import type { CostTable } from '../decode/adaptive.js';
import type { ModelInfo } from '../worker/api.js';

export interface CostCache {
  get(key: string): Promise<CostTable | null>;
  set(key: string, table: CostTable): Promise<void>;
}

/**
 * Cache key: adapter identity + the model's shape (weights format included) + the kernel
 * configuration (`ModelInfo.kernelConfig.key`): the `gpu` and `cpu` configurations of one adapter
 * have different forward costs, so each gets its own entry.
 */
export function costKey(info: ModelInfo, model: string): string {
  const a = info.adapter;
  const c = info.config;
  return [a.vendor, a.architecture, a.device, a.description, model, c.hiddenSize, c.numLayers, c.numHeads, c.numKvHeads, c.headDim, c.intermediateSize, c.vocabSize, info.weightFormats.join('+'), info.maxRows, info.kernelConfig.key].join('|');
}

/**
 * Whether `x` is a usable {@link CostTable}: `sizes` (ascending positive integers) and `ms` (finite
 * positive) of the same non-zero length. Anything else read from a cache is a corrupt entry.
 */
export function isCostTable(x: unknown): x is CostTable {
  const t = x as CostTable | null;
  if (!t || !Array.isArray(t.sizes) || !Array.isArray(t.ms) || t.sizes.length === 0 || t.sizes.length !== t.ms.length) return false;
  return t.sizes.every((s, i) => Number.isInteger(s) && s > 0 && (i === 0 || s > t.sizes[i - 1]))
    && t.ms.every((m) => typeof m === 'number' && Number.isFinite(m) && m > 0);
}

/** In-memory cache (tests, or when nothing persistent is available). */
export class MemoryCostCache implements CostCache {
  readonly map = new Map<string, CostTable>();
  async get(key: string) { return this.map.get(key) ?? null; }
  async set(key: string, t: CostTable) { this.map.set(key, t); }
}

/** Longest wait of {@link IndexedDbCostCache} on IndexedDB per call, in ms (then: memory). */
export const IDB_WAIT_MS = 250;

/**
 * IndexedDB-backed cache (browser main thread), database `msn-webgpu`, store `cost`. Works in every
 * state IndexedDB can be in: absent, `open()` throwing, an open that fails or is `blocked`, an
 * upgrade that fails, a missing store, slow: a call waits at most {@link IDB_WAIT_MS} for IndexedDB,
 * then answers from memory (a slow open is still used once it succeeds). Corrupt entries read as
 * missing, so the next `set` rewrites them.
 */
export class IndexedDbCostCache implements CostCache {
  /** Resolves with the database, or null when IndexedDB is unusable; never rejects. */
  #db: Promise<IDBDatabase | null> | null = null;
  readonly #mem = new MemoryCostCache();
  #warned = false;

  /**
   * @param factory The IndexedDB factory (default `globalThis.indexedDB`; tests pass fakes).
   * @param waitMs Longest wait on IndexedDB per call, ms.
   */
  constructor(readonly factory: () => IDBFactory | undefined = () => globalThis.indexedDB, readonly waitMs = IDB_WAIT_MS) {}

  #warn(what: string): void {
    if (this.#warned) return;
    this.#warned = true;
    console.warn(`msn-webgpu: IndexedDB ${what}; the adaptive tree's forward costs are kept in memory only for now.`);
  }

  #open(): Promise<IDBDatabase | null> {
    this.#db ??= new Promise<IDBDatabase | null>((resolve) => {
      let req: IDBOpenDBRequest;
      try {
        const f = this.factory();
        if (!f) throw new Error('is not available here');
        req = f.open('msn-webgpu', 1);
      } catch (e) {
        this.#warn(`cannot be opened (${(e as Error).message})`);
        resolve(null);
        return;
      }
      req.onupgradeneeded = () => {
        try {
          req.result.createObjectStore('cost');
        } catch (e) {
          this.#warn(`could not create its store (${(e as Error).message})`);
        }
      };
      req.onsuccess = () => {
        const db = req.result;
        db.onversionchange = () => db.close(); // never block another tab's upgrade
        resolve(db);
      };
      req.onerror = () => {
        this.#warn(`failed to open (${req.error?.message ?? 'unknown error'})`);
        resolve(null);
      };
      // `blocked`: another tab holds an older version open; the open may still succeed later.
      req.onblocked = () => this.#warn('is blocked by another tab');
    });
    return this.#db;
  }

  /** `op` on the store, or `fallback` when IndexedDB is unusable or slower than `waitMs`. */
  async #withStore<T>(mode: IDBTransactionMode, op: (store: IDBObjectStore, done: (v: T) => void, fail: (e: unknown) => void) => void, fallback: T): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<T>((r) => {
      timer = setTimeout(() => {
        this.#warn(`did not answer within ${this.waitMs} ms`);
        r(fallback);
      }, this.waitMs);
    });
    const work = this.#open().then((db) => db === null ? fallback : new Promise<T>((resolve, reject) => {
      op(db.transaction('cost', mode).objectStore('cost'), resolve, reject);
    })).catch((e: unknown) => {
      this.#warn(`failed (${(e as Error)?.message ?? String(e)})`);
      return fallback;
    });
    try {
      return await Promise.race([work, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async get(key: string): Promise<CostTable | null> {
    const stored = await this.#withStore<unknown>('readonly', (store, done, fail) => {
      const r = store.get(key);
      r.onsuccess = () => done(r.result);
      r.onerror = () => fail(r.error);
    }, null);
    return isCostTable(stored) ? stored : this.#mem.get(key);
  }

  async set(key: string, table: CostTable): Promise<void> {
    await this.#mem.set(key, table);
    await this.#withStore<void>('readwrite', (store, done, fail) => {
      const tx = store.transaction;
      store.put(table, key);
      tx.oncomplete = () => done();
      tx.onerror = () => fail(tx.error);
      tx.onabort = () => fail(tx.error ?? new Error('transaction aborted'));
    }, undefined);
  }
}
