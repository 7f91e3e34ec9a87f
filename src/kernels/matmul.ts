/**
 * Matmul wrapper: Y[t, n] (+)= Σ_k X[t, k] · W[n, k] (see shaders/matmul.wgsl).
 * T = 1 uses the GEMV specialisation (ROWS = 1), T > 1 the register-tiled one (ROWS = 8); both
 * reduce every output element identically (same LANES), so results are bit-identical per row.
 */
import code from '../../shaders/matmul.wgsl';
import { type KernelCache, type KernelDef, type Pass, ceilDiv } from '../gpu/kernel.js';
import { checkInt, checkMultiple } from './shape.js';

export const MATMUL: KernelDef = { name: 'matmul', code, bindings: ['read', 'read', 'rw'], params: 'uuuuuuuuu' };

/** Weight storage format: f32, f16 packed 2 per u32, bf16 packed 2 per u32. */
export type WeightFormat = 'f32' | 'f16' | 'bf16';
export const WFMT: Record<WeightFormat, number> = { f32: 0, f16: 1, bf16: 2 };

/** Tile configuration (engine-wide LANES keeps the reduction order fixed). */
export interface MatmulConfig {
  /** Reduction lanes per output (1 on CPU adapters: no workgroup memory, no barrier). */
  lanes: number;
  /** GEMV: thread columns per workgroup. */
  gemvCols: number;
  /** Tiled: thread columns per workgroup. */
  tiledCols: number;
  /** Tiled: output columns per thread (register tile width, ≤ 4; default 1). */
  tiledCpt?: number;
}

/** Rows per thread of the tiled path (4 for T ≤ 4, so small trees waste no rows). */
export const TILED_ROWS = 8;

/** Activation rows per thread for T rows: 1 (GEMV), 4 or 8. */
export function rowsFor(T: number): number {
  return T === 1 ? 1 : T <= 4 ? 4 : TILED_ROWS;
}

export interface MatmulShape {
  /** Activation rows computed (T). */
  T: number;
  /** Weight rows in this buffer chunk (output columns written). */
  nRows: number;
  /** Padded input width Kp (multiple of 8): row stride of W (elements) and X (floats). */
  Kp: number;
  fmt: WeightFormat;
  /** Y row stride, floats. */
  yStride: number;
  /** First Y column of this chunk. */
  yCol0?: number;
  xRow0?: number;
  yRow0?: number;
  /** Add into Y (fused residual add) instead of overwriting. */
  accumulate?: boolean;
}

/** Builds the pass for one weight chunk. `bindGroup` binds (W chunk, X, Y). */
export function matmulPass(cache: KernelCache, cfg: MatmulConfig, bindGroup: GPUBindGroup, s: MatmulShape, label = 'matmul'): Pass {
  checkInt('matmul', 'T', s.T, 1);
  checkInt('matmul', 'nRows', s.nRows, 1);
  checkMultiple('matmul', 'Kp', s.Kp, 8);
  const yCol0 = s.yCol0 ?? 0;
  if (yCol0 + s.nRows > s.yStride) throw new Error(`matmul: columns [${yCol0}, ${yCol0 + s.nRows}) exceed yStride ${s.yStride}`);
  const kernel = kernelFor(cache, cfg, s.fmt, s.T);
  const rows = rowsFor(s.T);
  const cols = s.T === 1 ? cfg.gemvCols : cfg.tiledCols * (cfg.tiledCpt ?? 1);
  const kChunks = s.fmt === 'f32' ? s.Kp / 4 : s.Kp / 8;
  return {
    kernel,
    bindGroup,
    label,
    params: [s.T, s.nRows, kChunks, s.Kp / 4, s.yStride, yCol0, s.xRow0 ?? 0, s.yRow0 ?? 0, s.accumulate ? 1 : 0],
    workgroups: [ceilDiv(s.nRows, cols), ceilDiv(s.T, rows), 1],
  };
}

/** The compiled pipeline used for T rows (also used to create bind groups). */
export function kernelFor(cache: KernelCache, cfg: MatmulConfig, fmt: WeightFormat, T: number) {
  return cache.get(MATMUL, matmulConstants(cfg, fmt, T));
}

/** Override constants of the matmul pipeline for T rows (1, ≤ 4 and > 4 rows use three pipelines). */
export function matmulConstants(cfg: MatmulConfig, fmt: WeightFormat, T: number): Record<string, number> {
  const gemv = T === 1;
  return {
    LANES: cfg.lanes,
    COLS: gemv ? cfg.gemvCols : cfg.tiledCols,
    ROWS: rowsFor(T),
    CPT: gemv ? 1 : (cfg.tiledCpt ?? 1),
    WFMT: WFMT[fmt],
  };
}
