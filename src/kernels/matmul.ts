/**
 * Matmul wrapper: Y[t, n] (+)= Σ_k X[t, k] · W[n, k] (see shaders/matmul.wgsl).
 *
 * One pipeline per row-tile size: T = 1 uses the GEMV specialisation (ROWS = 1), T > 1 a
 * register-tiled one whose ROWS depends on T ({@link rowsFor}: up to 32 rows in the `gpu` preset, so
 * a weight tile fetched from global memory serves every row when T ≤ 32 and a 69-row tree fetches
 * each weight 3 times). All reduce every output element identically (same LANES), so a row's results
 * are bit-identical whatever T.
 *
 * The weight decoding is the override point `weight` (src/kernels/override.ts): a format defines
 * binding 0 `W` and `fn loadWeight(row: u32, c: u32) -> WChunk`, the 8 input features 8c .. 8c + 7
 * of weight row `row` decoded to f32 (`WChunk { lo: vec4<f32>, hi: vec4<f32> }`, lo = elements
 * 0..3); it may read `p.kChunks` (= Kp / 8, chunks per weight row) and the `WFMT` constant, and add
 * bindings after binding 2 (e.g. scales and zero points of a 4-bit group format: 8 nibbles = one
 * u32 per chunk). The reduction order does not depend on the format.
 */
import code from '../../shaders/matmul.wgsl';
import { type KernelCache, type KernelDef, type Pass, ceilDiv, flatGrid } from '../gpu/kernel.js';
import { checkInt, checkMultiple } from './shape.js';

export const MATMUL: KernelDef = { name: 'matmul', code, bindings: ['read', 'read', 'rw'], params: 'uuuuuuuuuuu' };

/** Weight storage format: f32, f16 packed 2 per u32, bf16 packed 2 per u32. */
export type WeightFormat = 'f32' | 'f16' | 'bf16';
export const WFMT: Record<WeightFormat, number> = { f32: 0, f16: 1, bf16: 2 };

/** Input features per weight chunk (the unit `loadWeight` decodes, for every format). */
export const WEIGHT_CHUNK = 8;

/** Bytes one chunk of {@link WEIGHT_CHUNK} elements occupies in global memory, per format. */
export const WEIGHT_CHUNK_BYTES: Record<WeightFormat, number> = { f32: 32, f16: 16, bf16: 16 };

/** Most workgroups per grid dimension the kernels assume (the WebGPU default limit). */
export const MAX_WORKGROUPS_PER_DIM = 65535;

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
  /**
   * Tiled: activation rows per workgroup (the rows one weight fetch serves) for T = 2..4, 5..8 and
   * ≥ 9 ({@link MATMUL_ROW_CASES}): each ≤ 8 (one thread's register tile) or 16, 24, 32 (8 rows per
   * thread, 2..4 threads along z sharing each weight chunk through workgroup memory). Default [4, 8, 8].
   */
  tiledRows?: readonly [number, number, number];
}

/** Smallest T of each row class: 1 (GEMV), 2..4, 5..8, ≥ 9 (at most one pipeline each per weight format). */
export const MATMUL_ROW_CASES = [1, 2, 5, 9] as const;

/** Default {@link MatmulConfig.tiledRows}. */
export const DEFAULT_TILED_ROWS: readonly [number, number, number] = [4, 8, 8];

/**
 * Activation rows per workgroup (the row tile) for T rows under `cfg`: 1 for T = 1, else by class.
 * @throws Error when the class's row tile is not 1..8, 16, 24 or 32 (a configuration that
 *   `chooseKernelConfig` would have refused with InvalidArgumentError).
 */
