/**
 * The memory plan (issue 12, item 5): the GPU bytes a model will take, computed from its config before
 * anything is allocated, and checked against the device's buffer limits and an optional budget
 * (`LoadOptions.gpuMemoryBytes`; WebGPU cannot report free memory). Pure TypeScript, no WebGPU: the
 * executor runs it at load, `scripts/memory-plan.ts` runs it on a bare config.json.
 *
 * The numbers are exactly what `LlamaGpu` allocates (test/model/memory-plan.test.ts loads the
 * fixtures and compares), because LlamaGpu takes its sizes from here:
 * - weights: every matrix in its GPU format ({@link MatrixFormat}; dense rows padded to Kp, or the
 *   group format's bytes, `qgroupMatrixBytes`), fused q/k/v and gate/up, the embedding, lm_head when
 *   untied, and the 2L + 1 RMSNorm gains as f32 padded to Cp;
 * - KV cache: K and V slabs [L, Smax, Hkv·D] in the KV dtype (Smax = contextLength + treeRoom), as
 *   many layers per buffer as one binding holds;
 * - scratch: the activation buffers of maxRows rows, the RoPE table, the mask library, the top-k
 *   readback (each rounded up to 16 bytes) and the params arena (one 256-byte slot per pass).
 */
import { LimitTooLowError, OutOfMemoryError, UnsupportedModelError } from '../errors.js';
import type { LlamaConfig } from './config.js';
import { DTYPE_BYTES, type TensorDtype } from './dtype.js';
import { qgroupMatrixBytes, qgroupRowWords, type QuantBits, type ScaleDtype } from './quantize.js';
import { ropeTablesOfLayers } from './rope.js';

/** Element type of the KV cache (`LoadOptions.kvDtype`). */
export type KvDtype = 'f16' | 'f32';
/** Bytes of one KV element. */
export const KV_ELEMENT_BYTES: Readonly<Record<KvDtype, number>> = { f32: 4, f16: 2 };

/** Models with more parameters than this get an f16 KV cache by default, smaller ones f32. */
export const F16_KV_DEFAULT_ABOVE_PARAMS = 100_000_000;
/** Largest T of one forward (prefill chunk, tree); also attention's limit (ATTENTION_MAX_T). */
export const MAX_ROWS = 128;
/** Top-k slots per row (MAX_TOPK of src/kernels/topk.ts). */
const TOPK_SLOTS = 64;
/** Bytes of one params-arena slot (PARAM_SLOT_BYTES of src/gpu/kernel.ts). */
const PARAM_SLOT_BYTES = 256;
/** An automatically shortened context keeps at least this many tokens (or the default, if smaller). */
export const MIN_AUTO_CONTEXT = 64;

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/** Sizes derived from the config (glossary letters of ARCHITECTURE.md). */
export interface Dims {
  C: number; Cp: number; H: number; Hkv: number; D: number; HD: number; HDp: number;
  QKV: number; QKVp: number; F: number; Fp: number; GUp: number; V: number; Vp: number; L: number;
  Smax: number; maxRows: number; rowF: number;
}

/**
 * The dims of `cfg` with Smax = contextLength + treeRoom and maxRows = min(maxRows, 128, rows whose
 * largest activation row fits one binding).
 * @throws LimitTooLowError when one activation row does not fit `maxBindingBytes`.
 */
export function llamaDims(cfg: LlamaConfig, contextLength: number, treeRoom: number, maxRows: number, maxBindingBytes: number): Dims {
  const C = cfg.hiddenSize; const H = cfg.numHeads; const Hkv = cfg.numKvHeads; const D = cfg.headDim;
  const F = cfg.intermediateSize; const V = cfg.vocabSize;
  const HD = H * D; const QKV = (H + 2 * Hkv) * D;
  const dims: Dims = {
    C, Cp: roundUp(C, 8), H, Hkv, D, HD, HDp: roundUp(HD, 8), QKV, QKVp: roundUp(QKV, 8), F, Fp: roundUp(F, 8), GUp: roundUp(2 * F, 8),
    V, Vp: roundUp(V, 8), L: cfg.numLayers, Smax: contextLength + treeRoom, maxRows: 0, rowF: Hkv * D,
  };
  const maxRowBytes = 4 * Math.max(dims.Cp, dims.QKVp, dims.GUp, dims.Vp, dims.HDp);
  dims.maxRows = Math.min(maxRows, MAX_ROWS, Math.floor(maxBindingBytes / maxRowBytes));
  if (dims.maxRows < 1) throw new LimitTooLowError('maxStorageBufferBindingSize', maxBindingBytes, maxRowBytes, 'One activation row of this model does not fit one binding.');
  return dims;
}

