/**
 * The load-time self-check: a GPU driver or kernel bug that computes wrong values yields fluent
 * but wrong text, and nothing else tells the user. After load, layer 0 of the real model runs on
 * a few tokens on the GPU and in float64 on the CPU (`src/model/float64.ts`) from the same
 * weights, and the two residual streams leaving the layer must agree within
 * {@link SELF_CHECK_RTOL} × their scale, else SelfCheckError names the adapter.
 *
 * The CPU side uses the weights as they arrived from the checkpoint (copied while loading: only
 * layer 0 and the checked tokens' embedding rows), not a read-back of the GPU buffers, so a weight
 * corrupted on its way to or in GPU memory is caught too. The tokens run as four forwards of 9,
 * 5, 2 and 1 rows (positions 0..16, each attending to the KV rows of the previous ones), one per
 * row class of the matmul (MATMUL_ROW_CASES: ≥ 9, 5..8, 2..4 rows and the GEMV), so every matmul
 * pipeline and attention over cached rows are compared. Cost: about 1/L of a 17-token forward on
 * the GPU plus 17 × (parameters of one layer) float64 multiply-adds on the CPU.
 *
 * A quantized load (`LoadOptions.quantize`) is checked against the values the GPU is meant to hold:
 * the captured weights go through the same rule (`quantizeRows` then `dequantizeRows`, row by row,
 * so capture and GPU agree exactly), and dense embeddings of a quantized f32 model are rounded to
 * f16 as they are stored. A pre-quantized checkpoint offers its dequantized matrices ({@link
 * SelfCheckCapture.offerQuantized}).
 */
import { SelfCheckError } from '../errors.js';
import type { LlamaConfig } from '../model/config.js';
import { DTYPE_BYTES, decodeToF32, encodeFromF32, type TensorDtype } from '../model/dtype.js';
import { dequantizeRows, pickRows, quantizeRows, type WeightQuantization } from '../model/quantize.js';
import { dequantizeQuantized, type QuantizedTensor } from '../model/prequant.js';
import { llamaLayer64, type KvCache64, type LayerShape64, type LayerWeights64 } from '../model/float64.js';
import { f16ToF32, f32ToF16 } from '../model/dtype.js';
import type { KvDtype } from '../model/memory-plan.js';
import { ropeSpecOfLayer } from '../model/rope.js';
import { canonicalTensorName } from './llama.js';
import type { SelfCheckReport } from './api.js';
import { announceSyncStep } from './heartbeat.js';

/** The layer compared. */
export const SELF_CHECK_LAYER = 0;

/** Rows of the check's forwards: one per matmul row class (≥ 9, 5..8, 2..4 rows, 1 row = GEMV), largest first. */
export const SELF_CHECK_CHUNKS = [9, 5, 2, 1] as const;

/**
 * Allowed |GPU − float64| relative to the largest |float64| output value: the end-to-end golden
 * tests' bound (a whole f32 forward within 1e-4 of each logits row's scale of PyTorch's). One layer
 * against float64 measures ≤ 6e-7 of its scale on every fixture and both shipped models (lavapipe,
 * 1 or 16 matmul lanes; SwiftShader), so 1e-4 leaves a margin of about 170× for other adapters'
 * summation orders, while a corrupted weight is off by about 0.1 of the scale (the tests' fault).
 */
export const SELF_CHECK_RTOL = 1e-4;

/** Token ids the check runs: `n` distinct ids spread over the vocabulary, avoiding id 0 (often padding) when V > n. */
export function selfCheckTokens(V: number, n: number): number[] {
  if (V - 1 < n) return Array.from({ length: Math.min(n, V) }, (_, j) => j);
  const stride = Math.floor((V - 1) / n);
  return Array.from({ length: n }, (_, j) => 1 + j * stride);
}

/** Rows of each forward: {@link SELF_CHECK_CHUNKS}, each split into pieces of at most `maxRows`, over `n` tokens. */
export function selfCheckChunks(maxRows: number, n: number): number[] {
  const out: number[] = [];
  let left = n;
  for (const T of SELF_CHECK_CHUNKS) {
    for (let r = Math.min(T, left); r > 0; r -= Math.min(r, maxRows)) {
      out.push(Math.min(r, maxRows));
      left -= Math.min(r, maxRows);
    }
  }
  return out;
}

/**
 * The checked layer's tensors (name after `model.layers.<i>.`); the family's optional ones only when
 * its options use them. With `family.postNorms` (Gemma) the MLP's input norm is
 * pre_feedforward_layernorm and post_attention_layernorm normalises the attention output ({@link layerTensor}).
 */
