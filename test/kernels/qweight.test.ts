// Group-quantized weights, format v2 (issue 12): the rule and format written once in TS
// (src/model/quantize.ts; PyTorch twin train/quantize_ref.py, compared bit for bit), the scale storage
// (f16 pairs, or f32 where an f16 scale would underflow), and the qgroup `weight` override
// (src/kernels/qweight.ts) in the matmul and the embedding gather: float64 of the dequantized weights,
// every row of a T-row forward bit-identical to T = 1, in both kernel configurations and both scale
// storages, with symmetric and asymmetric zero points.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { kernelPreset } from '../../src/gpu/kernel-config.js';
import { roundUp } from '../../src/gpu/kernel.js';
import { embedKernel, embedPass } from '../../src/kernels/embed.js';
import { kernelFor, matmulPass } from '../../src/kernels/matmul.js';
import { qgroupChunkBytes, qgroupEmbed, qgroupMatmul, qgroupName } from '../../src/kernels/qweight.js';
import { f32ToF16 } from '../../src/model/dtype.js';
import {
  dequantizeRows, emptyQuantized, packScales, quantizeRows, roundHalfEven, scaleStorage, type QuantBits, type QuantizedMatrix, type ScaleDtype,
} from '../../src/model/quantize.js';
import { embedRef, matmulRef } from '../../src/reference/ops.js';
import { randomData, readF32, rng, run, storage, testRig } from '../helpers/gpu.js';

const root = join(import.meta.dirname, '..', '..');

describe('quantization rule', () => {
  it('rounds half to even, like torch.round', () => {
    expect([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4999, 2.5001, -7].map(roundHalfEven)).toEqual([-2, -2, 0, 0, 2, 2, 2, 3, -7]);
  });

  it('a hand-worked q4 row: scale = f16(amax / 7), q = round(w / scale) + 8, packed low nibble first, zero 8 in byte 0', () => {
    // K = 8 (one chunk, one partial group of 32): amax 0.7 → f32(0.7 / 7) = 0.10000000149, not an f16
    // number; f16 rounds it to 1638 · 2^-14 = 0.0999755859375 (0.1 / 2^-14 = 1638.4), a normal f16: the scale.
    const w = Float32Array.from([0.7, -0.7, 0, 0.05, 0.35, -0.25, 0.1, 0.649]);
    const m = quantizeRows(w, 1, 8, 4, 32);
    expect(m.scales[0]).toBe(1638 * 2 ** -14);
    // w / scale in f32: 7.0017, -7.0017, 0, 0.50012, 3.50085, -2.50061, 1.00024, 6.4916
    // → c = [7, -7, 0, 1, 4, -3, 1, 6] (with the f32 scale 0.05 and -0.25 would be ties: 0 and -2)
    // → q = c + 8 = [15, 1, 8, 9, 12, 5, 9, 14], nibbles high to low E 9 5 C 9 8 1 F.
    expect(m.qweight[0]).toBe(0xe95c981f);
    expect(m.zeros[0]).toBe(0x00000008);
    expect(Array.from(dequantizeRows(m))).toEqual([7, -7, 0, 1, 4, -3, 1, 6].map((c) => Math.fround(c * 1638 * 2 ** -14)));
    expect(scaleStorage(m.scales)).toBe('f16');
  });

  it('a tiny group keeps its f32 scale (f16 would underflow), and the matrix is stored with f32 scales', () => {
    // s32 = 2^-20 (1 + 2^-10): f16 would make it the subnormal 2^-20; it stays s32. w = s32 · ratios (exact).
    const s32 = 2 ** -20 * (1 + 2 ** -10);
    const ratios = [7, -7, 3, -2, 0.5, 1, 2.5, 0];
    const w = Float32Array.from([...ratios.map((r) => r * s32), 7, 1, 2, 3, 4, 5, 6, -7]);
    const m = quantizeRows(w, 2, 8, 4, 32);
    expect(Array.from(m.scales)).toEqual([s32, 1]);
    // c = [7, -7, 3, -2, 0, 1, 2, 0] → q = [15, 1, 11, 6, 8, 9, 10, 8], nibbles high to low 8 A 9 8 6 B 1 F
    expect(m.qweight[0]).toBe(0x8a986b1f);
    expect(scaleStorage(m.scales)).toBe('f32');
    expect(scaleStorage(m.scales.subarray(1))).toBe('f16');
    expect(() => packScales(m.scales, 2, 1, 'f16')).toThrow(InvalidArgumentError);
  });

  it('a scale past the f16 range (f16 would make it inf) stays f32: values kept, not NaN', () => {
    for (const bits of [4, 8] as const) {
      // amax = 70000 M → s32 = 70000; w / 70000 = [M, −M/2, 0.5, 1.5] → c = [M, −4 | −64, 0, 2] (ties to even)
      const M = bits === 4 ? 7 : 127;
      const m = quantizeRows(Float32Array.of(70000 * M, -35000 * M, 35000, 105000, 0, 0, 0, 0), 1, 8, bits, 32);
      expect(Array.from(m.scales)).toEqual([70000]);
      expect(scaleStorage(m.scales)).toBe('f32');
      const c = [M, bits === 4 ? -4 : -64, 0, 2, 0, 0, 0, 0];
      expect(Array.from(dequantizeRows(m))).toEqual(c.map((x) => x * 70000));
      // q = c + 8 = [15, 4, 8, 10, 8, 8, 8, 8], nibbles high to low 8 8 8 8 A 8 4 F
      if (bits === 4) expect(m.qweight[0]).toBe(0x8888a84f);
      expect(Array.from(quantizeRows(Float32Array.of(65504 * M, 0, 0, 0, 0, 0, 0, 0), 1, 8, bits, 32).scales)).toEqual([65504]);
    }
  });

  it('8-bit zero points, four per word, for many groups and both bit widths; error within scale / 2', () => {
    for (const bits of [4, 8] as const) {
      const N = 3; const K = 300; // Kp 304 → 10 groups of 32 → 3 zeros words per row
      const w = randomData(N * K, 7 + bits);
      w.fill(0, K, K + 32); // row 1, group 0
      const m = quantizeRows(w, N, K, bits, 32);
      const z = bits === 4 ? 0x08 : 0x80;
      const full = (z | (z << 8) | (z << 16) | (z << 24)) >>> 0;
      expect(m.groups).toBe(10);
      expect(Array.from(m.zeros)).toEqual([full, full, z | (z << 8), full, full, z | (z << 8), full, full, z | (z << 8)]);
      expect(m.scales[m.groups]).toBe(0);
      const d = dequantizeRows(m);
      for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) {
        const s = m.scales[n * m.groups + Math.floor(k / 32)];
        expect(Math.abs(d[n * K + k] - w[n * K + k])).toBeLessThanOrEqual(s / 2 * (1 + 1e-3));
      }
    }
  });

  it('refuses what it cannot quantize', () => {
    expect(() => quantizeRows(new Float32Array(8), 1, 8, 3 as QuantBits, 32)).toThrow(/bits must be 4 or 8/);
    expect(() => quantizeRows(new Float32Array(8), 1, 8, 4, 48)).toThrow(/group size must be 32, 64 or 128/);
    expect(() => quantizeRows(Float32Array.of(1, NaN, 0, 0, 0, 0, 0, 0), 1, 8, 4, 32)).toThrow(/\[0, 1\] is not finite/);
  });
});

