/**
 * RoPE frequencies and the cos/sin table (computed on the host in float64, stored as f32).
 * Source: RoFormer (Su et al. 2021) and HF `modeling_rope_utils` (`default`, `linear`, `llama3`,
 * `longrope`); partial rotary (Phi-3 `partial_rotary_factor`): only the first R of D dims rotate.
 */
import type { LlamaConfig } from './config.js';

type RopeCfg = Pick<LlamaConfig, 'headDim' | 'ropeTheta' | 'ropeScaling'> & { family?: Pick<LlamaConfig['family'], 'rotaryDim'> };

/**
 * Inverse frequencies invFreq[i] = θ^(−2i/R), i < R/2 (R = `family.rotaryDim`, default D), with the
 * config's `rope_scaling` applied (`linear`: ÷ factor; `llama3`: Llama 3.1 wavelength-dependent
 * smoothing; `longrope`: ÷ short_factor[i], or ÷ long_factor[i] when `long`).
 */
export function ropeInvFreq(cfg: RopeCfg, long = false): Float64Array {
  const R = cfg.family?.rotaryDim ?? cfg.headDim;
  const inv = Float64Array.from({ length: R / 2 }, (_, i) => 1 / cfg.ropeTheta ** ((2 * i) / R));
  const s = cfg.ropeScaling;
  if (!s || s.type === 'default') return inv;
  if (s.type === 'linear') return inv.map((f) => f / s.factor);
  if (s.type === 'longrope') {
    const ext = long ? s.longFactor : s.shortFactor;
    return inv.map((f, i) => f / ext[i]);
  }
  // llama3: keep high frequencies, divide low frequencies by factor, blend in between.
  const lowWl = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highWl = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  return inv.map((f) => {
    const wl = (2 * Math.PI) / f;
    if (wl < highWl) return f;
    if (wl > lowWl) return f / s.factor;
    const smooth = (s.originalMaxPositionEmbeddings / wl - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    return (1 - smooth) * (f / s.factor) + smooth * f;
  });
}

/**
 * Everything a RoPE table of one layer needs: the rotary dim R, invFreq [R/2] for positions below
 * `switchAt`, `longInvFreq` [R/2] at or after it (longrope only; null otherwise, switchAt = ∞), and
 * the multiplier of cos and sin (`longrope` attention factor; 1 otherwise).
 * LongRoPE chooses its factors by the token's absolute position (as vLLM does). transformers
 * chooses them by the length of the whole sequence of a forward (max position + 1 > original), so a
 * prefill longer than `original_max_position_embeddings` rotates its first rows with the long factors
 * there and with the short ones here; token-by-token decoding agrees (ARCHITECTURE.md, "LongRoPE").
 */
export interface RopeSpec {
  rotaryDim: number;
  invFreq: Float64Array;
  longInvFreq: Float64Array | null;
  switchAt: number;
  scale: number;
}

/** The {@link RopeSpec} of a config whose layers all share one RoPE setting (see {@link ropeSpecOfLayer}). */
export function ropeSpec(cfg: RopeCfg): RopeSpec {
  const s = cfg.ropeScaling;
  const rotaryDim = cfg.family?.rotaryDim ?? cfg.headDim;
  if (s?.type === 'longrope') return { rotaryDim, invFreq: ropeInvFreq(cfg), longInvFreq: ropeInvFreq(cfg, true), switchAt: s.originalMaxPositionEmbeddings, scale: s.attentionFactor };
  return { rotaryDim, invFreq: ropeInvFreq(cfg), longInvFreq: null, switchAt: Infinity, scale: 1 };
}

/**
 * The RoPE of layer `layer`: the config's RoPE with the family's per-layer base
 * (`family.ropeThetaPerLayer`) and, where `family.ropeScaledPerLayer` says so, its `rope_scaling`
 * (Gemma 3: local layers use rope_local_base_freq unscaled, global layers rope_theta with the scaling;
 * HF Gemma3RotaryEmbedding, one inverse-frequency buffer per layer type).
 */
export function ropeSpecOfLayer(cfg: Pick<LlamaConfig, 'headDim' | 'ropeTheta' | 'ropeScaling' | 'family'>, layer: number): RopeSpec {
  const f = cfg.family;
  return ropeSpec({ ...cfg, ropeTheta: f.ropeThetaPerLayer[layer], ropeScaling: f.ropeScaledPerLayer[layer] ? cfg.ropeScaling : null });
}

/** Inverse frequencies [R/2] of layer `layer` below the longrope switch ({@link ropeSpecOfLayer}). */
export function ropeInvFreqOfLayer(cfg: Pick<LlamaConfig, 'headDim' | 'ropeTheta' | 'ropeScaling' | 'family'>, layer: number): Float64Array {
  return ropeSpecOfLayer(cfg, layer).invFreq;
}

/** The distinct RoPE settings of the layers: `tables[k]` = layer index whose frequencies table k holds, `ofLayer[i]` = table of layer i. */
export function ropeTablesOfLayers(cfg: Pick<LlamaConfig, 'numLayers' | 'family'>): { tables: number[]; ofLayer: number[] } {
  const keys: string[] = [];
  const tables: number[] = [];
  const ofLayer = Array.from({ length: cfg.numLayers }, (_, i) => {
    const key = `${cfg.family.ropeThetaPerLayer[i]}|${cfg.family.ropeScaledPerLayer[i]}`;
    let k = keys.indexOf(key);
    if (k < 0) { k = keys.length; keys.push(key); tables.push(i); }
    return k;
  });
  return { tables, ofLayer };
}

/**
 * Table [rows, R/2] of (cos, sin)(pos · invFreq[i]) as interleaved f32 pairs, R/2 = invFreq.length.
 * Like HF, the angle is formed in f32 (f32 invFreq times the position, rounded); cos/sin of it are
 * taken in float64 and rounded to f32. With a {@link RopeSpec}: rows at positions ≥ `switchAt` use
 * `longInvFreq`, and cos and sin are multiplied by `scale` in f32 (HF: `emb.cos() * attention_scaling`).
 */
export function buildRopeTable(rope: ArrayLike<number> | RopeSpec, rows: number): Float32Array<ArrayBuffer> {
  const spec: Omit<RopeSpec, 'rotaryDim'> = 'invFreq' in rope ? rope : { invFreq: Float64Array.from(rope), longInvFreq: null, switchAt: Infinity, scale: 1 };
  const half = spec.invFreq.length;
  const scale = Math.fround(spec.scale);
  const out = new Float32Array(rows * half * 2);
  for (let p = 0; p < rows; p++) {
    const inv = p >= spec.switchAt && spec.longInvFreq ? spec.longInvFreq : spec.invFreq;
    for (let i = 0; i < half; i++) {
      const th = Math.fround(p * Math.fround(inv[i]));
      out[2 * (p * half + i)] = scale === 1 ? Math.cos(th) : Math.fround(Math.cos(th)) * scale;
      out[2 * (p * half + i) + 1] = scale === 1 ? Math.sin(th) : Math.fround(Math.sin(th)) * scale;
    }
  }
  return out;
}