const LAYER_TENSORS: Record<keyof LayerWeights64, string> = {
  inNorm: 'input_layernorm.weight', postNorm: 'post_attention_layernorm.weight',
  attnOutNorm: 'post_attention_layernorm.weight', ffnOutNorm: 'post_feedforward_layernorm.weight',
  q: 'self_attn.q_proj.weight', k: 'self_attn.k_proj.weight', v: 'self_attn.v_proj.weight', o: 'self_attn.o_proj.weight',
  gate: 'mlp.gate_proj.weight', up: 'mlp.up_proj.weight', down: 'mlp.down_proj.weight',
  qBias: 'self_attn.q_proj.bias', kBias: 'self_attn.k_proj.bias', vBias: 'self_attn.v_proj.bias',
  qNorm: 'self_attn.q_norm.weight', kNorm: 'self_attn.k_norm.weight',
};

/** Phi-3's fused checkpoint tensors (family.fusedProjections) holding q/k/v and gate/up as row ranges. */
const FUSED_TENSORS: Partial<Record<keyof LayerWeights64, string>> = {
  q: 'self_attn.qkv_proj.weight', k: 'self_attn.qkv_proj.weight', v: 'self_attn.qkv_proj.weight',
  gate: 'mlp.gate_up_proj.weight', up: 'mlp.gate_up_proj.weight',
};

/** The tensor name (after `model.layers.<i>.`) of weight `key` in a model with config `cfg`. */
function layerTensor(cfg: LlamaConfig, key: keyof LayerWeights64): string {
  if (cfg.family.fusedProjections && FUSED_TENSORS[key]) return FUSED_TENSORS[key];
  return key === 'postNorm' && cfg.family.postNorms ? 'pre_feedforward_layernorm.weight' : LAYER_TENSORS[key];
}

/** Rows [row0, row0 + n) of weight `key` within its tensor (a fused tensor's part; else all rows, n = null). */
function rowRange(cfg: LlamaConfig, key: keyof LayerWeights64): { row0: number; n: number | null } {
  if (!cfg.family.fusedProjections) return { row0: 0, n: null };
  const HD = cfg.numHeads * cfg.headDim;
  const KD = cfg.numKvHeads * cfg.headDim;
  const F = cfg.intermediateSize;
  switch (key) {
    case 'q': return { row0: 0, n: HD };
    case 'k': return { row0: HD, n: KD };
    case 'v': return { row0: HD + KD, n: KD };
    case 'gate': return { row0: 0, n: F };
    case 'up': return { row0: F, n: F };
    default: return { row0: 0, n: null };
  }
}

/** The keys of {@link LAYER_TENSORS} a model with config `cfg` has. */
function layerKeys(cfg: LlamaConfig): Array<keyof LayerWeights64> {
  const keys: Array<keyof LayerWeights64> = ['inNorm', 'postNorm', 'q', 'k', 'v', 'o', 'gate', 'up', 'down'];
  if (cfg.family.postNorms) keys.push('attnOutNorm', 'ffnOutNorm');
  if (cfg.family.qkvBias) keys.push('qBias', 'kBias', 'vBias');
  if (cfg.family.qkNorm) keys.push('qNorm', 'kNorm');
  return keys;
}

/**
 * Keeps, while the checkpoint streams, the CPU copies the check needs: every tensor of layer
 * {@link SELF_CHECK_LAYER} (raw bytes in the file dtype) and the embedding rows of the checked tokens.
 */
export class SelfCheckCapture {
  /** Token ids checked, [n]. */
  readonly tokens: number[];
  /** The checked layer's tensors as they arrived (file bytes, gathered from their blocks; or repacked matrices), decoded only by {@link weights}: an 8B layer is 0.44 GB in bf16, 0.87 GB as f32. */
  readonly #tensors = new Map<string, { dtype: TensorDtype; shape: number[]; bytes: Uint8Array } | QuantizedTensor>();
  #embed: Float32Array | null = null;

  /** @param quant the load-time quantization the GPU weights went through (null: none). */
  constructor(readonly cfg: LlamaConfig, readonly quant: WeightQuantization | null = null) {
    this.tokens = selfCheckTokens(cfg.vocabSize, SELF_CHECK_CHUNKS.reduce((a, b) => a + b, 0));
  }

