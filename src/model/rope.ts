/**
 * RoPE frequencies and the cos/sin table (computed on the host in float64, stored as f32).
 * Source: RoFormer (Su et al. 2021) and HF `modeling_rope_utils` (`default`, `linear`, `llama3`).
 */
import type { LlamaConfig } from './config.js';

/**
 * Inverse frequencies invFreq[i] = θ^(−2i/D), i < D/2, with the config's `rope_scaling` applied
 * (`linear`: ÷ factor; `llama3`: Llama 3.1 wavelength-dependent smoothing).
 */
export function ropeInvFreq(cfg: Pick<LlamaConfig, 'headDim' | 'ropeTheta' | 'ropeScaling'>): Float64Array {
  const D = cfg.headDim;
  const inv = Float64Array.from({ length: D / 2 }, (_, i) => 1 / cfg.ropeTheta ** ((2 * i) / D));
  const s = cfg.ropeScaling;
  if (!s || s.type === 'default') return inv;
  if (s.type === 'linear') return inv.map((f) => f / s.factor);
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
 * Inverse frequencies of layer `layer`: the config's RoPE with the family's per-layer base
 * (`family.ropeThetaPerLayer`) and, where `family.ropeScaledPerLayer` says so, its `rope_scaling`
 * (Gemma 3: local layers use rope_local_base_freq unscaled, global layers rope_theta with the scaling;
 * HF Gemma3RotaryEmbedding, one inverse-frequency buffer per layer type).
 */
export function ropeInvFreqOfLayer(cfg: Pick<LlamaConfig, 'headDim' | 'ropeTheta' | 'ropeScaling' | 'family'>, layer: number): Float64Array {
  const f = cfg.family;
  return ropeInvFreq({ ...cfg, ropeTheta: f.ropeThetaPerLayer[layer], ropeScaling: f.ropeScaledPerLayer[layer] ? cfg.ropeScaling : null });
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
 * Table [rows, D/2] of (cos, sin)(pos · invFreq[i]) as interleaved f32 pairs. Like HF, the angle is
 * formed in f32 (f32 invFreq times the position, rounded); cos/sin of it are taken in float64.
 */
export function buildRopeTable(invFreq: ArrayLike<number>, rows: number): Float32Array<ArrayBuffer> {
  const half = invFreq.length;
  const out = new Float32Array(rows * half * 2);
  for (let p = 0; p < rows; p++) {
    for (let i = 0; i < half; i++) {
      const th = Math.fround(p * Math.fround(invFreq[i]));
      out[2 * (p * half + i)] = Math.cos(th);
      out[2 * (p * half + i) + 1] = Math.sin(th);
    }
  }
  return out;
}
