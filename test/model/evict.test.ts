// A cached model file that fails to parse is evicted from the Cache API, so the next load downloads
// it again (issue 19, item 5c): a truncated safetensors file of a model without manifest.json, a cut
// JSON file. The folder is served from memory through a source with URLs, and `caches` is an
// in-memory CacheStorage holding the bad copies.
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describeModel, streamWeights } from '../../src/model/loader.js';
import { evictUnparsable } from '../../src/model/integrity.js';
import type { ModelSource } from '../../src/model/source.js';
import { ModelFormatError, UnsupportedModelError } from '../../src/errors.js';
import { FakeCacheStorage } from '../helpers/fake-cache.js';
import { fixturePath } from '../helpers/fixtures.js';

const FOLDER = 'https://example.test/m/';
const g = globalThis as { caches?: unknown };
afterEach(() => {
  delete g.caches;
});

/** A source over in-memory files, as the Cache API would serve them (sizes known or not). */
function memorySource(files: Map<string, Uint8Array>, knownSize = true): ModelSource {
  return {
    location: FOLDER,
    urlOf: (name) => FOLDER + name,
    exists: async (name) => files.has(name),
    size: async (name) => (knownSize ? files.get(name)?.byteLength ?? null : null),
    async open(name) {
      const b = files.get(name);
      if (!b) throw new Error(`missing ${name}`);
      return { size: knownSize ? b.byteLength : null, stream: new Blob([b as Uint8Array<ArrayBuffer>]).stream() };
    },
  };
}

/** The fixture's files, with `edit` applied, both as a source and as cached entries. */
async function cachedFixture(edit: (files: Map<string, Uint8Array>) => void, knownSize = true) {
  const files = new Map<string, Uint8Array>();
  const dir = fixturePath('tiny-gqa-f32');
  for (const f of readdirSync(dir)) if (f !== 'golden.json') files.set(f, new Uint8Array(readFileSync(join(dir, f))));
  edit(files);
  const storage = new FakeCacheStorage();
  const cache = await storage.open('msn-webgpu-models-v1');
  for (const [f, b] of files) cache.set(FOLDER + f, b);
  g.caches = storage;
  return { src: memorySource(files, knownSize), cache };
}

async function load(src: ModelSource): Promise<void> {
  const desc = await describeModel(src);
  await streamWeights(desc, () => true, () => {});
}

describe('eviction of cached files that fail to parse', () => {
  for (const [knownSize, why] of [[true, /data_offsets end \d+ is beyond the data section \(\d+ bytes\)/], [false, /truncated inside tensor/]] as const) {
    it(`a truncated model.safetensors (no manifest.json) is evicted; the error says so (size ${knownSize ? 'known' : 'unknown'})`, async () => {
      const { src, cache } = await cachedFixture((f) => f.set('model.safetensors', f.get('model.safetensors')!.subarray(0, 5000)), knownSize);
      const err = await load(src).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(ModelFormatError);
      expect((err as ModelFormatError).message).toMatch(/^model\.safetensors: .+\. The cached copy of model\.safetensors was evicted; load the model again to download it afresh\.$/);
      expect((err as ModelFormatError).message).toMatch(why);
      expect((err as ModelFormatError).detail).toMatchObject({ file: 'model.safetensors', evicted: true });
      expect(await cache.match(`${FOLDER}model.safetensors`)).toBeUndefined();
      expect(await cache.match(`${FOLDER}config.json`)).toBeDefined();
    });
  }

  it('a cut JSON file (config.json, generation_config.json) is evicted', async () => {
    for (const name of ['config.json', 'generation_config.json']) {
      const { src, cache } = await cachedFixture((f) => f.set(name, f.get(name)!.subarray(0, 10)));
      const err = await load(src).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(ModelFormatError);
      expect((err as ModelFormatError).message).toContain(`${name} in ${FOLDER} is not valid JSON`);
      expect((err as ModelFormatError).detail).toMatchObject({ file: name, evicted: true });
      expect(await cache.match(FOLDER + name)).toBeUndefined();
    }
  });

  it('a file that was not cached is not claimed evicted; other errors pass through untouched', async () => {
    const { src } = await cachedFixture((f) => f.set('model.safetensors', f.get('model.safetensors')!.subarray(0, 5000)));
    delete g.caches;
    const err = await load(src).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ModelFormatError);
    expect((err as ModelFormatError).message).not.toContain('evicted');
    expect((err as ModelFormatError).detail.evicted).toBeUndefined();
    const other = new UnsupportedModelError('x', 1, 'y');
    expect(await evictUnparsable(src, other)).toBe(other);
  });
});
