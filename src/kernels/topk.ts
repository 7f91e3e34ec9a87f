/**
 * Top-k wrapper (shaders/topk.wgsl): per-row k best *finite* logits, ties to the lowest id; [0] =
 * argmax. NaN and ±inf are never ranked; slots no finite logit fills get id {@link TOPK_EMPTY}.
 */
import code from '../../shaders/topk.wgsl';
import type { KernelCache, KernelDef, Pass, PassReads } from '../gpu/kernel.js';
import { checkInt } from './shape.js';

export const TOPK: KernelDef = { name: 'topk', code, bindings: ['read', 'rw', 'rw'], params: 'uuuu' };
/** Largest k per row (sampling's candidate set, README "Sampling"); the kernel's MAXK. */
export const MAX_TOPK = 64;
/** Id of a top-k slot that no finite logit fills (reads as −1 in an Int32Array). */
export const TOPK_EMPTY = 0xffffffff;

export interface TopkShape {
  T: number;
  V: number;
  stride: number;
  k: number;
  row0?: number;
}

/**
 * `bindGroup` binds (logits [row0 + T, stride] f32, ids out [T, k] u32, values out [T, k] f32). Sets
 * `reads` ({@link topkReads}).
 * @throws ShapeError when T is outside [1, maxPerDim], k outside [1, min(64, V)] or V > stride.
 */
export function topkPass(cache: KernelCache, maxPerDim: number, bindGroup: GPUBindGroup, s: TopkShape): Pass {
  checkInt('topk', 'T', s.T, 1, maxPerDim);
  checkInt('topk', 'k', s.k, 1, Math.min(MAX_TOPK, s.V));
  checkInt('topk', 'V', s.V, 1, s.stride);
  return {
    kernel: cache.get(TOPK), bindGroup, label: 'topk',
    params: [s.V, s.stride, s.k, s.row0 ?? 0],
    workgroups: [s.T, 1, 1],
    reads: topkReads(s),
  };
}

/** Bytes the kernel loads from global memory: each of the T rows' V logits once (f32). */
export function topkReads(s: Pick<TopkShape, 'T' | 'V'>): PassReads {
  return { weights: 0, kv: 0, other: s.T * s.V * 4 };
}