/** Parameters of the model as its config describes it (embedding, lm_head when untied, layers, norms). */
export function parameterCount(cfg: LlamaConfig): number {
  const C = cfg.hiddenSize; const HD = cfg.numHeads * cfg.headDim; const KV = cfg.numKvHeads * cfg.headDim;
  const layer = C * HD + 2 * C * KV + HD * C + 3 * C * cfg.intermediateSize + 2 * C
    + (cfg.family.qkvBias ? HD + 2 * KV : 0) + (cfg.family.qkNorm ? 2 * cfg.headDim : 0) + (cfg.family.postNorms ? 2 * C : 0);
  return cfg.vocabSize * C * (cfg.tieWordEmbeddings ? 1 : 2) + cfg.numLayers * layer + C;
}

/** The default KV dtype: f16 for models above {@link F16_KV_DEFAULT_ABOVE_PARAMS} parameters, else f32. */
export function defaultKvDtype(cfg: LlamaConfig): KvDtype {
  return parameterCount(cfg) > F16_KV_DEFAULT_ABOVE_PARAMS ? 'f16' : 'f32';
}

/** A weight matrix of the model: its key in LlamaGpu (`embed`, `lm_head`, `qkv3`, …) and fused shape [N, K]. */
export interface MatrixShape { key: string; N: number; K: number }

/** Every weight matrix LlamaGpu allocates, fused as it stores them. */
export function modelMatrices(cfg: LlamaConfig): MatrixShape[] {
  const C = cfg.hiddenSize; const HD = cfg.numHeads * cfg.headDim; const QKV = (cfg.numHeads + 2 * cfg.numKvHeads) * cfg.headDim;
  const out: MatrixShape[] = [{ key: 'embed', N: cfg.vocabSize, K: C }];
  if (!cfg.tieWordEmbeddings) out.push({ key: 'lm_head', N: cfg.vocabSize, K: C });
  for (let i = 0; i < cfg.numLayers; i++) {
    out.push({ key: `qkv${i}`, N: QKV, K: C }, { key: `o${i}`, N: C, K: HD }, { key: `gu${i}`, N: 2 * cfg.intermediateSize, K: C }, { key: `down${i}`, N: C, K: cfg.intermediateSize });
  }
  return out;
}

/** GPU size of one matrix in its format: bytes and buffers (row chunks that each fit one binding). */
export interface MatrixPlan { bytes: number; buffers: number }

/** The GPU format of each matrix: `(key, N, K, maxBindingBytes) → bytes and buffers`. */
export type MatrixFormat = (key: string, N: number, K: number, maxBindingBytes: number) => MatrixPlan;

/**
 * Row-chunked storage as WeightMatrix allocates it: rows of `rowBytes`, as many rows per buffer as
 * one binding holds.
 * @throws LimitTooLowError when one row does not fit a binding.
 */
export function rowChunks(key: string, N: number, rowBytes: number, maxBindingBytes: number): MatrixPlan {
  if (rowBytes > maxBindingBytes) throw new LimitTooLowError('maxStorageBufferBindingSize', maxBindingBytes, rowBytes, `One row of ${key} does not fit one binding.`);
  return { bytes: N * rowBytes, buffers: Math.ceil(N / Math.floor(maxBindingBytes / rowBytes)) };
}

/** Dense weights in `dtype` (the file dtype: F32, or F16/BF16 packed two per u32), rows padded to Kp. */
export function denseFormat(dtype: TensorDtype): MatrixFormat {
  return (key, N, K, maxBindingBytes) => rowChunks(key, N, roundUp(K, 8) * DTYPE_BYTES[dtype], maxBindingBytes);
}

/**
 * The group format of src/model/quantize.ts (qweight + scales + zeros, `qgroupMatrixBytes`), with
 * `embeddings` in `dense` (e.g. F16, the switch that keeps embedding and lm_head unquantized) or
 * quantized too (null). Buffers: rows chunked by the qweight row (the largest array per row).
 */