describe('scale storage: scaleStorage and packScales', () => {
  it('f16 when every scale is an f16 number, normal or 0; f32 otherwise', () => {
    expect(scaleStorage(Float32Array.of(0, 1, 2 ** -14, 65504, -0.5, 1638 * 2 ** -14))).toBe('f16');
    expect(scaleStorage(Float32Array.of(1, Math.fround(1 + 2 ** -12)))).toBe('f32'); // not an f16 number
    expect(scaleStorage(Float32Array.of(1, 2 ** -15))).toBe('f32'); // an f16 subnormal
    expect(scaleStorage(Float32Array.of(2 ** -14 - 2 ** -24))).toBe('f32'); // the largest f16 subnormal
    expect(scaleStorage(Float32Array.of(65536))).toBe('f32'); // past the f16 range
    expect(scaleStorage(Float32Array.of(Infinity))).toBe('f32'); // an f16 number, but not a normal one
  });

  it('f16 pairs, the even group in the low half; an odd group count leaves the last high half 0', () => {
    // f16 bits: 1 = 3C00, 0.5 = 3800, 2 = 4000, -1 = BC00, 0 = 0000, 65504 = 7BFF
    const s = Float32Array.of(1, 0.5, 2, -1, 0, 65504);
    expect(Array.from(packScales(s, 2, 3, 'f16'))).toEqual([0x38003c00, 0x00004000, 0x0000bc00, 0x00007bff]);
    expect(Array.from(packScales(s, 3, 2, 'f16'))).toEqual([0x38003c00, 0xbc004000, 0x7bff0000]);
    // f32: the words are the f32 bits, one per group
    expect(Array.from(packScales(s, 2, 3, 'f32'))).toEqual(Array.from(new Uint32Array(s.buffer)));
    // a subarray (non-zero byteOffset) packs its own values
    const tail = s.subarray(3);
    expect(Array.from(packScales(tail, 1, 3, 'f32'))).toEqual(Array.from(new Uint32Array(s.buffer, 12, 3)));
    expect(Array.from(packScales(tail, 1, 3, 'f16'))).toEqual([0x0000bc00, 0x00007bff]);
  });

  it('refuses to store as f16 a scale that f16 would change or that f16 holds only as a subnormal', () => {
    for (const bad of [Math.fround(1 + 2 ** -12), 65536, Infinity, 2 ** -15, 2 ** -20 * (1 + 2 ** -10), NaN]) {
      const s = Float32Array.of(1, bad, 0.5);
      expect(scaleStorage(s)).toBe('f32');
      expect(() => packScales(s, 1, 3, 'f16'), String(bad)).toThrow(InvalidArgumentError);
      expect(() => packScales(s, 1, 3, 'f16'), String(bad)).toThrow(/scale \[0, 1\] = .* is not/);
    }
  });
});

