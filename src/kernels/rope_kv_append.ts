/**
 * RoPE + KV append wrapper (shaders/rope_kv_append.wgsl): rotates the H query heads of QKV rows in
 * place and writes the rotated Hkv key heads and the Hkv value heads of the T new rows into one
 * layer of the KV cache at rows P..P+T-1. One dispatch per layer (RoFormer, Su et al. 2021, §3.4).
 */
import code from '../../shaders/rope_kv_append.wgsl';
import { type KernelCache, type KernelDef, type Pass, ceilDiv, flatGrid } from '../gpu/kernel.js';
import { checkInt, checkMultiple } from './shape.js';

/**
 * Bindings: (QKV, positions, cos/sin table, K slab, V slab). Override point `kv`
 * (src/kernels/override.ts): declares the K and V slabs (bindings 3 and 4) and defines
 * `storeK(i: u32, x: f32)` and `storeV(i: u32, x: f32)`, writing element i (index in elements:
 * layer base + row·Hkv·D + head·D + d) from the f32 value x. f32 slabs by default.
 */
export const ROPE_KV_APPEND: KernelDef = { name: 'rope_kv_append', code, bindings: ['rw', 'read', 'read', 'rw', 'rw'], params: 'uuuuuuuuu' };

export interface RopeKvAppendShape {
  /** New rows (T). */
  T: number;
  /** First destination cache row (P, = cached rows). */
  P: number;
  /** Query heads H and key/value heads Hkv. */
  H: number;
  Hkv: number;
  /** Head dim D (even). */
  D: number;
  /** QKV row stride, floats (≥ (H + 2·Hkv)·D). */
  stride: number;
  /** Offsets of this layer in the K and V slabs, floats. */
  kBase: number;
  vBase: number;
  /** Cache rows per plane (P + T must fit). */
  Smax: number;
}

/**
 * `bindGroup` binds (QKV [T, stride] f32, positions [T] u32, cos/sin table [Smax, D/2] vec2 f32,
 * K slab, V slab). `def`: the kernel or a variant of its `kv` override point. Throws if D is odd,
 * P + T > Smax or the heads do not fit the stride.
 */
export function ropeKvAppendPass(cache: KernelCache, maxPerDim: number, bindGroup: GPUBindGroup, s: RopeKvAppendShape, def: KernelDef = ROPE_KV_APPEND): Pass {
  checkInt('rope_kv_append', 'T', s.T, 1);
  checkInt('rope_kv_append', 'H', s.H, 1);
  checkInt('rope_kv_append', 'Hkv', s.Hkv, 1);
  checkMultiple('rope_kv_append', 'D', s.D, 2);
  checkInt('rope_kv_append', 'P + T', s.P + s.T, 1, s.Smax);
  checkInt('rope_kv_append', '(H + 2·Hkv)·D', (s.H + 2 * s.Hkv) * s.D, 1, s.stride);
  const [gx, gy] = flatGrid(ceilDiv(s.T * (s.H + s.Hkv) * (s.D / 2), 64), maxPerDim);
  return {
    kernel: cache.get(def), bindGroup, label: 'rope_kv_append',
    params: [s.T, s.H, s.Hkv, s.D / 2, s.stride, s.P, s.kBase, s.vBase, gx],
    workgroups: [gx, gy, 1],
  };
}
