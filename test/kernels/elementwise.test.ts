// Embedding gather, RMSNorm, RoPE fused with the KV append, SwiGLU and KV compaction against float64 references.
import { describe, expect, it } from 'vitest';
import { embedKernel, embedPass } from '../../src/kernels/embed.js';
import { RMSNORM, rmsnormPass } from '../../src/kernels/rmsnorm.js';
import { ROPE_KV_APPEND, ropeKvAppendPass } from '../../src/kernels/rope_kv_append.js';
import { SWIGLU, swigluPass } from '../../src/kernels/swiglu.js';
import { KV_COMPACT, kvCompactPass } from '../../src/kernels/kv_compact.js';
import { decodeToF32, encodeFromF32, padRows } from '../../src/model/dtype.js';
import { embedRef, rmsnormRef, ropeRef, swigluRef } from '../../src/reference/ops.js';
import { buildRopeTable } from '../../src/model/rope.js';
import { roundUp } from '../../src/gpu/kernel.js';
import { expectClose, randomData, readF32, rng, run, storage, testRig } from '../helpers/gpu.js';

describe('embed', () => {
  for (const [fmt, dt] of [['f32', 'F32'], ['f16', 'F16'], ['bf16', 'BF16']] as const) {
    it(`${fmt}: gathers rows across two vocabulary chunks, odd C`, async () => {
      const r = await testRig();
      const V = 37; const C = 13; const Kp = roundUp(C, 8); const T = 11;
      const raw = encodeFromF32(randomData(V * C, 3), dt);
      const E = decodeToF32(raw, dt);
      const padded = padRows(raw, V, C, Kp, dt);
      const split = 20; const rowBytes = padded.byteLength / V;
      const ids = Uint32Array.from({ length: T }, (_, i) => (i * 7 + 3) % V);
      const idBuf = storage(r.device, ids);
      const xBuf = storage(r.device, T * Kp * 4);
      const k = embedKernel(r.cache, fmt);
      const chunks = [[0, split], [split, V - split]];
      await run(r, chunks.map(([v0, n]) => embedPass(r.cache, r.maxPerDim,
        r.cache.bind(k, [storage(r.device, padded.slice(v0 * rowBytes, (v0 + n) * rowBytes)), idBuf, xBuf]),
        { T, C, Kp, fmt, v0, vRows: n })));
      const X = await readF32(r.device, xBuf);
      const ref = embedRef(E, ids, C);
      const got = new Float32Array(T * C);
      for (let t = 0; t < T; t++) { got.set(X.subarray(t * Kp, t * Kp + C), t * C); for (let c = C; c < Kp; c++) expect(X[t * Kp + c]).toBe(0); }
      expectClose(got, ref, 0, 0, 'embed');
    });
  }
});

describe('rmsnorm', () => {
  for (const [T, C] of [[1, 7], [3, 64], [17, 130], [69, 48]]) {
    it(`T=${T} C=${C}`, async () => {
      const r = await testRig();
      const stride = roundUp(C, 8);
      const X = randomData(T * stride, T + C);
      const g = randomData(C, 7);
      const yBuf = storage(r.device, T * stride * 4);
      await run(r, [rmsnormPass(r.cache, r.maxPerDim, r.cache.bind(r.cache.get(RMSNORM), [storage(r.device, X), storage(r.device, g), yBuf]), { T, C, stride, eps: 1e-5 })]);
      const Y = await readF32(r.device, yBuf);
      const Xl = new Float32Array(T * C); const Yl = new Float32Array(T * C);
      for (let t = 0; t < T; t++) { Xl.set(X.subarray(t * stride, t * stride + C), t * C); Yl.set(Y.subarray(t * stride, t * stride + C), t * C); }
      expectClose(Yl, rmsnormRef(Xl, g, T, C, 1e-5), 1e-6, 2e-6, 'rmsnorm');
    });
  }

  it('Pass.reads: X twice and g once per row', () => {
    const cache = { get: () => ({}) } as never;
    for (const [T, C] of [[1, 7], [17, 130], [69, 48]]) {
      const pass = rmsnormPass(cache, 65535, {} as GPUBindGroup, { T, C, stride: roundUp(C, 8), eps: 1e-5 });
      // Sum-of-squares loop and scaling loop each load the row's C floats; g (a weight) is loaded once.
      expect(pass.reads).toEqual({ weights: T * C * 4, kv: 0, other: 2 * T * C * 4 });
    }
  });
});

