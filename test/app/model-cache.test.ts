// Whole-or-nothing model caching (src/app/model-cache.ts) on an in-memory Cache: the audit that
// decides whether a loaded model is cached whole, the record check behind "Cached for offline use",
// eviction, and the safetensors size rule, on the fixture models' real files.
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { auditFolder, evictFailedLoad, evictFolder, listFolders, recordUrl, safetensorsSize, verifyRecord, writeRecord } from '../../src/app/model-cache.js';
import { ModelFormatError } from '../../src/errors.js';
import { FakeCache } from '../helpers/fake-cache.js';
import { fixturePath } from '../helpers/fixtures.js';

const BASE = 'https://example.test/models/';

/** The tests' own files in a fixture folder (golden.json, golden-q4.json, …): no load reads them. */
const isGolden = (f: string) => /^golden.*\.json$/.test(f);

/** The fixture's files (the tests' golden*.json excepted) cached under BASE/<name>/; returns the folder URL. */
function cacheFixture(cache: FakeCache, name: string, skip: string[] = []): string {
  const folder = `${BASE}${name}/`;
  for (const f of readdirSync(fixturePath(name))) if (!isGolden(f) && !skip.includes(f)) cache.set(folder + f, readFileSync(join(fixturePath(name), f)));
  return folder;
}

const files = (name: string) => readdirSync(fixturePath(name)).filter((f) => !isGolden(f));
const size = (name: string, f: string) => statSync(join(fixturePath(name), f)).size;
const asCache = (c: FakeCache) => c as unknown as Cache;

describe('auditFolder', () => {
  it('a whole model: every file with its size', async () => {
    const cache = new FakeCache();
    const folder = cacheFixture(cache, 'tiny-gqa-f32');
    const audit = await auditFolder(asCache(cache), folder, files('tiny-gqa-f32'));
    expect(audit).toEqual({ ok: true, files: Object.fromEntries(files('tiny-gqa-f32').sort().map((f) => [f, size('tiny-gqa-f32', f)])), bytes: files('tiny-gqa-f32').reduce((n, f) => n + size('tiny-gqa-f32', f), 0) });
  });

  it('a file the load read but the cache lacks (the write failed) makes it not whole', async () => {
    const cache = new FakeCache();
    const folder = cacheFixture(cache, 'tiny-gqa-f32', ['generation_config.json']);
    expect(await auditFolder(asCache(cache), folder, files('tiny-gqa-f32'))).toEqual({ ok: false, reason: 'generation_config.json is not in the cache' });
  });

  it('the weights are required even when the load record is lost (service worker restarted)', async () => {
    const cache = new FakeCache();
    const folder = cacheFixture(cache, 'tiny-gqa-f32', ['model.safetensors']);
    expect(await auditFolder(asCache(cache), folder, [])).toEqual({ ok: false, reason: 'model.safetensors is not in the cache' });
    const bare = new FakeCache();
    expect(await auditFolder(asCache(bare), `${BASE}x/`, [])).toEqual({ ok: false, reason: 'config.json is not in the cache' });
  });

  it('every shard of model.safetensors.index.json is required', async () => {
    const name = 'tiny-llama3-bf16-sharded';
    const cache = new FakeCache();
    const folder = cacheFixture(cache, name, ['model-00002-of-00003.safetensors']);
    expect(await auditFolder(asCache(cache), folder, ['config.json', 'model.safetensors.index.json'])).toEqual({ ok: false, reason: 'model-00002-of-00003.safetensors is not in the cache' });
    cache.set(`${folder}model-00002-of-00003.safetensors`, readFileSync(join(fixturePath(name), 'model-00002-of-00003.safetensors')));
    const ok = await auditFolder(asCache(cache), folder, ['config.json', 'model.safetensors.index.json']);
    expect(ok.ok && Object.keys(ok.files).sort()).toEqual(['config.json', 'model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors', 'model.safetensors.index.json']);
  });

  it('a body shorter than its response announced is not whole', async () => {
    const cache = new FakeCache();
    const folder = cacheFixture(cache, 'tiny-gqa-f32');
    const full = readFileSync(join(fixturePath('tiny-gqa-f32'), 'tokenizer.json'));
    cache.set(`${folder}tokenizer.json`, full.subarray(0, 100), { 'content-length': String(full.length) });
    expect(await auditFolder(asCache(cache), folder, files('tiny-gqa-f32'))).toEqual({ ok: false, reason: `tokenizer.json has 100 bytes in the cache, but its response announced ${full.length}` });
  });

  it('a truncated safetensors body with no length header is caught by its header', async () => {
    const cache = new FakeCache();
    const folder = cacheFixture(cache, 'tiny-gqa-f32');
    const full = readFileSync(join(fixturePath('tiny-gqa-f32'), 'model.safetensors'));
    const cut = full.subarray(0, full.length - 4);
    cache.entries.set(`${folder}model.safetensors`, { body: cut, init: { status: 200, headers: {} } });
    expect(await auditFolder(asCache(cache), folder, files('tiny-gqa-f32'))).toEqual({ ok: false, reason: `model.safetensors has ${cut.length} bytes in the cache, but its safetensors header describes ${full.length}` });
    cache.entries.set(`${folder}model.safetensors`, { body: full.subarray(0, 20), init: { status: 200, headers: {} } });
    const audit = await auditFolder(asCache(cache), folder, files('tiny-gqa-f32'));
    expect(audit.ok === false && audit.reason).toMatch(/^model\.safetensors: truncated inside the header \(20 bytes, the header ends at \d+\)$/);
  });

  it('a compressed cross-origin model (Content-Length counts the gzip bytes, Content-Encoding hidden by CORS) is whole: its decoded bodies decide', async () => {
    // What the service worker stores from another origin that gzips its files: type "cors", the
    // compressed Content-Length, no visible Content-Encoding, and the decoded body.
    const name = 'tiny-gqa-f32';
    const cache = new FakeCache();
    const folder = `${BASE}${name}/`;
    for (const f of files(name)) {
      const body = readFileSync(join(fixturePath(name), f));
      cache.set(folder + f, body, { 'content-length': String(gzipSync(body).length) }, 'cors');
    }
    const audit = await auditFolder(asCache(cache), folder, files(name));
    expect(audit).toEqual({ ok: true, files: Object.fromEntries(files(name).sort().map((f) => [f, size(name, f)])), bytes: files(name).reduce((n, f) => n + size(name, f), 0) });
    // The rule still holds where Content-Length is the body's length (same origin, not encoded).
    const body = readFileSync(join(fixturePath(name), 'config.json'));
    cache.set(`${folder}config.json`, body, { 'content-length': String(gzipSync(body).length) }, 'basic');
    expect(await auditFolder(asCache(cache), folder, files(name))).toEqual({ ok: false, reason: `config.json has ${body.length} bytes in the cache, but its response announced ${gzipSync(body).length}` });
  });

  it('a cut JSON file whose length no header tells (gzip, or another origin) is not whole: it must parse', async () => {
    const full = readFileSync(join(fixturePath('tiny-gqa-f32'), 'tokenizer.json'));
    for (const [headers, type] of [[{ 'content-encoding': 'gzip', 'content-length': '90' }, 'basic'], [{ 'content-length': '90' }, 'cors'], [{}, undefined]] as const) {
      const cache = new FakeCache();
      const folder = cacheFixture(cache, 'tiny-gqa-f32');
      cache.entries.set(`${folder}tokenizer.json`, { body: full.subarray(0, 100), init: { status: 200, headers }, type });
      expect(await auditFolder(asCache(cache), folder, files('tiny-gqa-f32'))).toEqual({ ok: false, reason: 'tokenizer.json in the cache is not valid JSON' });
    }
  });

  it('manifest.json sizes are checked', async () => {
    const cache = new FakeCache();
    const folder = cacheFixture(cache, 'tiny-gqa-f32');
    cache.set(`${folder}manifest.json`, JSON.stringify({ files: [{ path: 'config.json', size: size('tiny-gqa-f32', 'config.json') + 1 }] }));
    expect(await auditFolder(asCache(cache), folder, ['config.json'])).toEqual({ ok: false, reason: `config.json has ${size('tiny-gqa-f32', 'config.json')} bytes in the cache, but manifest.json lists ${size('tiny-gqa-f32', 'config.json') + 1}` });
  });
});

