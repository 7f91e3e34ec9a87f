/** RMSNorm wrapper (shaders/rmsnorm.wgsl): Y = X / rms(X) · g, one workgroup per row. */
import code from '../../shaders/rmsnorm.wgsl';
import type { KernelCache, KernelDef, Pass } from '../gpu/kernel.js';
import { checkInt } from './shape.js';

export const RMSNORM: KernelDef = { name: 'rmsnorm', code, bindings: ['read', 'read', 'rw'], params: 'uuuff' };

export interface RmsNormShape {
  T: number;
  C: number;
  /** Row stride of X and Y, floats (≥ C). */
  stride: number;
  eps: number;
}

/** `bindGroup` binds (X, g, Y). */
export function rmsnormPass(cache: KernelCache, maxPerDim: number, bindGroup: GPUBindGroup, s: RmsNormShape): Pass {
  checkInt('rmsnorm', 'T', s.T, 1, maxPerDim);
  checkInt('rmsnorm', 'C', s.C, 1, s.stride);
  return {
    kernel: cache.get(RMSNORM), bindGroup, label: 'rmsnorm',
    params: [s.T, s.C, s.stride, s.eps, 1 / s.C],
    workgroups: [s.T, 1, 1],
  };
}
