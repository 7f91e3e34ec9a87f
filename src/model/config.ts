/**
 * Parsing and validation of a Hugging Face `config.json` for the decoder families the one forward
 * runs (src/worker/llama.ts): LlamaForCausalLM (Llama 2/3/3.x, TinyLlama, SmolLM, our MSN models),
 * MistralForCausalLM (with or without `sliding_window`), Qwen2ForCausalLM (Qwen2, Qwen2.5: q/k/v
 * biases, `use_sliding_window` / `max_window_layers`), Qwen3ForCausalLM (per-head q/k RMSNorm,
 * explicit `head_dim`), Gemma2ForCausalLM and Gemma3ForCausalLM (and the language model of a
 * Gemma3ForConditionalGeneration folder, its config under `text_config`), Phi3ForCausalLM (Phi-3,
 * Phi-3.5-mini, Phi-4-mini: fused `qkv_proj` / `gate_up_proj`, `partial_rotary_factor`, `longrope`,
 * `sliding_window` on every layer). The per-family differences are {@link FamilyOptions} (`LlamaConfig.family`),
 * read from the config, never from the architecture name inside the forward.
 * Both config dialects are read: the Hub's (`rope_theta`, `rope_scaling`) and transformers 5's
 * (`rope_parameters`, `layer_types`); null fields mean "absent".
 * Sources: transformers 5 `models/{llama,mistral,qwen2,qwen3,gemma2,gemma3,phi3}/configuration_*.py` and `modeling_*.py`.
 * Every rejection names the field, the observed value and what is supported.
 */
import { ModelFormatError, UnsupportedModelError } from '../errors.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from './dtype.js';

/** RoPE scaling as read from `rope_scaling` / `rope_parameters`. */
export type RopeScaling =
  | { type: 'default' }
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number }
  /**
   * LongRoPE (Phi-3; HF `_compute_longrope_parameters`): invFreq[i] = 1 / (factor[i] · θ^(2i/R)) with
   * `shortFactor` for absolute positions < `originalMaxPositionEmbeddings` and `longFactor` at or after
   * it (chosen by position, as vLLM does; HF chooses by the whole sequence's length), cos and sin
   * multiplied by `attentionFactor`. Factor lists have R/2 entries (R = rotary dim).
   */
  | { type: 'longrope'; shortFactor: number[]; longFactor: number[]; originalMaxPositionEmbeddings: number; attentionFactor: number };

/**
 * The per-family options of the forward, one field per difference from the Llama decoder layer
 * (ARCHITECTURE.md, "Model families"). Defaults are Llama's; a field the forward does not implement
 * yet is refused at parse time (UnsupportedModelError naming the config field) rather than ignored.
 */
