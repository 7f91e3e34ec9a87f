// Opt-in (`npm run test:heavy`, issue 12 item 4 at a real shape): the Llama-3.2-1B shape with 2 layers,
// quantized q4 at load, with an f16 KV cache: transformers' greedy tokens on the dequantized weights with
// K (after RoPE) and V rounded to f16 as the runtime stores them (make-model.py --kv-dtype f16, through
// make_fixtures.py's F16KVCache), in half the KV bytes of the f32 cache. real-shape.test.ts (in CI) runs
// the bf16 and q4 cases with an f32 KV cache; scripts/real-shape-q4.sh runs all 16 layers in both dtypes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createNodeEngine } from '../../src/engine/node.js';
import type { Engine } from '../../src/engine/engine.js';
import { type Golden, MODEL_CACHE, makeModel } from '../helpers/make-model.js';

const CACHE = MODEL_CACHE;

describe('llama-3.2-1b shape, 2 layers, q4 at load, with an f16 KV cache (kvDtype: \'f16\'), on the GPU (Dawn/lavapipe)', () => {
  const folder = join(CACHE, 'llama-3.2-1b-2l');
  const goldenPath = join(folder, 'golden.json');
  let golden: Golden;
  let engine: Engine; // q4, f32 KV cache: the bytes to compare with

  const kvGoldenPath = join(folder, 'golden-q4-kv-f16.json');
  let kvGolden: Golden;
  let engine16: Engine;

  beforeAll(async () => {
    if (!existsSync(goldenPath)) makeModel(['--shape', 'llama-3.2-1b', '--layers', '2', '--out', folder, '--golden', goldenPath], 600_000);
    golden = JSON.parse(readFileSync(goldenPath, 'utf8')) as Golden;
    engine = await createNodeEngine({ model: folder, contextLength: 48, inline: true, quantize: 'q4', kvDtype: 'f32' });
    if (!existsSync(kvGoldenPath)) makeModel(['--shape', 'llama-3.2-1b', '--layers', '2', '--out', folder, '--golden', kvGoldenPath, '--quantize', 'q4', '--kv-dtype', 'f16'], 600_000);
    kvGolden = JSON.parse(readFileSync(kvGoldenPath, 'utf8')) as Golden;
    engine16 = await createNodeEngine({ model: folder, contextLength: 48, inline: true, quantize: 'q4', kvDtype: 'f16' });
  }, 1_500_000);
  afterAll(async () => { await engine16?.dispose(); await engine?.dispose(); });

  it('holds K and V in half the bytes of the f32 cache, with the same weights', () => {
    expect(kvGolden).toMatchObject({ kv_dtype: 'float16', quantize: { bits: 4, group: 32, embeddings: true }, seed: golden.seed });
    expect(engine.info.kvDtype).toBe('f32');
    expect(engine16.info.kvDtype).toBe('f16');
    expect(engine16.info.contextLength).toBe(engine.info.contextLength);
    const { numLayers: L, numKvHeads: Hkv, headDim: D } = engine16.info.config;
    expect(engine16.info.memory.kvBytes).toBeGreaterThanOrEqual(2 * L * engine16.info.contextLength * Hkv * D * 2); // K and V, 2 bytes each
    expect(engine16.info.memory.kvBytes * 2).toBe(engine.info.memory.kvBytes);
    expect(engine16.info.memory.weightsBytes).toBe(engine.info.memory.weightsBytes);
    expect(engine16.info.weightFormats).toEqual(['q4g32']);
  });

  it('greedy AR gives transformers\' tokens with K and V rounded to f16, and tr-jacobi gives AR\'s', async () => {
    for (const p of kvGolden.prompts) {
      const n = p.decided_tokens ?? p.greedy_ids.length;
      expect(n).toBeGreaterThanOrEqual(4); // the golden decides most of its tokens
      const ar = await engine16.complete(p.text, { decode: 'ar', maxNewTokens: n });
      expect(ar.tokenIds, JSON.stringify(p.text)).toEqual(p.greedy_ids.slice(0, n));
    }
    const p = kvGolden.prompts[0];
    const tr = await engine16.complete(p.text, { decode: 'tr-jacobi', tree: 'fixed', maxNewTokens: 6 });
    expect(tr.tokenIds).toEqual(p.greedy_ids.slice(0, 6));
  }, 600_000);
});
