// The `kv` override point hosts packed KV formats: RoPE/KV-append stores 4 consecutive elements of one
// KV row per call (bit-identical to the old one-pair-per-thread kernel), compaction copies storage
// words, attention's Pass.reads takes the element size; a packed f16 variant (2 elements per u32)
// runs through all three (the shipped f16 variants of src/kernels/kv-format.ts). Also Pass.reads of kv_compact (load-counting variant) and RoPE/KV-append.
import { describe, expect, it } from 'vitest';
import oldRopeCode from '../fixtures/wgsl/rope_kv_append.pairs.wgsl';
import { type KernelDef, ceilDiv, flatGrid, roundUp } from '../../src/gpu/kernel.js';
import { kernelPreset } from '../../src/gpu/kernel-config.js';
import { ATTENTION, causalMask } from '../../src/kernels/attention.js';
import { KV_COMPACT, kvCompactPass } from '../../src/kernels/kv_compact.js';
import { kvKernels } from '../../src/kernels/kv-format.js';
import { overridePoint } from '../../src/kernels/override.js';
import { ROPE_KV_APPEND, ropeKvAppendPass } from '../../src/kernels/rope_kv_append.js';
import { decodeToF32 } from '../../src/model/dtype.js';
import { buildRopeTable } from '../../src/model/rope.js';
import { randomTree, runAttention } from '../helpers/attention.js';
import { expectClose, type Rig, randomData, readU32, rng, run, storage, testRig } from '../helpers/gpu.js';

/** The pre-change kernel: one thread per RoPE pair, f32 stores of single elements. */
const OLD_ROPE: KernelDef = { name: 'rope_kv_append.pairs', code: oldRopeCode, bindings: ['rw', 'read', 'read', 'rw', 'rw'], params: 'uuuuuuuuu' };

/** f16 KV: two elements per u32 word (element 2w in the low half): the shipped variants (src/kernels/kv-format.ts). */
const F16_ROPE = kvKernels('f16', 2).ropeKvAppend;
const F16_COMPACT = kvKernels('f16', 2).kvCompact;
/** kv_compact whose word loads also add their bytes to a counter (binding 1). */
const COUNTING_COMPACT = overridePoint(KV_COMPACT, 'kv', `
@group(0) @binding(0) var<storage, read_write> KV: array<u32>;
@group(0) @binding(1) var<storage, read_write> kvBytes: atomic<u32>;
fn copyKV(dst: u32, src: u32) { atomicAdd(&kvBytes, 4u); KV[dst] = KV[src]; }
`, 'count', ['rw']);
/** Attention over f16 KV that counts 2 bytes per element load (binding 5). */
const COUNTING_F16_ATTENTION = overridePoint(ATTENTION, 'kv', `
@group(0) @binding(1) var<storage, read> Kc: array<u32>;
@group(0) @binding(2) var<storage, read> Vc: array<u32>;
@group(0) @binding(5) var<storage, read_write> kvBytes: atomic<u32>;
fn loadK(i: u32) -> f32 { atomicAdd(&kvBytes, 2u); return unpack2x16float(Kc[i / 2u])[i % 2u]; }
fn loadV(i: u32) -> f32 { atomicAdd(&kvBytes, 2u); return unpack2x16float(Vc[i / 2u])[i % 2u]; }
`, 'f16count', ['rw']);

interface RopeCase { T: number; P: number; H: number; Hkv: number; D: number }

/** Inputs of one RoPE/KV-append run: layer 1 of a 2-layer slab, random non-contiguous positions. */
function ropeInputs(c: RopeCase) {
  const Smax = c.P + c.T + 3; const layers = 2;
  const stride = roundUp((c.H + 2 * c.Hkv) * c.D, 8);
  const rowF = c.Hkv * c.D; const plane = Smax * rowF;
  const invFreq = Float64Array.from({ length: c.D / 2 }, (_, i) => 1 / 10000 ** ((2 * i) / c.D));
  const rand = rng(c.T * 13 + c.D);
  return {
    Smax, layers, stride, rowF, plane, base: plane,
    qkv: randomData(c.T * stride, c.D + c.H + c.T),
    pos: Uint32Array.from({ length: c.T }, () => Math.floor(rand() * Smax)),
    table: buildRopeTable(invFreq, Smax),
  };
}

