/** RoPE wrapper (shaders/rope.wgsl): rotates the H query and Hkv key heads of QKV rows in place. */
import code from '../../shaders/rope.wgsl';
import { type KernelCache, type KernelDef, type Pass, ceilDiv, flatGrid } from '../gpu/kernel.js';
import { checkInt, checkMultiple } from './shape.js';

export const ROPE: KernelDef = { name: 'rope', code, bindings: ['rw', 'read', 'read'], params: 'uuuuu' };

export interface RopeShape {
  T: number;
  /** Heads rotated: H + Hkv (query heads, then key heads, contiguous from column 0). */
  heads: number;
  D: number;
  /** QKV row stride, floats. */
  stride: number;
}

/** `bindGroup` binds (QKV, positions, cos/sin table). */
export function ropePass(cache: KernelCache, maxPerDim: number, bindGroup: GPUBindGroup, s: RopeShape): Pass {
  checkInt('rope', 'T', s.T, 1);
  checkMultiple('rope', 'D', s.D, 2);
  checkInt('rope', 'heads·D', s.heads * s.D, 1, s.stride);
  const [gx, gy] = flatGrid(ceilDiv(s.T * s.heads * (s.D / 2), 64), maxPerDim);
  return {
    kernel: cache.get(ROPE), bindGroup, label: 'rope',
    params: [s.T, s.heads, s.D / 2, s.stride, gx],
    workgroups: [gx, gy, 1],
  };
}
