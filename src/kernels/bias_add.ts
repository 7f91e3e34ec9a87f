/** Bias-add wrapper (shaders/bias_add.wgsl): Y[t, n] += b[n], after a matmul (Qwen2's q/k/v biases). */
import code from '../../shaders/bias_add.wgsl';
import { type KernelCache, type KernelDef, type Pass, type PassReads, ceilDiv, flatGrid } from '../gpu/kernel.js';
import { checkInt } from './shape.js';

export const BIAS_ADD: KernelDef = { name: 'bias_add', code, bindings: ['rw', 'read'], params: 'uuuu' };

export interface BiasAddShape {
  T: number;
  /** Features with a bias (≤ stride). */
  N: number;
  /** Row stride of Y, floats. */
  stride: number;
}

/**
 * `bindGroup` binds (Y [T, stride] f32, updated in place; b [N] f32). Sets `reads` ({@link biasAddReads}).
 * @throws ShapeError when T < 1 or N is outside [1, stride].
 */
export function biasAddPass(cache: KernelCache, maxPerDim: number, bindGroup: GPUBindGroup, s: BiasAddShape): Pass {
  checkInt('bias_add', 'T', s.T, 1);
  checkInt('bias_add', 'N', s.N, 1, s.stride);
  const [gx, gy] = flatGrid(ceilDiv(s.T * s.N, 64), maxPerDim);
  return {
    kernel: cache.get(BIAS_ADD), bindGroup, label: 'bias_add',
    params: [s.T, s.N, s.stride, gx],
    workgroups: [gx, gy, 1],
    reads: biasAddReads(s),
  };
}

/** Bytes the kernel loads: one thread per (t, n) reads Y[t, n] (other) and b[n] (weights), 4 B each. */
export function biasAddReads(s: Pick<BiasAddShape, 'T' | 'N'>): PassReads {
  return { weights: s.T * s.N * 4, kv: 0, other: s.T * s.N * 4 };
}
