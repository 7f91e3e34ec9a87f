/**
 * Per-head RMSNorm wrapper (shaders/head_rmsnorm.wgsl): the H query and Hkv key heads of fused QKV
 * rows are RMS-normalised over D in place, with the q_norm and k_norm weights (Qwen3, before RoPE).
 */
import code from '../../shaders/head_rmsnorm.wgsl';
import { type KernelCache, type KernelDef, type Pass, type PassReads, ceilDiv, flatGrid } from '../gpu/kernel.js';
import { checkInt } from './shape.js';

export const HEAD_RMSNORM: KernelDef = { name: 'head_rmsnorm', code, bindings: ['rw', 'read'], params: 'uuuuuuff' };

export interface HeadRmsNormShape {
  T: number;
  H: number;
  Hkv: number;
  D: number;
  /** QKV row stride, floats (≥ (H + Hkv)·D). */
  stride: number;
  eps: number;
}

/**
 * `bindGroup` binds (QKV [T, stride] f32, in place; g [2D] f32 = q_norm weight then k_norm weight).
 * Sets `reads` ({@link headRmsNormReads}).
 * @throws ShapeError when T, H or Hkv < 1, D is outside [1, 256], or (H + Hkv)·D > stride.
 */
export function headRmsNormPass(cache: KernelCache, maxPerDim: number, bindGroup: GPUBindGroup, s: HeadRmsNormShape): Pass {
  checkInt('head_rmsnorm', 'T', s.T, 1);
  checkInt('head_rmsnorm', 'H', s.H, 1);
  checkInt('head_rmsnorm', 'Hkv', s.Hkv, 1);
  checkInt('head_rmsnorm', 'D', s.D, 1, 256);
  checkInt('head_rmsnorm', '(H + Hkv)·D', (s.H + s.Hkv) * s.D, 1, s.stride);
  const [gx, gy] = flatGrid(ceilDiv(s.T * (s.H + s.Hkv), 64), maxPerDim);
  return {
    kernel: cache.get(HEAD_RMSNORM), bindGroup, label: 'head_rmsnorm',
    params: [s.T, s.H + s.Hkv, s.H, s.D, s.stride, gx, s.eps, 1 / s.D],
    workgroups: [gx, gy, 1],
    reads: headRmsNormReads(s),
  };
}

/** Bytes the kernel loads: each of the T·(H + Hkv) threads reads its head twice (2D f32, other) and D weights. */
export function headRmsNormReads(s: Pick<HeadRmsNormShape, 'T' | 'H' | 'Hkv' | 'D'>): PassReads {
  const n = s.T * (s.H + s.Hkv);
  return { weights: n * s.D * 4, kv: 0, other: n * 2 * s.D * 4 };
}
