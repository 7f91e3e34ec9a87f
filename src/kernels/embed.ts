/** Embedding gather wrapper (shaders/embed.wgsl): X[t, :] = E[ids[t], :] for ids in this chunk. */
import code from '../../shaders/embed.wgsl';
import { type KernelCache, type KernelDef, type Pass, ceilDiv, flatGrid } from '../gpu/kernel.js';
import { WFMT, type WeightFormat } from './matmul.js';
import { checkInt, checkMultiple } from './shape.js';

export const EMBED: KernelDef = { name: 'embed', code, bindings: ['read', 'read', 'rw'], params: 'uuuuuuu' };

export interface EmbedShape {
  T: number;
  /** Hidden size C. */
  C: number;
  /** Padded row stride Kp of E (elements) and X (floats). */
  Kp: number;
  fmt: WeightFormat;
  /** Vocabulary range of this chunk. */
  v0: number;
  vRows: number;
}

export function embedKernel(cache: KernelCache, fmt: WeightFormat) {
  return cache.get(EMBED, embedConstants(fmt));
}

/** Override constants of the embedding pipeline for weights in `fmt`. */
export function embedConstants(fmt: WeightFormat): Record<string, number> {
  return { WFMT: WFMT[fmt] };
}

/** `bindGroup` binds (E chunk, ids, X). */
export function embedPass(cache: KernelCache, maxPerDim: number, bindGroup: GPUBindGroup, s: EmbedShape): Pass {
  checkInt('embed', 'T', s.T, 1);
  checkInt('embed', 'C', s.C, 1, s.Kp);
  checkMultiple('embed', 'Kp', s.Kp, 8);
  const words = s.fmt === 'f32' ? s.C : Math.ceil(s.C / 2);
  const [gx, gy] = flatGrid(ceilDiv(s.T * words, 64), maxPerDim);
  const rowWords = s.fmt === 'f32' ? s.Kp : s.Kp / 2;
  return {
    kernel: embedKernel(cache, s.fmt), bindGroup, label: 'embed',
    params: [s.T, s.C, rowWords, s.Kp, s.v0, s.vRows, gx],
    workgroups: [gx, gy, 1],
  };
}
