/**
 * The GPU group format for 4- and 8-bit weights (issue 12), and load-time quantization to it
 * (MLC-LLM's q4f16_1 rule; the same rule in PyTorch: train/quantize_ref.py, compared bit for bit).
 * Written once here; the GPU side is the `weight` override shaders/formats/qgroup.weight.wgsl
 * (src/kernels/qweight.ts). Every source (load-time quantization, compressed-tensors, GPTQ) is
 * repacked into this one format without loss.
 *
 * FORMAT. A matrix [N, K] (glossary: N output features, K input features), each row zero-padded to
 * Kp = roundUp(K, 8) features, cut into groups of G consecutive features (G ∈ {32, 64, 128}; the last
 * group partial when G does not divide Kp), b ∈ {4, 8} bits:
 *   value = (q − zero) · scale, in f32 (the subtraction is exact, one f32 multiply);
 *   q: unsigned b-bit per feature; zero: unsigned 8-bit per group (8 bits for b = 4 too, since GPTQ's
 *   asymmetric zero points reach 16); scale: one per group, stored as f16 when every scale of the
 *   matrix is exactly an f16 number (normal or 0), else as f32 (`scaleStorage`).
 * Layout (u32 words, row-major; a matrix split into row chunks keeps this layout per chunk):
 *   qweight [N, Kp·b/32]: feature k at word ⌊k·b/32⌋, bits (k mod 32/b)·b;
 *   scales  [N, ⌈groups/2⌉] f16 (group g in the low half when g is even) or [N, groups] f32;
 *   zeros   [N, ⌈groups/4⌉]: group g at word ⌊g/4⌋, bits (g mod 4)·8.
 * Symmetric sources store the signed code plus 2^(b−1) with zero = 2^(b−1) (compressed-tensors'
 * convention), so load-time quantization and a compressed-tensors folder written by `npm run
 * quantize` give the same bits.
 *
 * LOAD-TIME RULE (per row and group; M = 7 for 4 bits, 127 for 8; MLC q4f16_1: symmetric, max-abs):
 *   amax = max |w| over the group (w in f32);
 *   s32 = f32(amax / M); s16 = f16(s32) (round to nearest even);
 *   scale = s16 when s16 is a normal finite f16 number (2^−14 ≤ s16 ≤ 65504), else s32 (a group
 *     whose f16 scale would underflow, or overflow to inf, keeps an f32 scale: the matrix is then
 *     stored with f32 scales);
 *   when scale > 0: c = clamp(roundHalfEven(f32(w / scale)), −M, M), else c = 0;
 *   q = c + 2^(b−1), zero = 2^(b−1).
 * MLC writes q = c + M with zero M: the same values (q − zero) · scale.
 */
import { InvalidArgumentError } from '../errors.js';
import { f16ToF32, f32ToF16 } from './dtype.js';

export type QuantBits = 4 | 8;
export const QUANT_GROUPS = [32, 64, 128] as const;
/** How a matrix stores its group scales on the GPU. */
export type ScaleDtype = 'f16' | 'f32';

/** Smallest normal f16 number, 2^−14. */
export const F16_MIN_NORMAL = 2 ** -14;
/** Largest finite f16 number. */
export const F16_MAX = 65504;

/** One quantized matrix [N, K] in the format above, scales as f32 values (storage: {@link packScales}). */
export interface QuantizedMatrix {
  bits: QuantBits;
  group: number;
  N: number;
  K: number;
  /** roundUp(K, 8): input features per row as stored (padding features quantize to the zero point). */
  Kp: number;
  /** ceil(Kp / group). */
  groups: number;
  /** [N, Kp·bits/32] u32. */
  qweight: Uint32Array;
  /** [N, groups] scale values (each an f32 value; f16-exact when stored as f16). */
  scales: Float32Array;
  /** [N, ceil(groups/4)] u32, 8-bit zero points. */
  zeros: Uint32Array;
}

/** Row sizes of the format (u32 words per row of each array). */
export interface QGroupRowWords {
  Kp: number;
  groups: number;
  /** qweight words per row: Kp·bits/32. */
  q: number;
  /** zeros words per row: ceil(groups/4). */
  z: number;
  /** scales words per row: ceil(groups/2) for f16, groups for f32. */
  s: number;
}

