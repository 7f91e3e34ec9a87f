/**
 * Naive float64 CPU implementations of the kernels' maths and of one Llama decoder layer, on
 * logical (unpadded) row-major arrays. The load-time self-check compares a GPU layer with
 * {@link llamaLayer64}; the kernel tests use the same functions as references (re-exported by
 * `src/reference/ops.ts`), so each operation is written once. Written for clarity, not speed:
 * one layer on a few tokens costs T·(params of a layer) multiply-adds.
 *
 * The layer follows HF transformers' `LlamaDecoderLayer` (modeling_llama.py): pre-RMSNorm,
 * rotate-half RoPE, (grouped-query) softmax attention with scale 1/√D, residual add, RMSNorm,
 * SwiGLU MLP, residual add; with the per-family options of `LlamaConfig.family` that the forward
 * implements: q/k/v biases (modeling_qwen2.py), per-head q/k RMSNorm before RoPE (modeling_qwen3.py),
 * a sliding window (modeling_mistral.py, modeling_qwen2.py); Gemma 2/3 (modeling_gemma2.py,
 * modeling_gemma3.py): (offset + w) norm scales, GeGLU with the tanh GELU, norms of the attention and
 * MLP outputs before the residual adds, the query_pre_attn_scalar scale, attention logit soft-capping
 * (the embedding scale and the final soft-cap lie outside a layer: the caller's); Phi-3
 * (modeling_phi3.py): partial rotary and LongRoPE by absolute position through a {@link RopeSpec}.
 * Glossary: T rows, P cached rows, H/Hkv heads, D head dim, C hidden, F FFN width.
 */
import type { RopeSpec } from './rope.js';

type Arr = ArrayLike<number>;

/**
 * Y[T, N] = X[T, K] · W[N, K]ᵀ (+ Y0 when given). Weight rows are the outer loop, so a large W
 * streams from memory once for all T rows; each dot product keeps four partial sums (k mod 4).
 */
export function matmul64(X: Arr, W: Arr, T: number, N: number, K: number, Y0?: Arr): Float64Array {
  const Y = new Float64Array(T * N);
  const x = Float64Array.from(X);
  for (let n = 0; n < N; n++) {
    const w0 = n * K;
    for (let t = 0; t < T; t++) {
      const x0 = t * K;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      let k = 0;
      for (; k + 3 < K; k += 4) {
        s0 += x[x0 + k] * W[w0 + k];
        s1 += x[x0 + k + 1] * W[w0 + k + 1];
        s2 += x[x0 + k + 2] * W[w0 + k + 2];
        s3 += x[x0 + k + 3] * W[w0 + k + 3];
      }
      for (; k < K; k++) s0 += x[x0 + k] * W[w0 + k];
      Y[t * N + n] = (s0 + s1) + (s2 + s3) + (Y0 ? Y0[t * N + n] : 0);
    }
  }
  return Y;
}

/** RMSNorm over rows of C: Y = X / √(mean(X²) + eps) · g. */
export function rmsnorm64(X: Arr, g: Arr, T: number, C: number, eps: number): Float64Array {
  const Y = new Float64Array(T * C);
  for (let t = 0; t < T; t++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += X[t * C + c] ** 2;
    const r = 1 / Math.sqrt(ss / C + eps);
    for (let c = 0; c < C; c++) Y[t * C + c] = X[t * C + c] * r * g[c];
  }
  return Y;
}

/**
 * RoPE (rotate_half layout) on `heads` heads of D per row. `rope`: invFreq [D/2] (every dim rotates),
 * or a {@link RopeSpec}: the first R = rotaryDim dims rotate (dims ≥ R pass through), rows at positions
 * ≥ switchAt use longInvFreq (LongRoPE by absolute position), cos and sin are multiplied by scale.
 * The angle is formed in f32 as HF does.
 */
