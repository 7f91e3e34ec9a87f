import { describe, expect, it } from 'vitest';
import { MATMUL, matmulPass, kernelFor, type WeightFormat, type MatmulConfig, WEIGHT_CHUNK_BYTES, MATMUL_ROW_CASES, matmulConstants } from '../../src/kernels/matmul.js';
import { overrideDefault, overridePoint } from '../../src/kernels/override.js';
import { kernelPreset } from '../../src/gpu/kernel-config.js';
import { decodeToF32, encodeFromF32, padRows, type TensorDtype } from '../../src/model/dtype.js';
import { matmulRef } from '../../src/reference/ops.js';
import { roundUp } from '../../src/gpu/kernel.js';
import { expectClose, randomData, readF32, readU32, run, storage, testRig } from '../helpers/gpu.js';

const DT: Record<WeightFormat, TensorDtype> = { f32: 'F32', f16: 'F16', bf16: 'BF16' };
const FMTS = ['f32', 'f16', 'bf16'] as const;
const PRESETS: Array<[string, MatmulConfig]> = [['gpu', kernelPreset('gpu').matmul], ['cpu', kernelPreset('cpu').matmul]];
const SWEEP_T = [1, 2, 3, 4, 5, 8, 9, 31, 32, 33, 69, 128];
const X_ROW0 = 3;

/** Weights [N, K] in `fmt` padded to Kp, the f32 values the GPU sees, and X [X_ROW0 + T, Kp]. */
function data(T: number, N: number, K: number, fmt: WeightFormat, seed: number) {
  const Kp = roundUp(K, 8);
  const X = randomData(T * K, seed);
  const Wraw = encodeFromF32(randomData(N * K, seed + 1), DT[fmt]);
  const W = decodeToF32(Wraw, DT[fmt]);
  const Xp = new Float32Array((X_ROW0 + T) * Kp);
  for (let t = 0; t < T; t++) Xp.set(X.subarray(t * K, (t + 1) * K), (X_ROW0 + t) * Kp);
  return { Kp, X, W, Xp, Wp: padRows(Wraw, N, K, Kp, DT[fmt]) };
}

/** Rows [row0, row0 + T) of Y [*, Np], columns [0, N). */
function rows(Y: Float32Array, row0: number, T: number, N: number, Np: number): Float32Array {
  const out = new Float32Array(T * N);
  for (let t = 0; t < T; t++) out.set(Y.subarray((row0 + t) * Np, (row0 + t) * Np + N), t * N);
  return out;
}

