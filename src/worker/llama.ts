/**
 * The one decoder forward on the GPU (Llama and the families of `LlamaConfig.family`: q/k/v biases
 * + a bias-add pass after the fused q/k/v matmul, per-head q/k RMSNorm before RoPE, a sliding window
 * per layer in the attention kernel; Gemma 2/3: (1 + w) norms folded into the weights at load, √C
 * embedding scale, GeGLU, post-attention and post-MLP norms added to the residual by rmsnorm_add,
 * attention and final logit soft-caps, query_pre_attn_scalar, one RoPE table per distinct layer base):
 * weights, KV cache slabs, scratch buffers, bind groups (all
 * created once at load), and the pass list of one forward. Per-family passes add 1 per option per layer. Dispatches per forward: 1 embed (+1 per extra
 * embedding chunk) + 9 per layer (+1 per extra weight chunk; RoPE and the KV append are one kernel) + final norm, lm_head, top-k, plus
 * one KV compaction per slab when rows are kept.
 *
 * Buffers (T ≤ maxRows rows; strides padded to multiples of 8 floats, padding columns stay zero):
 *   x [T, Cp] residual stream · h [T, Cp] normed · qkv [T, QKVp] · attn [T, HDp] · gu [T, GUp] ·
 *   act [T, Fp] · logits [T, Vp] · ids/pos [T] u32 · top ids/values [T, 64] · KV slabs ·
 *   rope table [Smax, R/2] (cos, sin; R = rotary dims, D unless partial) · mask library.
 * Phi-3's fused checkpoint tensors (`qkv_proj`, `gate_up_proj`) load whole into the fused q/k/v and
 * gate/up matrices, whose row layouts they already have.
 */
import { LimitTooLowError, ModelFormatError, UnsupportedModelError } from '../errors.js';
import { adapterName, type GpuContext } from '../gpu/context.js';
import { KernelCache, ParamArena, roundUp, type KernelDef, type KernelFaults, type Pass } from '../gpu/kernel.js';
import { withErrorScopes } from '../gpu/scope.js';
import { attentionKernel, attentionPipelines, attentionPass, causalMask, ATTENTION_MAX_T } from '../kernels/attention.js';
import { embedConstants, embedKernel, embedPass } from '../kernels/embed.js';
import { kvCompactPass, MAX_COMPACT_ROWS } from '../kernels/kv_compact.js';
import { kvKernels, type KvKernels } from '../kernels/kv-format.js';
import { kernelFor, MATMUL_ROW_CASES, matmulConstants, matmulPass, type MatmulConfig } from '../kernels/matmul.js';
import type { KernelConfig } from '../gpu/kernel-config.js';
import { RMSNORM, rmsnormPass } from '../kernels/rmsnorm.js';
import { ropeKvAppendPass } from '../kernels/rope_kv_append.js';
import { SWIGLU, swigluPass } from '../kernels/swiglu.js';
import { TOPK, topkPass, MAX_TOPK } from '../kernels/topk.js';
import { BIAS_ADD, biasAddPass } from '../kernels/bias_add.js';
import { HEAD_RMSNORM, headRmsNormPass } from '../kernels/head_rmsnorm.js';
import { GEGLU, gegluPass } from '../kernels/geglu.js';
import { RMSNORM_ADD, rmsnormAddPass } from '../kernels/rmsnorm_add.js';
import { SOFTCAP, softcapPass } from '../kernels/softcap.js';
import type { LlamaConfig } from '../model/config.js';
import { KV_ELEMENT_BYTES, llamaDims, planSizes, type Dims, type KvDtype, type MatrixFormat } from '../model/memory-plan.js';
import type { TensorDtype } from '../model/dtype.js';
import { buildRopeTable, ropeSpecOfLayer, ropeTablesOfLayers } from '../model/rope.js';
import { WeightMatrix, allocBuffer, uploadVectorF32 } from '../model/weights.js';
import { QGroupMatrix } from '../model/qmatrix.js';
import { quantizeRows, type QuantizedMatrix, type WeightQuantization } from '../model/quantize.js';
import { DTYPE_BYTES, decodeToF32, encodeFromF32 } from '../model/dtype.js';
import { InvalidArgumentError, UnsupportedQuantizationError } from '../errors.js';

/** A norm's f32 weights plus the family's offset (Gemma: 1 + w, added in f32 as HF's `1.0 + weight.float()`). */
function normScale(w: Float32Array, add: number | undefined): Float32Array<ArrayBuffer> {
  const out = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) out[i] = w[i] + (add ?? 0);
  return out;
}

/** Lets the event loop run (heartbeat pings, messages) between synchronous steps of the load. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Where a named checkpoint tensor goes. */
type Target =
  | { kind: 'matrix'; key: string; row0: number; N: number; K: number; fusedN: number }
  | { kind: 'vector'; key: string; n: number; off?: number; total?: number; add?: number };

/**
 * The checkpoint name of a decoder tensor with a multimodal wrapper's prefix removed: a
 * Gemma3ForConditionalGeneration folder stores its language model as `language_model.model.*`
 * (transformers 4.50, the published layout) or `model.language_model.*` (later), its lm_head (when
 * untied) as `language_model.lm_head.*`; the vision tower and projector keep names no target has.
 */
