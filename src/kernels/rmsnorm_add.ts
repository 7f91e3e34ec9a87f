/**
 * RMSNorm-then-residual-add wrapper (shaders/rmsnorm_add.wgsl): X += Y / rms(Y) · g, one workgroup
 * per row. Gemma 2/3's norms after attention and after the MLP (`FamilyOptions.postNorms`), where the
 * residual add cannot be fused into the o_proj / down_proj matmul.
 */
import code from '../../shaders/rmsnorm_add.wgsl';
import type { KernelCache, KernelDef, Pass, PassReads } from '../gpu/kernel.js';
import type { RmsNormShape } from './rmsnorm.js';
import { checkInt } from './shape.js';

export const RMSNORM_ADD: KernelDef = { name: 'rmsnorm_add', code, bindings: ['read', 'read', 'rw'], params: 'uuuff' };

/**
 * `bindGroup` binds (Y [T, stride] f32, g [C] f32, X [T, stride] f32, updated). Sets `reads`
 * ({@link rmsnormAddReads}).
 * @throws ShapeError when T is outside [1, maxPerDim] or C outside [1, stride].
 */
export function rmsnormAddPass(cache: KernelCache, maxPerDim: number, bindGroup: GPUBindGroup, s: RmsNormShape): Pass {
  checkInt('rmsnorm_add', 'T', s.T, 1, maxPerDim);
  checkInt('rmsnorm_add', 'C', s.C, 1, s.stride);
  return {
    kernel: cache.get(RMSNORM_ADD), bindGroup, label: 'rmsnorm_add',
    params: [s.T, s.C, s.stride, s.eps, 1 / s.C],
    workgroups: [s.T, 1, 1],
    reads: rmsnormAddReads(s),
  };
}

/** Bytes the kernel loads: Y twice and X once per row, the gain g once per row (weights). */
export function rmsnormAddReads(s: Pick<RmsNormShape, 'T' | 'C'>): PassReads {
  return { weights: s.T * s.C * 4, kv: 0, other: s.T * 3 * s.C * 4 };
}
