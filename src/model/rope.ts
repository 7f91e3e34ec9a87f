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
