/**
 * RoPE + KV append wrapper (shaders/rope_kv_append.wgsl): rotates the H query heads of QKV rows in
 * place and writes the rotated Hkv key heads and the Hkv value heads of the T new rows into one
 * layer of the KV cache at rows P..P+T-1. One dispatch per layer (RoFormer, Su et al. 2021, §3.4).
 */
import code from '../../shaders/rope_kv_append.wgsl';
import { type KernelCache, type KernelDef, type Pass, type PassReads, ceilDiv, flatGrid } from '../gpu/kernel.js';
import { checkInt, checkMultiple, ShapeError } from './shape.js';

/**
 * Bindings: (QKV, positions, cos/sin table, K slab, V slab). Override point `kv`
 * (src/kernels/override.ts): declares the K and V slabs (bindings 3 and 4) and defines
 * `storeK4(row: u32, e0: u32, v: vec4<f32>)` and `storeV4(row: u32, e0: u32, v: vec4<f32>)`,
 * writing elements e0..e0+3 of KV row `row` (slab row = layer·Smax + cache row; e0 = head·D + d,
 * a multiple of 4; `p.rowElems` = Hkv·D elements per row) from the f32 values v. Each call is the only
 * writer of its 4 elements, so a packed format (2 f16 per u32, q8 with row scales) owns whole words.
 * f32 slabs (one vec4 store) by default.
 */
export const ROPE_KV_APPEND: KernelDef = { name: 'rope_kv_append', code, bindings: ['rw', 'read', 'read', 'rw', 'rw'], params: 'uuuuuuuuuuu' };

/** Workgroup size of the kernel (threads; a workgroup holds ⌊64 / (D/4)⌋ whole heads). */
const WG = 64;

export interface RopeKvAppendShape {
  /** New rows (T). */
  T: number;
  /** First destination cache row (P, = cached rows). */
  P: number;
  /** Query heads H and key/value heads Hkv. */
  H: number;
  Hkv: number;
  /** Head dim D (multiple of 4, ≤ 256). */
  D: number;
  /** QKV row stride, floats (≥ (H + 2·Hkv)·D). */
  stride: number;
  /** Offsets of this layer in the K and V slabs, elements (multiples of Hkv·D: layer·Smax·Hkv·D). */
  kBase: number;
  vBase: number;
  /** Cache rows per plane (P + T must fit). */
  Smax: number;
  /** Rotary dims R (even, 2 ≤ R ≤ D; default D): dims R .. D−1 of each head pass through (partial rotary). */
  R?: number;
}

/**
 * `bindGroup` binds (QKV [T, stride] f32, positions [T] u32, cos/sin table [Smax, R/2] vec2 f32,
 * K slab, V slab). `def`: the kernel or a variant of its `kv` override point. Sets `reads`
 * ({@link ropeKvAppendReads}).
 * @throws ShapeError if D is not a multiple of 4 in [4, 256], R is not even in [2, D], P + T > Smax, the heads do not fit
 *   the stride, or kBase/vBase are not whole KV rows.
 */
export function ropeKvAppendPass(cache: KernelCache, maxPerDim: number, bindGroup: GPUBindGroup, s: RopeKvAppendShape, def: KernelDef = ROPE_KV_APPEND): Pass {
  checkInt('rope_kv_append', 'T', s.T, 1);
  checkInt('rope_kv_append', 'H', s.H, 1);
  checkInt('rope_kv_append', 'Hkv', s.Hkv, 1);
  checkInt('rope_kv_append', 'D', s.D, 4, 256);
  checkMultiple('rope_kv_append', 'D', s.D, 4);
  const R = s.R ?? s.D;
  checkInt('rope_kv_append', 'R', R, 2, s.D);
  checkMultiple('rope_kv_append', 'R', R, 2);
  checkInt('rope_kv_append', 'P + T', s.P + s.T, 1, s.Smax);
  checkInt('rope_kv_append', '(H + 2·Hkv)·D', (s.H + 2 * s.Hkv) * s.D, 1, s.stride);
  const rowElems = s.Hkv * s.D;
  if (s.kBase % rowElems !== 0 || s.vBase % rowElems !== 0) {
    throw new ShapeError('rope_kv_append', `kBase and vBase must be whole KV rows (multiples of Hkv·D = ${rowElems}), got ${s.kBase} and ${s.vBase}`);
  }
  const hpw = Math.floor(WG / (s.D / 4));
  const [gx, gy] = flatGrid(ceilDiv(s.T * (s.H + s.Hkv), hpw), maxPerDim);
  return {
    kernel: cache.get(def), bindGroup, label: 'rope_kv_append',
    params: [s.T, s.H, s.Hkv, s.D, s.stride, s.kBase / rowElems + s.P, s.vBase / rowElems + s.P, rowElems, hpw, gx, R],
    workgroups: [gx, gy, 1],
    reads: ropeKvAppendReads(s),
  };
}

/**
 * Bytes the kernel loads for shape `s` (all `other`: it reads no weights and no KV rows): each of the
 * T·(H + Hkv)·D/4 threads loads its row's position (4 B) and, per owned element, the element and its
 * RoPE partner (2 × 4 B) and one (cos, sin) pair (8 B); a key-head thread also loads its 4 V floats.
 */
export function ropeKvAppendReads(s: Pick<RopeKvAppendShape, 'T' | 'H' | 'Hkv' | 'D'>): PassReads {
  const quads = s.D / 4;
  const perThread = 4 + 4 * (2 * 4 + 8);
  return { weights: 0, kv: 0, other: s.T * quads * ((s.H + s.Hkv) * perThread + s.Hkv * 4 * 4) };
}
