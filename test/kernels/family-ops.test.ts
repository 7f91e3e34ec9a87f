// The per-family kernels against their float64 references: the q/k/v bias add after the fused
// matmul (Qwen2) and the per-head q/k RMSNorm before RoPE (Qwen3), over awkward shapes; each row's
// result is bitwise independent of the row count (the lossless invariant).
import { describe, expect, it } from 'vitest';
import { BIAS_ADD, biasAddPass } from '../../src/kernels/bias_add.js';
import { HEAD_RMSNORM, headRmsNormPass } from '../../src/kernels/head_rmsnorm.js';
import { ShapeError } from '../../src/kernels/shape.js';
import { biasAddRef, headRmsnormRef } from '../../src/reference/ops.js';
import { roundUp } from '../../src/gpu/kernel.js';
import { expectClose, randomData, readF32, run, storage, testRig } from '../helpers/gpu.js';

async function biasAdd(Y: Float32Array, b: Float32Array, T: number, N: number, stride: number) {
  const r = await testRig();
  const yBuf = storage(r.device, Y);
  await run(r, [biasAddPass(r.cache, r.maxPerDim, r.cache.bind(r.cache.get(BIAS_ADD), [yBuf, storage(r.device, b)]), { T, N, stride })]);
  return readF32(r.device, yBuf);
}

async function headNorm(X: Float32Array, g: Float32Array, s: { T: number; H: number; Hkv: number; D: number; stride: number; eps: number }) {
  const r = await testRig();
  const buf = storage(r.device, X);
  await run(r, [headRmsNormPass(r.cache, r.maxPerDim, r.cache.bind(r.cache.get(HEAD_RMSNORM), [buf, storage(r.device, g)]), s)]);
  return readF32(r.device, buf);
}

describe('bias_add', () => {
  for (const [T, N] of [[1, 7], [5, 40], [69, 130]]) {
    it(`T=${T} N=${N}: Y + b on the first N columns, padding untouched`, async () => {
      const stride = roundUp(N, 8) + 8;
      const Y = randomData(T * stride, T + N);
      const b = randomData(roundUp(N, 8), N, false);
      const got = await biasAdd(Y, b, T, N, stride);
      for (let t = 0; t < T; t++) {
        const ref = biasAddRef(Y.subarray(t * stride, t * stride + N), b, 1, N);
        expectClose(got.subarray(t * stride, t * stride + N), ref, 1e-7, 1e-7, `row ${t}`);
        for (let c = N; c < stride; c++) expect(got[t * stride + c]).toBe(Y[t * stride + c]);
      }
      // bitwise: every value is the f32 sum of the two
      for (let t = 0; t < T; t++) for (let n = 0; n < N; n++) expect(got[t * stride + n]).toBe(Math.fround(Y[t * stride + n] + b[n]));
    });
  }
  it('refuses N > stride', () => {
    expect(() => biasAddPass({ get: () => ({}) } as never, 65535, {} as GPUBindGroup, { T: 1, N: 9, stride: 8 })).toThrow(ShapeError);
  });
});

describe('head_rmsnorm (q/k norm)', () => {
  for (const [T, H, Hkv, D] of [[1, 4, 2, 8], [3, 3, 3, 20], [17, 8, 2, 128], [69, 6, 2, 12]]) {
    it(`T=${T} H=${H} Hkv=${Hkv} D=${D}: q heads with q_norm, k heads with k_norm, v heads untouched`, async () => {
      const stride = roundUp((H + 2 * Hkv) * D, 8);
      const X = randomData(T * stride, T * 3 + D);
      const g = randomData(2 * D, D + 1);
      const s = { T, H, Hkv, D, stride, eps: 1e-6 };
      const got = await headNorm(X, g, s);
      for (let t = 0; t < T; t++) {
        const q = X.subarray(t * stride, t * stride + H * D);
        const k = X.subarray(t * stride + H * D, t * stride + (H + Hkv) * D);
        expectClose(got.subarray(t * stride, t * stride + H * D), headRmsnormRef(q, g.subarray(0, D), 1, H, D, 1e-6), 1e-6, 2e-6, `q row ${t}`);
        expectClose(got.subarray(t * stride + H * D, t * stride + (H + Hkv) * D), headRmsnormRef(k, g.subarray(D), 1, Hkv, D, 1e-6), 1e-6, 2e-6, `k row ${t}`);
        for (let c = (H + Hkv) * D; c < stride; c++) expect(got[t * stride + c]).toBe(X[t * stride + c]);
      }
      // a row alone gives the same bits as inside T rows
      const last = await headNorm(X.slice((T - 1) * stride, T * stride), g, { ...s, T: 1 });
      expect(Array.from(last)).toEqual(Array.from(got.subarray((T - 1) * stride, T * stride)));
    });
  }
  it('Pass.reads and shape errors', () => {
    const cache = { get: () => ({}) } as never;
    const pass = headRmsNormPass(cache, 65535, {} as GPUBindGroup, { T: 3, H: 4, Hkv: 2, D: 8, stride: 64, eps: 1e-6 });
    expect(pass.reads).toEqual({ weights: 3 * 6 * 8 * 4, kv: 0, other: 3 * 6 * 2 * 8 * 4 });
    expect(() => headRmsNormPass(cache, 65535, {} as GPUBindGroup, { T: 1, H: 4, Hkv: 2, D: 8, stride: 40, eps: 1e-6 })).toThrow(ShapeError);
  });
});
