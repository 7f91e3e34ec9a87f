/**
 * Node cost cache: one JSON file per key under `dir` (default `$MSN_CACHE_DIR`, else
 * ~/.cache/msn-webgpu/cost). A folder that cannot be used (below a regular file, not writable,
 * …) gives one console warning per cache and a memory-only cache; a corrupt file reads as missing
 * and is rewritten by the next `set` (written to a temporary file, then renamed into place).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { CostTable } from '../decode/adaptive.js';
import { isCostTable, MemoryCostCache, type CostCache } from './cost-cache.js';

export class FileCostCache implements CostCache {
  readonly #mem = new MemoryCostCache();
  #warned = false;

  constructor(readonly dir = process.env.MSN_CACHE_DIR || join(homedir(), '.cache', 'msn-webgpu', 'cost')) {}

  #path(key: string): string {
    return join(this.dir, `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`);
  }

  #warn(e: unknown): void {
    if (this.#warned) return;
    this.#warned = true;
    const err = e as NodeJS.ErrnoException;
    // Node's message already starts with the code ("ENOTDIR: not a directory, …").
    const what = err.code && !err.message?.startsWith(err.code) ? `${err.code}: ${err.message}` : err.message;
    console.warn(`msn-webgpu: cannot use the cost cache folder ${this.dir} (${what}); the adaptive tree's forward costs are kept in memory only. Set MSN_CACHE_DIR to a writable folder to keep them.`);
  }

  async get(key: string): Promise<CostTable | null> {
    let text: string;
    try {
      text = await readFile(this.#path(key), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.#warn(e);
      return this.#mem.get(key);
    }
    try {
      const j = JSON.parse(text) as { key?: unknown; table?: unknown };
      if (j.key === key && isCostTable(j.table)) return j.table;
    } catch {
      /* corrupt: read as missing; the next set rewrites it */
    }
    return this.#mem.get(key);
  }

  async set(key: string, table: CostTable): Promise<void> {
    await this.#mem.set(key, table);
    const path = this.#path(key);
    const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await mkdir(this.dir, { recursive: true });
      await writeFile(tmp, JSON.stringify({ key, table }));
      await rename(tmp, path);
    } catch (e) {
      this.#warn(e);
      await rm(tmp, { force: true }).catch(() => {});
    }
  }
}