describe('rope + KV append', () => {
  for (const [T, H, Hkv, D, P] of [[1, 4, 2, 8, 0], [3, 3, 3, 20, 5], [17, 8, 2, 16, 40], [5, 6, 2, 64, 1], [69, 4, 2, 48, 23]]) {
    it(`T=${T} H=${H} Hkv=${Hkv} D=${D} P=${P}, non-contiguous positions, second layer of a slab`, async () => {
      const r = await testRig();
      const Smax = 300; const layers = 2; const layer = 1;
      const invFreq = Float64Array.from({ length: D / 2 }, (_, i) => 1 / 10000 ** ((2 * i) / D));
      const table = buildRopeTable(invFreq, Smax);
      const rand = rng(T * 31 + D);
      const pos = Uint32Array.from({ length: T }, () => Math.floor(rand() * Smax));
      const stride = roundUp((H + 2 * Hkv) * D, 8);
      const rowF = Hkv * D; const plane = Smax * rowF; const base = layer * plane;
      const qkv = randomData(T * stride, D + H);
      const qkvBuf = storage(r.device, qkv);
      const kBuf = storage(r.device, new Float32Array(layers * plane).fill(-1));
      const vBuf = storage(r.device, new Float32Array(layers * plane).fill(-2));
      await run(r, [ropeKvAppendPass(r.cache, r.maxPerDim,
        r.cache.bind(r.cache.get(ROPE_KV_APPEND), [qkvBuf, storage(r.device, pos), storage(r.device, table), kBuf, vBuf]),
        { T, P, H, Hkv, D, stride, kBase: base, vBase: base, Smax })]);
      const out = await readF32(r.device, qkvBuf);
      const K = await readF32(r.device, kBuf);
      const V = await readF32(r.device, vBuf);
      // Reference: RoPE over the H query and Hkv key heads of each row.
      const w = (H + Hkv) * D;
      const xin = new Float32Array(T * w);
      for (let t = 0; t < T; t++) xin.set(qkv.subarray(t * stride, t * stride + w), t * w);
      const ref = ropeRef(xin, pos, T, H + Hkv, D, invFreq);
      const qGot = new Float32Array(T * H * D); const qRef = new Float64Array(T * H * D);
      const kGot = new Float32Array(T * rowF); const kRef = new Float64Array(T * rowF);
      for (let t = 0; t < T; t++) {
        qGot.set(out.subarray(t * stride, t * stride + H * D), t * H * D);
        qRef.set(ref.subarray(t * w, t * w + H * D), t * H * D);
        kGot.set(K.subarray(base + (P + t) * rowF, base + (P + t + 1) * rowF), t * rowF);
        kRef.set(ref.subarray(t * w + H * D, (t + 1) * w), t * rowF);
        // K, V and padding columns of QKV untouched; V rows copied exactly.
        for (let j = H * D; j < stride; j++) expect(out[t * stride + j]).toBe(qkv[t * stride + j]);
        for (let j = 0; j < rowF; j++) expect(V[base + (P + t) * rowF + j]).toBe(qkv[t * stride + w + j]);
      }
      expectClose(qGot, qRef, 1e-6, 1e-5, 'rope q');
      expectClose(kGot, kRef, 1e-6, 1e-5, 'rope k → cache');
      // Nothing outside rows P..P+T-1 of this layer is written.
      for (const [buf, fill] of [[K, -1], [V, -2]] as const) {
        for (let i = 0; i < buf.length; i++) {
          const row = Math.floor((i % plane) / rowF);
          if (!(Math.floor(i / plane) === layer && row >= P && row < P + T)) expect(buf[i]).toBe(fill);
        }
      }
    });
  }

  it('rejects a destination past the cache and a head dim that is not a multiple of 4', async () => {
    const r = await testRig();
    const bg = {} as GPUBindGroup;
    expect(() => ropeKvAppendPass(r.cache, r.maxPerDim, bg, { T: 4, P: 13, H: 2, Hkv: 1, D: 8, stride: 32, kBase: 0, vBase: 0, Smax: 16 })).toThrow(/P \+ T/);
    expect(() => ropeKvAppendPass(r.cache, r.maxPerDim, bg, { T: 1, P: 0, H: 2, Hkv: 1, D: 7, stride: 32, kBase: 0, vBase: 0, Smax: 16 })).toThrow(/D must be a multiple of 4/);
    expect(() => ropeKvAppendPass(r.cache, r.maxPerDim, bg, { T: 1, P: 0, H: 2, Hkv: 1, D: 6, stride: 32, kBase: 0, vBase: 0, Smax: 16 })).toThrow(/D must be a multiple of 4/);
  });
});