describe('records, listing, eviction', () => {
  it('a recorded model is listed whole until a file is cut or removed', async () => {
    const cache = new FakeCache();
    const a = cacheFixture(cache, 'tiny-gqa-f32');
    const b = cacheFixture(cache, 'tiny-mha-tied-f16');
    const audit = await auditFolder(asCache(cache), a, files('tiny-gqa-f32'));
    if (!audit.ok) throw new Error(audit.reason);
    await writeRecord(asCache(cache), a, audit.files);
    expect(await verifyRecord(asCache(cache), a)).toEqual({ ok: true, files: audit.files, bytes: audit.bytes });
    expect(await verifyRecord(asCache(cache), b)).toBeNull();
    let list = await listFolders(asCache(cache));
    expect(list).toEqual([
      { folder: a, complete: true, files: 5, bytes: audit.bytes },
      { folder: b, complete: false, files: 5, bytes: files('tiny-mha-tied-f16').reduce((n, f) => n + size('tiny-mha-tied-f16', f), 0), reason: 'not every file of the model is cached' },
    ]);
    // Truncated in place (headers kept): no longer whole.
    const w = readFileSync(join(fixturePath('tiny-gqa-f32'), 'model.safetensors'));
    cache.set(`${a}model.safetensors`, w.subarray(0, 1000), { 'content-length': String(w.length) });
    expect(await verifyRecord(asCache(cache), a)).toEqual({ ok: false, reason: `model.safetensors has 1000 of its ${w.length} bytes in the cache` });
    await cache.delete(`${a}model.safetensors`);
    list = await listFolders(asCache(cache));
    expect(list[0]).toMatchObject({ folder: a, complete: false, files: 4, reason: 'model.safetensors is no longer in the cache' });
  });

  it('evictFolder removes the folder\'s files and record, nothing else', async () => {
    const cache = new FakeCache();
    const a = cacheFixture(cache, 'tiny-gqa-f32');
    const b = cacheFixture(cache, 'tiny-mha-tied-f16');
    await writeRecord(asCache(cache), a, { 'config.json': 1 });
    expect(await evictFolder(asCache(cache), a)).toBe(6);
    expect(await cache.match(recordUrl(a))).toBeUndefined();
    expect((await cache.keys()).map((r) => r.url).every((u) => u.startsWith(b))).toBe(true);
    expect((await cache.keys()).length).toBe(5);
  });
});