export interface FamilyOptions {
  /** Biases on q_proj, k_proj, v_proj (`self_attn.{q,k,v}_proj.bias`), added after the fused q/k/v matmul. Qwen2: always. */
  qkvBias: boolean;
  /** Per-head RMSNorm over D of q and k before RoPE (`self_attn.{q,k}_norm.weight` [D]; eps = rms_norm_eps). Qwen3. */
  qkNorm: boolean;
  /**
   * Sliding window per layer [L]: a query at position q sees keys at positions k with q − W < k ≤ q
   * (transformers' `sliding_window_overlay`: kv_idx > q_idx − W); null = full causal attention.
   * Mistral: every layer; Qwen2/3: layers ≥ max_window_layers when use_sliding_window, or `layer_types`.
   */
  slidingWindow: (number | null)[];
  /**
   * RMSNorm scale = normWeightOffset + weight, for every RMSNorm of the model (layer norms, q/k norms,
   * final norm). Gemma: 1 (`Gemma2RMSNorm`: x·rsqrt(mean(x²) + eps)·(1 + w) in f32); the forward adds it
   * to the f32 weight at load (exactly HF's f32 `1.0 + weight.float()`).
   */
  normWeightOffset: number;
  /** Gated MLP activation: 'silu' (SwiGLU), 'gelu_tanh' (GeGLU with the tanh GELU, HF `gelu_pytorch_tanh`: Gemma). */
  activation: 'silu' | 'gelu_tanh';
  /** Multiplier of the embedding rows (Gemma: √C rounded to f32, then to the declared dtype, as HF's `embed_scale`); null = none. */
  embeddingScale: number | null;
  /**
   * Gemma 2/3 sandwich norms: `post_attention_layernorm` normalises the attention output and
   * `post_feedforward_layernorm` the MLP output before each residual add; `pre_feedforward_layernorm`
   * is the MLP's input norm (Llama's `post_attention_layernorm`).
   */
  postNorms: boolean;
  /** tanh soft-cap of attention scores, scores = cap·tanh(scores/cap) before the mask (Gemma 2 `attn_logit_softcapping`); null = none. */
  attnSoftcap: number | null;
  /** tanh soft-cap of the final logits (Gemma 2 `final_logit_softcapping`); null = none. */
  finalSoftcap: number | null;
  /** Attention score scale; null = 1/√D (Gemma: query_pre_attn_scalar^−½). */
  queryScale: number | null;
  /** RoPE base per layer [L] (Gemma 3: local layers use rope_local_base_freq); every entry = ropeTheta unless a family says otherwise. */
  ropeThetaPerLayer: number[];
  /** Whether `LlamaConfig.ropeScaling` applies to layer i [L] (Gemma 3: global layers only); all true unless a family says otherwise. */
  ropeScaledPerLayer: boolean[];
  /** Fraction of D that RoPE rotates (Phi-3 `partial_rotary_factor`; 1 for the other families). */
  partialRotaryFactor: number;
  /**
   * Rotary dims [R] = ⌊D · partialRotaryFactor⌋ (HF `int(head_dim * partial_rotary_factor)`), even:
   * dims 0 .. R−1 of each q/k head are rotated (rotate_half within them), dims R .. D−1 pass through.
   */
  rotaryDim: number;
  /**
   * q/k/v and gate/up arrive fused in the checkpoint (Phi-3 `self_attn.qkv_proj` [(H + 2·Hkv)·D, C] =
   * [q | k | v] rows, `mlp.gate_up_proj` [2F, C] = [gate | up] rows): loaded whole as the forward's
   * fused matrices, which have exactly that row layout.
   */
  fusedProjections: boolean;
}

/** Normalised model config. Glossary letters in brackets. */
export interface LlamaConfig {
  architecture: string;
  /** Vocabulary size [V]. */
  vocabSize: number;
  /** Hidden size [C]. */
  hiddenSize: number;
  /** FFN width [F]. */
  intermediateSize: number;
  /** Layers [L]. */
  numLayers: number;
  /** Query heads [H]. */
  numHeads: number;
  /** KV heads [Hkv] (GQA when < H). */
  numKvHeads: number;
  /** Head dim [D] (`head_dim`, default C / H). */
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  /** EOS ids from config.json (generation_config.json ids are added by the loader). */
  eosTokenIds: number[];
  /** `torch_dtype` / `dtype` as declared (informational; tensors carry their own dtype). */
  declaredDtype: string | null;
  /** What the forward does differently from Llama (see {@link FamilyOptions}). */
  family: FamilyOptions;
}

const ARCHITECTURES = ['LlamaForCausalLM', 'MistralForCausalLM', 'Qwen2ForCausalLM', 'Qwen3ForCausalLM', 'Gemma2ForCausalLM', 'Gemma3ForCausalLM', 'Gemma3ForConditionalGeneration', 'Phi3ForCausalLM'];
const MODEL_TYPES: Record<string, string> = {
  llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM',
  gemma2: 'Gemma2ForCausalLM', gemma3_text: 'Gemma3ForCausalLM', gemma3: 'Gemma3ForConditionalGeneration', phi3: 'Phi3ForCausalLM',
};

/**
 * The defaults of transformers' Gemma2Config / Gemma3TextConfig for the fields that change the
 * forward: a folder may omit them (Gemma3ForConditionalGeneration's `text_config` lists only what
 * differs from Gemma3TextConfig). An explicit null stays null (a soft-cap of null means none).
 */
