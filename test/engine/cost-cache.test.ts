// The adaptive tree's cost cache is best effort: an unusable folder (Node), IndexedDB in every state
// (absent, throwing, failing, blocked, slow, no store), a failing or hanging custom cache, and
// corrupt entries never fail or stall a generation; each cache warns once and keeps a memory copy.
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FileCostCache } from '../../src/engine/cost-cache-node.js';
import { IndexedDbCostCache, type CostCache } from '../../src/engine/cost-cache.js';
import { createNodeEngine } from '../../src/engine/node.js';
import type { Engine } from '../../src/engine/engine.js';
import type { CostTable } from '../../src/decode/adaptive.js';
import { fixturePath, golden } from '../helpers/fixtures.js';

const TABLE: CostTable = { sizes: [1, 2, 4], ms: [1.5, 1.7, 2.5] };
const dirs: string[] = [];
const engines: Engine[] = [];
afterAll(async () => {
  for (const e of engines) await e.dispose();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'msn-cost-test-'));
  dirs.push(d);
  return d;
}

/** A folder path below a regular file: every fs call on it fails with ENOTDIR. */
function belowAFile(): string {
  const file = join(tempDir(), 'a-file');
  writeFileSync(file, 'not a folder');
  return join(file, 'cost');
}

describe('FileCostCache (Node)', () => {
  it('below a regular file: no throw, one warning naming the folder, the table kept in memory', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const dir = belowAFile();
    const c = new FileCostCache(dir);
    expect(await c.get('k')).toBeNull();
    await c.set('k', TABLE);
    await c.set('k2', TABLE);
    expect(await c.get('k')).toEqual(TABLE);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0][0])).toContain(`cannot use the cost cache folder ${dir} (ENOTDIR`);
  });

  it('corrupt entries read as missing and are rewritten', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const dir = tempDir();
    await new FileCostCache(dir).set('k', TABLE);
    const [file] = readdirSync(dir);
    expect(readdirSync(dir)).toEqual([file]); // no temporary file left behind
    for (const junk of ['{"key": "k", "tab', '{"key": "k", "table": {"sizes": [1, 2], "ms": [1, "x"]}}', '{"key": "k", "table": {"sizes": [], "ms": []}}', 'null', '']) {
      writeFileSync(join(dir, file), junk);
      const c = new FileCostCache(dir);
      expect(await c.get('k')).toBeNull();
      await c.set('k', TABLE);
      expect(JSON.parse(readFileSync(join(dir, file), 'utf8'))).toEqual({ key: 'k', table: TABLE });
      expect(await new FileCostCache(dir).get('k')).toEqual(TABLE);
    }
    expect(warn).not.toHaveBeenCalled();
  });

  it('MSN_CACHE_DIR below a regular file: the CLI with default decoding prints the golden tokens and one warning', async () => {
    const g = golden('tiny-gqa-f32');
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['dist-node/cli.mjs', '--model', fixturePath('tiny-gqa-f32'), '--prompt', g.prompt_text, '--max-new-tokens', String(g.greedy_ids.length), '--json'],
      { env: { ...process.env, MSN_CACHE_DIR: belowAFile() }, timeout: 240_000 });
    const r = JSON.parse(stdout);
    expect(r.decode).toBe('tr-jacobi');
    expect(r.tree).toBe('adaptive');
    expect(r.tokenIds).toEqual(g.greedy_ids);
    const ours = stderr.trim().split('\n').filter((l) => !l.startsWith('Warning: max'));
    expect(ours).toEqual([expect.stringMatching(/^msn-webgpu: cannot use the cost cache folder .*a-file\/cost \(ENOTDIR: not a directory.*kept in memory only/)]);
  });
});

describe('the engine and a custom cost cache', () => {
  it('a cache whose get hangs and whose set fails: the generation completes with the golden tokens, one warning', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const g = golden('tiny-gqa-f32');
    const broken: CostCache = { get: () => new Promise(() => {}), set: async () => { throw new Error('quota exceeded'); } };
    const e = await createNodeEngine({ model: fixturePath('tiny-gqa-f32'), contextLength: 64, inline: true, costCache: broken });
    engines.push(e);
    const res = await e.complete(g.prompt_text, { maxNewTokens: g.greedy_ids.length });
    expect(res.tree).toBe('adaptive');
    expect(res.tokenIds).toEqual(g.greedy_ids);
    expect(e.adaptive!.cost.sizes[0]).toBe(1);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0][0])).toMatch(/cost cache failed \(quota exceeded\)/);
  });

  it('the generation does not wait on the cache\'s write: a set that never settles does not hold up prefill', async () => {
    const g = golden('tiny-gqa-f32');
    let setAt = 0;
    const hanging: CostCache = { get: async () => null, set: () => { setAt = performance.now(); return new Promise(() => {}); } };
    const e = await createNodeEngine({ model: fixturePath('tiny-gqa-f32'), contextLength: 64, inline: true, costCache: hanging });
    engines.push(e);
    let prefillAt = 0;
    const res = await e.complete(g.prompt_text, { maxNewTokens: g.greedy_ids.length, onPhase: (p) => { if (p === 'prefill') prefillAt = performance.now(); } });
    expect(res.tokenIds).toEqual(g.greedy_ids);
    expect(setAt).toBeGreaterThan(0);
    // Only synchronous work lies between the two; waiting on the write would cost the 250 ms deadline.
    expect(prefillAt - setAt).toBeLessThan(200);
  });

  it('a cached corrupt table is ignored (measured again) instead of breaking the adaptive tree', async () => {
    const g = golden('tiny-gqa-f32');
    const corrupt: CostCache = { get: async () => ({ sizes: [1, 2], ms: [Number.NaN, 3] }), set: async () => {} };
    const e = await createNodeEngine({ model: fixturePath('tiny-gqa-f32'), contextLength: 64, inline: true, costCache: corrupt });
    engines.push(e);
    const res = await e.complete(g.prompt_text, { maxNewTokens: g.greedy_ids.length });
    expect(res.tokenIds).toEqual(g.greedy_ids);
    expect(e.adaptive!.cost.ms.every((m) => Number.isFinite(m) && m > 0)).toBe(true);
  });
});