export function rope64(X: Arr, pos: Arr, T: number, heads: number, D: number, rope: Arr | RopeSpec): Float64Array {
  const spec: RopeSpec = 'invFreq' in rope ? rope : { rotaryDim: D, invFreq: Float64Array.from(rope), longInvFreq: null, switchAt: Infinity, scale: 1 };
  const Y = Float64Array.from(X);
  const hd = spec.rotaryDim / 2;
  for (let t = 0; t < T; t++) {
    const inv = pos[t] >= spec.switchAt && spec.longInvFreq ? spec.longInvFreq : spec.invFreq;
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < hd; i++) {
        const th = Math.fround(pos[t] * Math.fround(inv[i]));
        const c = Math.cos(th) * spec.scale;
        const sn = Math.sin(th) * spec.scale;
        const o = t * heads * D + h * D + i;
        const a = X[o];
        const b = X[o + hd];
        Y[o] = a * c - b * sn;
        Y[o + hd] = b * c + a * sn;
      }
    }
  }
  return Y;
}

/**
 * Masked attention. q[T, H·D]; K, V = [S, Hkv·D] rows (cache rows 0..P-1 then the T new rows);
 * mask[T, T] additive for the new rows (≤ −1e30 = masked). Returns O[T, H·D].
 * @param window sliding window W (null = none): row t's keys, in order (cache rows, then its
 *   visible new rows), are at positions 0, 1, …, q (a tree node sees one ancestor per position), and
 *   only those at positions > q − W count (transformers' `sliding_window_overlay`).
 * @param softcap attention logit soft-cap c (Gemma 2): score = c·tanh(q·k·scale / c), then the mask bias.
 */
export function attention64(q: Arr, K: Arr, V: Arr, mask: Arr, T: number, P: number, H: number, Hkv: number, D: number, scale = 1 / Math.sqrt(D), window: number | null = null, softcap: number | null = null): Float64Array {
  const O = new Float64Array(T * H * D);
  const G = H / Hkv;
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < H; h++) {
      const kh = Math.floor(h / G);
      const keys: number[] = [];
      const bias: number[] = [];
      for (let j = 0; j < P; j++) { keys.push(j); bias.push(0); }
      for (let j = 0; j < T; j++) if (mask[t * T + j] > -1e30) { keys.push(P + j); bias.push(mask[t * T + j]); }
      if (window !== null) {
        const lo = Math.max(0, keys.length - window); // position of key i is i; the query's is keys.length − 1
        keys.splice(0, lo);
        bias.splice(0, lo);
      }
      const s = keys.map((r, i) => {
        let d = 0;
        for (let e = 0; e < D; e++) d += q[t * H * D + h * D + e] * K[r * Hkv * D + kh * D + e];
        return (softcap === null ? d * scale : softcap * Math.tanh((d * scale) / softcap)) + bias[i];
      });
      const m = Math.max(...s);
      const p = s.map((x) => Math.exp(x - m));
      const l = p.reduce((a, b) => a + b, 0);
      for (let e = 0; e < D; e++) {
        let acc = 0;
        keys.forEach((r, i) => { acc += p[i] * V[r * Hkv * D + kh * D + e]; });
        O[t * H * D + h * D + e] = acc / l;
      }
    }
  }
  return O;
}

/** Y[T, N] = X[T, N] + b[N] (nn.Linear's bias). */
export function biasAdd64(X: Arr, b: Arr, T: number, N: number): Float64Array {
  const Y = Float64Array.from(X);
  for (let t = 0; t < T; t++) for (let n = 0; n < N; n++) Y[t * N + n] += b[n];
  return Y;
}

/** RMSNorm of each of the `heads` heads of D in rows [T, heads·D] with weight g [D] (Qwen3 q_norm / k_norm). */
export function headRmsnorm64(X: Arr, g: Arr, T: number, heads: number, D: number, eps: number): Float64Array {
  return rmsnorm64(X, g, T * heads, D, eps);
}

