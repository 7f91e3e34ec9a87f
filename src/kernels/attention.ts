/**
 * Attention wrapper (shaders/attention.wgsl): T query rows over P cached keys plus the T new keys
 * under an additive T×T mask block (causal for prefill/AR, the ancestor mask for a draft tree).
 * A workgroup serves one KV head and `queries` query vectors (rows × the G heads of its GQA group)
 * and fetches each block of K/V rows they need once (ARCHITECTURE.md, "Attention").
 */
import code from '../../shaders/attention.wgsl';
import { type KernelCache, type KernelDef, type Pass, type PassReads, ceilDiv } from '../gpu/kernel.js';
import { checkInt, checkMultiple, ShapeError } from './shape.js';

/**
 * Bindings: (Q/QKV rows, K slab, V slab, mask library, O). Override point `kv` (src/kernels/override.ts):
 * declares the K and V slabs (bindings 1 and 2) and defines `loadK(i: u32) -> f32` and
 * `loadV(i: u32) -> f32`, element i of the slab (index in elements: layer base + row·Hkv·D + head·D + d)
 * as f32. f32 slabs by default; another KV element type replaces the region.
 */
export const ATTENTION: KernelDef = { name: 'attention', code, bindings: ['read', 'read', 'read', 'read', 'rw'], params: 'uuuuuuuuuuuufuf' };

/** Largest T one attention dispatch accepts (mask rows are 128-bit bitmasks in workgroup memory). */
export const ATTENTION_MAX_T = 128;
/** Mask entries at or below this are "masked"; hosts write −3.4e38 for −∞. */
export const MASKED = -3.4e38;

/** Attention part of the engine's kernel configuration (src/gpu/kernel-config.ts). */
export interface AttentionConfig {
  /** Softmax block = keys per online-softmax step (16, 32 or 64), engine-wide. */
  block: number;
  /**
   * Query vectors per workgroup (1..16) when T > 1; the workgroup has 16·queries threads. A T = 1
   * step uses min(queries, G rounded up to a power of two) (see {@link attentionQueries}): the
   * per-query arithmetic does not depend on it, so AR and tree rows stay bit-identical.
   */
  queries: number;
}

export interface AttentionShape {
  T: number;
  P: number;
  H: number;
  Hkv: number;
  D: number;
  qStride: number;
  outStride: number;
  kBase: number;
  vBase: number;
  /** Offset of the mask block in the mask library buffer, floats. */
  maskBase: number;
  /** Row stride of the mask block, floats (default T). */
  maskStride?: number;
  Smax: number;
  /** Softmax scale, default 1/sqrt(D). */
  scale?: number;
  /** Attention logit soft-cap c (Gemma 2 `attn_logit_softcapping`): score = c·tanh(score / c); null/undefined = none. */
  softcap?: number | null;
  /**
   * Sliding window W (Mistral, Qwen2 `sliding_window`): a query at position q sees keys at
   * positions > q − W; null/undefined = none. Positions are the kernel's virtual key indices.
   */
  window?: number | null;
  /**
   * Bytes of one KV element as the `kv` override point's format stores it, for {@link Pass.reads}:
   * 4 for f32 (the default), 2 for f16; fractional for a format with per-row data (q8 with one f32
   * scale per row of D: 1 + 4/D).
   */
  kvBytes?: number;
  /**
   * Visible new rows of each query row (ascending, `visible[t]` ⊆ [0, T)), as the mask block says;
   * used only for {@link Pass.reads}; never modified afterwards (the last geometry is remembered by
   * reference). Default: the causal mask.
   */
  visible?: readonly (readonly number[])[];
}

/**
 * The attention pass. `bindGroup` binds (QKV, K slab, V slab, mask library, O); `cfg` is the engine's
 * attention configuration; `def` the kernel or a variant of its `kv` override point (whose element
 * size `s.kvBytes` gives). Sets `reads` (kv = K/V bytes fetched, repeats included; other = Q and
 * mask bytes) from the same geometry the kernel walks ({@link attentionGeometry}).
 * @throws ShapeError for T outside [1, 128], P + T > Smax, D not a multiple of 4 in [4, 256],
 *   H not a multiple of Hkv, maskStride < T, kvBytes not a positive number, `visible` not of T rows,
 *   a window that is not a positive integer, or a soft-cap that is not a positive number.
 */
