// The converter round trip (issue 12, "Done when" bullet 2): `npm run quantize` (convertModel) of a fixture,
// loaded with the Executor, computes bitwise what load-time quantization of the source computes (same
// weights → same floats): prompt logits at every position, 8 greedy steps' logits and tokens, and
// `memory.weightsBytes`; and the loader's matrices from the converted folder (describeModel +
// streamWeights, pure TS) equal `quantizeRows` of the source rows bit for bit.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createNodeGpu } from '../../src/gpu/node.js';
import { convertModel } from '../../src/model/convert.js';
import { decodeToF32, type TensorDtype } from '../../src/model/dtype.js';
import { describeModel, streamWeights } from '../../src/model/loader.js';
import type { QuantizedTensor } from '../../src/model/prequant.js';
import { quantizeRows, type QuantBits } from '../../src/model/quantize.js';
import { createModelSource } from '../../src/model/source.js';
import type { LoadOptions } from '../../src/worker/api.js';
import { Executor } from '../../src/worker/executor.js';
import { fixturePath, golden } from '../helpers/fixtures.js';
import { disabledFeatures } from '../helpers/gpu.js';

const tmp = mkdtempSync(join(tmpdir(), 'msn-convert-load-'));
const executors: Executor[] = [];
afterAll(async () => {
  for (const e of executors) await e.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

const STEPS = 8;
const bits32 = (a: Float32Array) => Array.from(new Uint32Array(a.slice().buffer));

/** Prompt logits (one causal forward) and STEPS greedy AR steps of `folder` loaded with `options`. */
async function run(folder: string, options: LoadOptions, prompt: number[]) {
  const ex = new Executor(() => createNodeGpu());
  executors.push(ex);
  const info = await ex.load(folder, { contextLength: 64, disableFeatures: disabledFeatures(), kernelConfig: 'cpu', ...options });
  expect(info.selfCheck!.ok).toBe(true);
  const T = prompt.length;
  const r = await ex.forward({ tokens: prompt, positions: prompt.map((_, i) => i), mask: 'causal', topK: 1, commit: true, returnLogits: true });
  const rows = [r.logits!];
  const ids = [r.ids[T - 1]];
  for (let s = 1; s < STEPS; s++) {
    const o = await ex.forward({ tokens: [ids[s - 1]], positions: [T - 1 + s], mask: 'causal', topK: 1, commit: true, returnLogits: true });
    rows.push(o.logits!);
    ids.push(o.ids[0]);
  }
  await ex.dispose();
  return { info, rows, ids };
}

// [fixture, converter bits, group, keep embeddings] ↔ the same quantization at load time
const CASES: Array<[string, QuantBits, 32 | 128, boolean]> = [
  ['tiny-gqa-f32', 4, 32, false],
  ['tiny-gqa-f32', 8, 128, false],
  ['tiny-gqa-f32', 4, 32, true],
  ['tiny-llama3-bf16-sharded', 4, 32, false],
  ['tiny-llama3-bf16-sharded', 8, 128, false],
  ['tiny-llama3-bf16-sharded', 4, 32, true],
  // Phi-3: the fused qkv_proj / gate_up_proj are converted and loaded as whole matrices.
  ['tiny-phi3-f32', 4, 32, false],
];

describe.each(CASES)('%s: npm run quantize --bits %d --group-size %d (keep embeddings: %s)', (fixture, bits, group, keep) => {
  const out = join(tmp, `${fixture}-q${bits}g${group}${keep ? '-keep' : ''}`);
  const loadTime: LoadOptions = { quantize: bits === 4 ? 'q4' : 'q8', quantizeGroupSize: group, quantizeEmbeddings: !keep };

  it('the loader repacks the converted folder to quantizeRows of the source rows, bit for bit', async () => {
    await convertModel({ model: fixturePath(fixture), out, bits, group, keepEmbeddings: keep });
    const src = new Map<string, { dtype: TensorDtype; shape: number[]; bytes: Uint8Array }>();
    const srcDesc = await describeModel(createModelSource(fixturePath(fixture)));
    await streamWeights(srcDesc, () => true, (name, dtype, shape, bytes) => { src.set(name, { dtype, shape, bytes: bytes.slice() }); });
    const desc = await describeModel(createModelSource(out));
    expect(desc.quantization).toMatchObject({ format: 'compressed-tensors', bits, group, symmetric: true, actOrder: false });
    const quantized: QuantizedTensor[] = [];
    const dense: string[] = [];
    await streamWeights(desc, () => true, (name) => { dense.push(name); }, undefined, undefined, (t) => { quantized.push(t); });
    const matrices = [...src].filter(([n, t]) => t.shape.length === 2 && !(keep && (n === 'lm_head.weight' || n.endsWith('embed_tokens.weight'))));
    expect(quantized.map((t) => t.name).sort()).toEqual(matrices.map(([n]) => n).sort());
    expect(dense.sort()).toEqual([...src.keys()].filter((n) => !quantized.some((t) => t.name === n)).sort());
    if (keep) expect(dense).toContain('model.embed_tokens.weight');
    for (const t of quantized) {
      const s = src.get(t.name)!;
      const [N, K] = s.shape;
      const want = quantizeRows(decodeToF32(s.bytes, s.dtype), N, K, bits, group);
      expect(t.gidx, t.name).toBeUndefined();
      expect({ N: t.matrix.N, K: t.matrix.K, Kp: t.matrix.Kp, bits: t.matrix.bits, group: t.matrix.group }).toEqual({ N, K, Kp: want.Kp, bits, group });
      expect(Array.from(t.matrix.qweight), `${t.name} codes`).toEqual(Array.from(want.qweight));
      expect(Array.from(t.matrix.zeros), `${t.name} zero points`).toEqual(Array.from(want.zeros));
      expect(bits32(t.matrix.scales), `${t.name} scales`).toEqual(bits32(want.scales));
    }
  }, 120_000);

  it('loaded, it computes bitwise what load-time quantization of the source computes', async () => {
    const prompt = golden(fixture).prompt_ids;
    // Loaded as any folder (no options); except that --keep-embeddings keeps an f32 source's embedding and
    // lm_head in f32, where load-time quantizeEmbeddings: false rounds them to f16: that folder is loaded
    // with the load-time options, which apply to its dense matrices (the embedding rounded to f16 alike).
    const f32Kept = keep && golden(fixture).dtype === 'float32';
    const conv = await run(out, f32Kept ? loadTime : {}, prompt);
    const direct = await run(fixturePath(fixture), loadTime, prompt);
    expect(conv.info.weightFormats).toEqual(direct.info.weightFormats);
    expect(conv.info.weightFormats).toContain(`q${bits}g${group}`);
    expect(conv.info.memory.weightsBytes).toBe(direct.info.memory.weightsBytes);
    // The memory plan knows from the index which of the folder's matrices are quantized (embedding and
    // lm_head included): it plans exactly what is allocated when every scale is an f16 number.
    if (!conv.info.weightFormats.some((f) => f.endsWith('s32'))) expect(conv.info.memoryPlan.weightsBytes).toBe(conv.info.memory.weightsBytes);
    expect(direct.info.memoryPlan.weightsBytes).toBe(direct.info.memory.weightsBytes);
    for (let i = 0; i < STEPS; i++) expect(bits32(conv.rows[i]), `row ${i}`).toEqual(bits32(direct.rows[i]));
    expect(conv.ids).toEqual(direct.ids);
    if (f32Kept) expect((await run(out, {}, prompt)).info.weightFormats).toEqual(['f32', `q${bits}g${group}`]);
  }, 180_000);
});