export function canonicalTensorName(name: string): string {
  if (name.startsWith('language_model.model.')) return `model.${name.slice('language_model.model.'.length)}`;
  if (name.startsWith('model.language_model.')) return `model.${name.slice('model.language_model.'.length)}`;
  if (name.startsWith('language_model.lm_head.')) return `lm_head.${name.slice('language_model.lm_head.'.length)}`;
  return name;
}

interface Layer {
  /** Fused q/k/v biases [QKVp] f32 (family.qkvBias). */
  qkvBias?: GPUBuffer;
  /** q_norm then k_norm weights [2D padded to 8] f32 (family.qkNorm). */
  qkNorm?: GPUBuffer;
  inNorm: GPUBuffer;
  /** The MLP's input norm: post_attention_layernorm (Llama) or pre_feedforward_layernorm (Gemma). */
  postNorm: GPUBuffer;
  /** Gemma's norms of the attention output and the MLP output (family.postNorms). */
  attnOutNorm?: GPUBuffer;
  ffnOutNorm?: GPUBuffer;
  qkv: WeightMatrix;
  o: WeightMatrix;
  gu: WeightMatrix;
  down: WeightMatrix;
}

interface Slab {
  k: GPUBuffer;
  v: GPUBuffer;
  layer0: number;
  layers: number;
}

export type { Dims };

export class LlamaGpu {
  readonly cache: KernelCache;
  readonly dims: Dims;
  readonly matmul: MatmulConfig;
  /** Attention softmax block = workgroup size (engine-wide for determinism). */
  readonly attnBlock: number;
  /** The kernels of the KV element type (f32: the default kernels; f16: two halves per u32). */
  readonly kv: KvKernels;
  readonly #device: GPUDevice;
  readonly #maxPerDim: number;
  readonly #matrices = new Map<string, WeightMatrix>();
  readonly #vectors = new Map<string, GPUBuffer>();
  readonly #buffers: GPUBuffer[] = [];
  #layers: Layer[] = [];
  #slabs: Slab[] = [];
  #embed!: WeightMatrix;
  #lmHead!: WeightMatrix;
  #finalNorm!: GPUBuffer;
  /** RoPE cos/sin tables, one per distinct per-layer setting ([0] is `b.rope`), and each layer's table. */
  #ropeTables: GPUBuffer[] = [];
  #ropeOfLayer: number[] = [];
  arena!: ParamArena;
  b!: Record<'ids' | 'pos' | 'x' | 'h' | 'qkv' | 'attn' | 'gu' | 'act' | 'logits' | 'topIds' | 'topVals' | 'rope' | 'masks' | 'readback', GPUBuffer>;
  #bg = new Map<string, GPUBindGroup>();
  maskCapacity = 0;
  weightsBytes = 0;
  kvBytes = 0;
  scratchBytes = 0;

  /**
   * @param kernels the engine's kernel configuration (src/gpu/kernel-config.ts: `chooseKernelConfig`).
   * @param faults test-only kernel faults (`LoadOptions.faults`).
   * @param kvDtype KV cache element type (`LoadOptions.kvDtype`).
   * @throws LimitTooLowError when one activation row does not fit a binding; UnsupportedModelError
   *   for an f16 KV cache with an odd row length Hkv·D.
   * @param quant load-time quantization of the weight matrices (`LoadOptions.quantize`), or null to
   *   keep them in their file dtype.
   */
  constructor(readonly ctx: GpuContext, readonly cfg: LlamaConfig, readonly contextLength: number, readonly treeRoom: number, readonly kernels: KernelConfig, maxRows = 128, faults?: KernelFaults, readonly kvDtype: KvDtype = 'f32', readonly quant: WeightQuantization | null = null) {
    this.#device = ctx.device;
    this.#maxPerDim = ctx.limits.maxWorkgroupsPerDimension;
    this.cache = new KernelCache(ctx.device, { limits: ctx.limits.kernel, adapter: adapterName(ctx.adapter), faults });
    this.matmul = kernels.matmul;
    this.attnBlock = kernels.attention.block;
    this.dims = llamaDims(cfg, contextLength, treeRoom, Math.min(maxRows, ATTENTION_MAX_T), ctx.limits.maxBindingBytes);
    this.kv = kvKernels(kvDtype, this.dims.rowF);
  }

  /**
   * GPU bytes this model will allocate with weight format `format` (src/model/memory-plan.ts, the
   * one place the sizes are computed): weights, KV cache, scratch.
   */
  plannedBytes(format: MatrixFormat): { weights: number; kv: number; scratch: number } {
    const s = planSizes({ config: this.cfg, format, kvDtype: this.kvDtype, treeRoom: this.treeRoom, maxRows: this.dims.maxRows, limits: { maxBindingBytes: this.ctx.limits.maxBindingBytes, maxBufferBytes: this.ctx.limits.maxBufferBytes } }, this.contextLength);
    return { weights: s.weightsBytes, kv: s.kvBytes, scratch: s.scratchBytes };
  }

  // ---------------------------------------------------------------- weights

