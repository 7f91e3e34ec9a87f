/**
 * Load-time weight quantization to the group format of issue 12 (symmetric, MLC-LLM's q4f16_1 rule;
 * the same rule in PyTorch: train/quantize_ref.py). Written once here; the GPU side is the `weight`
 * override of shaders/formats/qgroup.weight.wgsl (src/kernels/qweight.ts).
 *
 * Per weight row (f32 values, K of them, zero-padded to Kp = roundUp(K, 8)) and per group g of G
 * consecutive input features (G ∈ {32, 64, 128}; the last group may be partial):
 *   M = 7 (4 bits) or 127 (8 bits); amax = max |w| over the group; scale = f32(amax / M);
 *   q = clamp(roundHalfEven(f32(w / scale)) + M, 0, 2M), or q = M for the whole group when scale = 0;
 *   zero = M; dequantized value = (q − zero) · scale, in f32.
 * Layout (u32 words, row-major): qweight [N, Kp·bits/32], element k at word k·bits/32, bits
 * (k mod 32/bits)·bits; scales f32 [N, ceil(Kp/G)]; zeros [N, ceil(groups·bits/32)] packed alike.
 */
import { InvalidArgumentError } from '../errors.js';

export type QuantBits = 4 | 8;
export const QUANT_GROUPS = [32, 64, 128] as const;

/** One quantized matrix [N, K] (glossary: N output features, K input features). */
export interface QuantizedMatrix {
  bits: QuantBits;
  group: number;
  N: number;
  K: number;
  /** roundUp(K, 8): input features per row as stored (padding quantizes to 0). */
  Kp: number;
  /** ceil(Kp / group). */
  groups: number;
  qweight: Uint32Array;
  scales: Float32Array;
  zeros: Uint32Array;
}

/** Round half to even of a finite double (IEEE roundTiesToEven, as torch.round). */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Quantizes the f32 rows `w` [N, K] (row-major) with the rule above.
 * @throws InvalidArgumentError for bits other than 4/8, a group not in {@link QUANT_GROUPS}, a size
 *   mismatch, or a non-finite weight (it has no quantized value).
 */
export function quantizeRows(w: Float32Array, N: number, K: number, bits: QuantBits, group: number): QuantizedMatrix {
  if (bits !== 4 && bits !== 8) throw new InvalidArgumentError(`quantization bits must be 4 or 8, got ${bits}.`);
  if (!(QUANT_GROUPS as readonly number[]).includes(group)) throw new InvalidArgumentError(`quantization group size must be 32, 64 or 128, got ${group}.`);
  if (w.length !== N * K) throw new InvalidArgumentError(`quantizeRows: ${w.length} values for a [${N}, ${K}] matrix.`);
  const M = bits === 4 ? 7 : 127;
  const Kp = Math.ceil(K / 8) * 8;
  const groups = Math.ceil(Kp / group);
  const per = 32 / bits;
  const rowWords = (Kp * bits) / 32;
  const zWords = Math.ceil(groups / per);
  const qweight = new Uint32Array(N * rowWords);
  const scales = new Float32Array(N * groups);
  const zeros = new Uint32Array(N * zWords);
  for (let n = 0; n < N; n++) {
    const row = n * K;
    for (let g = 0; g < groups; g++) {
      const k0 = g * group;
      const k1 = Math.min(k0 + group, K);
      let amax = 0;
      for (let k = k0; k < k1; k++) {
        const a = Math.abs(w[row + k]);
        if (!Number.isFinite(a)) throw new InvalidArgumentError(`quantizeRows: weight [${n}, ${k}] is not finite (${w[row + k]}).`);
        if (a > amax) amax = a;
      }
      const scale = Math.fround(amax / M);
      scales[n * groups + g] = scale;
      zeros[n * zWords + Math.floor(g / per)] |= M << ((g % per) * bits);
      for (let k = k0; k < Math.min(k0 + group, Kp); k++) {
        const x = k < K ? w[row + k] : 0;
        const q = scale > 0 ? Math.min(2 * M, Math.max(0, roundHalfEven(Math.fround(x / scale)) + M)) : M;
        qweight[n * rowWords + Math.floor(k / per)] |= q << ((k % per) * bits);
      }
    }
  }
  return { bits, group, N, K, Kp, groups, qweight, scales, zeros };
}

/** The f32 values [N, K] the GPU computes with: (q − zero) · scale (f32). */
export function dequantizeRows(m: QuantizedMatrix): Float32Array {
  const per = 32 / m.bits;
  const mask = (1 << m.bits) - 1;
  const rowWords = (m.Kp * m.bits) / 32;
  const zWords = Math.ceil(m.groups / per);
  const out = new Float32Array(m.N * m.K);
  for (let n = 0; n < m.N; n++) {
    for (let k = 0; k < m.K; k++) {
      const g = Math.floor(k / m.group);
      const q = (m.qweight[n * rowWords + Math.floor(k / per)] >>> ((k % per) * m.bits)) & mask;
      const z = (m.zeros[n * zWords + Math.floor(g / per)] >>> ((g % per) * m.bits)) & mask;
      out[n * m.K + k] = Math.fround((q - z) * m.scales[n * m.groups + g]);
    }
  }
  return out;
}
