/** KV compaction wrapper (shaders/kv_compact.wgsl): keep listed rows, pack them from row P. */
import code from '../../shaders/kv_compact.wgsl';
import { type KernelCache, type KernelDef, type Pass, ceilDiv } from '../gpu/kernel.js';
import { checkInt } from './shape.js';

/**
 * Binding: one K or V slab. Override point `kv` (src/kernels/override.ts): declares the slab
 * (binding 0) and defines `copyKV(dst: u32, src: u32)`, copying element src to element dst unchanged.
 * f32 slabs by default.
 */
export const KV_COMPACT: KernelDef = { name: 'kv_compact', code, bindings: ['rw'], params: 'uuuu' + 'U'.repeat(16) };
export const MAX_COMPACT_ROWS = 16;

export interface KvCompactShape {
  /** Absolute source rows to keep, ascending, src[i] ≥ P + i. */
  src: readonly number[];
  P: number;
  rowFloats: number;
  Smax: number;
  /** Layers in this slab. */
  layers: number;
}

/** `bindGroup` binds one K or V slab; `def`: the kernel or a variant of its `kv` override point. */
export function kvCompactPass(cache: KernelCache, bindGroup: GPUBindGroup, s: KvCompactShape, def: KernelDef = KV_COMPACT): Pass {
  checkInt('kv_compact', 'rows', s.src.length, 1, MAX_COMPACT_ROWS);
  for (let i = 0; i < s.src.length; i++) {
    if (!(s.src[i] >= s.P + i && (i === 0 || s.src[i] > s.src[i - 1]) && s.src[i] < s.Smax)) {
      throw new Error(`kv_compact: src must ascend with src[i] ≥ P + i and < Smax; got src=${JSON.stringify(s.src)}, P=${s.P}`);
    }
  }
  const src = new Array<number>(16).fill(0);
  s.src.forEach((r, i) => { src[i] = r; });
  return {
    kernel: cache.get(def), bindGroup, label: 'kv_compact',
    params: [s.src.length, s.P, s.rowFloats, s.Smax * s.rowFloats, ...src],
    workgroups: [ceilDiv(s.rowFloats, 64), s.layers, 1],
  };
}