/** Runs `def` (new kernel or a variant; `old` = the pre-change kernel) and returns QKV, K and V slab words. */
async function runRope(r: Rig, c: RopeCase, def: KernelDef | 'old', wordsPerElement = 1) {
  const x = ropeInputs(c);
  const slabWords = (x.layers * x.plane) * wordsPerElement;
  const qkvBuf = storage(r.device, x.qkv);
  const kBuf = storage(r.device, new Uint32Array(slabWords).fill(0x7fc00001));
  const vBuf = storage(r.device, new Uint32Array(slabWords).fill(0x7fc00002));
  const bufs = [qkvBuf, storage(r.device, x.pos), storage(r.device, x.table), kBuf, vBuf];
  if (def === 'old') {
    const [gx, gy] = flatGrid(ceilDiv(c.T * (c.H + c.Hkv) * (c.D / 2), 64), r.maxPerDim);
    await run(r, [{ kernel: r.cache.get(OLD_ROPE), bindGroup: r.cache.bind(r.cache.get(OLD_ROPE), bufs), label: 'old rope',
      params: [c.T, c.H, c.Hkv, c.D / 2, x.stride, c.P, x.base, x.base, gx], workgroups: [gx, gy, 1] }]);
  } else {
    await run(r, [ropeKvAppendPass(r.cache, r.maxPerDim, r.cache.bind(r.cache.get(def), bufs),
      { ...c, stride: x.stride, kBase: x.base, vBase: x.base, Smax: x.Smax }, def)]);
  }
  return { x, qkv: await readU32(r.device, qkvBuf), k: await readU32(r.device, kBuf), v: await readU32(r.device, vBuf) };
}

const ROPE_CASES: RopeCase[] = [
  { T: 1, P: 0, H: 4, Hkv: 2, D: 8 },
  { T: 3, P: 5, H: 3, Hkv: 3, D: 20 },    // D/2 = 10: a quad straddles the RoPE half
  { T: 17, P: 40, H: 8, Hkv: 2, D: 16 },
  { T: 5, P: 1, H: 6, Hkv: 2, D: 64 },
  { T: 69, P: 23, H: 4, Hkv: 2, D: 48 },  // 64 / 12 = 5 heads per workgroup, 4 threads idle
  { T: 2, P: 3, H: 2, Hkv: 1, D: 256 },   // one head per workgroup
  { T: 7, P: 2, H: 2, Hkv: 2, D: 4 },
];