describe('qgroup kernel variants', () => {
  it('are named by format and cached per (kernel, format)', () => {
    expect([qgroupName(4, 32), qgroupName(4, 32, 'f32'), qgroupName(8, 128, 'f16')]).toEqual(['q4g32', 'q4g32s32', 'q8g128']);
    expect(qgroupMatmul(4, 32, 'f16')).toBe(qgroupMatmul(4, 32));
    expect(qgroupMatmul(4, 32, 'f32')).not.toBe(qgroupMatmul(4, 32, 'f16'));
    expect(qgroupEmbed(4, 32, 'f16')).not.toBe(qgroupMatmul(4, 32, 'f16'));
    expect(qgroupMatmul(8, 64, 'f32').code).toContain('const QSCALE_F16: bool = false;');
    expect(qgroupEmbed(8, 64).code).toContain('const QSCALE_F16: bool = true;');
  });
});

/**
 * A symmetric matrix by the load-time rule whose scales need `scale` storage: for 'f32', row 1's first
 * group is scaled by 1e-7 (its f16 scale would underflow).
 */
function symmetric(N: number, K: number, bits: QuantBits, group: number, scale: ScaleDtype, seed: number): QuantizedMatrix {
  const w = randomData(N * K, seed);
  if (scale === 'f32') for (let k = 0; k < Math.min(group, K); k++) w[K + k] *= 1e-7;
  const m = quantizeRows(w, N, K, bits, group);
  expect(scaleStorage(m.scales)).toBe(scale);
  return m;
}

/**
 * Random codes, 8-bit zero points anywhere in 0..255 (16 for 4 bits among them, as GPTQ v1 asymmetric
 * checkpoints store; 0 and 255 too) and random scales that are f16 numbers ('f16') or not ('f32').
 */
function asymmetric(N: number, K: number, bits: QuantBits, group: number, scale: ScaleDtype, seed: number): QuantizedMatrix {
  const r = rng(seed);
  const m = emptyQuantized(N, K, bits, group);
  for (let i = 0; i < m.qweight.length; i++) m.qweight[i] = Math.floor(r() * 2 ** 32) >>> 0;
  const zWords = Math.ceil(m.groups / 4);
  const special = [16, 0, 255, bits === 4 ? 7 : 128];
  for (let n = 0; n < N; n++) for (let g = 0; g < m.groups; g++) {
    const i = n * m.groups + g;
    const z = i < special.length ? special[i] : Math.floor(r() * 256);
    m.zeros[n * zWords + (g >> 2)] = (m.zeros[n * zWords + (g >> 2)] | (z << ((g & 3) * 8))) >>> 0;
    const s = (r() + 0.05) * 2 ** -6;
    m.scales[i] = scale === 'f16' ? Math.fround(2 ** -6 * (1 + Math.floor(r() * 1024) / 1024)) : Math.fround(s);
  }
  expect(scaleStorage(m.scales)).toBe(scale);
  return m;
}

/** The GPU buffers of a quantized matrix (rows r0 .. r0 + rows): qweight, scales in `scale` storage, zeros. */
function uploadRows(device: GPUDevice, m: QuantizedMatrix, scale: ScaleDtype, r0 = 0, rows = m.N): GPUBuffer[] {
  const q = (m.Kp * m.bits) / 32; const z = Math.ceil(m.groups / 4);
  const s = packScales(m.scales.subarray(r0 * m.groups, (r0 + rows) * m.groups), rows, m.groups, scale);
  return [storage(device, m.qweight.subarray(r0 * q, (r0 + rows) * q)), storage(device, s), storage(device, m.zeros.subarray(r0 * z, (r0 + rows) * z))];
}