  /**
   * Tensor name → where it goes; null when the runtime does not use it. Parts of a fused vector
   * (q/k/v biases, q/k norms) carry their offset `off` in the vector of `total` elements.
   */
  target(checkpointName: string): Target | null {
    const name = canonicalTensorName(checkpointName);
    const d = this.dims;
    const fam = this.cfg.family;
    const add = fam.normWeightOffset || undefined;
    if (name === 'model.embed_tokens.weight') return { kind: 'matrix', key: 'embed', row0: 0, N: d.V, K: d.C, fusedN: d.V };
    if (name === 'lm_head.weight') return this.cfg.tieWordEmbeddings ? null : { kind: 'matrix', key: 'lm_head', row0: 0, N: d.V, K: d.C, fusedN: d.V };
    if (name === 'model.norm.weight') return { kind: 'vector', key: 'norm', n: d.C, add };
    const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
    if (!m) return null;
    const i = Number(m[1]);
    if (i >= d.L) return null;
    if (m[3] === 'bias') {
      if (!fam.qkvBias) return null;
      switch (m[2]) {
        case 'self_attn.q_proj': return { kind: 'vector', key: `qkvb${i}`, n: d.HD, off: 0, total: d.QKV };
        case 'self_attn.k_proj': return { kind: 'vector', key: `qkvb${i}`, n: d.rowF, off: d.HD, total: d.QKV };
        case 'self_attn.v_proj': return { kind: 'vector', key: `qkvb${i}`, n: d.rowF, off: d.HD + d.rowF, total: d.QKV };
        default: return null;
      }
    }
    if (fam.qkNorm && m[2] === 'self_attn.q_norm') return { kind: 'vector', key: `qkn${i}`, n: d.D, off: 0, total: 2 * d.D, add };
    if (fam.qkNorm && m[2] === 'self_attn.k_norm') return { kind: 'vector', key: `qkn${i}`, n: d.D, off: d.D, total: 2 * d.D, add };
    if (fam.postNorms) {
      // Gemma: post_attention_layernorm normalises the attention output; the MLP's input norm is pre_feedforward_layernorm.
      if (m[2] === 'post_attention_layernorm') return { kind: 'vector', key: `pan${i}`, n: d.C, add };
      if (m[2] === 'pre_feedforward_layernorm') return { kind: 'vector', key: `post${i}`, n: d.C, add };
      if (m[2] === 'post_feedforward_layernorm') return { kind: 'vector', key: `pfn${i}`, n: d.C, add };
    }
    if (fam.fusedProjections) {
      if (m[2] === 'self_attn.qkv_proj') return { kind: 'matrix', key: `qkv${i}`, row0: 0, N: d.QKV, K: d.C, fusedN: d.QKV };
      if (m[2] === 'mlp.gate_up_proj') return { kind: 'matrix', key: `gu${i}`, row0: 0, N: 2 * d.F, K: d.C, fusedN: 2 * d.F };
      if (/^(self_attn\.[qkv]_proj|mlp\.(gate|up)_proj)$/.test(m[2])) return null;
    }
    switch (m[2]) {
      case 'input_layernorm': return { kind: 'vector', key: `in${i}`, n: d.C, add };
      case 'post_attention_layernorm': return { kind: 'vector', key: `post${i}`, n: d.C, add };
      case 'self_attn.q_proj': return { kind: 'matrix', key: `qkv${i}`, row0: 0, N: d.HD, K: d.C, fusedN: d.QKV };
      case 'self_attn.k_proj': return { kind: 'matrix', key: `qkv${i}`, row0: d.HD, N: d.rowF, K: d.C, fusedN: d.QKV };
      case 'self_attn.v_proj': return { kind: 'matrix', key: `qkv${i}`, row0: d.HD + d.rowF, N: d.rowF, K: d.C, fusedN: d.QKV };
      case 'self_attn.o_proj': return { kind: 'matrix', key: `o${i}`, row0: 0, N: d.C, K: d.HD, fusedN: d.C };
      case 'mlp.gate_proj': return { kind: 'matrix', key: `gu${i}`, row0: 0, N: d.F, K: d.C, fusedN: 2 * d.F };
      case 'mlp.up_proj': return { kind: 'matrix', key: `gu${i}`, row0: d.F, N: d.F, K: d.C, fusedN: 2 * d.F };
      case 'mlp.down_proj': return { kind: 'matrix', key: `down${i}`, row0: 0, N: d.C, K: d.F, fusedN: d.C };
      default: return null;
    }
  }