describe('rope_kv_append: 4 elements of one KV row per store', () => {
  for (const c of ROPE_CASES) {
    it(`bit-identical to the one-pair-per-thread kernel: T=${c.T} P=${c.P} H=${c.H} Hkv=${c.Hkv} D=${c.D}`, async () => {
      const r = await testRig();
      const old = await runRope(r, c, 'old');
      const now = await runRope(r, c, ROPE_KV_APPEND);
      expect(now.k.some((w) => w !== 0x7fc00001)).toBe(true);
      expect(Array.from(now.qkv)).toEqual(Array.from(old.qkv));
      expect(Array.from(now.k)).toEqual(Array.from(old.k));
      expect(Array.from(now.v)).toEqual(Array.from(old.v));
    });
  }

  it('the default override is storeK4/storeV4 of a vec4', () => {
    // (Old contract: storeK(i, x) of one element per thread, adjacent threads on adjacent elements.)
    expect(ROPE_KV_APPEND.code).toContain('fn storeK4(row: u32, e0: u32, v: vec4<f32>)');
    expect(ROPE_KV_APPEND.code).not.toMatch(/fn storeK\(/);
  });

  for (const c of [ROPE_CASES[1], ROPE_CASES[4], { T: 9, P: 4, H: 4, Hkv: 4, D: 12 }]) {
    it(`a packed f16 KV variant writes whole words (no shared-word race): T=${c.T} H=${c.H} Hkv=${c.Hkv} D=${c.D}`, async () => {
      const r = await testRig();
      const f32 = await runRope(r, c, ROPE_KV_APPEND);
      const f16 = await runRope(r, c, F16_ROPE, 0.5);
      expect(Array.from(f16.qkv)).toEqual(Array.from(f32.qkv));
      const { base, rowF } = f32.x;
      for (const [w16, w32] of [[f16.k, f32.k], [f16.v, f32.v]]) {
        const rows = [base + c.P * rowF, base + (c.P + c.T) * rowF];
        const got = decodeToF32(new Uint8Array(w16.buffer, rows[0] * 2, c.T * rowF * 2), 'F16');
        const want = new Float32Array(w32.buffer, rows[0] * 4, c.T * rowF);
        expectClose(got, want, 1e-4, 1e-3, 'f16 slab');
        // Words outside the new rows keep their fill.
        for (let i = 0; i < w16.length; i++) if (i < rows[0] / 2 || i >= rows[1] / 2) expect(w16[i] === 0x7fc00001 || w16[i] === 0x7fc00002).toBe(true);
      }
    });
  }

  it('Pass.reads: QKV, position and cos/sin loads, stated per thread', () => {
    const r = { get: () => ({}) } as never;
    for (const c of ROPE_CASES) {
      const pass = ropeKvAppendPass(r, 65535, {} as GPUBindGroup, { ...c, stride: (c.H + 2 * c.Hkv) * c.D, kBase: 0, vBase: 0, Smax: c.P + c.T });
      // Per element of every rotated head: the element, its partner (f32) and one (cos, sin) pair;
      // per thread (4 elements) the position; per key head the D copied V floats.
      const threads = c.T * (c.H + c.Hkv) * (c.D / 4);
      const expected = threads * 4 + c.T * (c.H + c.Hkv) * c.D * (4 + 4 + 8) + c.T * c.Hkv * c.D * 4;
      expect(pass.reads).toEqual({ weights: 0, kv: 0, other: expected });
    }
  });

  it('rejects a head dim that is not a multiple of 4 or over 256, and a base inside a row', () => {
    const r = { get: () => ({}) } as never; const bg = {} as GPUBindGroup;
    const s = { T: 1, P: 0, H: 2, Hkv: 1, stride: 2048, kBase: 0, vBase: 0, Smax: 16 };
    expect(() => ropeKvAppendPass(r, 65535, bg, { ...s, D: 6 })).toThrow(/D must be a multiple of 4/);
    expect(() => ropeKvAppendPass(r, 65535, bg, { ...s, D: 260 })).toThrow(/D/);
    expect(() => ropeKvAppendPass(r, 65535, bg, { ...s, D: 8, kBase: 4 })).toThrow(/whole KV rows/);
  });
});

describe('kv_compact: the unit is one storage word of a row', () => {
  it('a packed f16 slab (rowWords = Hkv·D/2) compacts to exactly the kept rows', async () => {
    const r = await testRig();
    const Smax = 30; const rowWords = 6; const layers = 2; const P = 8; const src = [9, 11, 12, 20];
    const slab = Uint32Array.from({ length: layers * Smax * rowWords }, (_, i) => (i * 2654435761) >>> 0);
    const buf = storage(r.device, slab);
    await run(r, [kvCompactPass(r.cache, r.cache.bind(r.cache.get(F16_COMPACT), [buf]), { src, P, rowWords, Smax, layers }, F16_COMPACT)]);
    const ref = Uint32Array.from(slab);
    for (let l = 0; l < layers; l++) src.forEach((s, i) => ref.set(slab.subarray((l * Smax + s) * rowWords, (l * Smax + s + 1) * rowWords), (l * Smax + P + i) * rowWords));
    expect(Array.from(await readU32(r.device, buf))).toEqual(Array.from(ref));
  });

  for (const [src, P] of [[[10, 12, 15], 10], [[10, 11, 12], 10], [[11], 10], [[12, 14, 16, 18, 19, 20, 21, 30], 5]] as const) {
    it(`Pass.reads.kv = the bytes a load-counting variant copies: src=${JSON.stringify(src)} P=${P}`, async () => {
      const r = await testRig();
      const Smax = 40; const rowWords = 70; const layers = 3;
      const counter = storage(r.device, new Uint32Array(4));
      const pass = kvCompactPass(r.cache, r.cache.bind(r.cache.get(COUNTING_COMPACT), [storage(r.device, layers * Smax * rowWords * 4), counter]),
        { src, P, rowWords, Smax, layers }, COUNTING_COMPACT);
      await run(r, [pass]);
      const [counted] = await readU32(r.device, counter, 1);
      expect(pass.reads).toEqual({ weights: 0, kv: counted, other: 0 });
      expect(counted).toBe(layers * rowWords * 4 * src.filter((s, i) => s !== P + i).length);
    });
  }
});

describe('attention: Pass.reads.kv takes the KV element size', () => {
  const cfg = kernelPreset('gpu').attention;
  for (const [kind, c] of [
    ['causal', { T: 5, P: 17, H: 4, Hkv: 2, D: 8, mask: causalMask(5) }],
    ['random tree', { T: 33, P: 15, H: 4, Hkv: 1, D: 12, mask: randomTree(33, 4).mask }],
  ] as const) {
    it(`f16 KV (2 bytes per element): ${kind} T=${c.T}`, async () => {
      const r = await testRig();
      const counter = storage(r.device, new Uint32Array(4));
      const { pass } = await runAttention(c, 5, cfg, { def: COUNTING_F16_ATTENTION, extra: [counter], kvBytes: 2 });
      const [counted] = await readU32(r.device, counter, 1);
      expect(counted).toBeGreaterThan(0);
      expect(pass.reads?.kv).toBe(counted);
      const { pass: f32 } = await runAttention(c, 5, cfg);
      expect(f32.reads?.kv).toBe(2 * counted);
    });
  }

  it('rejects a non-positive element size', async () => {
    await expect(runAttention({ T: 1, P: 3, H: 2, Hkv: 1, D: 4, mask: causalMask(1) }, 1, cfg, { kvBytes: 0 })).rejects.toThrow(/kvBytes/);
  });
});
