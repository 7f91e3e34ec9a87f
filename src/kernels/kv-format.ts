/**
 * KV cache element types (issue 12, item 4): the kernels that write, read and compact the KV slabs
 * for each `KvDtype`, made from the `kv` override point (src/kernels/override.ts) of attention,
 * RoPE/KV-append and kv_compact. `f32` is the kernels' default region (one element per word);
 * `f16` stores two halves per u32 word, element 2w in the low half (`pack2x16float` /
 * `unpack2x16float`, so `shader-f16` is not needed), regions in `shaders/formats/f16.kv.*.wgsl`.
 *
 * Rounding: K is rounded to f16 after RoPE (what the kernel stores), V as projected; attention
 * reads them back exactly, in f32. The PyTorch twin rounds the same tensors (test/fixtures/make_fixtures.py
 * `--kv-dtype f16`).
 */
import attentionF16 from '../../shaders/formats/f16.kv.attention.wgsl';
import ropeF16 from '../../shaders/formats/f16.kv.rope_kv_append.wgsl';
import compactF16 from '../../shaders/formats/f16.kv.kv_compact.wgsl';
import { UnsupportedModelError } from '../errors.js';
import type { KernelDef } from '../gpu/kernel.js';
import type { KvDtype } from '../model/memory-plan.js';
import { ATTENTION } from './attention.js';
import { KV_COMPACT } from './kv_compact.js';
import { overridePoint } from './override.js';
import { ROPE_KV_APPEND } from './rope_kv_append.js';

export type { KvDtype };
export const KV_DTYPES: readonly KvDtype[] = ['f16', 'f32'];

/** The three kernels touching the KV slabs for one element type. */
export interface KvKernels {
  dtype: KvDtype;
  attention: KernelDef;
  ropeKvAppend: KernelDef;
  kvCompact: KernelDef;
  /** Bytes per element (attention's `kvBytes`, the traffic model). */
  elementBytes: number;
  /** Elements per storage word (kv_compact's unit): 1 for f32, 2 for f16. */
  elementsPerWord: number;
}

const F16: KvKernels = {
  dtype: 'f16',
  attention: overridePoint(ATTENTION, 'kv', attentionF16, 'kvf16'),
  ropeKvAppend: overridePoint(ROPE_KV_APPEND, 'kv', ropeF16, 'kvf16'),
  kvCompact: overridePoint(KV_COMPACT, 'kv', compactF16, 'kvf16'),
  elementBytes: 2,
  elementsPerWord: 2,
};

const F32: KvKernels = { dtype: 'f32', attention: ATTENTION, ropeKvAppend: ROPE_KV_APPEND, kvCompact: KV_COMPACT, elementBytes: 4, elementsPerWord: 1 };

/**
 * The kernels of KV element type `dtype` (f32: the unchanged default kernels, so the f32 path stays
 * bit-identical).
 * @param rowElems elements per KV row (Hkv·D); must be even for f16, so no word spans two rows.
 *   Every model the kernels accept has D % 4 = 0, so Hkv·D is always even; an odd row is refused.
 * @throws UnsupportedModelError when f16 is asked for an odd row (unreachable for a validated config:
 *   refused rather than padded, since no real model has one).
 */
export function kvKernels(dtype: KvDtype, rowElems: number): KvKernels {
  if (dtype === 'f16' && rowElems % 2 !== 0) throw new UnsupportedModelError('KV row length Hkv·D with an f16 KV cache', rowElems, 'an even number (or kvDtype: \'f32\')');
  return dtype === 'f16' ? F16 : F32;
}
