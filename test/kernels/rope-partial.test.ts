// Partial rotary (Phi-3 `partial_rotary_factor`) and LongRoPE's per-position factors in rope_kv_append,
// against the float64 reference over awkward shapes: R/2 not a multiple of 4 (quads straddle R/2 and R),
// R = 2, R = D; positions on both sides of the longrope switch.
import { describe, expect, it } from 'vitest';
import { ROPE_KV_APPEND, ropeKvAppendPass } from '../../src/kernels/rope_kv_append.js';
import { ropeRef } from '../../src/reference/ops.js';
import { buildRopeTable, ropeSpec, type RopeSpec } from '../../src/model/rope.js';
import { parseLlamaConfig } from '../../src/model/config.js';
import { roundUp } from '../../src/gpu/kernel.js';
import { expectClose, randomData, readF32, rng, run, storage, testRig } from '../helpers/gpu.js';

/** A RopeSpec of rotary dim R; with `long`, positions ≥ 37 use other factors and cos/sin are scaled. */
function spec(R: number, long: boolean): RopeSpec {
  const inv = Float64Array.from({ length: R / 2 }, (_, i) => 1 / 10000 ** ((2 * i) / R));
  if (!long) return { rotaryDim: R, invFreq: inv, longInvFreq: null, switchAt: Infinity, scale: 1 };
  return { rotaryDim: R, invFreq: inv.map((f, i) => f / (1 + 0.1 * i)), longInvFreq: inv.map((f, i) => f / (2 + 3 * i)), switchAt: 37, scale: 1.19 };
}

describe('rope + KV append, partial rotary and longrope', () => {
  for (const [T, H, Hkv, D, R, long] of [[5, 3, 1, 20, 10, false], [7, 4, 2, 16, 12, true], [9, 2, 2, 12, 2, true], [4, 2, 1, 8, 8, true], [6, 5, 1, 24, 18, false]] as const) {
    it(`T=${T} H=${H} Hkv=${Hkv} D=${D} R=${R}${long ? ' longrope' : ''}`, async () => {
      const r = await testRig();
      const Smax = 80; const P = 3;
      const s = spec(R, long);
      const table = buildRopeTable(s, Smax);
      expect(table.length).toBe(Smax * R);
      const rand = rng(T * 17 + R);
      // Positions on both sides of the switch (37) when longrope.
      const pos = Uint32Array.from({ length: T }, (_, i) => (i % 2 === 0 ? Math.floor(rand() * 37) : 37 + Math.floor(rand() * 40)));
      const stride = roundUp((H + 2 * Hkv) * D, 8);
      const rowF = Hkv * D;
      const qkv = randomData(T * stride, D + H + R);
      const qkvBuf = storage(r.device, qkv);
      const kBuf = storage(r.device, new Float32Array(Smax * rowF));
      const vBuf = storage(r.device, new Float32Array(Smax * rowF));
      await run(r, [ropeKvAppendPass(r.cache, r.maxPerDim,
        r.cache.bind(r.cache.get(ROPE_KV_APPEND), [qkvBuf, storage(r.device, pos), storage(r.device, table), kBuf, vBuf]),
        { T, P, H, Hkv, D, stride, kBase: 0, vBase: 0, Smax, R })]);
      const out = await readF32(r.device, qkvBuf);
      const K = await readF32(r.device, kBuf);
      const w = (H + Hkv) * D;
      const xin = new Float32Array(T * w);
      for (let t = 0; t < T; t++) xin.set(qkv.subarray(t * stride, t * stride + w), t * w);
      const ref = ropeRef(xin, pos, T, H + Hkv, D, s);
      const got = new Float32Array(T * w);
      for (let t = 0; t < T; t++) {
        got.set(out.subarray(t * stride, t * stride + H * D), t * w);
        got.set(K.subarray((P + t) * rowF, (P + t + 1) * rowF), t * w + H * D);
        // Dims ≥ R pass through bit-exactly (query heads in place, key heads into the cache).
        for (let h = 0; h < H + Hkv; h++) for (let d = R; d < D; d++) expect(got[t * w + h * D + d]).toBe(qkv[t * stride + h * D + d]);
      }
      expectClose(got, ref, 1e-6, 1e-5, 'partial rope');
      if (long) {
        // The switch matters: the same rows with the short factors only would differ.
        const short = ropeRef(xin, pos, T, H + Hkv, D, { ...s, longInvFreq: null, switchAt: Infinity });
        expect(Math.max(...ref.map((v, i) => Math.abs(v - short[i])))).toBeGreaterThan(1e-2);
      }
    });
  }

  it('rejects an odd or oversized rotary dim', async () => {
    const r = await testRig();
    const bg = {} as GPUBindGroup;
    const s = { T: 1, P: 0, H: 2, Hkv: 1, D: 8, stride: 32, kBase: 0, vBase: 0, Smax: 16 };
    expect(() => ropeKvAppendPass(r.cache, r.maxPerDim, bg, { ...s, R: 5 })).toThrow(/R must be a multiple of 2/);
    expect(() => ropeKvAppendPass(r.cache, r.maxPerDim, bg, { ...s, R: 12 })).toThrow(/R/);
    expect(() => ropeKvAppendPass(r.cache, r.maxPerDim, bg, { ...s, R: 0 })).toThrow(/R/);
  });

  it('longrope table: short factors below original_max_position_embeddings, long at and after it, scaled by the attention factor', () => {
    const cfg = parseLlamaConfig({
      architectures: ['Phi3ForCausalLM'], hidden_size: 32, num_attention_heads: 2, num_hidden_layers: 1, intermediate_size: 8, vocab_size: 10,
      max_position_embeddings: 64, original_max_position_embeddings: 16, partial_rotary_factor: 0.5, rope_theta: 10000,
      rope_scaling: { type: 'longrope', short_factor: [1, 2, 3, 4], long_factor: [5, 6, 7, 8] },
    });
    const s = ropeSpec(cfg);
    expect(s.rotaryDim).toBe(8);
    const af = Math.sqrt(1 + Math.log(4) / Math.log(16));
    expect(s.scale).toBeCloseTo(af, 12);
    const table = buildRopeTable(s, 20);
    for (const [p, f] of [[15, [1, 2, 3, 4]], [16, [5, 6, 7, 8]], [19, [5, 6, 7, 8]]] as const) {
      for (let i = 0; i < 4; i++) {
        const th = Math.fround(p * Math.fround(1 / (f[i] * 10000 ** ((2 * i) / 8))));
        expect(table[2 * (p * 4 + i)]).toBeCloseTo(Math.cos(th) * af, 6);
        expect(table[2 * (p * 4 + i) + 1]).toBeCloseTo(Math.sin(th) * af, 6);
      }
    }
  });
});