/** u32 words per row of each array for a [·, K] matrix. @throws InvalidArgumentError for an unsupported bits/group. */
export function qgroupRowWords(K: number, bits: QuantBits, group: number, scale: ScaleDtype): QGroupRowWords {
  checkFormat(bits, group);
  const Kp = Math.ceil(K / 8) * 8;
  const groups = Math.ceil(Kp / group);
  return { Kp, groups, q: (Kp * bits) / 32, z: Math.ceil(groups / 4), s: scale === 'f16' ? Math.ceil(groups / 2) : groups };
}

/** GPU bytes of an [N, K] matrix in the format (qweight + scales + zeros). */
export function qgroupMatrixBytes(N: number, K: number, bits: QuantBits, group: number, scale: ScaleDtype): number {
  const w = qgroupRowWords(K, bits, group, scale);
  return 4 * N * (w.q + w.s + w.z);
}

/** The zero point of symmetric codes, 2^(bits−1). */
export function symmetricZero(bits: QuantBits): number {
  return 1 << (bits - 1);
}

function checkFormat(bits: number, group: number): void {
  if (bits !== 4 && bits !== 8) throw new InvalidArgumentError(`quantization bits must be 4 or 8, got ${bits}.`);
  if (!(QUANT_GROUPS as readonly number[]).includes(group)) throw new InvalidArgumentError(`quantization group size must be 32, 64 or 128, got ${group}.`);
}

/** Round half to even of a finite double (IEEE roundTiesToEven, as torch.round). */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** The f32 value of f16(x) (round to nearest even). */
export function toF16Value(x: number): number {
  return f16ToF32(f32ToF16(x));
}

/** The group scale of the load-time rule for max |w| = `amax` and M: f16(amax / M) when that is a normal finite f16, else f32(amax / M). */
export function groupScale(amax: number, M: number): number {
  const s32 = Math.fround(amax / M);
  const s16 = toF16Value(s32);
  return s16 >= F16_MIN_NORMAL && s16 <= F16_MAX ? s16 : s32;
}

/** An empty matrix (all codes and zero points 0, scales 0) to fill row by row. */
export function emptyQuantized(N: number, K: number, bits: QuantBits, group: number): QuantizedMatrix {
  const w = qgroupRowWords(K, bits, group, 'f32');
  return { bits, group, N, K, Kp: w.Kp, groups: w.groups, qweight: new Uint32Array(N * w.q), scales: new Float32Array(N * w.groups), zeros: new Uint32Array(N * w.z) };
}

/**
 * Quantizes the f32 rows `w` [N, K] (row-major) with the load-time rule above.
 * @throws InvalidArgumentError for bits other than 4/8, a group not in {@link QUANT_GROUPS}, a size
 *   mismatch, or a non-finite weight (it has no quantized value).
 */
export function quantizeRows(w: Float32Array, N: number, K: number, bits: QuantBits, group: number): QuantizedMatrix {
  checkFormat(bits, group);
  if (w.length !== N * K) throw new InvalidArgumentError(`quantizeRows: ${w.length} values for a [${N}, ${K}] matrix.`);
  const m = emptyQuantized(N, K, bits, group);
  const M = bits === 4 ? 7 : 127;
  const Z = symmetricZero(bits);
  const per = 32 / bits;
  const qWords = (m.Kp * bits) / 32;
  const zWords = Math.ceil(m.groups / 4);
  for (let n = 0; n < N; n++) {
    const row = n * K;
    for (let g = 0; g < m.groups; g++) {
      const k0 = g * group;
      const k1 = Math.min(k0 + group, K);
      let amax = 0;
      for (let k = k0; k < k1; k++) {
        const a = Math.abs(w[row + k]);
        if (!Number.isFinite(a)) throw new InvalidArgumentError(`quantizeRows: weight [${n}, ${k}] is not finite (${w[row + k]}).`);
        if (a > amax) amax = a;
      }
      const scale = groupScale(amax, M);
      m.scales[n * m.groups + g] = scale;
      m.zeros[n * zWords + (g >> 2)] |= Z << ((g & 3) * 8);
      for (let k = k0; k < Math.min(k0 + group, m.Kp); k++) {
        const x = k < K ? w[row + k] : 0;
        const c = scale > 0 ? Math.min(M, Math.max(-M, roundHalfEven(Math.fround(x / scale)))) : 0;
        m.qweight[n * qWords + Math.floor(k / per)] |= (c + Z) << ((k % per) * bits);
      }
    }
  }
  return m;
}

