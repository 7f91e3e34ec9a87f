// The matmul with the per-input-feature group index variant (shaders/formats/qgroup-gidx.weight.wgsl,
// `qgroupGidxMatmul`): GPTQ desc_act weights (src/model/prequant.ts) keep their g_idx as gidx [Kp]. Float64
// of the dequantized weights, and every row of a T-row forward bit-identical to T = 1, in both kernel
// configurations, with f16 and f32 scales and random zero points.
import { describe, expect, it } from 'vitest';
import { kernelPreset } from '../../src/gpu/kernel-config.js';
import { roundUp } from '../../src/gpu/kernel.js';
import { kernelFor, matmulPass } from '../../src/kernels/matmul.js';
import { qgroupGidxChunkBytes, qgroupGidxMatmul } from '../../src/kernels/qweight.js';
import { dequantizeQuantized, type QuantizedTensor } from '../../src/model/prequant.js';
import { packScales, quantizeRows, scaleStorage, toF16Value, type QuantBits } from '../../src/model/quantize.js';
import { matmulRef } from '../../src/reference/ops.js';
import { expectClose, randomData, readF32, run, storage, testRig } from '../helpers/gpu.js';

/** A matrix with a scrambled group index (each group keeps its size), random zero points and f16- or f32-exact scales. */
function scrambled(N: number, K: number, bits: QuantBits, group: number, f32Scales: boolean, seed: number): QuantizedTensor {
  const m = quantizeRows(randomData(N * K, seed), N, K, bits, group);
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24;
  const zmax = bits === 4 ? 17 : 256;
  for (let i = 0; i < m.zeros.length; i++) m.zeros[i] = [0, 1, 2, 3].reduce((w, j) => w | (Math.floor(rand() * zmax) << (8 * j)), 0) >>> 0;
  for (let i = 0; i < m.scales.length; i++) m.scales[i] = f32Scales ? Math.fround(m.scales[i] * (1 + rand() / 3)) : toF16Value(m.scales[i] * (1 + rand() / 3));
  const perm = Array.from({ length: K }, (_, k) => k);
  for (let k = K - 1; k > 0; k--) { const j = Math.floor(rand() * (k + 1)); [perm[k], perm[j]] = [perm[j], perm[k]]; }
  const gidx = new Uint32Array(m.Kp);
  for (let i = 0; i < K; i++) gidx[perm[i]] = Math.floor(i / group);
  return { name: 'w', matrix: m, gidx };
}

describe('matmul with group-quantized weights and a per-K group index', () => {
  // Every format on the cpu preset; the gpu preset (16 lanes, 32-row tiles: slow to compile on software
  // adapters) with one format, since the override region is the same in both.
  const CASES = [
    ['gpu', kernelPreset('gpu').matmul, 4, 32, false],
    ['cpu', kernelPreset('cpu').matmul, 4, 32, false], ['cpu', kernelPreset('cpu').matmul, 8, 64, true], ['cpu', kernelPreset('cpu').matmul, 4, 128, true],
  ] as const;
  for (const [preset, cfg, bits, group, f32Scales] of CASES) {
    it(`${preset} q${bits} g${group} ${f32Scales ? 'f32' : 'f16'} scales: float64 of the dequantized weights, every row bitwise = T 1`, async () => {
      const r = await testRig();
      for (const [N, K] of [[37, 136], [13, 61]]) {
        const t = scrambled(N, K, bits, group, f32Scales, N * K + bits);
        const m = t.matrix;
        const sd = scaleStorage(m.scales);
        expect(sd).toBe(f32Scales ? 'f32' : 'f16');
        const def = qgroupGidxMatmul(bits, group, sd);
        const Kp = roundUp(K, 8);
        const W = dequantizeQuantized(t);
        const bufs = [storage(r.device, m.qweight), storage(r.device, packScales(m.scales, N, m.groups, sd)), storage(r.device, m.zeros), storage(r.device, t.gidx as Uint32Array)];
        for (const T of [1, 5, 69]) { // every row class: 1, 2..4 / 5..8, ≥ 9
          const X = randomData(T * K, T + 3);
          const Xp = new Float32Array(T * Kp);
          for (let i = 0; i < T; i++) Xp.set(X.subarray(i * K, (i + 1) * K), i * Kp);
          const xBuf = storage(r.device, Xp);
          const yT = storage(r.device, T * N * 4);
          const y1 = storage(r.device, T * N * 4);
          const bind = (rows: number, y: GPUBuffer) => r.cache.bind(kernelFor(r.cache, cfg, 'f32', rows, def), [bufs[0], xBuf, y, bufs[1], bufs[2], bufs[3]]);
          const shape = (rows: number, t0: number) => ({ T: rows, nRows: N, Kp, fmt: 'f32' as const, yStride: N, xRow0: t0, yRow0: t0 });
          await run(r, [matmulPass(r.cache, cfg, bind(T, yT), shape(T, 0), 'q', def, qgroupGidxChunkBytes())]);
          const b1 = bind(1, y1);
          for (let t0 = 0; t0 < T; t0 += 32) {
            await run(r, Array.from({ length: Math.min(32, T - t0) }, (_, i) => matmulPass(r.cache, cfg, b1, shape(1, t0 + i), 'q', def, qgroupGidxChunkBytes())));
          }
          const got = await readF32(r.device, yT);
          const scale = Math.max(...Array.from(W, Math.abs));
          expectClose(got, matmulRef(X, W, T, N, K), 1e-5 * Math.sqrt(K) * 4 * Math.max(1, scale * 10), 1e-5, `${preset} q${bits} N=${N} K=${K} T=${T}`);
          expect(Array.from(got), `T=${T} rows = T 1`).toEqual(Array.from(await readF32(r.device, y1)));
        }
      }
    }, 400_000);
  }
});
