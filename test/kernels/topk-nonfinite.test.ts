// Top-k with NaN and ±infinity planted at awkward positions (first, last, workgroup-lane boundaries,
// between ties, whole rows) against the float64 reference: only finite logits are ranked, and slots
// that no finite logit fills hold the empty id 0xffffffff (value 0), never an id ≥ V.
import { describe, expect, it } from 'vitest';
import { TOPK, TOPK_EMPTY, topkPass } from '../../src/kernels/topk.js';
import { TOPK_EMPTY_REF, topkRef } from '../../src/reference/ops.js';
import { readF32, readU32, rng, run, storage, testRig } from '../helpers/gpu.js';

const QNAN = 0x7fc00000; // quiet NaN
const NEG_QNAN = 0xffc00000; // quiet NaN with the sign bit
const SNAN = 0x7f800001; // signalling NaN (smallest payload)
const ALL_ONES = 0xffffffff; // NaN with every bit set (also the empty id's bit pattern)
const POS_INF = 0x7f800000;
const NEG_INF = 0xff800000;
const F32_MAX = 0x7f7fffff; // largest finite f32 (exponent 0xfe)
const F32_LOWEST = 0xff7fffff; // −F32_MAX
const NANS = [QNAN, NEG_QNAN, SNAN, ALL_ONES];

/** Bits of a row of V finite values in [−4, 4) rounded to 1/8 (many exact ties). */
function finiteRow(V: number, seed: number): Uint32Array {
  const r = rng(seed);
  const f = Float32Array.from({ length: V }, () => Math.round((8 * r() - 4) * 8) / 8);
  return new Uint32Array(f.buffer);
}

function bitsOf(x: number): number {
  return new Uint32Array(Float32Array.of(x).buffer)[0];
}

/** Named rows of V logits (as f32 bit patterns), each planting non-finite values somewhere awkward. */
function cases(V: number): Array<[string, Uint32Array]> {
  const out: Array<[string, Uint32Array]> = [];
  const add = (name: string, f: (row: Uint32Array) => void, seed = out.length + 1) => {
    const row = finiteRow(V, seed);
    f(row);
    out.push([name, row]);
  };
  add('NaN first', (r) => { r[0] = QNAN; });
  add('NaN last', (r) => { r[V - 1] = QNAN; });
  add('NaN between two tied maxima', (r) => {
    const top = bitsOf(9);
    r[1] = top; r[2] = QNAN; r[V - 2] = top; r[V - 1] = NEG_QNAN;
  });
  add('+inf first, −inf last', (r) => { r[0] = POS_INF; r[V - 1] = NEG_INF; });
  add('+inf and NaN at lane boundaries', (r) => {
    for (const i of [63, 64, 127, 128]) if (i < V) r[i] = i % 2 ? POS_INF : SNAN;
  });
  add('every NaN payload, scattered', (r) => { for (let i = 0; i < V; i += 3) r[i] = NANS[i % NANS.length]; });
  add('all NaN', (r) => r.fill(QNAN));
  add('all −inf', (r) => r.fill(NEG_INF));
  add('all +inf', (r) => r.fill(POS_INF));
  add('NaN, +inf, −inf mixed, no finite value', (r) => { for (let i = 0; i < V; i++) r[i] = [QNAN, POS_INF, NEG_INF, ALL_ONES][i % 4]; });
  add('fewer finite values than k, at the extremes', (r) => {
    for (let i = 0; i < V; i++) r[i] = NANS[i % NANS.length];
    r[V - 1] = F32_LOWEST; r[Math.floor(V / 2)] = F32_MAX; r[1] = bitsOf(0.5);
  });
  add('only −F32_MAX among −inf', (r) => { r.fill(NEG_INF); r[V - 1] = F32_LOWEST; });
  add('equal values with NaN interleaved', (r) => { for (let i = 0; i < V; i++) r[i] = i % 2 ? QNAN : bitsOf(1.25); });
  return out;
}

async function topkOnGpu(rows: Uint32Array[], V: number, k: number): Promise<{ ids: Uint32Array; vals: Float32Array }> {
  const r = await testRig();
  const T = rows.length;
  const stride = V + 3; // padded rows; the padding holds NaN too and must be ignored
  const L = new Uint32Array(T * stride).fill(QNAN);
  rows.forEach((row, t) => L.set(row, t * stride));
  const idBuf = storage(r.device, T * k * 4);
  const valBuf = storage(r.device, T * k * 4);
  await run(r, [topkPass(r.cache, r.maxPerDim, r.cache.bind(r.cache.get(TOPK), [storage(r.device, L), idBuf, valBuf]), { T, V, stride, k })]);
  return { ids: await readU32(r.device, idBuf, T * k), vals: await readF32(r.device, valBuf, T * k) };
}

describe('topk: non-finite logits', () => {
  it('the kernel and the reference agree on the empty id', () => {
    expect(TOPK_EMPTY).toBe(TOPK_EMPTY_REF);
  });

  for (const [V, k] of [[301, 10], [301, 1], [17, 16], [5, 5], [200, 16], [301, 64], [64, 64], [130, 64]]) {
    it(`V=${V} k=${k}: each planted row matches the finite-only reference`, async () => {
      const named = cases(V);
      const rows = named.map(([, row]) => row);
      const got = await topkOnGpu(rows, V, k);
      named.forEach(([name, row], t) => {
        const ref = topkRef(new Float32Array(row.buffer), 1, V, k);
        expect(Array.from(got.ids.subarray(t * k, (t + 1) * k)), name).toEqual(ref.ids[0]);
        expect(Array.from(got.vals.subarray(t * k, (t + 1) * k)), name).toEqual(ref.vals[0].map(Math.fround));
        for (const id of got.ids.subarray(t * k, (t + 1) * k)) expect(id === TOPK_EMPTY || id < V, name).toBe(true);
      });
    });
  }

  it('a row with no finite logit returns only empty ids; a single NaN or +inf never wins', async () => {
    const V = 301;
    const k = 10;
    const base = finiteRow(V, 99);
    const argmax = topkRef(new Float32Array(base.buffer), 1, V, 1).ids[0][0];
    const withNan = base.slice(); withNan[(argmax + 1) % V] = QNAN;
    const withInf = base.slice(); withInf[(argmax + 7) % V] = POS_INF;
    const got = await topkOnGpu([new Uint32Array(V).fill(QNAN), new Uint32Array(V).fill(NEG_INF), withNan, withInf], V, k);
    expect(Array.from(got.ids.subarray(0, 2 * k))).toEqual(new Array(2 * k).fill(TOPK_EMPTY));
    expect(got.ids[2 * k]).toBe(argmax);
    expect(got.ids[3 * k]).toBe(argmax);
    expect(Array.from(got.ids.subarray(2 * k, 4 * k))).not.toContain((argmax + 1) % V);
    expect(Array.from(got.ids.subarray(3 * k, 4 * k))).not.toContain((argmax + 7) % V);
  });
});

describe('topk: Pass.reads', () => {
  it('each of the T rows\' V logits once (the padding columns are never loaded)', () => {
    for (const [T, V, k] of [[1, 301, 10], [69, 17, 16]]) {
      const pass = topkPass({ get: () => ({}) } as never, 65535, {} as GPUBindGroup, { T, V, stride: V + 3, k });
      expect(pass.reads).toEqual({ weights: 0, kv: 0, other: T * V * 4 });
    }
  });
});