describe('swiglu', () => {
  it('T=17 F=131, with large |gate|', async () => {
    const r = await testRig();
    const T = 17; const F = 131; const gs = roundUp(2 * F, 8); const as = roundUp(F, 8);
    const gu = randomData(T * gs, 11).map((v, i) => (i % 97 === 0 ? v * 200 : v * 4));
    const aBuf = storage(r.device, T * as * 4);
    await run(r, [swigluPass(r.cache, r.maxPerDim, r.cache.bind(r.cache.get(SWIGLU), [storage(r.device, gu), aBuf]), { T, F, guStride: gs, aStride: as })]);
    const A = await readF32(r.device, aBuf);
    const gl = new Float32Array(T * 2 * F); const al = new Float32Array(T * F);
    for (let t = 0; t < T; t++) { gl.set(gu.subarray(t * gs, t * gs + 2 * F), t * 2 * F); al.set(A.subarray(t * as, t * as + F), t * F); }
    expectClose(al, swigluRef(gl, T, F), 1e-6, 1e-5, 'swiglu');
  });

  it('Pass.reads: one gate and one up float per output', () => {
    const pass = swigluPass({ get: () => ({}) } as never, 65535, {} as GPUBindGroup, { T: 17, F: 131, guStride: 264, aStride: 136 });
    expect(pass.reads).toEqual({ weights: 0, kv: 0, other: 17 * 131 * 2 * 4 });
  });
});

describe('KV cache ops', () => {
  it('compaction keeps the listed rows in order, including overlapping source/destination rows', async () => {
    const r = await testRig();
    const Smax = 40; const rowF = 12; const layers = 3; const P = 10;
    const cases = [[10, 12, 15], [10, 11, 12, 13, 14, 15], [10, 13, 14, 20, 33], [11], [12, 14, 16, 18, 19, 20]];
    for (const src of cases) {
      const kv = Float32Array.from({ length: layers * 2 * Smax * rowF }, (_, i) => i);
      const buf = storage(r.device, kv);
      await run(r, [kvCompactPass(r.cache, r.cache.bind(r.cache.get(KV_COMPACT), [buf]), { src, P, rowWords: rowF, Smax, layers: 2 * layers })]);
      const out = await readF32(r.device, buf);
      const ref = Float32Array.from(kv);
      for (let pl = 0; pl < 2 * layers; pl++) {
        const rows = src.map((s) => kv.slice((pl * Smax + s) * rowF, (pl * Smax + s + 1) * rowF));
        rows.forEach((row, i) => ref.set(row, (pl * Smax + P + i) * rowF));
      }
      expect(Array.from(out)).toEqual(Array.from(ref));
    }
  });

  it('rejects a source list that would read an overwritten row', () => {
    expect(() => kvCompactPass({ get: () => ({}) } as never, {} as GPUBindGroup, { src: [12, 11], P: 10, rowWords: 4, Smax: 20, layers: 1 })).toThrow(/ascend/);
  });
});
