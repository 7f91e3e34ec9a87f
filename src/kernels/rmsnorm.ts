/** RMSNorm wrapper (shaders/rmsnorm.wgsl): Y = X / rms(X) · g, one workgroup per row. */
import code from '../../shaders/rmsnorm.wgsl';
import type { KernelCache, KernelDef, Pass, PassReads } from '../gpu/kernel.js';
import { checkInt } from './shape.js';

export const RMSNORM: KernelDef = { name: 'rmsnorm', code, bindings: ['read', 'read', 'rw'], params: 'uuuff' };

export interface RmsNormShape {
  T: number;
  C: number;
  /** Row stride of X and Y, floats (≥ C). */
  stride: number;
  eps: number;
}

/**
 * `bindGroup` binds (X [T, stride] f32, g [C] f32, Y [T, stride] f32). Sets `reads`
 * ({@link rmsnormReads}).
 * @throws ShapeError when T is outside [1, maxPerDim] or C outside [1, stride].
 */
export function rmsnormPass(cache: KernelCache, maxPerDim: number, bindGroup: GPUBindGroup, s: RmsNormShape): Pass {
  checkInt('rmsnorm', 'T', s.T, 1, maxPerDim);
  checkInt('rmsnorm', 'C', s.C, 1, s.stride);
  return {
    kernel: cache.get(RMSNORM), bindGroup, label: 'rmsnorm',
    params: [s.T, s.C, s.stride, s.eps, 1 / s.C],
    workgroups: [s.T, 1, 1],
    reads: rmsnormReads(s),
  };
}

/**
 * Bytes the kernel loads: each of the T workgroups reads its row of X twice (sum of squares, then
 * the scaling pass) and the gain g once (C f32 each); g counts as weights.
 */
export function rmsnormReads(s: Pick<RmsNormShape, 'T' | 'C'>): PassReads {
  return { weights: s.T * s.C * 4, kv: 0, other: s.T * 2 * s.C * 4 };
}