describe('matmul with group-quantized weights', () => {
  const PRESETS = [['gpu', kernelPreset('gpu').matmul], ['cpu', kernelPreset('cpu').matmul]] as const;
  const FORMATS = [[4, 32, 'f16'], [4, 128, 'f32'], [8, 64, 'f16'], [8, 32, 'f32']] as const;
  // Symmetric [37, 136]: 5 groups of 32 / 3 of 64 / 2 of 128 (odd counts leave half an f16 scale word);
  // asymmetric [13, 61]: Kp 64, the padding features decode to (q − zero) · scale, multiplied by X's zeros.
  // T 1, 5, 33: the GEMV, a small tile and the large tile with a partial last block.

  async function check(preset: string, cfg: (typeof PRESETS)[number][1], m: QuantizedMatrix, scale: ScaleDtype, Ts: readonly number[], tag: string) {
    const r = await testRig();
    const def = qgroupMatmul(m.bits, m.group, scale);
    const { N, K, Kp } = m;
    const W = dequantizeRows(m);
    const bufs = uploadRows(r.device, m, scale);
    for (const T of Ts) {
      const X = randomData(T * K, T + 3);
      const Xp = new Float32Array(T * Kp);
      for (let t = 0; t < T; t++) Xp.set(X.subarray(t * K, (t + 1) * K), t * Kp);
      const xBuf = storage(r.device, Xp);
      const yT = storage(r.device, T * N * 4);
      const y1 = storage(r.device, T * N * 4);
      const bind = (rows: number, y: GPUBuffer) => r.cache.bind(kernelFor(r.cache, cfg, 'f32', rows, def), [bufs[0], xBuf, y, bufs[1], bufs[2]]);
      const shape = (rows: number, t0: number) => ({ T: rows, nRows: N, Kp, fmt: 'f32' as const, yStride: N, xRow0: t0, yRow0: t0 });
      await run(r, [matmulPass(r.cache, cfg, bind(T, yT), shape(T, 0), 'q', def, qgroupChunkBytes(m.bits))]);
      const b1 = bind(1, y1);
      for (let t0 = 0; t0 < T; t0 += 32) {
        await run(r, Array.from({ length: Math.min(32, T - t0) }, (_, i) => matmulPass(r.cache, cfg, b1, shape(1, t0 + i), 'q', def, qgroupChunkBytes(m.bits))));
      }
      const got = await readF32(r.device, yT);
      const what = `${preset} ${tag} N=${N} K=${K} T=${T}`;
      // f32 products and sums of exact f32 inputs: |error| ≤ K · 2^-24 · Σ|x||w| (Higham's γ_K bound)
      const ref = matmulRef(X, W, T, N, K);
      const mag = matmulRef(X.map(Math.abs), W.map(Math.abs), T, N, K);
      const bad = Array.from(got).findIndex((v, i) => !(Math.abs(v - ref[i]) <= K * 2 ** -24 * mag[i]));
      expect(bad, `${what}: first out of bound (got ${got[bad]}, ref ${ref[bad]})`).toBe(-1);
      expect(Array.from(got), `${what}: rows = T 1`).toEqual(Array.from(await readF32(r.device, y1)));
    }
  }

  for (const [preset, cfg] of PRESETS) {
    for (const [bits, group, scale] of FORMATS) {
      const name = qgroupName(bits, group, scale);
      it(`${preset} ${name}: float64 of the dequantized weights, every row bitwise = T 1; symmetric and asymmetric zero points`, async () => {
        await check(preset, cfg, symmetric(37, 136, bits, group, scale, 37 + bits), scale, [1, 5, 33], name);
        const m = asymmetric(13, 61, bits, group, scale, bits * 31 + group);
        // 4 bits: the zero point 16 of row 0, group 0 lies above every code (0..15), so all its values are negative
        if (bits === 4) expect(dequantizeRows(m).subarray(0, Math.min(group, 61)).every((v) => v < 0)).toBe(true);
        await check(preset, cfg, m, scale, [1, 5, 33], `asymmetric ${name}`);
      });
    }
  }
});

