/** KV compaction wrapper (shaders/kv_compact.wgsl): keep listed rows, pack them from row P. */
import code from '../../shaders/kv_compact.wgsl';
import { type KernelCache, type KernelDef, type Pass, type PassReads, ceilDiv } from '../gpu/kernel.js';
import { checkInt } from './shape.js';

/**
 * Binding: one K or V slab. Override point `kv` (src/kernels/override.ts): declares the slab
 * (binding 0) and defines `copyKV(dst: u32, src: u32)`, copying storage word src of the slab to word
 * dst unchanged (word index = layer·Smax·rowWords + row·rowWords + j, j < rowWords). The unit is the
 * format's storage word, so a packed format (2 f16 per u32) copies whole words; the wrapper is given
 * words per row. f32 slabs (one element per word) by default.
 */
export const KV_COMPACT: KernelDef = { name: 'kv_compact', code, bindings: ['rw'], params: 'uuuu' + 'U'.repeat(16) };
export const MAX_COMPACT_ROWS = 16;
/** Bytes of one storage word of a KV slab (the unit of `copyKV`). */
const WORD_BYTES = 4;

export interface KvCompactShape {
  /** Absolute source rows to keep, ascending, src[i] ≥ P + i. */
  src: readonly number[];
  P: number;
  /** Storage words (u32 / f32) per KV row: Hkv·D for f32 KV, Hkv·D/2 for 2 f16 per word. */
  rowWords: number;
  Smax: number;
  /** Layers in this slab. */
  layers: number;
}

/**
 * `bindGroup` binds one K or V slab; `def`: the kernel or a variant of its `kv` override point. Sets
 * `reads.kv`: every moved row (src[i] ≠ P + i) has each of its words loaded once, in every layer.
 * @throws Error when more than 16 rows are listed or src does not ascend with src[i] ≥ P + i, < Smax.
 */
export function kvCompactPass(cache: KernelCache, bindGroup: GPUBindGroup, s: KvCompactShape, def: KernelDef = KV_COMPACT): Pass {
  checkInt('kv_compact', 'rows', s.src.length, 1, MAX_COMPACT_ROWS);
  checkInt('kv_compact', 'rowWords', s.rowWords, 1);
  for (let i = 0; i < s.src.length; i++) {
    if (!(s.src[i] >= s.P + i && (i === 0 || s.src[i] > s.src[i - 1]) && s.src[i] < s.Smax)) {
      throw new Error(`kv_compact: src must ascend with src[i] ≥ P + i and < Smax; got src=${JSON.stringify(s.src)}, P=${s.P}`);
    }
  }
  const src = new Array<number>(16).fill(0);
  s.src.forEach((r, i) => { src[i] = r; });
  const moved = s.src.filter((r, i) => r !== s.P + i).length;
  const reads: PassReads = { weights: 0, kv: s.layers * moved * s.rowWords * WORD_BYTES, other: 0 };
  return {
    kernel: cache.get(def), bindGroup, label: 'kv_compact',
    params: [s.src.length, s.P, s.rowWords, s.Smax * s.rowWords, ...src],
    workgroups: [ceilDiv(s.rowWords, 64), s.layers, 1],
    reads,
  };
}