describe('after a failed load', () => {
  it('nothing of an unrecorded folder stays: every entry of it is evicted (whole or not at all)', async () => {
    const cache = new FakeCache();
    const a = cacheFixture(cache, 'tiny-gqa-f32', ['tokenizer.json']);
    const b = cacheFixture(cache, 'tiny-mha-tied-f16');
    expect(await evictFailedLoad(asCache(cache), a)).toEqual({ evicted: 4, kept: null });
    expect((await cache.keys()).map((r) => r.url).filter((u) => u.startsWith(a))).toEqual([]);
    expect((await cache.keys()).map((r) => r.url).filter((u) => u.startsWith(b))).toHaveLength(5);
  });

  it('a recorded model that is still whole stays (the failure did not touch it); only the files its record does not list go', async () => {
    const cache = new FakeCache();
    const a = cacheFixture(cache, 'tiny-gqa-f32');
    const audit = await auditFolder(asCache(cache), a, files('tiny-gqa-f32'));
    if (!audit.ok) throw new Error(audit.reason);
    await writeRecord(asCache(cache), a, audit.files);
    cache.set(`${a}chat_template.jinja`, '{{ messages }}'); // fetched by the failed load, not part of the recorded model
    expect(await evictFailedLoad(asCache(cache), a)).toEqual({ evicted: 1, kept: { ok: true, files: audit.files, bytes: audit.bytes } });
    expect((await cache.keys()).map((r) => r.url).sort()).toEqual([...files('tiny-gqa-f32').map((f) => a + f), recordUrl(a)].sort());
  });

  it('a recorded model the failure touched (a file evicted or cut) goes whole, record included', async () => {
    for (const damage of ['evicted', 'cut'] as const) {
      const cache = new FakeCache();
      const a = cacheFixture(cache, 'tiny-gqa-f32');
      const audit = await auditFolder(asCache(cache), a, files('tiny-gqa-f32'));
      if (!audit.ok) throw new Error(audit.reason);
      await writeRecord(asCache(cache), a, audit.files);
      if (damage === 'evicted') await cache.delete(`${a}config.json`);
      else cache.set(`${a}config.json`, '{"a":');
      expect(await evictFailedLoad(asCache(cache), a)).toEqual({ evicted: damage === 'evicted' ? 5 : 6, kept: null });
      expect(await cache.keys()).toEqual([]);
    }
  });

  it('a model recorded in a sub-folder is its own model: evicting the parent folder keeps it', async () => {
    const cache = new FakeCache();
    const parent = cacheFixture(cache, 'tiny-gqa-f32');
    const child = `${parent}sub/`;
    for (const f of files('tiny-mha-tied-f16')) cache.set(child + f, readFileSync(join(fixturePath('tiny-mha-tied-f16'), f)));
    const audit = await auditFolder(asCache(cache), child, files('tiny-mha-tied-f16'));
    if (!audit.ok) throw new Error(audit.reason);
    await writeRecord(asCache(cache), child, audit.files);
    cache.set(`${parent}shards/model-00001-of-00002.safetensors`, new Uint8Array(8)); // an unrecorded sub-folder: the parent's own files
    expect(await evictFailedLoad(asCache(cache), parent)).toEqual({ evicted: 6, kept: null });
    expect(await evictFolder(asCache(cache), parent)).toBe(0);
    expect(await verifyRecord(asCache(cache), child)).toEqual({ ok: true, files: audit.files, bytes: audit.bytes });
    expect((await cache.keys()).length).toBe(6);
  });
});

describe('safetensorsSize', () => {
  it('is the file size for every fixture weights file, from the header alone', async () => {
    for (const name of ['tiny-gqa-f32', 'tiny-mha-tied-f16', 'tiny-gqa-f16-untied']) {
      const bytes = readFileSync(join(fixturePath(name), 'model.safetensors'));
      expect(await safetensorsSize(new Blob([bytes.subarray(0, 8 + Number(bytes.readBigUInt64LE(0)))]), 'model.safetensors')).toBe(bytes.length);
    }
  });
  it('a malformed header is a ModelFormatError naming the file', async () => {
    await expect(safetensorsSize(new Blob([new Uint8Array(3)]), 'w.safetensors')).rejects.toThrow(ModelFormatError);
    const h = new TextEncoder().encode('{"a": 1}');
    const b = new Uint8Array(8 + h.length);
    new DataView(b.buffer).setUint32(0, h.length, true);
    b.set(h, 8);
    await expect(safetensorsSize(new Blob([b]), 'w.safetensors')).rejects.toThrow(/w\.safetensors: tensor "a"/);
  });
});
