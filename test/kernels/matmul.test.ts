import { describe, expect, it } from 'vitest';
import { matmulPass, kernelFor, type WeightFormat, type MatmulConfig } from '../../src/kernels/matmul.js';
import { decodeToF32, encodeFromF32, padRows, type TensorDtype } from '../../src/model/dtype.js';
import { matmulRef } from '../../src/reference/ops.js';
import { roundUp } from '../../src/gpu/kernel.js';
import { expectClose, randomData, readF32, run, storage, testRig } from '../helpers/gpu.js';

const DT: Record<WeightFormat, TensorDtype> = { f32: 'F32', f16: 'F16', bf16: 'BF16' };
const CFGS: MatmulConfig[] = [
  { lanes: 1, gemvCols: 64, tiledCols: 16, tiledCpt: 4 },
  { lanes: 16, gemvCols: 8, tiledCols: 4, tiledCpt: 2 },
  { lanes: 4, gemvCols: 16, tiledCols: 8 },
];

async function runMatmul(T: number, N: number, K: number, fmt: WeightFormat, cfg: MatmulConfig, seed: number, accumulate = false) {
  const r = await testRig();
  const Kp = roundUp(K, 8);
  const Np = roundUp(N, 8);
  const X = randomData(T * K, seed);
  const Wraw = encodeFromF32(randomData(N * K, seed + 1), DT[fmt]);
  const W = decodeToF32(Wraw, DT[fmt]); // the values the GPU sees
  const Xp = new Float32Array(T * Kp);
  for (let t = 0; t < T; t++) Xp.set(X.subarray(t * K, (t + 1) * K), t * Kp);
  const Y0 = randomData(T * Np, seed + 2, false);
  const wBuf = storage(r.device, padRows(Wraw, N, K, Kp, DT[fmt]));
  const xBuf = storage(r.device, Xp);
  const yBuf = storage(r.device, accumulate ? Y0 : new Float32Array(T * Np));
  const bg = r.cache.bind(kernelFor(r.cache, cfg, fmt, T), [wBuf, xBuf, yBuf]);
  await run(r, [matmulPass(r.cache, cfg, bg, { T, nRows: N, Kp, fmt, yStride: Np, accumulate })]);
  const Y = await readF32(r.device, yBuf);
  const Ylog = new Float32Array(T * N);
  const Y0log = new Float32Array(T * N);
  for (let t = 0; t < T; t++) for (let n = 0; n < N; n++) { Ylog[t * N + n] = Y[t * Np + n]; Y0log[t * N + n] = Y0[t * Np + n]; }
  // padding columns stay untouched
  for (let t = 0; t < T; t++) for (let n = N; n < Np; n++) expect(Y[t * Np + n]).toBe(accumulate ? Y0[t * Np + n] : 0);
  return { got: Ylog, ref: matmulRef(X, W, T, N, K, accumulate ? Y0log : undefined), Y, Np };
}

describe('matmul', () => {
  for (const fmt of ['f32', 'f16', 'bf16'] as const) {
    for (const [T, N, K] of [[1, 7, 5], [3, 33, 17], [17, 64, 96], [69, 13, 131], [1, 257, 260], [8, 40, 8]]) {
      it(`${fmt} T=${T} N=${N} K=${K}`, async () => {
        const { got, ref } = await runMatmul(T, N, K, fmt, CFGS[(T + N) % 3], T * 1000 + N + K);
        expectClose(got, ref, 1e-5 * Math.sqrt(K) * 4, 1e-5, `matmul ${fmt}`);
      });
    }
  }

  it('accumulates into Y (fused residual add)', async () => {
    const { got, ref } = await runMatmul(5, 19, 37, 'f32', CFGS[0], 99, true);
    expectClose(got, ref, 1e-4, 1e-5, 'matmul accumulate');
  });

  it('a row gives bit-identical results for T = 1 (GEMV) and inside T = 69 (tiled)', async () => {
    for (const cfg of CFGS) {
      for (const fmt of ['f32', 'f16'] as const) {
        const r = await testRig();
        const N = 45; const K = 88; const T = 69;
        const X = randomData(T * K, 5);
        const Wraw = encodeFromF32(randomData(N * K, 6), DT[fmt]);
        const wBuf = storage(r.device, Wraw);
        const xBuf = storage(r.device, X);
        const yAll = storage(r.device, T * 48 * 4);
        const yOne = storage(r.device, 48 * 4);
        const bgAll = r.cache.bind(kernelFor(r.cache, cfg, fmt, T), [wBuf, xBuf, yAll]);
        const bgOne = r.cache.bind(kernelFor(r.cache, cfg, fmt, 1), [wBuf, xBuf, yOne]);
        const passes = [matmulPass(r.cache, cfg, bgAll, { T, nRows: N, Kp: K, fmt, yStride: 48 })];
        await run(r, passes);
        const all = await readF32(r.device, yAll);
        for (const t of [0, 1, 7, 8, 37, 68]) {
          await run(r, [matmulPass(r.cache, cfg, bgOne, { T: 1, nRows: N, Kp: K, fmt, yStride: 48, xRow0: t })]);
          const one = await readF32(r.device, yOne);
          expect(Array.from(one.subarray(0, N))).toEqual(Array.from(all.subarray(t * 48, t * 48 + N)));
        }
      }
    }
  });
});
