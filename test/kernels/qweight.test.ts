// Group-quantized weights (issue 12 groundwork): the quantization rule written once in TS
// (src/model/quantize.ts; PyTorch twin train/quantize_ref.py), and the matmul with the qgroup `weight`
// override (src/kernels/qweight.ts): float64 of the dequantized weights, and every row of a T-row
// forward bit-identical to T = 1 in both kernel configurations.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kernelPreset } from '../../src/gpu/kernel-config.js';
import { roundUp } from '../../src/gpu/kernel.js';
import { kernelFor, matmulPass } from '../../src/kernels/matmul.js';
import { qgroupChunkBytes, qgroupMatmul } from '../../src/kernels/qweight.js';
import { dequantizeRows, quantizeRows, roundHalfEven, type QuantBits } from '../../src/model/quantize.js';
import { matmulRef } from '../../src/reference/ops.js';
import { expectClose, randomData, readF32, run, storage, testRig } from '../helpers/gpu.js';

const root = join(import.meta.dirname, '..', '..');

describe('quantization rule', () => {
  it('rounds half to even, like torch.round', () => {
    expect([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4999, 2.5001, -7].map(roundHalfEven)).toEqual([-2, -2, 0, 0, 2, 2, 2, 3, -7]);
  });

  it('a hand-worked q4 row: scale = amax / 7, q = round(w / scale) + 7, packed low nibble first', () => {
    // K = 8 (one chunk, one partial group of 32): amax 0.7 → scale f32(0.1).
    const w = Float32Array.from([0.7, -0.7, 0, 0.05, 0.35, -0.25, 0.1, 0.649]);
    const m = quantizeRows(w, 1, 8, 4, 32);
    const s = Math.fround(Math.fround(0.7) / 7);
    expect(m.scales[0]).toBe(s);
    const q = Array.from(w, (x) => Math.min(14, Math.max(0, roundHalfEven(Math.fround(x / s)) + 7)));
    expect(q).toEqual([14, 0, 7, 7, 11, 5, 8, 13]); // in f32: 0.05/0.1 = 0.5 → 0 (even); 0.35/0.1 = 3.5000002 → 4; -0.25/0.1 = -2.5 → -2 (even)
    expect(m.qweight[0]).toBe(q.reduce((a, v, i) => a | (v << (4 * i)), 0) >>> 0);
    expect(m.zeros[0]).toBe(7);
  });

  it('an all-zero group keeps q = zero and scale 0; errors stay within scale / 2; 8 bits likewise', () => {
    for (const bits of [4, 8] as const) {
      const N = 3; const K = 100;
      const w = randomData(N * K, 7 + bits);
      w.fill(0, K, K + 32); // row 1, group 0
      const m = quantizeRows(w, N, K, bits, 32);
      expect(m.scales[m.groups]).toBe(0);
      const d = dequantizeRows(m);
      for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) {
        const s = m.scales[n * m.groups + Math.floor(k / 32)];
        expect(Math.abs(d[n * K + k] - w[n * K + k])).toBeLessThanOrEqual(s / 2 * (1 + 1e-6));
      }
    }
  });

  it('refuses what it cannot quantize', () => {
    expect(() => quantizeRows(new Float32Array(8), 1, 8, 3 as QuantBits, 32)).toThrow(/bits must be 4 or 8/);
    expect(() => quantizeRows(new Float32Array(8), 1, 8, 4, 48)).toThrow(/group size must be 32, 64 or 128/);
    expect(() => quantizeRows(Float32Array.of(1, NaN, 0, 0, 0, 0, 0, 0), 1, 8, 4, 32)).toThrow(/\[0, 1\] is not finite/);
  });
});

