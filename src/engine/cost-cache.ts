/**
 * Where the adaptive tree's forward-cost table is kept between sessions, per (adapter, model):
 * IndexedDB in browsers, a JSON file per key under a cache folder in Node (cost-cache-node.ts).
 */
import type { CostTable } from '../decode/adaptive.js';
import type { ModelInfo } from '../worker/api.js';

export interface CostCache {
  get(key: string): Promise<CostTable | null>;
  set(key: string, table: CostTable): Promise<void>;
}

/** Cache key: adapter identity + the model's shape (weights format included). */
export function costKey(info: ModelInfo, model: string): string {
  const a = info.adapter;
  const c = info.config;
  return [a.vendor, a.architecture, a.device, a.description, model, c.hiddenSize, c.numLayers, c.numHeads, c.numKvHeads, c.headDim, c.intermediateSize, c.vocabSize, info.weightFormats.join('+'), info.maxRows].join('|');
}

/** In-memory cache (tests, or when nothing persistent is available). */
export class MemoryCostCache implements CostCache {
  readonly map = new Map<string, CostTable>();
  async get(key: string) { return this.map.get(key) ?? null; }
  async set(key: string, t: CostTable) { this.map.set(key, t); }
}

/** IndexedDB-backed cache (browser main thread). Falls back to memory when IndexedDB fails. */
export class IndexedDbCostCache implements CostCache {
  #db: Promise<IDBDatabase> | null = null;
  readonly #mem = new MemoryCostCache();
  #open(): Promise<IDBDatabase> {
    this.#db ??= new Promise((resolve, reject) => {
      const req = indexedDB.open('msn-webgpu', 1);
      req.onupgradeneeded = () => req.result.createObjectStore('cost');
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    return this.#db;
  }
  async get(key: string): Promise<CostTable | null> {
    try {
      const db = await this.#open();
      return await new Promise((resolve, reject) => {
        const r = db.transaction('cost').objectStore('cost').get(key);
        r.onsuccess = () => resolve((r.result as CostTable) ?? null);
        r.onerror = () => reject(r.error);
      });
    } catch {
      return this.#mem.get(key);
    }
  }
  async set(key: string, table: CostTable): Promise<void> {
    await this.#mem.set(key, table);
    try {
      const db = await this.#open();
      await new Promise<void>((resolve, reject) => {
        const tx = db.transaction('cost', 'readwrite');
        tx.objectStore('cost').put(table, key);
        tx.oncomplete = () => resolve();
        tx.onerror = () => reject(tx.error);
      });
    } catch {
      /* memory copy kept */
    }
  }
}
