// Real-shaped random-weight models from scripts/make-model.py (issue 11 item 6): every shape's exact
// published config parses, and the Llama-3.2-1B shape with 2 layers (about 0.8 GB of bf16, made once
// into a cache folder) decodes transformers' greedy tokens on lavapipe, with tr-jacobi's fixed tree
// giving exactly AR's tokens. With load-time q4 quantization (issue 12) it decodes transformers'
// greedy tokens on the same weights dequantized (make-model.py --golden --quantize q4) and reports
// the group format's bytes. The same with an f16 KV cache is opt-in (real-shape-kv-f16.heavy.test.ts,
// `npm run test:heavy`: its golden takes minutes on 2 cores).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDirs } from '../helpers/tmp.js';
import { createNodeEngine } from '../../src/engine/node.js';
import type { Engine } from '../../src/engine/engine.js';
import { type Golden, MODEL_CACHE, makeModel } from '../helpers/make-model.js';
import { parseLlamaConfig } from '../../src/model/config.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { qgroupMatrixBytes } from '../../src/model/quantize.js';

const CACHE = MODEL_CACHE;

describe('make-model.py shapes: the published configs parse', () => {
  const dir = tempDirs('msn-shapes-')();
  it.each([
    ['llama-3.2-1b', { vocabSize: 128256, hiddenSize: 2048, numLayers: 16, numHeads: 32, numKvHeads: 8, headDim: 64, intermediateSize: 8192, tieWordEmbeddings: true, ropeTheta: 500000, maxPositionEmbeddings: 131072, bosTokenId: 128000, eosTokenIds: [128001], ropeScaling: { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 } }],
    ['llama-3-8b', { vocabSize: 128256, hiddenSize: 4096, numLayers: 32, numHeads: 32, numKvHeads: 8, headDim: 128, intermediateSize: 14336, tieWordEmbeddings: false, ropeTheta: 500000, maxPositionEmbeddings: 8192, bosTokenId: 128000, eosTokenIds: [128001], ropeScaling: null }],
    ['smollm2-135m', { vocabSize: 49152, hiddenSize: 576, numLayers: 30, numHeads: 9, numKvHeads: 3, headDim: 64, intermediateSize: 1536, tieWordEmbeddings: true, ropeTheta: 100000, maxPositionEmbeddings: 8192, bosTokenId: 0, eosTokenIds: [0], ropeScaling: null }],
    ['deepseek-coder-6.7b', { vocabSize: 32256, hiddenSize: 4096, numLayers: 32, numHeads: 32, numKvHeads: 32, headDim: 128, intermediateSize: 11008, tieWordEmbeddings: false, ropeTheta: 100000, maxPositionEmbeddings: 16384, bosTokenId: 32013, eosTokenIds: [32014], ropeScaling: { type: 'linear', factor: 4 } }],
  ] as const)('%s', async (shape, want) => {
    const out = join(dir, shape);
    makeModel(['--shape', shape, '--no-weights', '--out', out], 120_000);
    const cfg = parseLlamaConfig(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')));
    expect(cfg).toMatchObject({ architecture: 'LlamaForCausalLM', declaredDtype: 'bfloat16', ...want });
    // The tokenizer loads, every id is below vocab_size, and BOS/EOS name the config's ids.
    const tok = Tokenizer.fromJson(JSON.parse(readFileSync(join(out, 'tokenizer.json'), 'utf8')), JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8')));
    expect(tok.vocabSize).toBeLessThanOrEqual(cfg.vocabSize);
    expect(tok.vocabSize).toBeGreaterThan(256);
    const ids = tok.encode('def f(x):\n    return x');
    expect(tok.decode(ids)).toBe('def f(x):\n    return x');
  }, 180_000);
});

describe('llama-3.2-1b shape, 2 layers, on the GPU (Dawn/lavapipe)', () => {
  const folder = join(CACHE, 'llama-3.2-1b-2l');
  const goldenPath = join(folder, 'golden.json');
  let golden: Golden;
  let engine: Engine;

  beforeAll(async () => {
    const t0 = performance.now();
    if (!existsSync(goldenPath)) makeModel(['--shape', 'llama-3.2-1b', '--layers', '2', '--out', folder, '--golden', goldenPath], 600_000);
    golden = JSON.parse(readFileSync(goldenPath, 'utf8')) as Golden;
    const t1 = performance.now();
    engine = await createNodeEngine({ model: folder, contextLength: 48, inline: true, kvDtype: 'f32' }); // as the golden
    console.log(`llama-3.2-1b-2l: made in ${((t1 - t0) / 1000).toFixed(1)} s (0 when cached), loaded in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
  }, 900_000);
  afterAll(async () => { await engine?.dispose(); });

  it('is the real shape: config, tied 128256-row embedding, bf16 weights', () => {
    expect(golden).toMatchObject({ shape: 'llama-3.2-1b', layers: 2 });
    const cfg = engine.info.config;
    expect(cfg).toMatchObject({ vocabSize: 128256, hiddenSize: 2048, numLayers: 2, numKvHeads: 8, headDim: 64, tieWordEmbeddings: true, ropeScaling: { type: 'llama3', factor: 32 } });
    expect(engine.info.weightFormats).toEqual(['bf16']);
    expect(engine.info.eosTokenIds).toContain(128001);
  });

  it('greedy AR gives transformers\' tokens, and tr-jacobi with the fixed tree gives AR\'s', async () => {
    for (const p of golden.prompts) {
      expect(engine.tokenizer.encode(p.text)).toEqual(p.ids);
      const ar = await engine.complete(p.text, { decode: 'ar', maxNewTokens: p.greedy_ids.length });
      expect(ar.tokenIds, JSON.stringify(p.text)).toEqual(p.greedy_ids);
    }
    const p = golden.prompts[0];
    const tr = await engine.complete(p.text, { decode: 'tr-jacobi', tree: 'fixed', maxNewTokens: 6 });
    expect(tr.tokenIds).toEqual(p.greedy_ids.slice(0, 6));
    expect(tr.meanTreeSize).toBeGreaterThan(30);
  }, 600_000);
});

describe('llama-3.2-1b shape, 2 layers, quantized at load (q4, groups of 32), on the GPU (Dawn/lavapipe)', () => {
  const folder = join(CACHE, 'llama-3.2-1b-2l');
  const goldenPath = join(folder, 'golden.json');
  const q4GoldenPath = join(folder, 'golden-q4.json');
  let golden: Golden;
  let engine: Engine;

  beforeAll(async () => {
    if (!existsSync(goldenPath)) makeModel(['--shape', 'llama-3.2-1b', '--layers', '2', '--out', folder, '--golden', goldenPath], 600_000);
    if (!existsSync(q4GoldenPath)) makeModel(['--shape', 'llama-3.2-1b', '--layers', '2', '--out', folder, '--golden', q4GoldenPath, '--quantize', 'q4'], 600_000);
    golden = JSON.parse(readFileSync(q4GoldenPath, 'utf8')) as Golden;
    engine = await createNodeEngine({ model: folder, contextLength: 48, inline: true, quantize: 'q4', kvDtype: 'f32' }); // f32 KV, as the golden (f16 would be the default above 100M parameters)
  }, 1_500_000);
  afterAll(async () => { await engine?.dispose(); });

  it('reports the group format and its bytes: qgroupMatrixBytes per matrix + f32 norms', () => {
    expect(engine.info.kvDtype).toBe('f32');
    expect(golden.quantize).toEqual({ bits: 4, group: 32, embeddings: true });
    expect(engine.info.weightFormats).toEqual(['q4g32']); // f16 scales everywhere
    const { vocabSize: V, hiddenSize: C, intermediateSize: F, numHeads: H, numKvHeads: Hkv, headDim: D, numLayers: L } = engine.info.config;
    const q = (N: number, K: number) => qgroupMatrixBytes(N, K, 4, 32, 'f16');
    const layer = q((H + 2 * Hkv) * D, C) + q(C, H * D) + q(2 * F, C) + q(C, F) + 2 * 4 * C;
    expect(engine.info.memory.weightsBytes).toBe(q(V, C) + L * layer + 4 * C); // tied: one embedding
    expect(engine.info.memory.weightsBytes).toBeLessThan(0.3 * 2 * (V * C + L * (C * (H + 2 * Hkv) * D + C * H * D + 3 * C * F))); // < 30% of bf16
  });

  it('greedy AR gives transformers\' tokens on the dequantized weights, and tr-jacobi gives AR\'s', async () => {
    for (const p of golden.prompts) {
      const n = p.decided_tokens ?? p.greedy_ids.length;
      const ar = await engine.complete(p.text, { decode: 'ar', maxNewTokens: n });
      expect(ar.tokenIds, JSON.stringify(p.text)).toEqual(p.greedy_ids.slice(0, n));
    }
    const p = golden.prompts[0];
    const tr = await engine.complete(p.text, { decode: 'tr-jacobi', tree: 'fixed', maxNewTokens: 6 });
    expect(tr.tokenIds).toEqual(p.greedy_ids.slice(0, 6));
  }, 600_000);
});