export function qgroupFormat(bits: QuantBits, group: number, scale: ScaleDtype = 'f16', embeddings: TensorDtype | null = null): MatrixFormat {
  const dense = embeddings ? denseFormat(embeddings) : null;
  return (key, N, K, maxBindingBytes) => {
    if (dense && (key === 'embed' || key === 'lm_head')) return dense(key, N, K, maxBindingBytes);
    const chunks = rowChunks(key, N, 4 * qgroupRowWords(K, bits, group, scale).q, maxBindingBytes);
    return { bytes: qgroupMatrixBytes(N, K, bits, group, scale), buffers: chunks.buffers };
  };
}

/** What the plan needs to know. */
export interface MemoryPlanInput {
  config: LlamaConfig;
  /** The weight format of each matrix ({@link denseFormat}, {@link qgroupFormat}, or the loader's own). */
  format: MatrixFormat;
  kvDtype: KvDtype;
  /** Tokens of context asked for; undefined = not fixed by the user (the default may be shortened). */
  contextLength?: number;
  /** Extra KV rows for the verification tree (TREE_ROOM). */
  treeRoom: number;
  /** Cap on rows per forward (`LoadOptions.maxRows`, default 128). */
  maxRows?: number;
  /** The device's buffer limits (bytes): maxStorageBufferBindingSize (possibly lowered by the test option) and maxBufferSize. */
  limits: { maxBindingBytes: number; maxBufferBytes: number };
  /** GPU bytes the model may take in all (`LoadOptions.gpuMemoryBytes`); undefined = no budget. */
  budgetBytes?: number;
  /** Already 4-bit weights (the advice then does not suggest them). */
  q4?: boolean;
}

/** The plan: sizes, the context chosen, and why it differs from the one asked for. */
export interface MemoryPlan {
  weightsBytes: number;
  kvBytes: number;
  scratchBytes: number;
  /** weightsBytes + kvBytes + scratchBytes. */
  totalBytes: number;
  /** The budget checked against (null: none). */
  budgetBytes: number | null;
  kvDtype: KvDtype;
  /** The context the model is loaded with. */
  contextLength: number;
  /** The context asked for, or the default (min(max_position_embeddings, 4096)) when none was. */
  requestedContextLength: number;
  /** Why contextLength is shorter than requested (the plan shortened it to fit); null when it is not. */
  reason: string | null;
  /** Buffers: weight matrices (incl. row chunks) and K/V slabs. */
  weightBuffers: number;
  kvBuffers: number;
  /** KV layers per slab buffer. */
  layersPerSlab: number;
  /** Rows per forward (prefill chunk, largest tree). */
  maxRows: number;
}

/** The default context: min(max_position_embeddings, 4096). */
export function defaultContextLength(cfg: LlamaConfig): number {
  return Math.min(cfg.maxPositionEmbeddings, 4096);
}

/** The sizes of the plan at one context length (no budget, no fallback). */
export type PlanSizes = Omit<MemoryPlan, 'budgetBytes' | 'requestedContextLength' | 'reason'>;

/**
 * The sizes at `contextLength` exactly (what LlamaGpu allocates; {@link planMemory} adds the budget
 * and the context fallback).
 * @throws LimitTooLowError when one KV layer, weight row or activation row does not fit one binding.
 */
export function planSizes(inp: MemoryPlanInput, contextLength: number): PlanSizes {
  const s = sizes(inp, contextLength);
  if (!s) throw kvLayerTooLarge(inp, contextLength);
  return s;
}

function kvLayerTooLarge(inp: MemoryPlanInput, contextLength: number): LimitTooLowError {
  const perLayer = (contextLength + inp.treeRoom) * inp.config.numKvHeads * inp.config.headDim * KV_ELEMENT_BYTES[inp.kvDtype];
  return new LimitTooLowError('maxStorageBufferBindingSize', Math.min(inp.limits.maxBindingBytes, inp.limits.maxBufferBytes), perLayer, 'One layer of the KV cache does not fit one binding: lower contextLength or use an f16 KV cache.');
}

