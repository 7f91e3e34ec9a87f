// Room for a model before it is cached: the quota check (StorageQuotaError with the numbers) and
// persistent storage asked once. The folder's bytes come from what the loader knows: manifest.json
// sizes, else the weights' and the other files' HEAD content-lengths.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { checkStorageQuota, describePersistence, folderBytes, requestPersistentStorage, resetPersistentStorageRequest, type StorageLike } from '../../src/app/storage.js';
import { createModelSource } from '../../src/model/source.js';
import { ERROR_CLASSES, StorageQuotaError } from '../../src/errors.js';
import { fixturePath } from '../helpers/fixtures.js';
import { serveModel, type ModelServer } from '../helpers/http-model.js';

const DIR = fixturePath('tiny-gqa-f32');
/** Every file a load of the fixture reads (golden.json is the tests' own). */
const READ = ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
const BYTES = READ.reduce((s, f) => s + statSync(join(DIR, f)).size, 0);

const estimate = (quota: number, usage: number): StorageLike => ({ estimate: async () => ({ quota, usage }) });

describe('the storage check before caching a model', () => {
  let srv: ModelServer;
  let base: string;
  beforeAll(async () => {
    srv = await serveModel(DIR);
    base = `${srv.origin}/m/`;
  });
  afterEach(() => {
    srv.faults.clear();
    srv.log.length = 0;
  });
  afterAll(() => srv.close());

  it('the folder\'s bytes: the files a load reads, sized without downloading the weights', async () => {
    expect(await folderBytes(createModelSource(base))).toBe(BYTES);
    expect(srv.log.filter((l) => l.startsWith('GET')), 'only small JSON files are read').toEqual(['GET /m/config.json', 'GET /m/generation_config.json']);
  });

  it('with manifest.json: the sizes it lists (plus its own)', async () => {
    const config = statSync(join(DIR, 'config.json')).size;
    const manifest = JSON.stringify({ files: [{ path: 'model.safetensors', size: 4_500_000_000 }, { path: 'config.json', size: config }] });
    srv.faults.set('manifest.json', (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(manifest.length) });
      res.end(req.method === 'HEAD' ? undefined : manifest);
    });
    expect(await folderBytes(createModelSource(base))).toBe(4_500_000_000 + config + manifest.length);
  });

  it('too little room: StorageQuotaError naming needed and available bytes and what to do', async () => {
    const quota = BYTES + 5000;
    const usage = 6000;
    const e = await checkStorageQuota(base, 0, estimate(quota, usage)).then(() => null, (x: Error) => x);
    expect(e).toBeInstanceOf(StorageQuotaError);
    expect((e as StorageQuotaError).detail).toEqual({ folder: base, neededBytes: BYTES, availableBytes: BYTES - 1000, quotaBytes: quota, usageBytes: usage });
    expect(e!.message).toContain(`it needs ${BYTES} bytes`);
    expect(e!.message).toContain(`but only ${BYTES - 1000} bytes`);
    expect(e!.message).toMatch(/persistent storage.*q4 model.*Open folder….*Load without caching/);
    expect(ERROR_CLASSES.StorageQuotaError, 'rebuilt across the worker boundary').toBe(StorageQuotaError);
    expect(srv.log.filter((l) => l === 'GET /m/model.safetensors'), 'no weight byte was fetched').toEqual([]);
  });

  it('enough room, or room once the bytes already cached are counted: the numbers, no error', async () => {
    expect(await checkStorageQuota(base, 0, estimate(BYTES + 100, 100))).toEqual({ neededBytes: BYTES, availableBytes: BYTES });
    expect(await checkStorageQuota(base, 2000, estimate(BYTES, 0 + 1000))).toEqual({ neededBytes: BYTES - 2000, availableBytes: BYTES - 1000 });
  });

  it('no Storage API, or an estimate that throws: not checked (availableBytes null), the load goes on', async () => {
    expect(await checkStorageQuota(base, 0, undefined)).toEqual({ neededBytes: BYTES, availableBytes: null });
    expect(await checkStorageQuota(base, 0, { estimate: async () => { throw new Error('no'); } })).toEqual({ neededBytes: BYTES, availableBytes: null });
  });

  it('the probe asks with cache: no-store, which the service worker does not keep', async () => {
    const seen: Array<RequestCache | undefined> = [];
    const real = globalThis.fetch;
    vi.stubGlobal('fetch', vi.fn((u: string, init?: RequestInit) => {
      seen.push(init?.cache);
      return real(u, init);
    }));
    try {
      await checkStorageQuota(base, 0, estimate(1e12, 0));
    } finally {
      vi.unstubAllGlobals();
    }
    expect(seen.length).toBeGreaterThan(5);
    expect(new Set(seen)).toEqual(new Set(['no-store']));
    expect(readFileSync(join(DIR, 'config.json')).length).toBeGreaterThan(0);
  });
});

describe('persistent storage', () => {
  beforeEach(() => resetPersistentStorageRequest());

  it('is asked once per page: persisted() first, then persist(); later calls get the first answer', async () => {
    const persist = vi.fn(async () => true);
    const persisted = vi.fn(async () => false);
    expect(await requestPersistentStorage({ persist, persisted })).toBe(true);
    expect(await requestPersistentStorage({ persist, persisted })).toBe(true);
    expect(persist).toHaveBeenCalledTimes(1);
    expect(persisted).toHaveBeenCalledTimes(1);
  });

  it('already persisted: persist() is not called; refused: false; no API or a throw: null', async () => {
    const persist = vi.fn(async () => false);
    expect(await requestPersistentStorage({ persist, persisted: async () => true })).toBe(true);
    expect(persist).not.toHaveBeenCalled();
    resetPersistentStorageRequest();
    expect(await requestPersistentStorage({ persist, persisted: async () => false })).toBe(false);
    resetPersistentStorageRequest();
    expect(await requestPersistentStorage({})).toBeNull();
    resetPersistentStorageRequest();
    expect(await requestPersistentStorage({ persist: async () => { throw new Error('x'); } })).toBeNull();
    expect(describePersistence(true)).toMatch(/^Storage: persistent\./);
    expect(describePersistence(false)).toMatch(/^Storage: not persistent/);
    expect(describePersistence(null)).toMatch(/does not say/);
  });
});
