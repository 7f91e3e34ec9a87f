/**
 * Embedding gather wrapper (shaders/embed.wgsl): X[t, :] = E[ids[t], :] for ids in this chunk.
 * The weight decoding is the override point `weight`, with the matmul's contract (src/kernels/matmul.ts):
 * binding 0 `W` and `fn loadWeight(row: u32, c: u32) -> WChunk` (8 input features per chunk), so one
 * format's WGSL serves both kernels.
 */
import embedCode from '../../shaders/embed.wgsl';
import { type KernelCache, type KernelDef, type Pass, ceilDiv, flatGrid } from '../gpu/kernel.js';
import { MATMUL, WEIGHT_CHUNK, WEIGHT_CHUNK_BYTES, WFMT, type WeightFormat } from './matmul.js';
import { fillOverridePoint, overrideDefault } from './override.js';
import { checkInt, checkMultiple } from './shape.js';

/** embed.wgsl with the matmul's default weight decoding in its `weight` region. */
const code = fillOverridePoint(embedCode, 'weight', overrideDefault(MATMUL, 'weight'), 'embed');

export const EMBED: KernelDef = { name: 'embed', code, bindings: ['read', 'read', 'rw'], params: 'uuuuuuuf' };

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
  /**
   * How many of the T ids lie in [v0, v0 + vRows) (only those rows are fetched); default T, exact
   * for an unsplit embedding. Used for `Pass.reads` only.
   */
  tokensInChunk?: number;
  /** Multiplier of the gathered rows (Gemma: `FamilyOptions.embeddingScale`); default 1. */
  scale?: number;
}

export function embedKernel(cache: KernelCache, fmt: WeightFormat, def: KernelDef = EMBED) {
  return cache.get(def, embedConstants(fmt));
}

/** Override constants of the embedding pipeline for weights in `fmt`. */
export function embedConstants(fmt: WeightFormat): Record<string, number> {
  return { WFMT: WFMT[fmt] };
}

/**
 * `bindGroup` binds (E chunk, ids, X) and the extra bindings of `def` (a variant of {@link EMBED}
 * made by overridePoint). `reads`: weights = tokensInChunk · ceil(C / 8) chunks of `chunkBytes`;
 * other = one 4-byte id per thread.
 * @throws Error for a shape out of range.
 */
export function embedPass(cache: KernelCache, maxPerDim: number, bindGroup: GPUBindGroup, s: EmbedShape, def: KernelDef = EMBED, chunkBytes = WEIGHT_CHUNK_BYTES[s.fmt]): Pass {
  checkInt('embed', 'T', s.T, 1);
  checkInt('embed', 'C', s.C, 1, s.Kp);
  checkMultiple('embed', 'Kp', s.Kp, 8);
  const chunks = ceilDiv(s.C, WEIGHT_CHUNK);
  const [gx, gy] = flatGrid(ceilDiv(s.T * chunks, 64), maxPerDim);
  return {
    kernel: embedKernel(cache, s.fmt, def), bindGroup, label: 'embed',
    params: [s.T, s.C, s.Kp / WEIGHT_CHUNK, s.Kp, s.v0, s.vRows, gx, s.scale ?? 1],
    workgroups: [gx, gy, 1],
    reads: { weights: (s.tokensInChunk ?? s.T) * chunks * chunkBytes, kv: 0, other: s.T * chunks * 4 },
  };
}