/** Sizes at one context length; null when one KV layer does not fit one binding. */
function sizes(inp: MemoryPlanInput, contextLength: number): PlanSizes | null {
  const cfg = inp.config;
  const bind = Math.min(inp.limits.maxBindingBytes, inp.limits.maxBufferBytes);
  const d = llamaDims(cfg, contextLength, inp.treeRoom, inp.maxRows ?? MAX_ROWS, inp.limits.maxBindingBytes);
  if (inp.kvDtype === 'f16' && d.rowF % 2 !== 0) throw new UnsupportedModelError('KV row length Hkv·D with an f16 KV cache', d.rowF, 'an even number (or kvDtype: \'f32\')');
  // Weights: matrices in their format, norm gains f32 padded to Cp.
  const mats = new Map(modelMatrices(cfg).map((m) => [m.key, inp.format(m.key, m.N, m.K, inp.limits.maxBindingBytes)]));
  let weightsBytes = (2 * d.L + 1) * d.Cp * 4;
  // Per-family vectors (f32, padded to 8): fused q/k/v biases [QKV], q_norm + k_norm [2D].
  if (cfg.family.qkvBias) weightsBytes += d.L * d.QKVp * 4;
  if (cfg.family.qkNorm) weightsBytes += d.L * roundUp(2 * d.D, 8) * 4;
  // Gemma's post-attention and post-feed-forward norms [C] (f32, padded to Cp).
  if (cfg.family.postNorms) weightsBytes += 2 * d.L * d.Cp * 4;
  let weightBuffers = 0;
  for (const m of mats.values()) { weightsBytes += m.bytes; weightBuffers += m.buffers; }
  // KV slabs.
  const perLayer = d.Smax * d.rowF * KV_ELEMENT_BYTES[inp.kvDtype];
  const layersPerSlab = Math.min(d.L, Math.floor(bind / perLayer));
  if (layersPerSlab < 1) return null;
  const slabs = Math.ceil(d.L / layersPerSlab);
  const kvBytes = 2 * d.L * perLayer;
  // Scratch: as LlamaGpu.#allocate makes it (each buffer ≥ 16 bytes, a multiple of 16).
  const T = d.maxRows;
  const buf = (bytes: number) => Math.max(16, roundUp(bytes, 16));
  const floatsPerRow = [1, 1, d.Cp, d.Cp, d.QKVp, d.HDp, d.GUp, d.Fp, d.Vp, TOPK_SLOTS, TOPK_SLOTS]; // ids, pos, x, h, qkv, attn, gu, act, logits, top ids, top values
  // One RoPE table [Smax, D] per distinct per-layer RoPE setting (Gemma 3: local and global).
  const ropeTables = ropeTablesOfLayers(cfg).tables.length;
  let scratchBytes = floatsPerRow.reduce((n, f) => n + buf(T * f * 4), 0) + ropeTables * buf(d.Smax * d.D * 4) + buf(8 * T * T * 4) + buf(2 * T * TOPK_SLOTS * 4);
  // Params arena: one slot per pass of the longest forward (LlamaGpu.#passBudget).
  const ch = (k: string) => mats.get(k)!.buffers;
  let passes = 8 + ch('embed') + ch(cfg.tieWordEmbeddings ? 'embed' : 'lm_head') + 2 * slabs + (cfg.family.finalSoftcap !== null ? 1 : 0);
  const familyPasses = (cfg.family.qkvBias ? 1 : 0) + (cfg.family.qkNorm ? 1 : 0) + (cfg.family.postNorms ? 2 : 0); // bias_add, head_rmsnorm, 2 rmsnorm_add
  for (let i = 0; i < d.L; i++) passes += 6 + familyPasses + ch(`qkv${i}`) + ch(`o${i}`) + ch(`gu${i}`) + ch(`down${i}`);
  scratchBytes += (passes + 8) * PARAM_SLOT_BYTES;
  return {
    weightsBytes, kvBytes, scratchBytes, totalBytes: weightsBytes + kvBytes + scratchBytes, kvDtype: inp.kvDtype, contextLength,
    weightBuffers, kvBuffers: 2 * slabs, layersPerSlab, maxRows: T,
  };
}