const GEMMA_DEFAULTS: Record<string, Record<string, unknown>> = {
  Gemma2ForCausalLM: {
    vocab_size: 256000, hidden_size: 2304, intermediate_size: 9216, num_hidden_layers: 26, num_attention_heads: 8, num_key_value_heads: 4,
    head_dim: 256, hidden_activation: 'gelu_pytorch_tanh', max_position_embeddings: 8192, rms_norm_eps: 1e-6, rope_theta: 10000,
    query_pre_attn_scalar: 256, sliding_window: 4096, final_logit_softcapping: 30, attn_logit_softcapping: 50, tie_word_embeddings: true,
    bos_token_id: 2, eos_token_id: 1,
  },
  Gemma3ForCausalLM: {
    vocab_size: 262208, hidden_size: 2304, intermediate_size: 9216, num_hidden_layers: 26, num_attention_heads: 8, num_key_value_heads: 4,
    head_dim: 256, hidden_activation: 'gelu_pytorch_tanh', max_position_embeddings: 131072, rms_norm_eps: 1e-6, rope_theta: 1000000,
    rope_local_base_freq: 10000, query_pre_attn_scalar: 256, sliding_window: 4096, sliding_window_pattern: 6, final_logit_softcapping: null,
    attn_logit_softcapping: null, tie_word_embeddings: true, bos_token_id: 2, eos_token_id: 1,
  },
};

/**
 * The decoder config of a Gemma3ForConditionalGeneration folder: its `text_config` (over the
 * Gemma3TextConfig defaults, added by the caller), with the top-level dtype, token ids and
 * `tie_word_embeddings` taking precedence (the wrapper's, which transformers generates and ties with;
 * transformers 5 writes the text config's own defaults beside them). The vision tower's config is not read.
 * @throws ModelFormatError when `text_config` is not an object.
 */
function gemma3TextConfig(raw: Record<string, unknown>): Record<string, unknown> {
  const tc = raw.text_config ?? {};
  if (typeof tc !== 'object' || tc === null || Array.isArray(tc)) throw new ModelFormatError(`config.json: text_config must be an object, got ${JSON.stringify(tc)}.`, { field: 'text_config' });
  const outer: Record<string, unknown> = {};
  for (const k of ['torch_dtype', 'dtype', 'bos_token_id', 'eos_token_id', 'tie_word_embeddings']) if (raw[k] !== undefined && raw[k] !== null) outer[k] = raw[k];
  return { ...(tc as Record<string, unknown>), ...outer };
}

function field(obj: Record<string, unknown>, name: string, kind: 'int' | 'number', opts: { min?: number; def?: number } = {}): number {
  const v = obj[name];
  if (v === undefined || v === null) {
    if (opts.def !== undefined) return opts.def;
    throw new ModelFormatError(`config.json: missing required field "${name}".`, { field: name });
  }
  if (typeof v !== 'number' || !Number.isFinite(v) || (kind === 'int' && !Number.isInteger(v))) {
    throw new ModelFormatError(`config.json: field "${name}" must be ${kind === 'int' ? 'an integer' : 'a number'}, got ${JSON.stringify(v)}.`, { field: name });
  }
  if (opts.min !== undefined && v < opts.min) {
    throw new ModelFormatError(`config.json: field "${name}" must be ≥ ${opts.min}, got ${v}.`, { field: name });
  }
  return v;
}

function idList(v: unknown, name: string): number[] {
  if (v === undefined || v === null) return [];
  const arr = Array.isArray(v) ? v : [v];
  for (const x of arr) {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0) throw new ModelFormatError(`${name} must be a token id or a list of ids, got ${JSON.stringify(v)}.`, { field: name });
  }
  return arr as number[];
}

/** Parses `eos_token_id` (int or list) of config.json or generation_config.json. */
export function parseEosIds(json: unknown, file: string): number[] {
  if (!json || typeof json !== 'object') return [];
  return idList((json as Record<string, unknown>).eos_token_id, `${file}: eos_token_id`);
}

/** A list of positive finite numbers of length n. @throws ModelFormatError otherwise. */
function factorList(rs: Record<string, unknown>, name: string, n: number): number[] {
  const v = rs[name];
  if (!Array.isArray(v) || v.length !== n || v.some((x) => typeof x !== 'number' || !Number.isFinite(x) || x <= 0)) {
    throw new ModelFormatError(`config.json: rope_scaling.${name} must be a list of ${n} positive numbers (rotary dim / 2), got ${JSON.stringify(v)}.`, { field: `rope_scaling.${name}` });
  }
  return v as number[];
}