/** A[T, F] = silu(G) · U from GU[T, 2F] (gate columns first, then up). */
export function swiglu64(GU: Arr, T: number, F: number): Float64Array {
  const A = new Float64Array(T * F);
  for (let t = 0; t < T; t++) {
    for (let f = 0; f < F; f++) {
      const g = GU[t * 2 * F + f];
      A[t * F + f] = (g / (1 + Math.exp(-g))) * GU[t * 2 * F + F + f];
    }
  }
  return A;
}

/** A[T, F] = gelu_tanh(G) · U from GU[T, 2F] (GeGLU, HF `gelu_pytorch_tanh`: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))). */
export function geglu64(GU: Arr, T: number, F: number): Float64Array {
  const A = new Float64Array(T * F);
  const k = Math.sqrt(2 / Math.PI);
  for (let t = 0; t < T; t++) {
    for (let f = 0; f < F; f++) {
      const g = GU[t * 2 * F + f];
      A[t * F + f] = 0.5 * g * (1 + Math.tanh(k * (g + 0.044715 * g ** 3))) * GU[t * 2 * F + F + f];
    }
  }
  return A;
}

/** X[T, C] + RMSNorm(Y[T, C]) · g: a Gemma post-norm and the residual add after it. */
export function rmsnormAdd64(X: Arr, Y: Arr, g: Arr, T: number, C: number, eps: number): Float64Array {
  const n = rmsnorm64(Y, g, T, C, eps);
  for (let i = 0; i < n.length; i++) n[i] += X[i];
  return n;
}

/** Z = cap · tanh(Z / cap) elementwise (Gemma 2 final logit soft-cap). */
export function softcap64(Z: Arr, cap: number): Float64Array {
  return Float64Array.from(Z, (z) => cap * Math.tanh(z / cap));
}

/** Weights of one decoder layer, nn.Linear layout [N, K], unpadded. */
export interface LayerWeights64 {
  /** input_layernorm [C]. */
  inNorm: Arr;
  /** The MLP's input norm [C]: post_attention_layernorm (Llama), pre_feedforward_layernorm (Gemma). */
  postNorm: Arr;
  /** Gemma's post_attention_layernorm and post_feedforward_layernorm [C] (family.postNorms). */
  attnOutNorm?: Arr; ffnOutNorm?: Arr;
  /** q_proj [H·D, C], k_proj and v_proj [Hkv·D, C]. */
  q: Arr; k: Arr; v: Arr;
  /** o_proj [C, H·D]. */
  o: Arr;
  /** gate_proj and up_proj [F, C]. */
  gate: Arr; up: Arr;
  /** down_proj [C, F]. */
  down: Arr;
  /** q_proj, k_proj, v_proj biases [H·D], [Hkv·D], [Hkv·D] (family.qkvBias). */
  qBias?: Arr; kBias?: Arr; vBias?: Arr;
  /** q_norm and k_norm weights [D] (family.qkNorm). */
  qNorm?: Arr; kNorm?: Arr;
}

/** Sizes of a layer (glossary letters) plus its RMSNorm epsilon and RoPE (inverse frequencies [D/2], or a {@link RopeSpec}: partial rotary, LongRoPE). */
export interface LayerShape64 {
  C: number; H: number; Hkv: number; D: number; F: number;
  eps: number;
  invFreq: Arr | RopeSpec;
  /** Sliding window of this layer (null/absent: full causal attention). */
  window?: number | null;
  /** Added to every norm weight of the layer (family.normWeightOffset; Gemma 1); default 0. */
  normOffset?: number;
  /** MLP activation (family.activation); default 'silu'. */
  activation?: 'silu' | 'gelu_tanh';
  /** Attention score scale (family.queryScale); null/absent = 1/√D. */
  queryScale?: number | null;
  /** Attention logit soft-cap (family.attnSoftcap); null/absent = none. */
  attnSoftcap?: number | null;
}

