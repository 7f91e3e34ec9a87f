/** Node cost cache: one JSON file per key under `dir` (default ~/.cache/msn-webgpu/cost). */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { CostTable } from '../decode/adaptive.js';
import type { CostCache } from './cost-cache.js';

export class FileCostCache implements CostCache {
  constructor(readonly dir = process.env.MSN_CACHE_DIR ?? join(homedir(), '.cache', 'msn-webgpu', 'cost')) {}
  #path(key: string): string {
    return join(this.dir, `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`);
  }
  async get(key: string): Promise<CostTable | null> {
    try {
      const j = JSON.parse(await readFile(this.#path(key), 'utf8')) as { key: string; table: CostTable };
      return j.key === key && Array.isArray(j.table?.sizes) ? j.table : null;
    } catch {
      return null;
    }
  }
  async set(key: string, table: CostTable): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeFile(this.#path(key), JSON.stringify({ key, table }));
  }
}
