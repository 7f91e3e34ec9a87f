/** Logit soft-cap wrapper (shaders/softcap.wgsl): Z = cap · tanh(Z / cap) in place (Gemma 2 `final_logit_softcapping`). */
import code from '../../shaders/softcap.wgsl';
import { type KernelCache, type KernelDef, type Pass, type PassReads, ceilDiv, flatGrid } from '../gpu/kernel.js';
import { checkInt, ShapeError } from './shape.js';

export const SOFTCAP: KernelDef = { name: 'softcap', code, bindings: ['rw'], params: 'uuuuf' };

export interface SoftcapShape {
  T: number;
  V: number;
  /** Row stride of Z, floats (≥ V). */
  stride: number;
  /** The cap (> 0). */
  cap: number;
}

/**
 * `bindGroup` binds (Z [T, stride] f32). Sets `reads` ({@link softcapReads}).
 * @throws ShapeError when V > stride or cap is not a positive finite number.
 */
export function softcapPass(cache: KernelCache, maxPerDim: number, bindGroup: GPUBindGroup, s: SoftcapShape): Pass {
  checkInt('softcap', 'T', s.T, 1);
  checkInt('softcap', 'V', s.V, 1, s.stride);
  if (!(Number.isFinite(s.cap) && s.cap > 0)) throw new ShapeError('softcap', `cap must be a positive number, got ${s.cap}`);
  const [gx, gy] = flatGrid(ceilDiv(s.T * s.V, 64), maxPerDim);
  return {
    kernel: cache.get(SOFTCAP), bindGroup, label: 'softcap',
    params: [s.T, s.V, s.stride, gx, s.cap],
    workgroups: [gx, gy, 1],
    reads: softcapReads(s),
  };
}

/** Bytes the kernel loads: each logit once. */
export function softcapReads(s: Pick<SoftcapShape, 'T' | 'V'>): PassReads {
  return { weights: 0, kv: 0, other: s.T * s.V * 4 };
}