describe('matmul with group-quantized weights', () => {
  const PRESETS = [['gpu', kernelPreset('gpu').matmul], ['cpu', kernelPreset('cpu').matmul]] as const;
  for (const [preset, cfg] of PRESETS) {
    for (const [bits, group] of [[4, 32], [4, 128], [8, 64]] as const) {
      it(`${preset} q${bits} g${group}: float64 of the dequantized weights, every row bitwise = T 1`, async () => {
        const r = await testRig();
        const def = qgroupMatmul(bits, group);
        for (const [N, K] of [[37, 136], [13, 61]]) {
          const Kp = roundUp(K, 8);
          const m = quantizeRows(randomData(N * K, N + K + bits), N, K, bits, group);
          const W = dequantizeRows(m);
          const bufs = [storage(r.device, m.qweight), storage(r.device, m.scales), storage(r.device, m.zeros)];
          for (const T of [1, 5, 33, 69]) {
            const X = randomData(T * K, T + 3);
            const Xp = new Float32Array(T * Kp);
            for (let t = 0; t < T; t++) Xp.set(X.subarray(t * K, (t + 1) * K), t * Kp);
            const xBuf = storage(r.device, Xp);
            const yT = storage(r.device, T * N * 4);
            const y1 = storage(r.device, T * N * 4);
            const bind = (rows: number, y: GPUBuffer) => r.cache.bind(kernelFor(r.cache, cfg, 'f32', rows, def), [bufs[0], xBuf, y, bufs[1], bufs[2]]);
            const shape = (rows: number, t0: number) => ({ T: rows, nRows: N, Kp, fmt: 'f32' as const, yStride: N, xRow0: t0, yRow0: t0 });
            await run(r, [matmulPass(r.cache, cfg, bind(T, yT), shape(T, 0), 'q', def, qgroupChunkBytes(bits))]);
            const b1 = bind(1, y1);
            for (let t0 = 0; t0 < T; t0 += 32) {
              await run(r, Array.from({ length: Math.min(32, T - t0) }, (_, i) => matmulPass(r.cache, cfg, b1, shape(1, t0 + i), 'q', def, qgroupChunkBytes(bits))));
            }
            const got = await readF32(r.device, yT);
            expectClose(got, matmulRef(X, W, T, N, K), 1e-5 * Math.sqrt(K) * 4, 1e-5, `${preset} q${bits} N=${N} K=${K} T=${T}`);
            expect(Array.from(got), `T=${T} rows = T 1`).toEqual(Array.from(await readF32(r.device, y1)));
          }
        }
      });
    }
  }
});

describe('the rule is the PyTorch one, bit for bit (train/quantize_ref.py)', () => {
  it('qweight, scales, zeros and dequantized values equal PyTorch for q4/q8 × groups 32/64/128 (ties, an all-zero group, a partial last group)', () => {
    for (const [bits, group] of [[4, 32], [4, 64], [4, 128], [8, 32], [8, 64], [8, 128]] as const) {
      const out = execFileSync(join(root, '.venv', 'bin', 'python'), [join(root, 'train', 'quantize_ref.py'), '--seed', String(bits * 1000 + group), '--n', '5', '--k', '197', '--bits', String(bits), '--group', String(group), '--out', '-'], { encoding: 'utf8' });
      const ref = JSON.parse(out) as { n: number; k: number; w: number[]; qweight: number[]; scales: number[]; zeros: number[]; dequant: number[]; cases: { ties: unknown[] } };
      expect(ref.cases.ties.length).toBeGreaterThan(0);
      const m = quantizeRows(Float32Array.from(ref.w), ref.n, ref.k, bits, group);
      const tag = `q${bits} g${group}`;
      expect(Array.from(m.qweight), tag).toEqual(ref.qweight);
      expect(Array.from(m.scales), tag).toEqual(Array.from(Float32Array.from(ref.scales)));
      expect(Array.from(m.zeros), tag).toEqual(ref.zeros);
      expect(Array.from(dequantizeRows(m)), tag).toEqual(Array.from(Float32Array.from(ref.dequant)));
    }
  });
});
