/**
 * compressed-tensors `pack-quantized` (the format llm-compressor writes for W4A16 / W8A16), as the
 * offline converter `npm run quantize` writes it (src/model/convert.ts). Layout, from
 * neuralmagic/compressed-tensors `compressors/quantized_compressors/pack_quantized.py`
 * (`PackedQuantizationCompressor`, `pack_to_int32`), for a Linear weight [N, K] named `<m>.weight`:
 *   `<m>.weight_packed` I32 [N, ceil(K·b/32)]: per row, feature k in word ⌊k·b/32⌋ at bits
 *     (k mod 32/b)·b (low bits first); each b-bit value is the signed code c plus 2^(b−1); the
 *     padding after feature K−1 is 0 (pack_to_int32 pads the unsigned values with zeros);
 *   `<m>.weight_scale` [N, ceil(K/G)]: one scale per row and group of G features;
 *   `<m>.weight_shape` I64 [2]: [N, K] (torch.tensor(weight.shape), int64 as vLLM declares it);
 *   symmetric, so no `weight_zero_point`: w = c · scale = (q − 2^(b−1)) · scale.
 * The codes are those of src/model/quantize.ts `quantizeRows` (its q is c + 2^(b−1) already): the
 * packed words are its qweight words, with the padding codes cleared and, for 8 bits, the row cut to
 * ceil(K/4) words (quantizeRows pads K to a multiple of 8).
 * Scales are written F16 when every scale of the matrix is an f16 number (`scaleStorage`), else F32
 * (compressed-tensors writes the model dtype; F32 keeps the scales that would underflow f16 exact).
 * Values are dequantized in f32: (q − 2^(b−1)) · f32(scale), as `dequantizeRows` and the GPU do.
 */
import { f32ToF16 } from './dtype.js';
import { type QuantBits, type QuantizedMatrix, type ScaleDtype } from './quantize.js';

/** Output names of the quantized weight `<m>.weight`. */
export function packedNames(weightName: string): { packed: string; scale: string; shape: string } {
  const m = weightName.slice(0, -'.weight'.length);
  return { packed: `${m}.weight_packed`, scale: `${m}.weight_scale`, shape: `${m}.weight_shape` };
}

/** u32 words per row of `weight_packed` for K input features: ceil(K·b/32). */
export function packedRowWords(K: number, bits: QuantBits): number {
  return Math.ceil((K * bits) / 32);
}

/**
 * The `weight_packed` words [N, ceil(K·b/32)] of a matrix quantized by `quantizeRows` (its codes,
 * padding codes set to 0 as pack_to_int32 pads). Read as int32 in the file; the bits are the same.
 */
export function packRows(m: QuantizedMatrix): Uint32Array {
  const src = (m.Kp * m.bits) / 32;
  const dst = packedRowWords(m.K, m.bits);
  const per = 32 / m.bits;
  const tail = m.K % per; // values used in the last word (0: the word is full)
  const lastMask = tail === 0 ? 0xffffffff : (2 ** (tail * m.bits) - 1) >>> 0;
  const out = new Uint32Array(m.N * dst);
  for (let n = 0; n < m.N; n++) {
    out.set(m.qweight.subarray(n * src, n * src + dst), n * dst);
    if (dst > 0) out[n * dst + dst - 1] &= lastMask;
  }
  return out;
}

/** The safetensors dtype of scales stored as `dtype`. */
export function scaleTensorDtype(dtype: ScaleDtype): 'F16' | 'F32' {
  return dtype === 'f16' ? 'F16' : 'F32';
}

/**
 * The `weight_scale` bytes (little-endian) of scales [N, groups] as `dtype` ({@link scaleStorage}
 * decides: 'f16' only when every scale is f16-exact, so the F16 file holds the very same values).
 */
export function scaleFileBytes(scales: Float32Array, dtype: ScaleDtype): Uint8Array {
  if (dtype === 'f32') return new Uint8Array(scales.buffer, scales.byteOffset, scales.byteLength);
  const h = new Uint16Array(scales.length);
  for (let i = 0; i < scales.length; i++) h[i] = f32ToF16(scales[i]);
  return new Uint8Array(h.buffer);
}

/** Options of {@link quantizationConfig}. */
export interface QuantizationConfigOptions {
  bits: QuantBits;
  group: number;
  /** The embedding (an nn.Embedding, not a Linear) is quantized: a second config group targets "Embedding". */
  embeddingQuantized: boolean;
  /** Linear modules kept dense (e.g. `lm_head` with --keep-embeddings). */
  ignore: string[];
}

/**
 * config.json's `quantization_config` for a folder written by the converter, as llm-compressor
 * writes it for W4A16 (quant_method "compressed-tensors", format "pack-quantized"; compressed-tensors
 * `QuantizationConfig` / `QuantizationArgs`): group_0 targets every Linear; group_1, when the
 * embedding is quantized, targets "Embedding" with the same weight arguments.
 */
export function quantizationConfig(o: QuantizationConfigOptions): Record<string, unknown> {
  const weights = {
    num_bits: o.bits, type: 'int', symmetric: true, strategy: 'group', group_size: o.group,
    dynamic: false, actorder: null, block_structure: null, observer: 'minmax', observer_kwargs: {},
  };
  const group = (targets: string[]) => ({ targets, weights, input_activations: null, output_activations: null });
  const config_groups: Record<string, unknown> = { group_0: group(['Linear']) };
  if (o.embeddingQuantized) config_groups.group_1 = group(['Embedding']);
  return {
    quant_method: 'compressed-tensors',
    format: 'pack-quantized',
    quantization_status: 'compressed',
    config_groups,
    ignore: o.ignore,
    kv_cache_scheme: null,
    sparsity_config: {},
    global_compression_ratio: null,
  };
}