/**
 * `rope_scaling` (or the scaling entries of transformers 5's `rope_parameters`, passed in as
 * `rope_scaling`). `longrope` (alias `su`, the first Phi-3 releases) reads `original_max_position_embeddings`
 * from the top level first (Phi-3 keeps it there; transformers gives it priority) and then from the
 * scaling dict; its attention factor is `attention_factor` or, when absent, HF's
 * √(1 + ln(s)/ln(original)) with s = `factor` or max_position_embeddings / original (1 when s ≤ 1).
 * @param rotaryDim R: the factor lists must have R/2 entries.
 * @throws UnsupportedModelError for other types (`yarn`, `dynamic`, ...); ModelFormatError for
 *   missing or mistyped fields.
 */
function parseRopeScaling(raw: Record<string, unknown>, rotaryDim: number, maxPositionEmbeddings: number): RopeScaling | null {
  const rs = (raw.rope_scaling ?? null) as Record<string, unknown> | null;
  if (rs === null) return null;
  if (typeof rs !== 'object') throw new ModelFormatError(`config.json: rope_scaling must be an object or null, got ${JSON.stringify(rs)}.`, { field: 'rope_scaling' });
  const type = (rs.rope_type ?? rs.type ?? 'default') as string;
  if (type === 'default') return { type: 'default' };
  if (type === 'linear') return { type: 'linear', factor: field(rs, 'factor', 'number', { min: 1e-9 }) };
  if (type === 'llama3') {
    return {
      type: 'llama3',
      factor: field(rs, 'factor', 'number', { min: 1e-9 }),
      lowFreqFactor: field(rs, 'low_freq_factor', 'number', { min: 1e-9 }),
      highFreqFactor: field(rs, 'high_freq_factor', 'number', { min: 1e-9 }),
      originalMaxPositionEmbeddings: field(rs, 'original_max_position_embeddings', 'int', { min: 1 }),
    };
  }
  if (type === 'longrope' || type === 'su') {
    const original = raw.original_max_position_embeddings !== undefined && raw.original_max_position_embeddings !== null
      ? field(raw, 'original_max_position_embeddings', 'int', { min: 2 })
      : field(rs, 'original_max_position_embeddings', 'int', { min: 2, def: maxPositionEmbeddings });
    const s = rs.factor === undefined || rs.factor === null ? maxPositionEmbeddings / original : field(rs, 'factor', 'number', { min: 1e-9 });
    const attentionFactor = rs.attention_factor === undefined || rs.attention_factor === null
      ? (s <= 1 ? 1 : Math.sqrt(1 + Math.log(s) / Math.log(original)))
      : field(rs, 'attention_factor', 'number', { min: 1e-9 });
    return { type: 'longrope', shortFactor: factorList(rs, 'short_factor', rotaryDim / 2), longFactor: factorList(rs, 'long_factor', rotaryDim / 2), originalMaxPositionEmbeddings: original, attentionFactor };
  }
  throw new UnsupportedModelError('rope_scaling.rope_type', type, '"default", "linear", "llama3", "longrope" (alias "su")');
}

/**
 * Validates and normalises a parsed config.json.
 * @throws ModelFormatError for missing or mistyped fields; UnsupportedModelError for features we
 *   do not implement (other architectures, biases, non-SiLU activations, sliding windows, ...).
 */