/** This layer's K and V rows so far, [rows, Hkv·D] each; {@link llamaLayer64} appends to them. */
export interface KvCache64 {
  k: number[];
  v: number[];
  rows: number;
  /**
   * How an element is stored (K after RoPE, V as projected), e.g. rounded to f16 for an f16 KV cache
   * (the GPU stores f32 results as f16); default: kept in float64.
   */
  store?: (x: number) => number;
}

/** Concatenates the columns of A[T, Na] and B[T, Nb] into [T, Na + Nb]. */
function concatCols(A: Float64Array, B: Float64Array, T: number, Na: number, Nb: number): Float64Array {
  const Y = new Float64Array(T * (Na + Nb));
  for (let t = 0; t < T; t++) {
    Y.set(A.subarray(t * Na, (t + 1) * Na), t * (Na + Nb));
    Y.set(B.subarray(t * Nb, (t + 1) * Nb), t * (Na + Nb) + Na);
  }
  return Y;
}

/**
 * One Llama decoder layer in float64 on T new rows at absolute `positions`, attending causally to
 * the `cache` rows (appended to) and to each other.
 * @param x [T, C] residual stream entering the layer.
 * @returns [T, C] residual stream leaving it.
 */
export function llamaLayer64(x: Arr, positions: Arr, s: LayerShape64, w: LayerWeights64, cache: KvCache64): Float64Array {
  const T = positions.length;
  const { C, H, Hkv, D, F } = s;
  const off = s.normOffset ?? 0;
  const g = (v: Arr): Arr => (off === 0 ? v : Float64Array.from(v, (e) => e + off));
  const h = rmsnorm64(x, g(w.inNorm), T, C, s.eps);
  let q = matmul64(h, w.q, T, H * D, C);
  let k = matmul64(h, w.k, T, Hkv * D, C);
  let v = matmul64(h, w.v, T, Hkv * D, C);
  if (w.qBias) q = biasAdd64(q, w.qBias, T, H * D);
  if (w.kBias) k = biasAdd64(k, w.kBias, T, Hkv * D);
  if (w.vBias) v = biasAdd64(v, w.vBias, T, Hkv * D);
  if (w.qNorm) q = headRmsnorm64(q, g(w.qNorm), T, H, D, s.eps);
  if (w.kNorm) k = headRmsnorm64(k, g(w.kNorm), T, Hkv, D, s.eps);
  q = rope64(q, positions, T, H, D, s.invFreq);
  k = rope64(k, positions, T, Hkv, D, s.invFreq);
  const P = cache.rows;
  const store = cache.store ?? ((e: number) => e);
  for (let i = 0; i < k.length; i++) { cache.k.push(store(k[i])); cache.v.push(store(v[i])); }
  cache.rows += T;
  const causal = new Float64Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) causal[i * T + j] = -Infinity;
  const attn = attention64(q, cache.k, cache.v, causal, T, P, H, Hkv, D, s.queryScale ?? undefined, s.window ?? null, s.attnSoftcap ?? null);
  const x1 = w.attnOutNorm ? rmsnormAdd64(x, matmul64(attn, w.o, T, C, H * D), g(w.attnOutNorm), T, C, s.eps) : matmul64(attn, w.o, T, C, H * D, x);
  const h2 = rmsnorm64(x1, g(w.postNorm), T, C, s.eps);
  const gu = concatCols(matmul64(h2, w.gate, T, F, C), matmul64(h2, w.up, T, F, C), T, F, F);
  const a = s.activation === 'gelu_tanh' ? geglu64(gu, T, F) : swiglu64(gu, T, F);
  return w.ffnOutNorm ? rmsnormAdd64(x1, matmul64(a, w.down, T, C, F), g(w.ffnOutNorm), T, C, s.eps) : matmul64(a, w.down, T, C, F, x1);
}
