// The Gemma 2/3 kernels and kernel parameters against their float64 references over awkward shapes:
// GeGLU (tanh GELU), RMSNorm-then-residual-add (post-norms), the final logit soft-cap, the attention
// logit soft-cap with query_pre_attn_scalar's scale, and the embedding scale; each row's result is
// bitwise independent of the row count (the lossless invariant).
import { describe, expect, it } from 'vitest';
import { causalMask } from '../../src/kernels/attention.js';
import { embedKernel, embedPass } from '../../src/kernels/embed.js';
import { GEGLU, gegluPass } from '../../src/kernels/geglu.js';
import { RMSNORM_ADD, rmsnormAddPass } from '../../src/kernels/rmsnorm_add.js';
import { SOFTCAP, softcapPass } from '../../src/kernels/softcap.js';
import { ShapeError } from '../../src/kernels/shape.js';
import { kernelPreset } from '../../src/gpu/kernel-config.js';
import { roundUp } from '../../src/gpu/kernel.js';
import { embedRef, gegluRef, rmsnormAddRef, softcapRef } from '../../src/reference/ops.js';
import { randomTree, runAttention } from '../helpers/attention.js';
import { expectClose, randomData, readF32, run, storage, testRig } from '../helpers/gpu.js';

describe('geglu (gelu_pytorch_tanh)', () => {
  for (const [T, F] of [[1, 1], [3, 7], [17, 130], [69, 96]]) {
    it(`T=${T} F=${F}`, async () => {
      const r = await testRig();
      const guStride = roundUp(2 * F, 8) + 8; const aStride = roundUp(F, 8);
      const GU = randomData(T * guStride, T + F).map((v) => 6 * v); // inputs over [−6, 6] and the outliers
      const aBuf = storage(r.device, T * aStride * 4);
      const pass = (rows: number, gu: GPUBuffer, a: GPUBuffer) => gegluPass(r.cache, r.maxPerDim, r.cache.bind(r.cache.get(GEGLU), [gu, a]), { T: rows, F, guStride, aStride });
      await run(r, [pass(T, storage(r.device, GU), aBuf)]);
      const got = await readF32(r.device, aBuf);
      for (let t = 0; t < T; t++) {
        const row = GU.subarray(t * guStride, t * guStride + 2 * F);
        // atol: 1 + tanh(z) cancels for x ≪ 0 in f32 (as in PyTorch's f32 kernel): ~1e-6 absolute at outputs up to 36
        expectClose(got.subarray(t * aStride, t * aStride + F), gegluRef(row, 1, F), 1e-5, 1e-5, `row ${t}`);
      }
      const one = storage(r.device, aStride * 4);
      await run(r, [pass(1, storage(r.device, GU.slice((T - 1) * guStride, T * guStride)), one)]);
      expect(Array.from(await readF32(r.device, one))).toEqual(Array.from(got.subarray((T - 1) * aStride, T * aStride)));
    });
  }
  it('stays finite and exact at the saturated ends (±1e4: gelu(x) = x or 0)', async () => {
    const r = await testRig();
    const GU = Float32Array.from([1e4, -1e4, 0, 30, 2, 3, 0.5, 2, 0, 0, 0, 0, 0, 0, 0, 0]);
    const a = storage(r.device, 8 * 4);
    await run(r, [gegluPass(r.cache, r.maxPerDim, r.cache.bind(r.cache.get(GEGLU), [storage(r.device, GU), a]), { T: 1, F: 4, guStride: 16, aStride: 8 })]);
    const got = await readF32(r.device, a);
    expect(Array.from(got.subarray(0, 4))).toEqual([2e4, -0, 0, 60]);
  });
});

describe('rmsnorm_add (Gemma post-norms)', () => {
  for (const [T, C] of [[1, 7], [3, 64], [17, 130], [69, 48]]) {
    it(`T=${T} C=${C}: X + RMSNorm(Y)·g, padding untouched, a row alone bit-identical`, async () => {
      const r = await testRig();
      const stride = roundUp(C, 8);
      const Y = randomData(T * stride, T + C); const X = randomData(T * stride, T * C + 1);
      const g = randomData(stride, C + 2, false).map((v) => 1 + v);
      for (let t = 0; t < T; t++) for (let c = C; c < stride; c++) { Y[t * stride + c] = 0; X[t * stride + c] = 0; }
      const go = async (rows: number, y: Float32Array, x: Float32Array) => {
        const xBuf = storage(r.device, x);
        await run(r, [rmsnormAddPass(r.cache, r.maxPerDim, r.cache.bind(r.cache.get(RMSNORM_ADD), [storage(r.device, y), storage(r.device, g), xBuf]), { T: rows, C, stride, eps: 1e-6 })]);
        return readF32(r.device, xBuf);
      };
      const got = await go(T, Y, X);
      for (let t = 0; t < T; t++) {
        const sl = (a: Float32Array) => a.subarray(t * stride, t * stride + C);
        expectClose(sl(got), rmsnormAddRef(sl(X), sl(Y), g, 1, C, 1e-6), 2e-6, 2e-6, `row ${t}`);
        for (let c = C; c < stride; c++) expect(got[t * stride + c]).toBe(0);
      }
      const last = await go(1, Y.slice((T - 1) * stride, T * stride), X.slice((T - 1) * stride, T * stride));
      expect(Array.from(last)).toEqual(Array.from(got.subarray((T - 1) * stride, T * stride)));
    });
  }
  it('Pass.reads and shape errors', () => {
    const cache = { get: () => ({}) } as never;
    expect(rmsnormAddPass(cache, 65535, {} as GPUBindGroup, { T: 2, C: 8, stride: 8, eps: 1e-6 }).reads).toEqual({ weights: 2 * 8 * 4, kv: 0, other: 2 * 3 * 8 * 4 });
    expect(() => rmsnormAddPass(cache, 65535, {} as GPUBindGroup, { T: 1, C: 9, stride: 8, eps: 1e-6 })).toThrow(ShapeError);
  });
});