export function parseLlamaConfig(json: unknown): LlamaConfig {
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new ModelFormatError('config.json must be a JSON object.');
  let raw = json as Record<string, unknown>;
  const archs = raw.architectures;
  const declared = Array.isArray(archs) && typeof archs[0] === 'string' ? (archs[0] as string) : typeof raw.model_type === 'string' ? (MODEL_TYPES[raw.model_type] ?? null) : null;
  if (!declared || !ARCHITECTURES.includes(declared)) throw new UnsupportedModelError('architectures', archs ?? raw.model_type ?? null, ARCHITECTURES.join(', '));
  // A Gemma 3 multimodal folder: its language model is a Gemma3ForCausalLM configured by text_config.
  const arch = declared === 'Gemma3ForConditionalGeneration' ? 'Gemma3ForCausalLM' : declared;
  const gemma = arch === 'Gemma2ForCausalLM' || arch === 'Gemma3ForCausalLM';
  if (gemma) raw = { ...GEMMA_DEFAULTS[arch], ...(declared === 'Gemma3ForConditionalGeneration' ? gemma3TextConfig(raw) : raw) };
  if (gemma) {
    // Gemma reads `hidden_activation` (gemma-2 folders also carry a legacy `hidden_act`, unused by transformers).
    if (raw.hidden_activation !== 'gelu_pytorch_tanh') throw new UnsupportedModelError('hidden_activation', raw.hidden_activation ?? null, '"gelu_pytorch_tanh"');
    if (raw.use_bidirectional_attention === true) throw new UnsupportedModelError('use_bidirectional_attention', true, 'false');
  } else {
    const act = raw.hidden_act ?? 'silu';
    if (act !== 'silu') throw new UnsupportedModelError('hidden_act', act, '"silu"');
  }
  if (raw.attention_bias === true) throw new UnsupportedModelError('attention_bias', true, 'false');
  if (raw.mlp_bias === true) throw new UnsupportedModelError('mlp_bias', true, 'false');
  if (typeof raw.pretraining_tp === 'number' && raw.pretraining_tp !== 1) throw new UnsupportedModelError('pretraining_tp', raw.pretraining_tp, '1');
  // Phi-4-mini's config names an lm_head bias (false in the published folders; transformers' Phi3 has none).
  if (raw.lm_head_bias === true) throw new UnsupportedModelError('lm_head_bias', true, 'false');

  const hiddenSize = field(raw, 'hidden_size', 'int', { min: 1 });
  const numHeads = field(raw, 'num_attention_heads', 'int', { min: 1 });
  const numKvHeads = field(raw, 'num_key_value_heads', 'int', { min: 1, def: numHeads });
  if (numHeads % numKvHeads !== 0) throw new ModelFormatError(`config.json: num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads}).`, { field: 'num_key_value_heads' });
  if (raw.head_dim === undefined || raw.head_dim === null) {
    if (hiddenSize % numHeads !== 0) throw new ModelFormatError(`config.json: hidden_size (${hiddenSize}) is not divisible by num_attention_heads (${numHeads}) and no head_dim is given.`, { field: 'hidden_size' });
  }
  const headDim = field(raw, 'head_dim', 'int', { min: 2, def: hiddenSize / numHeads });
  if (headDim % 4 !== 0 || headDim > 256) throw new UnsupportedModelError('head_dim', headDim, 'a multiple of 4 up to 256');
  const maxPositionEmbeddings = field(raw, 'max_position_embeddings', 'int', { min: 1, def: 2048 });
  const numLayers = field(raw, 'num_hidden_layers', 'int', { min: 1 });
  // transformers 5 may nest RoPE settings in rope_parameters; Gemma 3 has one entry per layer type
  // (full_attention: rope_theta + rope_scaling of the global layers; sliding_attention: the local base).
  let rp = (raw.rope_parameters ?? null) as Record<string, unknown> | null;
  let rpLocal: Record<string, unknown> | null = null;
  if (rp && typeof rp === 'object' && ('full_attention' in rp || 'sliding_attention' in rp)) {
    rpLocal = (rp.sliding_attention ?? null) as Record<string, unknown> | null;
    rp = (rp.full_attention ?? null) as Record<string, unknown> | null;
  }
  const rpType = rp && typeof rp === 'object' ? (rp.rope_type ?? rp.type ?? 'default') : 'default';
  const ropeSource = rp && typeof rp === 'object' ? { ...raw, rope_scaling: raw.rope_scaling ?? (rpType !== 'default' ? rp : null) } : raw;
  const ropeTheta = field(raw, 'rope_theta', 'number', { min: 1e-9, def: rp && typeof rp.rope_theta === 'number' ? rp.rope_theta : 10000 });
  // partial_rotary_factor: top level (Hub) or inside rope_parameters (transformers 5); only Phi-3 reads it.
  const prfSource = raw.partial_rotary_factor !== undefined && raw.partial_rotary_factor !== null ? raw : rp && typeof rp === 'object' ? rp : raw;
  const partialRotaryFactor = field(prfSource, 'partial_rotary_factor', 'number', { def: 1 });
  const rotaryDim = Math.trunc(headDim * partialRotaryFactor);
  if (partialRotaryFactor !== 1 && (arch !== 'Phi3ForCausalLM' || !(partialRotaryFactor > 0 && partialRotaryFactor <= 1) || rotaryDim < 2 || rotaryDim % 2 !== 0)) {
    throw new UnsupportedModelError('partial_rotary_factor', partialRotaryFactor, arch === 'Phi3ForCausalLM' ? `a factor in (0, 1] giving an even rotary dim ⌊head_dim · factor⌋ ≥ 2 (head_dim ${headDim})` : '1');
  }
  const dt = raw.torch_dtype ?? raw.dtype ?? null;
  return {
    architecture: declared,
    vocabSize: field(raw, 'vocab_size', 'int', { min: 1 }),
    hiddenSize,
    intermediateSize: field(raw, 'intermediate_size', 'int', { min: 1 }),
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: field(raw, 'rms_norm_eps', 'number', { min: 0, def: 1e-6 }),
    ropeTheta,
    ropeScaling: parseRopeScaling(ropeSource, rotaryDim, maxPositionEmbeddings),
    maxPositionEmbeddings,
    tieWordEmbeddings: raw.tie_word_embeddings === undefined ? false : Boolean(raw.tie_word_embeddings),
    bosTokenId: idList(raw.bos_token_id, 'config.json: bos_token_id')[0] ?? null,
    eosTokenIds: idList(raw.eos_token_id, 'config.json: eos_token_id'),
    declaredDtype: typeof dt === 'string' ? dt : null,
    family: { ...parseFamily(raw, arch, numLayers, ropeTheta, hiddenSize, headDim, rpLocal, typeof dt === 'string' ? dt : null), partialRotaryFactor, rotaryDim },
  };
}