export function attentionPass(cache: KernelCache, bindGroup: GPUBindGroup, s: AttentionShape, cfg: AttentionConfig, def: KernelDef = ATTENTION): Pass {
  checkInt('attention', 'T', s.T, 1, ATTENTION_MAX_T);
  checkInt('attention', 'P + T', s.P + s.T, 1, s.Smax);
  checkInt('attention', 'D', s.D, 4, 256);
  checkMultiple('attention', 'D', s.D, 4);
  checkInt('attention', 'Hkv', s.Hkv, 1, s.H);
  checkInt('attention', 'maskStride', s.maskStride ?? s.T, s.T);
  checkMultiple('attention', 'H', s.H, s.Hkv);
  if (!(s.kvBytes === undefined || (Number.isFinite(s.kvBytes) && s.kvBytes > 0))) throw new ShapeError('attention', `kvBytes must be a positive number, got ${s.kvBytes}`);
  if (s.visible && s.visible.length !== s.T) throw new ShapeError('attention', `visible must list ${s.T} rows, got ${s.visible.length}`);
  const window = s.window ?? 0;
  if (s.window !== undefined && s.window !== null) checkInt('attention', 'window', s.window, 1, 0xffffffff);
  if (s.softcap !== undefined && s.softcap !== null && !(Number.isFinite(s.softcap) && s.softcap > 0)) throw new ShapeError('attention', `softcap must be a positive number, got ${s.softcap}`);
  const G = s.H / s.Hkv;
  const run = { ...cfg, queries: attentionQueries(cfg, s.T, G) };
  const geo = attentionGeometry(s.T, s.P, G, run, s.visible, window);
  return {
    kernel: attentionKernel(cache, run, def), bindGroup, label: 'attention',
    params: [s.T, s.P, s.H, G, s.D / 4, s.qStride, s.outStride, s.Hkv * s.D, s.kBase, s.vBase, s.maskBase, s.maskStride ?? s.T, s.scale ?? 1 / Math.sqrt(s.D), window, s.softcap ?? 0],
    workgroups: [geo.workgroups, s.Hkv, 1],
    reads: attentionReads(geo, s.Hkv, s.D, s.kvBytes),
  };
}

/**
 * Query vectors per workgroup of a dispatch of T rows with G query heads per KV head:
 * `cfg.queries` for T > 1; for T = 1, min(cfg.queries, G rounded up to a power of two), so an AR
 * step does not run 16·queries threads for G live queries (measured on lavapipe: about 0.6 instead of
 * 0.7-1.2 ms per dispatch at P = 256, H = 4, Hkv = 2, D = 48).
 */
export function attentionQueries(cfg: AttentionConfig, T: number, G: number): number {
  return T === 1 ? Math.min(cfg.queries, 2 ** Math.ceil(Math.log2(G))) : cfg.queries;
}

/** Override constants of every attention pipeline an engine with G query heads per KV head may use (T = 1 and T > 1). */
export function attentionPipelines(cfg: AttentionConfig, G: number): Array<Record<string, number>> {
  const qs = [...new Set([attentionQueries(cfg, 1, G), cfg.queries])];
  return qs.map((queries) => attentionConstants({ ...cfg, queries }));
}

/** What one KV head's workgroups of an attention dispatch fetch, counted as the kernel walks it. */
export interface AttentionGeometry {
  /** Workgroups per KV head: ceil(T·G / queries). */
  workgroups: number;
  /** K rows (= V rows) fetched into workgroup memory, summed over the workgroups and blocks. */
  kvRows: number;
  /** Query chunk loads, in rows of D floats (one per query per slot range). */
  qRows: number;
  /** Mask floats read (each query's mask row once, plus the bias of each new key it scores). */
  maskFloats: number;
}

/**
 * The fetch geometry of the attention kernel for one KV head, replaying its planning: per
 * workgroup (queries n = t·G + g in [queries·w, queries·w + queries)) and softmax block, the cached
 * rows of the block plus the union of the new rows its queries see at the block's slots, split into
 * slot ranges of at most `block` rows exactly as shaders/attention.wgsl does.
 * @param visible visible new rows of each row t (ascending); default causal.
 * @param window sliding window W (0 = none): a workgroup's blocks start at the block of its queries'
 *   smallest first visible key max(0, P + visible − W).
 */
export function attentionGeometry(T: number, P: number, G: number, cfg: AttentionConfig, visible?: readonly (readonly number[])[], window = 0): AttentionGeometry {
  // Every layer of a forward asks the same question: remember the last answer.
  const key = `${T},${P},${G},${cfg.block},${cfg.queries},${window}`;
  if (lastGeometry && lastGeometry.key === key && lastGeometry.visible === visible) return lastGeometry.geo;
  const geo = computeGeometry(T, P, G, cfg, visible, window);
  lastGeometry = { key, visible, geo };
  return geo;
}