  /** Every tensor name the model needs (canonical names: {@link canonicalTensorName}). */
  requiredTensors(): string[] {
    const names = ['model.embed_tokens.weight', 'model.norm.weight'];
    if (!this.cfg.tieWordEmbeddings) names.push('lm_head.weight');
    for (let i = 0; i < this.dims.L; i++) {
      if (this.cfg.family.postNorms) for (const s of ['pre_feedforward_layernorm', 'post_feedforward_layernorm']) names.push(`model.layers.${i}.${s}.weight`);
      const projections = this.cfg.family.fusedProjections ? ['self_attn.qkv_proj', 'mlp.gate_up_proj'] : ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'mlp.gate_proj', 'mlp.up_proj'];
      for (const s of ['input_layernorm', 'post_attention_layernorm', ...projections, 'self_attn.o_proj', 'mlp.down_proj']) {
        names.push(`model.layers.${i}.${s}.weight`);
      }
      if (this.cfg.family.qkvBias) for (const s of ['q', 'k', 'v']) names.push(`model.layers.${i}.self_attn.${s}_proj.bias`);
      if (this.cfg.family.qkNorm) for (const s of ['q', 'k']) names.push(`model.layers.${i}.self_attn.${s}_norm.weight`);
    }
    return names;
  }

  /** Receives one checkpoint tensor and uploads it. @throws ModelFormatError on a shape mismatch. */
  async addTensor(name: string, dtype: TensorDtype, shape: number[], bytes: Uint8Array, block: { row0: number; rows: number } = { row0: 0, rows: shape[0] ?? 1 }): Promise<void> {
    const t = this.target(name);
    if (!t) return;
    if (t.kind === 'vector') {
      if (block.row0 !== 0 || block.rows !== shape[0]) throw new Error(`${name}: a vector arrives whole`);
      if (shape.length !== 1 || shape[0] !== t.n) throw new ModelFormatError(`Tensor ${name} has shape ${JSON.stringify(shape)}, expected [${t.n}].`, { tensor: name });
      if (t.total !== undefined) {
        // A part of a fused vector: the buffer is made by its first part, each part written at its offset.
        let buf = this.#vectors.get(t.key);
        if (!buf) {
          buf = await allocBuffer(this.#device, { label: t.key, size: roundUp(t.total, 8) * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
          this.#vectors.set(t.key, buf);
          this.weightsBytes += buf.size;
        }
        this.#device.queue.writeBuffer(buf, (t.off ?? 0) * 4, normScale(decodeToF32(bytes, dtype), t.add));
        return;
      }
      if (t.add) bytes = new Uint8Array(normScale(decodeToF32(bytes, dtype), t.add).buffer);
      const buf = await uploadVectorF32(this.#device, name, bytes, t.add ? 'F32' : dtype, roundUp(t.n, 8));
      this.#vectors.set(t.key, buf);
      this.weightsBytes += buf.size;
      return;
    }
    if (shape.length !== 2 || shape[0] !== t.N || shape[1] !== t.K) throw new ModelFormatError(`Tensor ${name} has shape ${JSON.stringify(shape)}, expected [${t.N}, ${t.K}].`, { tensor: name });
    const q = this.#quantOf(t.key);
    if (q) {
      // Load-time quantization, in row blocks of at most 8 MB of f32 values.
      const rowBytes = t.K * DTYPE_BYTES[dtype];
      const blockRows = Math.max(1, Math.floor((8 << 20) / (4 * t.K)));
      const rows = block.rows;
      for (let r = 0; r < rows; r += blockRows) {
        const n = Math.min(blockRows, rows - r);
        let qm: QuantizedMatrix;
        try {
          qm = quantizeRows(decodeToF32(bytes.subarray(r * rowBytes, (r + n) * rowBytes), dtype), n, t.K, q.bits, q.group);
        } catch (e) {
          if (e instanceof InvalidArgumentError) throw new ModelFormatError(`Tensor ${name}: ${e.message.replace(/^quantizeRows: /, '')} Non-finite weights have no quantized value: load this model with quantize 'none'.`, { tensor: name });
          throw e;
        }
        await this.addQuantized(name, qm, block.row0 + r);
        await yieldToEventLoop(); // quantizing a large tensor takes seconds: let the worker answer its watchdog
      }
      return;
    }
    if (this.quant && dtype === 'F32') {
      // Quantized model whose embedding / lm_head stay dense: in f16 (16-bit sources keep their dtype).
      bytes = encodeFromF32(decodeToF32(bytes, 'F32'), 'F16');
      dtype = 'F16';
    }
    let m = this.#matrices.get(t.key);
    if (!m) {
      m = await WeightMatrix.create(this.#device, t.key, t.fusedN, t.K, dtype, this.ctx.limits.maxBindingBytes);
      this.#matrices.set(t.key, m);
    } else if (m.dtype !== dtype || m instanceof QGroupMatrix) {
      throw new UnsupportedModelError(`dtype of ${name}`, dtype, `${m.formatName} like the other parts of the fused ${t.key} matrix`);
    }
    m.write(this.#device.queue, t.row0 + block.row0, block.rows, bytes);
  }

  /** The quantization of matrix `key` under {@link quant}: null for dense (no quantization, or the embedding / lm_head when `quant.embeddings` is false). */
  #quantOf(key: string): WeightQuantization | null {
    if (!this.quant) return null;
    if ((key === 'embed' || key === 'lm_head') && !this.quant.embeddings) return null;
    return this.quant;
  }

  /**
   * Receives rows of a matrix already in the group format (load-time quantization, or a
   * pre-quantized checkpoint repacked by the loader): rows `row0Within` .. + m.N of tensor `name`.
   * @param gidx per-input-feature group index [Kp] of a GPTQ activation-order checkpoint (null: none).
   * @throws ModelFormatError when the tensor is unknown here, its shape or format disagrees with the
   *   other parts of its fused matrix; UnsupportedQuantizationError when its group index differs from
   *   the other parts'.
   */
  async addQuantized(name: string, qm: QuantizedMatrix, row0Within = 0, gidx: Uint32Array | null = null): Promise<void> {
    const t = this.target(name);
    if (!t) return;
    if (t.kind !== 'matrix' || qm.K !== t.K || row0Within + qm.N > t.N) throw new ModelFormatError(`Tensor ${name}: quantized rows [${row0Within}, ${row0Within + qm.N}) × ${qm.K} do not fit its shape [${t.kind === 'matrix' ? `${t.N}, ${t.K}` : '?'}].`, { tensor: name });
    let m = this.#matrices.get(t.key) as QGroupMatrix | WeightMatrix | undefined;
    if (!m) {
      m = await QGroupMatrix.createQ(this.#device, t.key, t.fusedN, t.K, qm.bits, qm.group, this.ctx.limits.maxBindingBytes);
      this.#matrices.set(t.key, m);
    } else if (!(m instanceof QGroupMatrix) || m.bits !== qm.bits || m.group !== qm.group) {
      throw new UnsupportedModelError(`format of ${name}`, `q${qm.bits}g${qm.group}`, `${m.formatName} like the other parts of the fused ${t.key} matrix`);
    }
    if (row0Within === 0) (m as QGroupMatrix).setGidx(name, gidx);
    (m as QGroupMatrix).writeQuantized(this.#device.queue, t.row0 + row0Within, qm);
    if ((m as QGroupMatrix).full) await (m as QGroupMatrix).complete(); // frees its CPU scales now, not at finish
  }

  /**
   * After all tensors: checks completeness, compiles every pipeline a forward can use, allocates KV
   * and scratch, builds bind groups.
   * @throws ModelFormatError (missing tensor), LimitTooLowError (a kernel needs more than the device
   *   allows), GpuValidationError (the device rejected a pipeline or bind group), OutOfMemoryError.
   */
  async finish(seen: Set<string>): Promise<void> {
    const seenNames = new Set([...seen].map(canonicalTensorName));
    const missing = this.requiredTensors().filter((n) => !seenNames.has(n));
    if (missing.length) throw new ModelFormatError(`Missing tensor ${missing[0]}${missing.length > 1 ? ` (and ${missing.length - 1} more)` : ''}.`, { tensor: missing[0], missing });
    const d = this.dims;
    const mat = (k: string) => this.#matrices.get(k)!;
    const vec = (k: string) => this.#vectors.get(k)!;
    this.#embed = mat('embed');
    if (this.#embed instanceof QGroupMatrix && this.#embed.hasGidx) throw new UnsupportedQuantizationError('an embedding table with a g_idx (activation order)', 'embeddings dense or in plain groups');
    this.#lmHead = this.cfg.tieWordEmbeddings ? this.#embed : mat('lm_head');
    this.#finalNorm = vec('norm');
    for (const m of this.#matrices.values()) {
      if (m instanceof QGroupMatrix) await m.complete();
      this.weightsBytes += m.bytes;
    }
    const fam = this.cfg.family;
    this.#layers = Array.from({ length: d.L }, (_, i) => ({ qkvBias: fam.qkvBias ? vec(`qkvb${i}`) : undefined, qkNorm: fam.qkNorm ? vec(`qkn${i}`) : undefined, inNorm: vec(`in${i}`), postNorm: vec(`post${i}`), attnOutNorm: fam.postNorms ? vec(`pan${i}`) : undefined, ffnOutNorm: fam.postNorms ? vec(`pfn${i}`) : undefined, qkv: mat(`qkv${i}`), o: mat(`o${i}`), gu: mat(`gu${i}`), down: mat(`down${i}`) }));
    // allSettled: every asynchronous creation must settle before a failed load destroys the device
    // (Dawn's Node binding aborts the process on a pipeline promise still pending at teardown).
    const made = await Promise.allSettled(this.#pipelines().map(([def, constants]) => this.cache.prepare(def, constants)));
    const failed = made.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    await this.#allocate();
    await withErrorScopes(this.#device, 'creating the bind groups', adapterName(this.ctx.adapter), () => this.#bindAll());
  }

  /** Every pipeline a forward of this model can use: the embedding and matmuls per weight format (one per row class of MATMUL_ROW_CASES), and the rest. */
  #pipelines(): Array<[KernelDef, Record<string, number>]> {
    const list: Array<[KernelDef, Record<string, number>]> = [[this.#embed.embedKernel, embedConstants(this.#embed.fmt)], ...attentionPipelines(this.kernels.attention, this.dims.H / this.dims.Hkv).map((c): [KernelDef, Record<string, number>] => [this.kv.attention, c])];
    const rowCases = MATMUL_ROW_CASES.filter((T) => T <= this.dims.maxRows); // one pipeline per row class (the cache merges equal ones)
    const kernels = new Map([...this.#matrices.values()].map((m) => [`${m.kernel.name}|${m.fmt}`, m] as const)); // one per (kernel, format)
    for (const m of kernels.values()) for (const T of rowCases) list.push([m.kernel, matmulConstants(this.matmul, m.fmt, T)]);
    const fam = this.cfg.family;
    for (const def of [RMSNORM, this.kv.ropeKvAppend, fam.activation === 'gelu_tanh' ? GEGLU : SWIGLU, TOPK, this.kv.kvCompact]) list.push([def, {}]);
    if (fam.qkvBias) list.push([BIAS_ADD, {}]);
    if (fam.qkNorm) list.push([HEAD_RMSNORM, {}]);
    if (fam.postNorms) list.push([RMSNORM_ADD, {}]);
    if (fam.finalSoftcap !== null) list.push([SOFTCAP, {}]);
    return list;
  }

  async #allocate(): Promise<void> {
    const d = this.dims;
    const dev = this.#device;
    const T = d.maxRows;
    const S = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    const mk = async (label: string, bytes: number, usage = S) => {
      const buf = await allocBuffer(dev, { label, size: Math.max(16, roundUp(bytes, 16)), usage });
      this.#buffers.push(buf);
      this.scratchBytes += buf.size;
      return buf;
    };
    // KV slabs: K and V buffers [layers, Smax, Hkv·D] in the KV dtype, as many layers per buffer as one binding allows.
    const perLayer = d.Smax * d.rowF * KV_ELEMENT_BYTES[this.kvDtype];
    const lps = Math.min(d.L, Math.floor(Math.min(this.ctx.limits.maxBindingBytes, this.ctx.limits.maxBufferBytes) / perLayer));
    if (lps < 1) throw new LimitTooLowError('maxStorageBufferBindingSize', this.ctx.limits.maxBindingBytes, perLayer, 'One layer of the KV cache does not fit one binding: lower contextLength.');
    for (let l0 = 0; l0 < d.L; l0 += lps) {
      const n = Math.min(lps, d.L - l0);
      const k = await allocBuffer(dev, { label: `k[${l0}:${l0 + n}]`, size: n * perLayer, usage: S });
      const v = await allocBuffer(dev, { label: `v[${l0}:${l0 + n}]`, size: n * perLayer, usage: S });
      this.#buffers.push(k, v);
      this.kvBytes += k.size + v.size;
      this.#slabs.push({ k, v, layer0: l0, layers: n });
    }
    this.maskCapacity = 8 * T * T;
    this.b = {
      ids: await mk('ids', T * 4), pos: await mk('pos', T * 4),
      x: await mk('x', T * d.Cp * 4), h: await mk('h', T * d.Cp * 4), qkv: await mk('qkv', T * d.QKVp * 4),
      attn: await mk('attn', T * d.HDp * 4), gu: await mk('gu', T * d.GUp * 4), act: await mk('act', T * d.Fp * 4),
      logits: await mk('logits', T * d.Vp * 4), topIds: await mk('topIds', T * MAX_TOPK * 4), topVals: await mk('topVals', T * MAX_TOPK * 4),
      rope: await mk('rope', d.Smax * d.D * 4), masks: await mk('masks', this.maskCapacity * 4),
      readback: await mk('readback', 2 * T * MAX_TOPK * 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST),
    };
    // One cos/sin table per distinct RoPE setting of the layers (Gemma 3: local and global bases).
    const rope = ropeTablesOfLayers(this.cfg);
    this.#ropeOfLayer = rope.ofLayer;
    this.#ropeTables = [this.b.rope];
    for (let k = 1; k < rope.tables.length; k++) this.#ropeTables.push(await mk(`rope${k}`, d.Smax * d.D * 4));
    rope.tables.forEach((layer, k) => dev.queue.writeBuffer(this.#ropeTables[k], 0, buildRopeTable(ropeSpecOfLayer(this.cfg, layer), d.Smax)));
    dev.queue.writeBuffer(this.b.masks, 0, causalMask(T));
    this.arena = new ParamArena(dev, this.cache.paramsLayout, this.#passBudget());
    this.scratchBytes += this.arena.buffer.size;
  }

  #passBudget(): number {
    const chunks = (m: WeightMatrix) => m.chunks.length;
    let n = 8 + this.#embed.chunks.length + chunks(this.#lmHead) + 2 * this.#slabs.length + (this.cfg.family.finalSoftcap !== null ? 1 : 0);
    for (const l of this.#layers) n += 6 + (l.qkvBias ? 1 : 0) + (l.qkNorm ? 1 : 0) + (l.attnOutNorm ? 2 : 0) + chunks(l.qkv) + chunks(l.o) + chunks(l.gu) + chunks(l.down);
    return n + 8;
  }

  #slabOf(layer: number): { slab: Slab; kBase: number; vBase: number } {
    const slab = this.#slabs.find((s) => layer >= s.layer0 && layer < s.layer0 + s.layers)!;
    const base = (layer - slab.layer0) * this.dims.Smax * this.dims.rowF;
    return { slab, kBase: base, vBase: base };
  }

  #bindAll(): void {
    const c = this.cache;
    const b = this.b;
    const set = (k: string, g: GPUBindGroup) => this.#bg.set(k, g);
    const mm = (m: WeightMatrix, x: GPUBuffer, y: GPUBuffer, key: string) => {
      m.chunks.forEach((ch, j) => set(`${key}:${j}`, c.bind(kernelFor(c, this.matmul, m.fmt, 1, m.kernel), [ch.buffer, x, y, ...m.extraBuffers(j)])));
    };
    this.#embed.chunks.forEach((ch, j) => set(`embed:${j}`, c.bind(embedKernel(c, this.#embed.fmt, this.#embed.embedKernel), [ch.buffer, b.ids, b.x, ...this.#embed.extraBuffers(j)])));
    set('act', c.bind(c.get(this.cfg.family.activation === 'gelu_tanh' ? GEGLU : SWIGLU), [b.gu, b.act]));
    this.#layers.forEach((l, i) => {
      set(`in${i}`, c.bind(c.get(RMSNORM), [b.x, l.inNorm, b.h]));
      if (l.qkvBias) set(`qkvb${i}`, c.bind(c.get(BIAS_ADD), [b.qkv, l.qkvBias]));
      if (l.qkNorm) set(`qkn${i}`, c.bind(c.get(HEAD_RMSNORM), [b.qkv, l.qkNorm]));
      set(`post${i}`, c.bind(c.get(RMSNORM), [b.x, l.postNorm, b.h]));
      mm(l.qkv, b.h, b.qkv, `qkv${i}`);
      // Gemma's post-norms: o_proj and down_proj write h, and rmsnorm_add adds norm(h) to x.
      mm(l.o, b.attn, l.attnOutNorm ? b.h : b.x, `o${i}`);
      mm(l.gu, b.h, b.gu, `gu${i}`);
      mm(l.down, b.act, l.ffnOutNorm ? b.h : b.x, `down${i}`);
      if (l.attnOutNorm) set(`pan${i}`, c.bind(c.get(RMSNORM_ADD), [b.h, l.attnOutNorm, b.x]));
      if (l.ffnOutNorm) set(`pfn${i}`, c.bind(c.get(RMSNORM_ADD), [b.h, l.ffnOutNorm, b.x]));
    });
    this.#slabs.forEach((s, j) => {
      this.#ropeTables.forEach((table, k) => set(`ropeAppend:${j}:${k}`, c.bind(c.get(this.kv.ropeKvAppend), [b.qkv, b.pos, table, s.k, s.v])));
      set(`attention:${j}`, c.bind(attentionKernel(c, this.kernels.attention, this.kv.attention), [b.qkv, s.k, s.v, b.masks, b.attn]));
      set(`compactK:${j}`, c.bind(c.get(this.kv.kvCompact), [s.k]));
      set(`compactV:${j}`, c.bind(c.get(this.kv.kvCompact), [s.v]));
    });
    set('final', c.bind(c.get(RMSNORM), [b.x, this.#finalNorm, b.h]));
    mm(this.#lmHead, b.h, b.logits, 'lm_head');
    set('topk', c.bind(c.get(TOPK), [b.logits, b.topIds, b.topVals]));
    if (this.cfg.family.finalSoftcap !== null) set('softcap', c.bind(c.get(SOFTCAP), [b.logits]));
  }

  // ---------------------------------------------------------------- forward

  /** KV compaction passes: rows `src` (absolute) → P, P+1, ... in every slab. */
  compactPasses(src: number[], P: number): Pass[] {
    if (src.length > MAX_COMPACT_ROWS) throw new Error(`kv_compact: at most ${MAX_COMPACT_ROWS} rows, got ${src.length}`);
    if (src.every((s, i) => s === P + i)) return [];
    return this.#slabs.flatMap((s, j) => ['K', 'V'].map((kv) =>
      kvCompactPass(this.cache, this.#bg.get(`compact${kv}:${j}`)!, { src, P, rowWords: this.dims.rowF / this.kv.elementsPerWord, Smax: this.dims.Smax, layers: s.layers }, this.kv.kvCompact)));
  }

  /**
   * Passes of one forward of T rows appended at KV row P.
   * @param mask base and row stride of the mask block in the mask library, and its visible rows
   *   (`visible[t]`: the new rows row t sees, ascending; for the traffic figures; default causal).
   * @param logits which rows get logits + top-k (`none` skips the head).
   * @param layers run only the first `layers` layers (the self-check; default all). The residual
   *   stream after them is in `b.x` [T, Cp].
   */
  forwardPasses(T: number, P: number, mask: { base: number; stride: number; visible?: readonly (readonly number[])[] }, logits: 'none' | 'last' | 'all', topK: number, layers = this.dims.L): Pass[] {
    const d = this.dims;
    const c = this.cache;
    const mpd = this.#maxPerDim;
    const bg = (k: string) => this.#bg.get(k)!;
    const passes: Pass[] = [];
    const mm = (m: WeightMatrix, key: string, Kp: number, yStride: number, accumulate: boolean, rows = T, xRow0 = 0) => {
      m.chunks.forEach((ch, j) => passes.push(matmulPass(c, this.matmul, bg(`${key}:${j}`), { T: rows, nRows: ch.rows, Kp, fmt: m.fmt, yStride, yCol0: ch.row0, accumulate, xRow0 }, key, m.kernel, m.chunkBytes)));
    };
    const fam = this.cfg.family;
    const scale = fam.embeddingScale ?? undefined;
    this.#embed.chunks.forEach((ch, j) => passes.push(embedPass(c, mpd, bg(`embed:${j}`), { T, C: d.C, Kp: d.Cp, fmt: this.#embed.fmt, v0: ch.row0, vRows: ch.rows, scale }, this.#embed.embedKernel, this.#embed.chunkBytes)));
    for (let i = 0; i < layers; i++) {
      const { kBase, vBase } = this.#slabOf(i);
      const sj = this.#slabs.findIndex((s) => i >= s.layer0 && i < s.layer0 + s.layers);
      passes.push(rmsnormPass(c, mpd, bg(`in${i}`), { T, C: d.C, stride: d.Cp, eps: this.cfg.rmsNormEps }));
      mm(this.#layers[i].qkv, `qkv${i}`, d.Cp, d.QKVp, false);
      if (this.#layers[i].qkvBias) passes.push(biasAddPass(c, mpd, bg(`qkvb${i}`), { T, N: d.QKV, stride: d.QKVp }));
      if (this.#layers[i].qkNorm) passes.push(headRmsNormPass(c, mpd, bg(`qkn${i}`), { T, H: d.H, Hkv: d.Hkv, D: d.D, stride: d.QKVp, eps: this.cfg.rmsNormEps }));
      const l = this.#layers[i];
      passes.push(ropeKvAppendPass(c, mpd, bg(`ropeAppend:${sj}:${this.#ropeOfLayer[i]}`), { T, P, H: d.H, Hkv: d.Hkv, D: d.D, stride: d.QKVp, kBase, vBase, Smax: d.Smax, R: fam.rotaryDim }, this.kv.ropeKvAppend));
      passes.push(attentionPass(c, bg(`attention:${sj}`), { T, P, H: d.H, Hkv: d.Hkv, D: d.D, qStride: d.QKVp, outStride: d.HDp, kBase, vBase, maskBase: mask.base, maskStride: mask.stride, Smax: d.Smax, visible: mask.visible, kvBytes: this.kv.elementBytes, window: fam.slidingWindow[i], scale: fam.queryScale ?? undefined, softcap: fam.attnSoftcap }, this.kernels.attention, this.kv.attention));
      const norm = { T, C: d.C, stride: d.Cp, eps: this.cfg.rmsNormEps };
      mm(l.o, `o${i}`, d.HDp, d.Cp, !l.attnOutNorm);
      if (l.attnOutNorm) passes.push(rmsnormAddPass(c, mpd, bg(`pan${i}`), norm));
      passes.push(rmsnormPass(c, mpd, bg(`post${i}`), norm));
      mm(l.gu, `gu${i}`, d.Cp, d.GUp, false);
      const act = { T, F: d.F, guStride: d.GUp, aStride: d.Fp };
      passes.push(fam.activation === 'gelu_tanh' ? gegluPass(c, mpd, bg('act'), act) : swigluPass(c, mpd, bg('act'), act));
      mm(l.down, `down${i}`, d.Fp, d.Cp, !l.ffnOutNorm);
      if (l.ffnOutNorm) passes.push(rmsnormAddPass(c, mpd, bg(`pfn${i}`), norm));
    }
    if (logits !== 'none') {
      passes.push(rmsnormPass(c, mpd, bg('final'), { T, C: d.C, stride: d.Cp, eps: this.cfg.rmsNormEps }));
      const rows = logits === 'all' ? T : 1;
      mm(this.#lmHead, 'lm_head', d.Cp, d.Vp, false, rows, logits === 'all' ? 0 : T - 1);
      if (fam.finalSoftcap !== null) passes.push(softcapPass(c, mpd, bg('softcap'), { T: rows, V: d.V, stride: d.Vp, cap: fam.finalSoftcap }));
      passes.push(topkPass(c, mpd, bg('topk'), { T: rows, V: d.V, stride: d.Vp, k: topK }));
    }
    return passes;
  }

  /**
   * Test-only fault: overwrites the first word of layer `layer`'s fused q/k/v weights on the GPU
   * with 1.0 (f32) or two 1.0 halves (f16, bf16), as a corrupted upload or a bad memory cell would.
   */
  corruptWeight(layer: number): void {
    const m = this.#layers[layer].qkv;
    const word = { f32: 0x3f800000, f16: 0x3c003c00, bf16: 0x3f803f80 }[m.fmt];
    this.#device.queue.writeBuffer(m.chunks[0].buffer, 0, Uint32Array.of(word));
  }

  /**
   * The weight matrices (fused q/k/v, o, gate/up, down per layer; embed; lm_head when untied), by
   * key. A weight format with its own decoding sets their `kernel` and `extraBuffers` before
   * {@link finish} (see WeightMatrix).
   */
  get matrices(): ReadonlyMap<string, WeightMatrix> {
    return this.#matrices;
  }

  /** Buffers holding weight matrices (> number of matrices when some were split). */
  get weightBuffers(): number {
    return [...this.#matrices.values()].reduce((n, m) => n + m.chunks.length, 0);
  }

  /**
   * Bytes of the weight matrices one forward's matmuls read when every row gets logits: q/k/v, o,
   * gate/up and down of every layer plus lm_head (the tied embedding counted once, as lm_head; an
   * untied embedding table is gathered row by row, so it is not counted). The denominator of the
   * traffic model's weightFetchRatio (bench/cost-curve.ts).
   */
  get matmulWeightBytes(): number {
    return this.#layers.reduce((n, l) => n + l.qkv.bytes + l.o.bytes + l.gu.bytes + l.down.bytes, 0) + this.#lmHead.bytes;
  }

  /** K and V slab buffers. */
  get kvBuffers(): number {
    return 2 * this.#slabs.length;
  }

  /** Weight formats in use, e.g. ['f16'] or ['f16', 'q4g32']. */
  get weightFormats(): string[] {
    return [...new Set([...this.#matrices.values()].map((m) => m.formatName))].sort();
  }

  /** Number of dispatches of one forward (for the dispatch-count budget). */
  dispatchCount(T: number, logits: 'none' | 'last' | 'all'): number {
    return this.forwardPasses(T, 0, { base: 0, stride: T }, logits, 1).length;
  }

  destroy(): void {
    for (const m of this.#matrices.values()) m.destroy();
    for (const v of this.#vectors.values()) v.destroy();
    for (const b of this.#buffers) b.destroy();
    this.arena?.buffer.destroy();
    this.#matrices.clear();
    this.#vectors.clear();
  }
}