/** A boolean config field; null or absent → `def`. @throws ModelFormatError when it is not a boolean. */
function flag(raw: Record<string, unknown>, name: string, def: boolean): boolean {
  const v = raw[name];
  if (v === undefined || v === null) return def;
  if (typeof v !== 'boolean') throw new ModelFormatError(`config.json: field "${name}" must be true or false, got ${JSON.stringify(v)}.`, { field: name });
  return v;
}

/**
 * The per-family options of `arch` (one of {@link ARCHITECTURES}) from the raw config.
 * Sliding windows: Mistral's and Phi-3's `sliding_window` apply to every layer (null: none); Qwen2/Qwen3 use it
 * only when `use_sliding_window` is true, on the layers `layer_types` marks "sliding_attention" or,
 * without `layer_types`, on layers ≥ `max_window_layers` (transformers' Qwen2Config.__post_init__).
 * @throws ModelFormatError for mistyped fields or a `layer_types` of the wrong length;
 *   UnsupportedModelError for `layer_types` entries other than full/sliding attention and for
 *   options the forward does not implement. `partialRotaryFactor` / `rotaryDim` are set by the caller.
 */
function parseFamily(raw: Record<string, unknown>, arch: string, L: number, ropeTheta: number, C: number, D: number, rpLocal: Record<string, unknown> | null, dtype: string | null): FamilyOptions {
  const qwen = arch === 'Qwen2ForCausalLM' || arch === 'Qwen3ForCausalLM';
  const gemma = arch === 'Gemma2ForCausalLM' || arch === 'Gemma3ForCausalLM';
  let window: number | null = null;
  const rawWindow = raw.sliding_window;
  if (arch === 'MistralForCausalLM' || arch === 'Phi3ForCausalLM' || gemma || (qwen && flag(raw, 'use_sliding_window', false))) {
    window = rawWindow === undefined || rawWindow === null ? null : field(raw, 'sliding_window', 'int', { min: 1 });
  }
  let layerTypes: string[];
  const lt = raw.layer_types;
  if (lt !== undefined && lt !== null) {
    if (!Array.isArray(lt) || lt.length !== L || lt.some((x) => typeof x !== 'string')) {
      throw new ModelFormatError(`config.json: layer_types must be a list of ${L} strings (num_hidden_layers), got ${JSON.stringify(lt)}.`, { field: 'layer_types' });
    }
    const bad = (lt as string[]).find((x) => x !== 'full_attention' && x !== 'sliding_attention');
    if (bad !== undefined) throw new UnsupportedModelError('layer_types', bad, '"full_attention", "sliding_attention"');
    layerTypes = lt as string[];
  } else if (qwen) {
    const mwl = field(raw, 'max_window_layers', 'int', { min: 0, def: 28 });
    layerTypes = Array.from({ length: L }, (_, i) => (i >= mwl ? 'sliding_attention' : 'full_attention'));
  } else if (gemma) {
    // Gemma2Config / Gemma3TextConfig.__post_init__: every `pattern`-th layer global (Gemma 2: 2).
    const pattern = arch === 'Gemma2ForCausalLM' ? 2 : field(raw, 'sliding_window_pattern', 'int', { min: 1, def: 6 });
    layerTypes = Array.from({ length: L }, (_, i) => ((i + 1) % pattern !== 0 ? 'sliding_attention' : 'full_attention'));
  } else {
    layerTypes = new Array<string>(L).fill('sliding_attention');
  }
  const slidingWindow = layerTypes.map((t) => (t === 'sliding_attention' ? window : null));
  const base: FamilyOptions = {
    qkvBias: arch === 'Qwen2ForCausalLM',
    qkNorm: arch === 'Qwen3ForCausalLM',
    slidingWindow,
    normWeightOffset: 0,
    activation: 'silu',
    embeddingScale: null,
    postNorms: false,
    attnSoftcap: null,
    finalSoftcap: null,
    queryScale: null,
    ropeThetaPerLayer: new Array<number>(L).fill(ropeTheta),
    ropeScaledPerLayer: new Array<boolean>(L).fill(true),
    partialRotaryFactor: 1,
    rotaryDim: D,
    fusedProjections: arch === 'Phi3ForCausalLM',
  };
  if (!gemma) return base;
  const cap = (name: string): number | null => (raw[name] === null || raw[name] === undefined ? null : field(raw, name, 'number', { min: 1e-9 }));
  // Gemma 3: local layers rotate with rope_local_base_freq (transformers 5: rope_parameters.sliding_attention), unscaled.
  let ropeThetaPerLayer = base.ropeThetaPerLayer;
  let ropeScaledPerLayer = base.ropeScaledPerLayer;
  if (arch === 'Gemma3ForCausalLM') {
    const localType = rpLocal?.rope_type ?? rpLocal?.type ?? 'default';
    if (localType !== 'default') throw new UnsupportedModelError('rope_parameters.sliding_attention.rope_type', localType, '"default"');
    const local = rpLocal && typeof rpLocal.rope_theta === 'number' ? rpLocal.rope_theta : field(raw, 'rope_local_base_freq', 'number', { min: 1e-9, def: 10000 });
    ropeThetaPerLayer = layerTypes.map((t) => (t === 'sliding_attention' ? local : ropeTheta));
    ropeScaledPerLayer = layerTypes.map((t) => t !== 'sliding_attention');
  }
  return {
    ...base,
    qkNorm: arch === 'Gemma3ForCausalLM',
    normWeightOffset: 1,
    activation: 'gelu_tanh',
    embeddingScale: gemmaEmbedScale(C, dtype),
    postNorms: true,
    attnSoftcap: cap('attn_logit_softcapping'),
    finalSoftcap: cap('final_logit_softcapping'),
    queryScale: field(raw, 'query_pre_attn_scalar', 'number', { min: 1e-9, def: D }) ** -0.5,
    ropeThetaPerLayer,
    ropeScaledPerLayer,
  };
}

/**
 * Gemma's embedding multiplier: HF's `torch.tensor(hidden_size**0.5)` (f32) cast to the weights'
 * dtype (`embed_scale.to(self.weight.dtype)`), i.e. √C rounded to f32, then to bf16 / f16 when the
 * folder declares that dtype.
 */
export function gemmaEmbedScale(C: number, dtype: string | null): number {
  const s = Math.fround(Math.sqrt(C));
  if (dtype === 'bfloat16') return bf16ToF32(f32ToBf16(s));
  if (dtype === 'float16') return f16ToF32(f32ToF16(s));
  return s;
}
