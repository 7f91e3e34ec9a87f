/** KV append wrapper (shaders/kv_append.wgsl): K, V of T new rows → cache rows P..P+T-1. */
import code from '../../shaders/kv_append.wgsl';
import { type KernelCache, type KernelDef, type Pass, ceilDiv, flatGrid } from '../gpu/kernel.js';
import { checkInt } from './shape.js';

export const KV_APPEND: KernelDef = { name: 'kv_append', code, bindings: ['read', 'rw', 'rw'], params: 'uuuuuuuu' };

export interface KvAppendShape {
  T: number;
  P: number;
  /** Hkv · D. */
  rowFloats: number;
  qkvStride: number;
  /** First K column in QKV (H · D); V follows K. */
  kCol: number;
  /** Offsets of this layer in the K and V slabs, floats. */
  kBase: number;
  vBase: number;
  /** Cache rows per plane (for bounds checking). */
  Smax: number;
}

/** `bindGroup` binds (QKV, K slab, V slab). */
export function kvAppendPass(cache: KernelCache, maxPerDim: number, bindGroup: GPUBindGroup, s: KvAppendShape): Pass {
  checkInt('kv_append', 'T', s.T, 1);
  checkInt('kv_append', 'P + T', s.P + s.T, 1, s.Smax);
  checkInt('kv_append', 'kCol + 2·rowFloats', s.kCol + 2 * s.rowFloats, 1, s.qkvStride);
  const [gx, gy] = flatGrid(ceilDiv(s.T * s.rowFloats, 64), maxPerDim);
  return {
    kernel: cache.get(KV_APPEND), bindGroup, label: 'kv_append',
    params: [s.T, s.P, s.rowFloats, s.qkvStride, s.kCol, s.kBase, s.vBase, gx],
    workgroups: [gx, gy, 1],
  };
}
