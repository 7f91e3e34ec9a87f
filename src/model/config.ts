/**
 * Parsing and validation of a Hugging Face `config.json` for the Llama family: LlamaForCausalLM
 * (Llama 2/3/3.x, TinyLlama, SmolLM, our MSN models) and MistralForCausalLM without a sliding window.
 * Every rejection names the field, the observed value and what is supported.
 */
import { ModelFormatError, UnsupportedModelError } from '../errors.js';

/** RoPE scaling as read from `rope_scaling` / `rope_parameters`. */
export type RopeScaling =
  | { type: 'default' }
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number };

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
}

const ARCHITECTURES = ['LlamaForCausalLM', 'MistralForCausalLM'];

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

function parseRopeScaling(raw: Record<string, unknown>): RopeScaling | null {
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
  throw new UnsupportedModelError('rope_scaling.rope_type', type, '"default", "linear", "llama3"');
}

/**
 * Validates and normalises a parsed config.json.
 * @throws ModelFormatError for missing or mistyped fields; UnsupportedModelError for features we
 *   do not implement (other architectures, biases, non-SiLU activations, sliding windows, ...).
 */
export function parseLlamaConfig(json: unknown): LlamaConfig {
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new ModelFormatError('config.json must be a JSON object.');
  const raw = json as Record<string, unknown>;
  const archs = raw.architectures;
  const arch = Array.isArray(archs) && typeof archs[0] === 'string' ? (archs[0] as string) : raw.model_type === 'llama' ? 'LlamaForCausalLM' : raw.model_type === 'mistral' ? 'MistralForCausalLM' : null;
  if (!arch || !ARCHITECTURES.includes(arch)) throw new UnsupportedModelError('architectures', archs ?? raw.model_type ?? null, ARCHITECTURES.join(', '));
  const act = raw.hidden_act ?? 'silu';
  if (act !== 'silu') throw new UnsupportedModelError('hidden_act', act, '"silu"');
  if (raw.attention_bias === true) throw new UnsupportedModelError('attention_bias', true, 'false');
  if (raw.mlp_bias === true) throw new UnsupportedModelError('mlp_bias', true, 'false');
  if (typeof raw.pretraining_tp === 'number' && raw.pretraining_tp !== 1) throw new UnsupportedModelError('pretraining_tp', raw.pretraining_tp, '1');

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
  const sw = raw.sliding_window;
  if (arch === 'MistralForCausalLM' && typeof sw === 'number' && sw < maxPositionEmbeddings) {
    throw new UnsupportedModelError('sliding_window', sw, `null or ≥ max_position_embeddings (${maxPositionEmbeddings})`);
  }
  // transformers 5 may nest RoPE settings in rope_parameters.
  const rp = (raw.rope_parameters ?? null) as Record<string, unknown> | null;
  const ropeSource = rp && typeof rp === 'object' ? { ...raw, rope_scaling: raw.rope_scaling ?? (rp.rope_type && rp.rope_type !== 'default' ? rp : null) } : raw;
  const ropeTheta = field(raw, 'rope_theta', 'number', { min: 1e-9, def: rp && typeof rp.rope_theta === 'number' ? rp.rope_theta : 10000 });
  const dt = raw.torch_dtype ?? raw.dtype ?? null;
  return {
    architecture: arch,
    vocabSize: field(raw, 'vocab_size', 'int', { min: 1 }),
    hiddenSize,
    intermediateSize: field(raw, 'intermediate_size', 'int', { min: 1 }),
    numLayers: field(raw, 'num_hidden_layers', 'int', { min: 1 }),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: field(raw, 'rms_norm_eps', 'number', { min: 0, def: 1e-6 }),
    ropeTheta,
    ropeScaling: parseRopeScaling(ropeSource),
    maxPositionEmbeddings,
    tieWordEmbeddings: raw.tie_word_embeddings === undefined ? false : Boolean(raw.tie_word_embeddings),
    bosTokenId: idList(raw.bos_token_id, 'config.json: bos_token_id')[0] ?? null,
    eosTokenIds: idList(raw.eos_token_id, 'config.json: eos_token_id'),
    declaredDtype: typeof dt === 'string' ? dt : null,
  };
}