describe('matmul', () => {
  // Every T of the sweep, both presets, every format, K a multiple of 64 or not, N a multiple of no tile:
  // each T-row result is within tolerance of float64 and bit-identical, row by row, to T = 1 (GEMV).
  for (const [preset, cfg] of PRESETS) {
    for (const fmt of FMTS) {
      for (const [N, K] of [[37, 136], [13, 61], [70, 256]]) {
        it(`${preset} ${fmt} N=${N} K=${K}: T ∈ {${SWEEP_T.join(',')}} match float64 and T = 1 bitwise (xRow0, yRow0 offsets)`, async () => {
          const r = await testRig();
          const Tmax = 128;
          const Np = roundUp(N, 8) + 8;
          const { Kp, X, W, Xp, Wp } = data(Tmax, N, K, fmt, N * 7 + K);
          const wBuf = storage(r.device, Wp);
          const xBuf = storage(r.device, Xp);
          const ref = matmulRef(X, W, Tmax, N, K);
          // GEMV of every row: X row X_ROW0 + t → Y row t.
          const yOne = storage(r.device, Tmax * Np * 4);
          const bgOne = r.cache.bind(kernelFor(r.cache, cfg, fmt, 1), [wBuf, xBuf, yOne]);
          for (let t0 = 0; t0 < Tmax; t0 += 32) {
            await run(r, Array.from({ length: 32 }, (_, i) => matmulPass(r.cache, cfg, bgOne, { T: 1, nRows: N, Kp, fmt, yStride: Np, xRow0: X_ROW0 + t0 + i, yRow0: t0 + i })));
          }
          const one = await readF32(r.device, yOne);
          expectClose(rows(one, 0, Tmax, N, Np), ref, 1e-5 * Math.sqrt(K) * 4, 1e-5, `${preset} ${fmt} T=1`);
          // Every T into its own row range of one Y buffer (yRow0), reading from X_ROW0 (xRow0).
          const yAll = storage(r.device, SWEEP_T.reduce((a, b) => a + b, 0) * Np * 4);
          const passes = [];
          let row0 = 0;
          const at: number[] = [];
          for (const T of SWEEP_T) {
            const bg = r.cache.bind(kernelFor(r.cache, cfg, fmt, T), [wBuf, xBuf, yAll]);
            passes.push(matmulPass(r.cache, cfg, bg, { T, nRows: N, Kp, fmt, yStride: Np, xRow0: X_ROW0, yRow0: row0 }));
            at.push(row0);
            row0 += T;
          }
          await run(r, passes);
          const all = await readF32(r.device, yAll);
          SWEEP_T.forEach((T, i) => {
            const got = rows(all, at[i], T, N, Np);
            expectClose(got, ref.subarray(0, T * N), 1e-5 * Math.sqrt(K) * 4, 1e-5, `${preset} ${fmt} T=${T}`);
            for (let t = 0; t < T; t++) {
              const a = got.subarray(t * N, (t + 1) * N);
              const b = one.subarray(t * Np, t * Np + N);
              if (!a.every((v, n) => Object.is(v, b[n]))) expect.fail(`${preset} ${fmt} T=${T}: row ${t} differs from T = 1`);
            }
            // columns past N stay untouched
            for (let t = 0; t < T; t++) for (let n = N; n < Np; n++) expect(all[(at[i] + t) * Np + n]).toBe(0);
          });
        });
      }
    }

    it(`${preset}: accumulates into Y (fused residual add) bit-identically for T = 1, 9, 33`, async () => {
      const r = await testRig();
      const T = 33; const N = 19; const K = 37; const Np = 24;
      const { Kp, X, W, Xp, Wp } = data(T, N, K, 'f16', 99);
      const Y0 = randomData(T * Np, 100, false);
      const wBuf = storage(r.device, Wp);
      const xBuf = storage(r.device, Xp);
      const results: Float32Array[] = [];
      for (const Tr of [1, 9, 33]) {
        const yBuf = storage(r.device, Y0);
        const bg = r.cache.bind(kernelFor(r.cache, cfg, 'f16', Tr), [wBuf, xBuf, yBuf]);
        const passes = [];
        for (let t0 = 0; t0 < T; t0 += Tr) passes.push(matmulPass(r.cache, cfg, bg, { T: Math.min(Tr, T - t0), nRows: N, Kp, fmt: 'f16', yStride: Np, xRow0: X_ROW0 + t0, yRow0: t0, accumulate: true }));
        await run(r, passes);
        const Y = await readF32(r.device, yBuf);
        expectClose(rows(Y, 0, T, N, Np), matmulRef(X, W, T, N, K, rows(Y0, 0, T, N, Np)), 1e-4, 1e-5, `accumulate T=${Tr}`);
        results.push(Y);
      }
      expect(Array.from(results[1])).toEqual(Array.from(results[0]));
      expect(Array.from(results[2])).toEqual(Array.from(results[0]));
    });
  }

  it('the gpu preset shares each weight fetch over ≥ 32 rows (all rows when T ≤ 32): a 69-row tree fetches each weight 3 times', () => {
    const cfg = kernelPreset('gpu').matmul;
    const N = 2048; const Kp = 2048;
    const r = { get: () => null } as unknown as Parameters<typeof matmulPass>[0];
    const ratio = (T: number) => matmulPass(r, cfg, null as unknown as GPUBindGroup, { T, nRows: N, Kp, fmt: 'f16', yStride: N }).reads!.weights / (N * Kp * 2);
    expect([1, 2, 4, 5, 8, 9, 16, 32, 33, 69, 128].map(ratio)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 4]);
    expect(ratio(69)).toBeLessThanOrEqual(3);
    // at most 4 pipelines per weight format (one per row class)
    expect(new Set(MATMUL_ROW_CASES.map((T) => JSON.stringify(matmulConstants(cfg, 'f16', T)))).size).toBe(4);
  });

  // The load-counting variant: the weight load of the `weight` override also adds its bytes to a counter.
  const COUNTING = `${overrideDefault(MATMUL, 'weight').replace(/^fn loadWeight\(/m, 'fn loadWeightUncounted(')}
@group(0) @binding(3) var<storage, read_write> loads: array<atomic<u32>>;
fn loadWeight(row: u32, c: u32) -> WChunk {
  atomicAdd(&loads[0], select(16u, 32u, WFMT == 0u));
  return loadWeightUncounted(row, c);
}
`;
  const COUNTED = overridePoint(MATMUL, 'weight', COUNTING, 'count', ['rw']);

  for (const [preset, cfg] of PRESETS) {
    it(`${preset}: Pass.reads.weights equals the bytes a load-counting variant fetches (T = 1, 3, 9, 33, 69)`, async () => {
      const r = await testRig();
      for (const fmt of ['f32', 'bf16'] as const) {
        for (const T of [1, 3, 9, 33, 69]) {
          const N = 21; const K = 40;
          const { Kp, Xp, Wp } = data(T, N, K, fmt, T);
          const counter = storage(r.device, new Uint32Array(4));
          const yBuf = storage(r.device, (X_ROW0 + T) * N * 4);
          const wBuf = storage(r.device, Wp);
          const bg = r.cache.bind(kernelFor(r.cache, cfg, fmt, T, COUNTED), [wBuf, storage(r.device, Xp), yBuf, counter]);
          const pass = matmulPass(r.cache, cfg, bg, { T, nRows: N, Kp, fmt, yStride: N }, 'count', COUNTED);
          await run(r, [pass]);
          const [bytes] = await readU32(r.device, counter);
          expect(pass.reads!.weights, `${fmt} T=${T}`).toBe(bytes);
          expect(bytes).toBeGreaterThanOrEqual(N * Kp * WEIGHT_CHUNK_BYTES[fmt] / 8);
          expect(pass.reads!.other).toBeGreaterThan(0);
        }
      }
    });
  }

  it('an equivalent weight override (array<u32> binding, decoding written out) gives identical bits', async () => {
    const r = await testRig();
    const EQUIV = overridePoint(MATMUL, 'weight', `
@group(0) @binding(0) var<storage, read> W: array<u32>;   // [rows, kChunks · words per chunk]
fn half(u: u32) -> vec2<f32> {
  if (WFMT == 1u) { return unpack2x16float(u); }
  return vec2<f32>(bitcast<f32>((u & 0xffffu) << 16u), bitcast<f32>(u & 0xffff0000u));
}
fn loadWeight(row: u32, c: u32) -> WChunk {
  if (WFMT == 0u) {
    let i = 8u * (row * p.kChunks + c);
    var e: array<f32, 8>;
    for (var k = 0u; k < 8u; k++) { e[k] = bitcast<f32>(W[i + k]); }
    return WChunk(vec4<f32>(e[0], e[1], e[2], e[3]), vec4<f32>(e[4], e[5], e[6], e[7]));
  }
  let i = 4u * (row * p.kChunks + c);
  return WChunk(vec4<f32>(half(W[i]), half(W[i + 1u])), vec4<f32>(half(W[i + 2u]), half(W[i + 3u])));
}
`, 'equiv');
    for (const [preset, cfg] of PRESETS) {
      for (const fmt of FMTS) {
        for (const T of [1, 5, 69]) {
          const N = 23; const K = 72;
          const { Kp, Xp, Wp } = data(T, N, K, fmt, 5 + T);
          const wBuf = storage(r.device, Wp);
          const xBuf = storage(r.device, Xp);
          const got: Float32Array[] = [];
          for (const def of [MATMUL, EQUIV]) {
            const yBuf = storage(r.device, T * N * 4);
            await run(r, [matmulPass(r.cache, cfg, r.cache.bind(kernelFor(r.cache, cfg, fmt, T, def), [wBuf, xBuf, yBuf]), { T, nRows: N, Kp, fmt, yStride: N, xRow0: X_ROW0 }, 'mm', def)]);
            got.push(await readF32(r.device, yBuf));
          }
          expect(Array.from(got[1]), `${preset} ${fmt} T=${T}`).toEqual(Array.from(got[0]));
          expect(got[0].some((v) => v !== 0)).toBe(true);
        }
      }
    }
  }, 600_000); // 36 pipelines to compile: past the default 120 s on a loaded 2-core machine
});