/** The rows `rows` (indices into m's N rows) of `m`, as a matrix of rows.length rows. */
export function pickRows(m: QuantizedMatrix, rows: readonly number[]): QuantizedMatrix {
  const qw = (m.Kp * m.bits) / 32;
  const zw = Math.ceil(m.groups / 4);
  const out = { ...m, N: rows.length, qweight: new Uint32Array(rows.length * qw), scales: new Float32Array(rows.length * m.groups), zeros: new Uint32Array(rows.length * zw) };
  rows.forEach((r, i) => {
    out.qweight.set(m.qweight.subarray(r * qw, (r + 1) * qw), i * qw);
    out.scales.set(m.scales.subarray(r * m.groups, (r + 1) * m.groups), i * m.groups);
    out.zeros.set(m.zeros.subarray(r * zw, (r + 1) * zw), i * zw);
  });
  return out;
}

/**
 * The f32 values [N, K] the GPU computes with: (q − zero[g]) · scale[g] (f32), g = ⌊k / group⌋, or
 * `gidx[k]` when a per-input-feature group index is given (GPTQ activation order, src/model/prequant.ts).
 */
export function dequantizeRows(m: QuantizedMatrix, gidx?: Uint32Array): Float32Array {
  const per = 32 / m.bits;
  const mask = (1 << m.bits) - 1;
  const qWords = (m.Kp * m.bits) / 32;
  const zWords = Math.ceil(m.groups / 4);
  const out = new Float32Array(m.N * m.K);
  for (let n = 0; n < m.N; n++) {
    for (let k = 0; k < m.K; k++) {
      const g = gidx ? gidx[k] : Math.floor(k / m.group);
      const q = (m.qweight[n * qWords + Math.floor(k / per)] >>> ((k % per) * m.bits)) & mask;
      const z = (m.zeros[n * zWords + (g >> 2)] >>> ((g & 3) * 8)) & 0xff;
      out[n * m.K + k] = Math.fround((q - z) * m.scales[n * m.groups + g]);
    }
  }
  return out;
}

/** 'f16' when every scale is exactly an f16 number that is normal or 0 (so the kernel's f16 decode is exact everywhere), else 'f32'. */
export function scaleStorage(scales: Float32Array): ScaleDtype {
  for (const s of scales) if (!f16Scale(s)) return 'f32';
  return 'f16';
}

/** Whether a scale can be stored as f16: exactly a finite f16 number that is normal or 0 (WGSL may flush f16 subnormals). */
function f16Scale(s: number): boolean {
  return s === 0 || (Math.abs(s) >= F16_MIN_NORMAL && Math.abs(s) <= F16_MAX && toF16Value(s) === s);
}

/**
 * Scales [N, groups] (f32 values) as stored on the GPU: f32 words [N, groups], or f16 [N, ceil(groups/2)]
 * (two per u32, the even group in the low half).
 * @throws InvalidArgumentError when `dtype` is 'f16' and a scale is not exactly a normal f16 number or 0
 *   (what {@link scaleStorage} refuses; an f16 subnormal too).
 */
export function packScales(scales: Float32Array, N: number, groups: number, dtype: ScaleDtype): Uint32Array<ArrayBuffer> {
  if (dtype === 'f32') return new Uint32Array(Float32Array.from(scales.subarray(0, N * groups)).buffer);
  const sw = Math.ceil(groups / 2);
  const out = new Uint32Array(N * sw);
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < groups; g++) {
      const s = scales[n * groups + g];
      if (!f16Scale(s)) throw new InvalidArgumentError(`packScales: scale [${n}, ${g}] = ${s} is not a normal f16 number or 0; store these scales as f32.`);
      out[n * sw + (g >> 1)] |= f32ToF16(s) << ((g & 1) * 16);
    }
  }
  return out;
}

/**
 * Load-time quantization of a model's weight matrices (`LoadOptions.quantize`): bits, group size,
 * and whether the embedding and lm_head are quantized too (else they stay dense: 16-bit sources keep
 * their dtype, f32 ones are rounded to f16).
 */
export interface WeightQuantization {
  bits: QuantBits;
  group: number;
  embeddings: boolean;
}