  /** The f32 values the GPU holds for `rows` rows of K values decoded from the file (see the module doc). */
  #asStored(v: Float32Array, rows: number, K: number, matrix: 'embed' | 'layer'): Float32Array {
    const q = this.quant;
    if (!q) return v;
    if (matrix === 'embed' && !q.embeddings) return v;
    return dequantizeRows(quantizeRows(v, rows, K, q.bits, q.group));
  }

  /**
   * Offered every checkpoint tensor while loading (shapes already validated by the loader), whole or
   * as row blocks (`block`: rows [row0, row0 + rows) of shape[0]); copies what it needs.
   */
  offer(checkpointName: string, dtype: TensorDtype, shape: number[], bytes: Uint8Array, block: { row0: number; rows: number } = { row0: 0, rows: shape[0] ?? 1 }): void {
    const name = canonicalTensorName(checkpointName);
    if (name === 'model.embed_tokens.weight') {
      const C = shape[1];
      const rowBytes = C * DTYPE_BYTES[dtype];
      if (block.row0 === 0) this.#embed = new Float32Array(this.tokens.length * C);
      this.tokens.forEach((id, i) => {
        if (id < block.row0 || id >= block.row0 + block.rows) return;
        const at = id - block.row0;
        let row = decodeToF32(bytes.subarray(at * rowBytes, (at + 1) * rowBytes), dtype);
        if (this.quant && !this.quant.embeddings && dtype === 'F32') row = decodeToF32(encodeFromF32(row, 'F16'), 'F16');
        this.#embed!.set(this.#asStored(row, 1, C, 'embed'), i * C);
      });
      return;
    }
    if (!this.#wanted(name)) return;
    if (block.row0 === 0 && block.rows === (shape[0] ?? 1)) {
      this.#tensors.set(name, { dtype, shape, bytes: bytes.slice() });
      return;
    }
    const rowBytes = bytes.byteLength / block.rows;
    if (block.row0 === 0) this.#tensors.set(name, { dtype, shape, bytes: new Uint8Array(rowBytes * shape[0]) });
    (this.#tensors.get(name) as { bytes: Uint8Array }).bytes.set(bytes, block.row0 * rowBytes);
  }

  #wanted(name: string): boolean {
    const prefix = `model.layers.${SELF_CHECK_LAYER}.`;
    return name.startsWith(prefix) && layerKeys(this.cfg).some((k) => layerTensor(this.cfg, k) === name.slice(prefix.length));
  }

  /**
   * Offers a matrix of a pre-quantized checkpoint as the loader repacked it: its dequantized values
   * are what the GPU holds (only the checked layer's matrices and the checked tokens' embedding rows
   * are dequantized).
   */
  offerQuantized(tensor: QuantizedTensor): void {
    const t = { ...tensor, name: canonicalTensorName(tensor.name) };
    const m = t.matrix;
    if (t.name === 'model.embed_tokens.weight') {
      const all = dequantizeQuantized({ ...t, matrix: pickRows(m, this.tokens) });
      this.#embed = all;
      return;
    }
    if (this.#wanted(t.name)) this.#tensors.set(t.name, t);
  }

  /** The checked layer's weights as f32 arrays (decoded from the file dtype: exact; through the quantization rule for a quantized load). */
  weights(): LayerWeights64 {
    const out = {} as Record<keyof LayerWeights64, Float32Array>;
    const decoded = new Map<string, { v: Float32Array; K: number }>(); // a fused tensor decoded once for its parts
    for (const key of layerKeys(this.cfg)) {
      const name = `model.layers.${SELF_CHECK_LAYER}.${layerTensor(this.cfg, key)}`;
      let d = decoded.get(name);
      if (!d) {
        const got = this.#tensors.get(name);
        if (!got) throw new Error(`self-check: tensor ${name} was not captured`);
        if ('matrix' in got) d = { v: dequantizeQuantized(got), K: got.matrix.K };
        else {
          const v = decodeToF32(got.bytes, got.dtype);
          d = got.shape.length === 2 ? { v: this.#asStored(v, got.shape[0], got.shape[1], 'layer'), K: got.shape[1] } : { v, K: v.length }; // norm vectors stay f32
        }
        decoded.set(name, d);
      }
      const r = rowRange(this.cfg, key);
      out[key] = r.n === null ? d.v : d.v.slice(r.row0 * d.K, (r.row0 + r.n) * d.K);
    }
    return out;
  }

  /** Embedding rows of {@link tokens}, [n, C]. */
  embeddings(): Float32Array {
    if (!this.#embed) throw new Error('self-check: model.embed_tokens.weight was not captured');
    return this.#embed;
  }

  /** Drops the copies. */
  clear(): void {
    this.#tensors.clear();
    this.#embed = null;
  }
}

/**
 * Runs the check.
 * @param Cp row stride of the GPU's residual stream, floats.
 * @param maxRows largest T of one GPU forward.
 * @param runGpu runs layers 0..{@link SELF_CHECK_LAYER} on the GPU for `tokens` at `positions`,
 *   appended at KV row `P`, and returns the residual stream after them, [T, Cp] f32 (Cp = row stride).
 * @param adapter the adapter as named in the error.
 * @param kvDtype the KV cache element type: with f16, the float64 side rounds K and V to f16 as the GPU stores them.
 * @throws SelfCheckError when the GPU and float64 outputs differ by more than the tolerance, or
 *   one is finite where the other is not. Elements that are non-finite in both (the model's own
 *   NaN or infinity) are counted in `nonFinite`, not failed: this check judges the GPU, and decoding
 *   reports such a model with NonFiniteLogitsError where it matters.
 */
export async function runSelfCheck(
  capture: SelfCheckCapture,
  Cp: number,
  maxRows: number,
  runGpu: (tokens: number[], positions: number[], P: number) => Promise<Float32Array>,
  adapter: string,
  kvDtype: KvDtype = 'f32',
): Promise<SelfCheckReport> {
  const t0 = performance.now();
  const cfg = capture.cfg;
  const C = cfg.hiddenSize;
  const fam = cfg.family;
  const shape: LayerShape64 = {
    C, H: cfg.numHeads, Hkv: cfg.numKvHeads, D: cfg.headDim, F: cfg.intermediateSize, eps: cfg.rmsNormEps, invFreq: ropeSpecOfLayer(cfg, SELF_CHECK_LAYER),
    window: fam.slidingWindow[SELF_CHECK_LAYER], normOffset: fam.normWeightOffset, activation: fam.activation, queryScale: fam.queryScale, attnSoftcap: fam.attnSoftcap,
  };
  // The CPU side blocks this thread (about a second for a 1B model's layer on a slow CPU): announce
  // it, so that the main thread's liveness watch does not take the worker for hung.
  const cpu = <T>(label: string, f: () => T): T => {
    announceSyncStep.start(`self-check: ${label}`);
    try {
      return f();
    } finally {
      announceSyncStep.end();
    }
  };
  const w = cpu('decoding layer 0', () => capture.weights());
  // Gemma: the embed kernel multiplies each row by √C (in the model dtype).
  const emb = fam.embeddingScale === null ? capture.embeddings() : Float64Array.from(capture.embeddings(), (v) => v * fam.embeddingScale!);
  // An f16 KV cache: K and V rounded as the GPU stores them (f32, then f16 round-to-nearest-even).
  const cache: KvCache64 = { k: [], v: [], rows: 0, store: kvDtype === 'f16' ? (x) => f16ToF32(f32ToF16(x)) : undefined };
  const gpuRows: Float32Array[] = [];
  const refRows: Float64Array[] = [];
  let P = 0;
  for (const T of selfCheckChunks(maxRows, capture.tokens.length)) {
    const tokens = capture.tokens.slice(P, P + T);
    const positions = tokens.map((_, i) => P + i);
    gpuRows.push(await runGpu(tokens, positions, P));
    refRows.push(cpu('float64 layer 0', () => llamaLayer64(emb.subarray(P * C, (P + T) * C), positions, shape, w, cache)));
    P += T;
  }
  let scale = 0;
  for (const r of refRows) for (const v of r) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
  let maxAbsErr = 0;
  let nonFinite = 0;
  let worst = { row: 0, channel: 0 };
  let row0 = 0;
  refRows.forEach((ref, j) => {
    const T = ref.length / C;
    for (let t = 0; t < T; t++) {
      for (let c = 0; c < C; c++) {
        const gpu = gpuRows[j][t * Cp + c];
        // The model's own NaN/inf (in float64 too): the GPU must agree that it is not finite.
        if (!Number.isFinite(ref[t * C + c]) && !Number.isFinite(gpu)) {
          nonFinite++;
          continue;
        }
        const err = Math.abs(gpu - ref[t * C + c]);
        if (!(err <= maxAbsErr)) {
          maxAbsErr = Number.isNaN(err) ? Infinity : err;
          worst = { row: row0 + t, channel: c };
        }
      }
    }
    row0 += T;
  });
  const tolerance = SELF_CHECK_RTOL * scale;
  capture.clear();
  if (!(maxAbsErr <= tolerance)) throw new SelfCheckError(adapter, { layer: SELF_CHECK_LAYER, maxAbsErr, tolerance, ...worst });
  return { ok: true, layer: SELF_CHECK_LAYER, tokens: P, maxAbsErr, tolerance, nonFinite, ms: performance.now() - t0 };
}