// -- IndexedDB fakes: just enough of IDBFactory for IndexedDbCostCache, events fired by timers --------

type Mode = 'ok' | 'open-throws' | 'open-error' | 'blocked' | 'upgrade-error' | 'slow' | 'no-store';

/** A fake `indexedDB` whose `open` behaves as `mode`; `data` is the object store's content. */
function fakeIndexedDb(mode: Mode, data = new Map<string, unknown>(), slowMs = 5000) {
  const fire = (f: (() => void) | null | undefined, ms = 1) => setTimeout(() => f?.(), ms);
  const db = {
    onversionchange: null as (() => void) | null,
    close() {},
    createObjectStore() {
      if (mode === 'upgrade-error') throw new DOMException('disk full', 'QuotaExceededError');
      return {};
    },
    transaction(_name: string, _mode: string) {
      if (mode === 'no-store') throw new DOMException('One of the specified object stores was not found.', 'NotFoundError');
      const tx = { oncomplete: null as (() => void) | null, onerror: null, onabort: null, error: null, objectStore: () => store };
      const store = {
        transaction: tx,
        get(key: string) {
          const r = { onsuccess: null as (() => void) | null, onerror: null, result: data.get(key), error: null };
          fire(() => r.onsuccess?.());
          return r;
        },
        put(value: unknown, key: string) {
          data.set(key, value);
          fire(() => tx.oncomplete?.());
        },
      };
      return tx;
    },
  };
  return {
    data,
    open(_name: string, _version: number) {
      if (mode === 'open-throws') throw new DOMException('The user denied permission to access the database.', 'SecurityError');
      const req = { onsuccess: null as (() => void) | null, onerror: null as (() => void) | null, onblocked: null as (() => void) | null, onupgradeneeded: null as (() => void) | null, result: db, error: null as DOMException | null };
      if (mode === 'open-error') fire(() => { req.error = new DOMException('Internal error opening backing store', 'UnknownError'); req.onerror?.(); });
      else if (mode === 'blocked') fire(() => req.onblocked?.());
      else if (mode === 'upgrade-error') fire(() => {
        req.onupgradeneeded?.();
        req.error = new DOMException('The upgrade transaction was aborted.', 'AbortError');
        req.onerror?.();
      });
      else fire(() => { req.onupgradeneeded?.(); req.onsuccess?.(); }, mode === 'slow' ? slowMs : 1);
      return req;
    },
  };
}

/** Runs `p` under fake timers: whether it settled within `ms` of fake time, and its value. */
async function within<T>(p: Promise<T>, ms: number): Promise<{ settled: boolean; value?: T }> {
  let out: { settled: boolean; value?: T } = { settled: false };
  void p.then((value) => { out = { settled: true, value }; });
  await vi.advanceTimersByTimeAsync(ms);
  return out;
}

describe('IndexedDbCostCache (browser states, fake indexedDB)', () => {
  for (const mode of ['absent', 'open-throws', 'open-error', 'blocked', 'upgrade-error', 'slow', 'no-store'] as const) {
    it(`${mode}: get and set answer within 250 ms, from memory, with one warning`, async () => {
      vi.useFakeTimers();
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
      vi.stubGlobal('indexedDB', mode === 'absent' ? undefined : fakeIndexedDb(mode));
      const c = new IndexedDbCostCache();
      expect(await within(c.get('k'), 250)).toEqual({ settled: true, value: null });
      expect((await within(c.set('k', TABLE), 250)).settled).toBe(true);
      expect(await within(c.get('k'), 250)).toEqual({ settled: true, value: TABLE });
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toMatch(/^msn-webgpu: IndexedDB .*kept in memory only/);
    });
  }

  it('slow: once the open finishes, the table written meanwhile is stored and read back', async () => {
    vi.useFakeTimers();
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const idb = fakeIndexedDb('slow');
    vi.stubGlobal('indexedDB', idb);
    const c = new IndexedDbCostCache();
    await within(c.set('k', TABLE), 250);
    await vi.advanceTimersByTimeAsync(5000);
    expect(idb.data.get('k')).toEqual(TABLE);
    // The next session (a fast open of the same database) reads it.
    vi.stubGlobal('indexedDB', fakeIndexedDb('ok', idb.data));
    expect(await within(new IndexedDbCostCache().get('k'), 250)).toEqual({ settled: true, value: TABLE });
  });

  it('working IndexedDB: a round trip without warnings; a corrupt entry reads as missing and is rewritten', async () => {
    vi.useFakeTimers();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const idb = fakeIndexedDb('ok');
    vi.stubGlobal('indexedDB', idb);
    await within(new IndexedDbCostCache().set('k', TABLE), 250);
    expect(await within(new IndexedDbCostCache().get('k'), 250)).toEqual({ settled: true, value: TABLE });
    idb.data.set('k', { sizes: 'garbage' });
    const c = new IndexedDbCostCache();
    expect(await within(c.get('k'), 250)).toEqual({ settled: true, value: null });
    await within(c.set('k', TABLE), 250);
    expect(idb.data.get('k')).toEqual(TABLE);
    expect(warn).not.toHaveBeenCalled();
  });
});
