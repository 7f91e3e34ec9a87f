/** SwiGLU wrapper (shaders/swiglu.wgsl): A = silu(G) · U from fused [gate | up] rows. */
import code from '../../shaders/swiglu.wgsl';
import { type KernelCache, type KernelDef, type Pass, type PassReads, ceilDiv, flatGrid } from '../gpu/kernel.js';
import { checkInt } from './shape.js';

export const SWIGLU: KernelDef = { name: 'swiglu', code, bindings: ['read', 'rw'], params: 'uuuuu' };

export interface SwigluShape {
  T: number;
  F: number;
  guStride: number;
  aStride: number;
}

/**
 * `bindGroup` binds (GU [T, guStride] f32, A [T, aStride] f32). Sets `reads` ({@link swigluReads}).
 * @throws ShapeError when 2F > guStride or F > aStride.
 */
export function swigluPass(cache: KernelCache, maxPerDim: number, bindGroup: GPUBindGroup, s: SwigluShape): Pass {
  checkInt('swiglu', 'T', s.T, 1);
  checkInt('swiglu', '2F', 2 * s.F, 2, s.guStride);
  checkInt('swiglu', 'F', s.F, 1, s.aStride);
  const [gx, gy] = flatGrid(ceilDiv(s.T * s.F, 64), maxPerDim);
  return {
    kernel: cache.get(SWIGLU), bindGroup, label: 'swiglu',
    params: [s.T, s.F, s.guStride, s.aStride, gx],
    workgroups: [gx, gy, 1],
    reads: swigluReads(s),
  };
}

/** Bytes the kernel loads: one thread per (t, f) reads its gate and up value (2 f32). */
export function swigluReads(s: Pick<SwigluShape, 'T' | 'F'>): PassReads {
  return { weights: 0, kv: 0, other: s.T * s.F * 2 * 4 };
}