let lastGeometry: { key: string; visible: readonly (readonly number[])[] | undefined; geo: AttentionGeometry } | null = null;

function computeGeometry(T: number, P: number, G: number, cfg: AttentionConfig, visible: readonly (readonly number[])[] | undefined, window: number): AttentionGeometry {
  const B = cfg.block;
  const QN = cfg.queries;
  const vis = (t: number): readonly number[] => visible?.[t] ?? Array.from({ length: t + 1 }, (_, j) => j);
  const nq = T * G;
  const workgroups = ceilDiv(nq, QN);
  let kvRows = 0; let qRows = 0; let maskFloats = 0;
  for (let w = 0; w < workgroups; w++) {
    const qs: Array<readonly number[]> = [];
    for (let n = w * QN; n < Math.min(nq, (w + 1) * QN); n++) qs.push(vis(Math.floor(n / G)));
    const wgTotal = Math.max(...qs.map((v) => P + v.length));
    const minLo = window > 0 ? Math.min(...qs.map((v) => Math.max(0, P + v.length - window))) : 0;
    maskFloats += qs.length * T;
    for (let b0 = Math.floor(minLo / B) * B; b0 < wgTotal; b0 += B) {
      const nc = b0 < P ? Math.min(B, P - b0) : 0;
      const nb = Math.min(B, wgTotal - b0);
      // slot ranges and their row counts
      const ranges: Array<[number, number, number]> = []; // [s0, s1, rows]
      if (nb > nc) {
        const slotSets = Array.from({ length: nb }, (_, i) => new Set(qs.filter((v) => i >= nc && b0 + i - P < v.length).map((v) => v[b0 + i - P])));
        let s0 = 0; let cached = nc; let u = new Set<number>();
        for (let i = nc; i < nb; i++) {
          const cand = new Set([...u, ...slotSets[i]]);
          if (cached + cand.size > B) {
            ranges.push([s0, i, cached + u.size]);
            s0 = i; cached = 0; u = new Set(slotSets[i]);
          } else u = cand;
        }
        ranges.push([s0, nb, cached + u.size]);
        for (const v of qs) maskFloats += Math.max(0, Math.min(nb, P + v.length - b0) - nc); // biases of the new slots
      } else ranges.push([0, nb, nb]);
      for (const [, , rows] of ranges) kvRows += rows;
      qRows += ranges.length * qs.length;
    }
  }
  return { workgroups, kvRows, qRows, maskFloats };
}

/**
 * Bytes an attention dispatch of `geo` over Hkv KV heads of head dim D reads: kv = the K and V rows
 * it fetches (D elements of `kvBytes` bytes each, default 4 = f32); other = Q rows and mask (f32).
 */
export function attentionReads(geo: AttentionGeometry, Hkv: number, D: number, kvBytes = 4): PassReads {
  return { weights: 0, kv: Hkv * 2 * geo.kvRows * D * kvBytes, other: Hkv * (geo.qRows * D + geo.maskFloats) * 4 };
}

/** The attention pipeline of configuration `cfg`. */
export function attentionKernel(cache: KernelCache, cfg: AttentionConfig, def: KernelDef = ATTENTION) {
  return cache.get(def, attentionConstants(cfg));
}

/**
 * Override constants of the attention pipeline of `cfg`.
 * @throws Error when block ∉ {16, 32, 64} or queries ∉ [1, min(16, block)].
 */
export function attentionConstants(cfg: AttentionConfig): Record<string, number> {
  if (![16, 32, 64].includes(cfg.block)) throw new Error(`attention: block size must be 16, 32 or 64, got ${cfg.block}`);
  if (!(Number.isInteger(cfg.queries) && cfg.queries >= 1 && cfg.queries <= 16)) throw new Error(`attention: queries per workgroup must be an integer in [1, 16], got ${cfg.queries}`);
  return { MAX_T: ATTENTION_MAX_T, BLOCK: cfg.block, QN: cfg.queries };
}

/** Visible new rows of each row of an additive T×T mask (entries > −1e30), ascending. */
export function maskVisibility(mask: ArrayLike<number>, T: number): number[][] {
  return Array.from({ length: T }, (_, t) => {
    const v: number[] = [];
    for (let j = 0; j < T; j++) if (mask[t * T + j] > -1e30) v.push(j);
    return v;
  });
}

/** Causal additive mask [T, T]: 0 on and below the diagonal, {@link MASKED} above. */
export function causalMask(T: number): Float32Array<ArrayBuffer> {
  const m = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = MASKED;
  return m;
}