describe('softcap (final logits)', () => {
  for (const [T, V, cap] of [[1, 5, 30], [4, 301, 15], [17, 1000, 2.5]]) {
    it(`T=${T} V=${V} cap ${cap}`, async () => {
      const r = await testRig();
      const stride = roundUp(V, 8);
      const Z = randomData(T * stride, T + V).map((v) => 40 * v);
      const zBuf = storage(r.device, Z);
      await run(r, [softcapPass(r.cache, r.maxPerDim, r.cache.bind(r.cache.get(SOFTCAP), [zBuf]), { T, V, stride, cap })]);
      const got = await readF32(r.device, zBuf);
      for (let t = 0; t < T; t++) {
        expectClose(got.subarray(t * stride, t * stride + V), softcapRef(Z.subarray(t * stride, t * stride + V), cap), 1e-6 * cap, 1e-5, `row ${t}`);
        for (let c = V; c < stride; c++) expect(got[t * stride + c]).toBe(Z[t * stride + c]);
      }
    });
  }
  it('refuses a cap that is not positive and V > stride', () => {
    const cache = { get: () => ({}) } as never;
    expect(() => softcapPass(cache, 65535, {} as GPUBindGroup, { T: 1, V: 8, stride: 8, cap: 0 })).toThrow(ShapeError);
    expect(() => softcapPass(cache, 65535, {} as GPUBindGroup, { T: 1, V: 9, stride: 8, cap: 1 })).toThrow(ShapeError);
  });
});

describe('attention with a logit soft-cap and query_pre_attn_scalar scale (Gemma 2)', () => {
  const cfg = kernelPreset('gpu').attention;
  const shapes: Array<[number, number, number, number, number, number | null, 'causal' | 'tree']> = [
    [1, 70, 4, 2, 16, null, 'causal'], [17, 40, 4, 2, 8, 5, 'causal'], [33, 20, 8, 2, 16, null, 'tree'], [5, 3, 2, 1, 12, 3, 'causal'],
  ];
  for (const [T, P, H, Hkv, D, W, kind] of shapes) {
    it(`${kind} T=${T} P=${P} H=${H} Hkv=${Hkv} D=${D} window ${W}: cap 2, scale 24^−½`, async () => {
      const mask = kind === 'causal' ? causalMask(T) : randomTree(T, T + P).mask;
      const opts = { window: W, scale: 24 ** -0.5, softcap: 2 };
      const { got, ref } = await runAttention({ T, P, H, Hkv, D, mask }, T * 7 + P, cfg, opts);
      expectClose(got, ref(), 2e-6, 2e-5, 'soft-capped attention');
      // the cap changes the result (a kernel ignoring it fails)
      const { got: plain } = await runAttention({ T, P, H, Hkv, D, mask }, T * 7 + P, cfg, { ...opts, softcap: null });
      expect(Array.from(plain)).not.toEqual(Array.from(got));
    });
  }
  it('refuses a soft-cap that is not positive', async () => {
    await expect(runAttention({ T: 1, P: 1, H: 1, Hkv: 1, D: 4, mask: causalMask(1) }, 1, cfg, { softcap: -1 })).rejects.toThrow(ShapeError);
  });
});

describe('embed with a scale (Gemma √C)', () => {
  it('multiplies each gathered row by the scale, odd C', async () => {
    const r = await testRig();
    const V = 21; const C = 13; const Kp = roundUp(C, 8); const T = 9; const scale = Math.fround(Math.sqrt(48));
    const E = randomData(V * Kp, 5);
    for (let v = 0; v < V; v++) for (let c = C; c < Kp; c++) E[v * Kp + c] = 0;
    const ids = Uint32Array.from({ length: T }, (_, i) => (i * 5 + 2) % V);
    const xBuf = storage(r.device, T * Kp * 4);
    await run(r, [embedPass(r.cache, r.maxPerDim, r.cache.bind(embedKernel(r.cache, 'f32'), [storage(r.device, E), storage(r.device, ids), xBuf]), { T, C, Kp, fmt: 'f32', v0: 0, vRows: V, scale })]);
    const X = await readF32(r.device, xBuf);
    const Eu = new Float32Array(V * C);
    for (let v = 0; v < V; v++) Eu.set(E.subarray(v * Kp, v * Kp + C), v * C);
    const ref = embedRef(Eu, ids, C);
    for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) expect(X[t * Kp + c]).toBe(Math.fround(ref[t * C + c] * scale));
  });
});