const fmtBytes = (n: number) => (n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`);

/**
 * Plans the model's GPU memory. When it does not fit (the budget, or one KV layer larger than one
 * binding) and the context was not fixed, the largest context that fits (≥ min(default,
 * {@link MIN_AUTO_CONTEXT})) is chosen and `reason` says so.
 * @throws OutOfMemoryError naming required and allowed bytes and what to do (q4 weights, a shorter
 *   context, an f16 KV cache) when it cannot fit; LimitTooLowError when a fixed context's KV layer,
 *   a weight row or an activation row does not fit one binding; UnsupportedModelError for an f16 KV
 *   cache with an odd row length.
 */
export function planMemory(inp: MemoryPlanInput): MemoryPlan {
  const requested = inp.contextLength ?? defaultContextLength(inp.config);
  const budget = inp.budgetBytes ?? null;
  const fits = (s: ReturnType<typeof sizes>) => s !== null && (budget === null || s.totalBytes <= budget);
  const full = sizes(inp, requested);
  if (fits(full)) return { ...full!, budgetBytes: budget, requestedContextLength: requested, reason: null };
  if (inp.contextLength === undefined) {
    const floor = Math.min(requested, MIN_AUTO_CONTEXT);
    if (fits(sizes(inp, floor))) {
      let lo = floor; let hi = requested; // fits(lo), !fits(hi): total grows with the context
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (fits(sizes(inp, mid))) lo = mid; else hi = mid;
      }
      const s = sizes(inp, lo)!;
      const why = full === null
        ? `one layer of the KV cache at ${requested} tokens does not fit one buffer binding (${inp.limits.maxBindingBytes} bytes)`
        : `weights ${fmtBytes(full.weightsBytes)} + KV cache ${fmtBytes(full.kvBytes)} + scratch ${fmtBytes(full.scratchBytes)} = ${full.totalBytes} bytes exceed the GPU memory budget of ${budget} bytes`;
      return { ...s, budgetBytes: budget, requestedContextLength: requested, reason: `Context shortened from ${requested} to ${lo} tokens: ${why}.` };
    }
  }
  if (full === null) throw kvLayerTooLarge(inp, requested);
  throw new OutOfMemoryError('the model (memory plan)', full.totalBytes, {
    requiredBytes: full.totalBytes, allowedBytes: budget!, weightsBytes: full.weightsBytes, kvBytes: full.kvBytes, scratchBytes: full.scratchBytes,
    contextLength: requested, advice: memoryAdvice({ ...full, budgetBytes: budget }, inp.q4),
  });
}

/**
 * What to do when a plan does not fit, most effective first: an f16 KV cache (when it is f32), a
 * shorter context, 4-bit weights (unless `q4`: they are already), a larger budget (when there is one).
 * When the weights and scratch alone exceed the budget, no context helps: fewer weight bytes or a
 * larger budget.
 */
export function memoryAdvice(p: Pick<MemoryPlan, 'kvDtype' | 'kvBytes' | 'contextLength' | 'budgetBytes'> & Partial<Pick<MemoryPlan, 'weightsBytes' | 'scratchBytes'>>, q4 = false): string[] {
  const fixed = (p.weightsBytes ?? 0) + (p.scratchBytes ?? 0);
  if (p.budgetBytes !== null && p.weightsBytes !== undefined && fixed >= p.budgetBytes) {
    // No context fits: the weights (and scratch) alone exceed the budget.
    return [
      `fewer weight bytes: the weights (${fmtBytes(p.weightsBytes)}) and scratch buffers (${fmtBytes(p.scratchBytes ?? 0)}) alone exceed the budget (${q4 ? 'the weights are already 4-bit: a smaller model' : '4-bit weights: quantize: \'q4\', --quantize q4, or a smaller model'})`,
      'a larger gpuMemoryBytes (--gpu-memory) if the GPU has it',
    ];
  }
  return [
    ...(p.kvDtype === 'f32' ? ['an f16 KV cache (kvDtype: \'f16\', --kv-dtype f16), which halves the KV cache'] : []),
    `a shorter context (contextLength, --context-length: the KV cache takes ${fmtBytes(p.kvBytes)} at ${p.contextLength} tokens)`,
    ...(q4 ? [] : ['4-bit weights (quantize: \'q4\', --quantize q4)']),
    ...(p.budgetBytes !== null ? ['a larger gpuMemoryBytes (--gpu-memory) if the GPU has it'] : []),
  ];
}

/**
 * The file dtype the weights are planned in, before any tensor header is read: the config's declared
 * `torch_dtype`/`dtype` (float32 → F32, float16 → F16, bfloat16 → BF16), else the bytes per parameter of
 * the weight files (≥ 3: F32, else 16-bit). Tensors carry their own dtype at load; a checkpoint that
 * mixes dtypes may allocate other sizes than planned (`ModelInfo.memory` reports what was allocated).
 */
export function fileWeightDtype(cfg: LlamaConfig, totalBytes: number | null): TensorDtype {
  const declared = { float32: 'F32', float16: 'F16', bfloat16: 'BF16' }[cfg.declaredDtype ?? ''] as TensorDtype | undefined;
  if (declared) return declared;
  if (totalBytes !== null && totalBytes / parameterCount(cfg) >= 3) return 'F32';
  return totalBytes === null ? 'F32' : 'F16';
}
