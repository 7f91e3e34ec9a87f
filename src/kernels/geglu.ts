/**
 * GeGLU wrapper (shaders/geglu.wgsl): A = gelu_tanh(G) · U from fused [gate | up] rows (Gemma's MLP,
 * HF `gelu_pytorch_tanh`). Same shapes and bindings as SwiGLU (src/kernels/swiglu.ts).
 */
import code from '../../shaders/geglu.wgsl';
import { type KernelCache, type KernelDef, type Pass, ceilDiv, flatGrid } from '../gpu/kernel.js';
import { checkInt } from './shape.js';
import { swigluReads, type SwigluShape } from './swiglu.js';

export const GEGLU: KernelDef = { name: 'geglu', code, bindings: ['read', 'rw'], params: 'uuuuu' };

/**
 * `bindGroup` binds (GU [T, guStride] f32, A [T, aStride] f32). Reads as {@link swigluReads}.
 * @throws ShapeError when 2F > guStride or F > aStride.
 */
export function gegluPass(cache: KernelCache, maxPerDim: number, bindGroup: GPUBindGroup, s: SwigluShape): Pass {
  checkInt('geglu', 'T', s.T, 1);
  checkInt('geglu', '2F', 2 * s.F, 2, s.guStride);
  checkInt('geglu', 'F', s.F, 1, s.aStride);
  const [gx, gy] = flatGrid(ceilDiv(s.T * s.F, 64), maxPerDim);
  return {
    kernel: cache.get(GEGLU), bindGroup, label: 'geglu',
    params: [s.T, s.F, s.guStride, s.aStride, gx],
    workgroups: [gx, gy, 1],
    reads: swigluReads(s),
  };
}