export function rowsFor(cfg: MatmulConfig, T: number): number {
  const rows = cfg.tiledRows ?? DEFAULT_TILED_ROWS;
  const r = T === 1 ? 1 : T <= 4 ? rows[0] : T <= 8 ? rows[1] : rows[2];
  if (!(Number.isInteger(r) && r >= 1 && (r <= 8 || (r % 8 === 0 && r <= 32)))) throw new Error(`matmul: row tile ${r} is not 1..8, 16, 24 or 32`);
  return r;
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

/** The dispatch geometry of one matmul pass (what {@link matmulPass} dispatches and counts). */
export interface MatmulGeometry {
  /** Activation rows per workgroup (row tile): rg · (rows per thread). */
  rows: number;
  /** Row groups: threads along z, each with rows / rg rows, sharing each weight fetch. */
  rg: number;
  /** Thread columns per workgroup. */
  cols: number;
  /** Output columns per thread. */
  cpt: number;
  /** ceil(T / rows): workgroups sharing one weight tile (adjacent in dispatch order). */
  rowBlocks: number;
  /** ceil(nRows / (cols · cpt)). */
  colBlocks: number;
  /** Weight chunks per row, Kp / 8. */
  kChunks: number;
}

/** The geometry of the pass for shape `s` under `cfg`. */
export function matmulGeometry(cfg: MatmulConfig, s: MatmulShape): MatmulGeometry {
  const gemv = s.T === 1;
  const rows = rowsFor(cfg, s.T);
  const cols = gemv ? cfg.gemvCols : cfg.tiledCols;
  const cpt = gemv ? 1 : (cfg.tiledCpt ?? 1);
  return { rows, rg: Math.ceil(rows / 8), cols, cpt, rowBlocks: ceilDiv(s.T, rows), colBlocks: ceilDiv(s.nRows, cols * cpt), kChunks: s.Kp / WEIGHT_CHUNK };
}

/**
 * Global-memory bytes a pass of geometry `g` reads (Pass.reads): every workgroup fetches all kChunks
 * chunks of each of its cols · cpt weight rows once (tail columns past nRows are clamped to the last
 * row and fetched too), and each thread fetches its activation rows per chunk (a workgroup: `rows`
 * rows per column, tail rows clamped and fetched too); an accumulating pass also reads T · nRows outputs.
 * @param chunkBytes global bytes of one weight chunk ({@link WEIGHT_CHUNK_BYTES}).
 */
export function matmulReads(g: MatmulGeometry, s: MatmulShape, chunkBytes: number): { weights: number; kv: number; other: number } {
  const threadCols = g.rowBlocks * g.colBlocks * g.cols;
  return {
    weights: threadCols * g.cpt * g.kChunks * chunkBytes,
    kv: 0,
    other: threadCols * g.rows * g.kChunks * WEIGHT_CHUNK * 4 + (s.accumulate ? s.T * s.nRows * 4 : 0),
  };
}

/**
 * Builds the pass for one weight chunk. `bindGroup` binds (W chunk, X, Y) and the extra bindings of
 * `def` (a variant of {@link MATMUL} made by overridePoint; default MATMUL).
 * @param chunkBytes global bytes per weight chunk for `reads` (default {@link WEIGHT_CHUNK_BYTES} of s.fmt).
 * @throws Error for a shape out of range (T, nRows < 1, Kp not a multiple of 8, columns past yStride).
 */
export function matmulPass(cache: KernelCache, cfg: MatmulConfig, bindGroup: GPUBindGroup, s: MatmulShape, label = 'matmul', def: KernelDef = MATMUL, chunkBytes = WEIGHT_CHUNK_BYTES[s.fmt]): Pass {
  checkInt('matmul', 'T', s.T, 1);
  checkInt('matmul', 'nRows', s.nRows, 1);
  checkMultiple('matmul', 'Kp', s.Kp, 8);
  const yCol0 = s.yCol0 ?? 0;
  if (yCol0 + s.nRows > s.yStride) throw new Error(`matmul: columns [${yCol0}, ${yCol0 + s.nRows}) exceed yStride ${s.yStride}`);
  const g = matmulGeometry(cfg, s);
  const [gx, gy] = flatGrid(g.rowBlocks * g.colBlocks, MAX_WORKGROUPS_PER_DIM);
  return {
    kernel: kernelFor(cache, cfg, s.fmt, s.T, def),
    bindGroup,
    label,
    params: [s.T, s.nRows, g.kChunks, s.Kp / 4, s.yStride, yCol0, s.xRow0 ?? 0, s.yRow0 ?? 0, s.accumulate ? 1 : 0, g.rowBlocks, gx],
    workgroups: [gx, gy, 1],
    reads: matmulReads(g, s, chunkBytes),
  };
}

/** The compiled pipeline used for T rows (also used to create bind groups). */
export function kernelFor(cache: KernelCache, cfg: MatmulConfig, fmt: WeightFormat, T: number, def: KernelDef = MATMUL) {
  return cache.get(def, matmulConstants(cfg, fmt, T));
}

/** Rows per round of the lane reduction: the largest divisor of `rows` (per thread) keeping it within 8 KB of workgroup memory. */
function redRows(lanes: number, threads: number, cpt: number, rows: number): number {
  if (lanes === 1) return 1;
  for (let r = rows; r > 1; r--) if (rows % r === 0 && lanes * threads * cpt * r * 4 <= 8192) return r;
  return 1;
}

/** Override constants of the matmul pipeline for T rows (one pipeline per row class of {@link MATMUL_ROW_CASES}, fewer when classes share a tile). */
export function matmulConstants(cfg: MatmulConfig, fmt: WeightFormat, T: number): Record<string, number> {
  const gemv = T === 1;
  const tile = rowsFor(cfg, T);
  const rg = Math.ceil(tile / 8);
  const rows = tile / rg;
  const cols = gemv ? cfg.gemvCols : cfg.tiledCols;
  const cpt = gemv ? 1 : (cfg.tiledCpt ?? 1);
  return {
    LANES: cfg.lanes, COLS: cols, ROWS: rows, RG: rg, CPT: cpt, RED_ROWS: redRows(cfg.lanes, cols * rg, cpt, rows),
    WFMT: WFMT[fmt], WTILE: rg > 1 ? 2 * cfg.lanes * cols * cpt : 1,
  };
}
