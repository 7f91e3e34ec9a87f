/**
 * Attention wrapper (shaders/attention.wgsl): T query rows over P cached keys plus the T new keys
 * under an additive T×T mask block (causal for prefill/AR, the ancestor mask for a draft tree).
 */
import code from '../../shaders/attention.wgsl';
import type { KernelCache, KernelDef, Pass } from '../gpu/kernel.js';
import { checkInt, checkMultiple } from './shape.js';

export const ATTENTION: KernelDef = { name: 'attention', code, bindings: ['read', 'read', 'read', 'read', 'rw'], params: 'uuuuuuuuuuuuf' };

/** Largest T one attention dispatch accepts (size of the visible-row list in workgroup memory). */
export const ATTENTION_MAX_T = 256;
/** Mask entries at or below this are "masked"; hosts write −3.4e38 for −∞. */
export const MASKED = -3.4e38;

/** Attention part of the engine's kernel configuration (src/gpu/kernel-config.ts). */
export interface AttentionConfig {
  /** Softmax block = keys per online-softmax step (16, 32 or 64), engine-wide. */
  block: number;
}

export interface AttentionShape {
  T: number;
  P: number;
  H: number;
  Hkv: number;
  D: number;
  qStride: number;
  outStride: number;
  kBase: number;
  vBase: number;
  /** Offset of the mask block in the mask library buffer, floats. */
  maskBase: number;
  /** Row stride of the mask block, floats (default T). */
  maskStride?: number;
  Smax: number;
  /** Softmax scale, default 1/sqrt(D). */
  scale?: number;
}

/** `bindGroup` binds (QKV, K slab, V slab, mask library, O). `wg` = softmax block (16, 32 or 64), engine-wide. */
export function attentionPass(cache: KernelCache, bindGroup: GPUBindGroup, s: AttentionShape, wg = 64): Pass {
  checkInt('attention', 'T', s.T, 1, ATTENTION_MAX_T);
  checkInt('attention', 'P + T', s.P + s.T, 1, s.Smax);
  checkInt('attention', 'D', s.D, 4, 256);
  checkMultiple('attention', 'D', s.D, 4);
  checkInt('attention', 'Hkv', s.Hkv, 1, s.H);
  checkInt('attention', 'maskStride', s.maskStride ?? s.T, s.T);
  checkMultiple('attention', 'H', s.H, s.Hkv);
  return {
    kernel: attentionKernel(cache, wg), bindGroup, label: 'attention',
    params: [s.T, s.P, s.H, s.H / s.Hkv, s.D / 4, s.qStride, s.outStride, s.Hkv * s.D, s.kBase, s.vBase, s.maskBase, s.maskStride ?? s.T, s.scale ?? 1 / Math.sqrt(s.D)],
    workgroups: [s.H, s.T, 1],
  };
}

export function attentionKernel(cache: KernelCache, wg = 64) {
  return cache.get(ATTENTION, attentionConstants(wg));
}

/** Override constants of the attention pipeline with softmax block `wg` (16, 32 or 64). */
export function attentionConstants(wg = 64): Record<string, number> {
  if (![16, 32, 64].includes(wg)) throw new Error(`attention: block size must be 16, 32 or 64, got ${wg}`);
  return { MAX_T: ATTENTION_MAX_T, WG: wg };
}

/** Causal additive mask [T, T]: 0 on and below the diagonal, {@link MASKED} above. */
export function causalMask(T: number): Float32Array<ArrayBuffer> {
  const m = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = MASKED;
  return m;
}