describe('embedding gather with group-quantized weights (qgroupEmbed)', () => {
  for (const [bits, group, scale, asym] of [[4, 32, 'f16', false], [4, 64, 'f32', false], [8, 32, 'f16', true], [8, 128, 'f32', false], [4, 32, 'f32', true]] as const) {
    it(`${qgroupName(bits, group, scale)}${asym ? ' asymmetric' : ''}: gathered rows equal the dequantized rows exactly, table in two row chunks (v0 > 0)`, async () => {
      const r = await testRig();
      const V = 37; const C = 76; const T = 13; // C 76 → Kp 80: a partial last chunk and (for G 32) 3 groups
      const m = asym ? asymmetric(V, C, bits, group, scale, 5 + bits) : symmetric(V, C, bits, group, scale, 11 + bits);
      const Kp = roundUp(C, 8);
      const E = dequantizeRows(m);
      const ids = Uint32Array.from({ length: T }, (_, i) => (i * 7 + 1) % V);
      ids[0] = 1; // row 1: the tiny group of the f32 variant
      ids[1] = V - 1;
      const idBuf = storage(r.device, ids);
      const xBuf = storage(r.device, new Float32Array(T * Kp).fill(NaN));
      const def = qgroupEmbed(bits, group, scale);
      const split = 20;
      for (const [v0, n] of [[0, split], [split, V - split]]) {
        const bufs = uploadRows(r.device, m, scale, v0, n);
        const bg = r.cache.bind(embedKernel(r.cache, 'f32', def), [bufs[0], idBuf, xBuf, bufs[1], bufs[2]]);
        const inChunk = Array.from(ids).filter((id) => id >= v0 && id < v0 + n).length;
        expect(inChunk).toBeGreaterThan(0);
        await run(r, [embedPass(r.cache, r.maxPerDim, bg, { T, C, Kp, fmt: 'f32', v0, vRows: n, tokensInChunk: inChunk }, def, qgroupChunkBytes(bits))]);
      }
      const X = await readF32(r.device, xBuf);
      const got = new Float32Array(T * C);
      for (let t = 0; t < T; t++) got.set(X.subarray(t * Kp, t * Kp + C), t * C);
      expect(Array.from(got)).toEqual(Array.from(embedRef(E, ids, C)));
    });
  }
});

describe('the rule is the PyTorch one, bit for bit (train/quantize_ref.py)', () => {
  it('qweight, scales, zeros, dequantized values and scale storage equal PyTorch for q4/q8 × groups 32/64/128, with and without a tiny group', () => {
    // One Python process for the 12 cases: quantize_ref.case_json is the CLI's JSON (its pytest checks that).
    const script = [
      'import json, sys',
      `sys.path.insert(0, ${JSON.stringify(join(root, 'train'))})`,
      'from quantize_ref import case_json',
      'print(json.dumps([case_json(b * 1000 + g + n, n, 197, b, g) for b in (4, 8) for g in (32, 64, 128) for n in (5, 2)]))',
    ].join('\n');
    const refs = JSON.parse(execFileSync(join(root, '.venv', 'bin', 'python'), ['-c', script], { encoding: 'utf8', maxBuffer: 64 << 20 })) as {
      n: number; k: number; bits: QuantBits; group: number; scale_storage: ScaleDtype;
      w: number[]; qweight: number[]; scales: number[]; zeros: number[]; dequant: number[];
      cases: { ties: unknown[]; tiny_group: { row: number; group: number } | null };
    }[];
    expect(refs.length).toBe(12);
    for (const ref of refs) {
      const tag = `q${ref.bits} g${ref.group} n${ref.n}`;
      expect(ref.cases.ties.length, tag).toBeGreaterThan(0);
      expect(ref.scale_storage, tag).toBe(ref.cases.tiny_group ? 'f32' : 'f16');
      const m = quantizeRows(Float32Array.from(ref.w), ref.n, ref.k, ref.bits, ref.group);
      expect(Array.from(m.qweight), tag).toEqual(ref.qweight);
      expect(Array.from(m.scales), tag).toEqual(Array.from(Float32Array.from(ref.scales)));
      expect(Array.from(m.zeros), tag).toEqual(ref.zeros);
      expect(Array.from(dequantizeRows(m)), tag).toEqual(Array.from(Float32Array.from(ref.dequant)));
      expect(scaleStorage(m.scales), tag).toBe(ref.scale_storage);
      // the f16 storage holds every scale exactly: unpacking the pairs gives the scales back
      if (ref.scale_storage === 'f16') {
        const packed = packScales(m.scales, m.N, m.groups, 'f16');
        const sw = Math.ceil(m.groups / 2);
        for (let n = 0; n < m.N; n++) for (let g = 0; g < m.groups; g++) {
          expect((packed[n * sw + (g >> 1)] >>> ((g & 1) * 16)) & 0xffff, tag).toBe(f32ToF16(m.scales[n * m.groups + g]));
        }
      }
    }
  });
});
