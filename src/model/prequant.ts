/**
 * Pre-quantized Hugging Face checkpoints (issue 12): compressed-tensors `pack-quantized` and GPTQ
 * folders, repacked at load, tensor by tensor, into the runtime's one GPU group format
 * (src/model/quantize.ts, format v2) without changing a single value: every emitted weight equals
 * (q − zero) · scale of the source, computed in f32 (scales are f16/bf16/f32 numbers, exact in f32; the
 * subtraction of two small integers is exact; one f32 multiply, as the GPU kernel does).
 *
 * SOURCES (read from the published code; nothing here is copied from it):
 * - compressed-tensors `pack-quantized` (neuralmagic/compressed-tensors,
 *   src/compressed_tensors/compressors/quantized_compressors/pack_quantized.py: `PackedQuantizationCompressor`,
 *   `pack_to_int32`, `unpack_from_int32`; quantization/quant_args.py: `QuantizationArgs`; quantization/
 *   lifecycle/forward.py: `dequantize`; transformers' `CompressedTensorsConfig`). Per linear `<p>`:
 *     `<p>.weight_packed` I32 [N, ceil(K / (32/b))]: the signed code c ∈ [−2^(b−1), 2^(b−1)) plus 2^(b−1),
 *       features j·(32/b) … of a row in word j, feature j·(32/b) + i at bits i·b (`pack_to_int32`, packed_dim 1;
 *       the last word zero-padded). That is our qweight layout, feature for feature.
 *     `<p>.weight_scale` F16/BF16/F32 [N, groups] (strategy "group": groups = ceil(K / G), the last group
 *       holding the K mod G remaining features when G does not divide K, as compressed-tensors' `strategy_cdiv`
 *       allows and `npm run quantize` writes (src/model/convert.ts); "channel": [N, 1]).
 *     `<p>.weight_zero_point` I32 [ceil(N / (32/b)), groups] (asymmetric only): signed zero points + 2^(b−1),
 *       packed along the output dimension (`pack_to_int32`, packed_dim 0): row n's zero of group g in word
 *       [⌊n / (32/b)⌋, g], bits (n mod 32/b)·b. Symmetric: no tensor, zero = 0 signed = 2^(b−1) unsigned.
 *     `<p>.weight_g_idx` I32 [K] (actorder "group"): the group of each input feature (a −1 anywhere means
 *       column order, as `_process_quantization`'s `is_column_order`).
 *     `<p>.weight_shape` I32/I64 [2]: [N, K].
 *   value = (c − zero_signed) · scale = (u − zero_unsigned) · scale.
 * - GPTQ (AutoGPTQ auto_gptq/nn_modules/qlinear/qlinear_cuda.py `QuantLinear.pack` and its torch forward;
 *   GPTQModel's `checkpoint_format: gptq_v2`; transformers' `GPTQConfig`). Per linear `<p>`:
 *     `<p>.qweight` I32 [K / (32/b), N]: unsigned codes packed along K: feature k of output n in word
 *       [⌊k / (32/b)⌋, n], bits (k mod 32/b)·b.
 *     `<p>.qzeros` I32 [groups, ceil(N / (32/b))]: zero points packed along N: output n's zero of group g in
 *       word [g, ⌊n / (32/b)⌋], bits (n mod 32/b)·b. Format "gptq" (v1) stores zero − 1 and the reader
 *       adds 1 after masking (AutoGPTQ: `zeros = (qzeros >> shift) & mask; zeros = zeros + 1`), so a stored
 *       nibble 15 is zero 16 (our zeros are 8-bit for this); "gptq_v2" (GPTQModel) stores the zero itself.
 *     `<p>.scales` F16/BF16/F32 [groups, N]; groups = ceil(K / G) (G = −1: one group).
 *     `<p>.g_idx` I32 [K]: the group of each input feature; k / G unless quantized in activation order
 *       (`desc_act`), where it is a permutation's image. Always saved by AutoGPTQ and GPTQModel (a buffer of
 *       `QuantLinear`), so it is required here.
 *     `<p>.bias` (when the linear has one) is a plain float tensor: it is not claimed here and reaches the
 *       loader's ordinary sink as `<p>.bias`.
 *   value = (q − zero) · scale[g_idx[k]].
 *
 * OUR CHOICES. Per-channel scales (compressed-tensors "channel", GPTQ group_size −1) become groups of 128
 * with the channel's scale and zero repeated in every group: the same values, no new kernel. A non-trivial
 * g_idx is kept as a per-K group index (`gidx` [Kp], padding features group 0 with code = zero, so they
 * dequantize to 0; GPU: shaders/formats/qgroup-gidx.weight.wgsl): the activations keep their layout, no K
 * permutation. A trivial one (g_idx[k] = ⌊k / G⌋ for every k) emits no gidx.
 * Fused matrices (q/k/v, gate/up) share one gidx on the GPU. AutoGPTQ and GPTQModel quantize the linears
 * that read the same input from the same input Hessian (their `H` is accumulated from that input; the
 * activation order is argsort(diag(H)) descending), so the parts of one fused input get identical g_idx;
 * {@link sameGidx} / {@link assertSameGidx} check it, and differing ones are refused with a
 * ModelFormatError naming the tensors.
 */
import { ModelFormatError, UnsupportedQuantizationError } from '../errors.js';
import { bf16ToF32, f16ToF32 } from './dtype.js';
import { dequantizeRows, emptyQuantized, QUANT_GROUPS, symmetricZero, type QuantBits, type QuantizedMatrix } from './quantize.js';

/** What the runtime can load, for error messages. */
export const SUPPORTED_PREQUANT =
  'compressed-tensors "pack-quantized" (int weights, 4 or 8 bits, strategy "group" with group_size 32/64/128 or "channel", symmetric or asymmetric, no input/output activation or KV-cache quantization) and GPTQ (4 or 8 bits, group_size 32/64/128 or -1, sym true/false, desc_act true/false, checkpoint_format "gptq" or "gptq_v2"), in safetensors files';

/** A pre-quantized checkpoint's weight scheme, from config.json's `quantization_config`. */
export interface PrequantScheme {
  format: 'compressed-tensors' | 'gptq';
  bits: QuantBits;
  /** Group size of the source (32, 64 or 128), or null for one group per row (per-channel scales). */
  group: number | null;
  symmetric: boolean;
  /** Quantized in activation order (GPTQ `desc_act`, compressed-tensors `actorder` "group"): a g_idx tensor per linear. */
  actOrder: boolean;
  /** GPTQ: "gptq" (v1, qzeros hold zero − 1) or "gptq_v2"; compressed-tensors: null. */
  checkpointFormat: 'gptq' | 'gptq_v2' | null;
  /** compressed-tensors `ignore`: modules (names or `re:` patterns) kept dense; GPTQ: []. */
  ignore: string[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function refuse(format: string, field?: string): UnsupportedQuantizationError {
  return new UnsupportedQuantizationError(format, SUPPORTED_PREQUANT, field);
}

function bad(field: string, value: unknown, what: string): ModelFormatError {
  return new ModelFormatError(`config.json: quantization_config.${field} = ${JSON.stringify(value)} is not ${what}.`, { file: 'config.json', field });
}

/**
 * config.json's `quantization_config` → the scheme, or null when the checkpoint is not pre-quantized.
 * @param configJson the parsed config.json.
 * @throws UnsupportedQuantizationError naming the format for anything but compressed-tensors
 *   pack-quantized and GPTQ as {@link SUPPORTED_PREQUANT} lists (AWQ, bitsandbytes, fp8, 2/3-bit, marlin,
 *   activation quantization, mixed schemes, …); ModelFormatError when a field has the wrong type.
 */
export function parseQuantizationConfig(configJson: unknown): PrequantScheme | null {
  if (!isObject(configJson)) return null;
  const qc = configJson.quantization_config;
  if (qc === undefined || qc === null) return null;
  if (!isObject(qc)) throw new ModelFormatError('config.json: quantization_config is not an object.', { file: 'config.json' });
  const method = qc.quant_method;
  if (typeof method !== 'string') {
    if (qc.load_in_4bit === true || qc.load_in_8bit === true) throw refuse('bitsandbytes', 'quantization_config.load_in_4bit/load_in_8bit');
    throw bad('quant_method', method, 'a string');
  }
  if (method === 'compressed-tensors') return parseCompressedTensors(qc);
  if (method === 'gptq') return parseGptq(qc);
  throw refuse(`quant_method "${method}"`, 'quantization_config.quant_method');
}

function parseBits(v: unknown, field: string, fmt: string): QuantBits {
  if (!Number.isInteger(v)) throw bad(field, v, 'an integer');
  if (v !== 4 && v !== 8) throw refuse(`${fmt} with ${String(v)}-bit weights`, `quantization_config.${field}`);
  return v;
}

function parseCompressedTensors(qc: Record<string, unknown>): PrequantScheme {
  const fmt = 'compressed-tensors';
  if (qc.format !== 'pack-quantized') throw refuse(`${fmt} format ${JSON.stringify(qc.format)}`, 'quantization_config.format');
  if (qc.quantization_status !== undefined && qc.quantization_status !== 'compressed') throw refuse(`${fmt} with quantization_status ${JSON.stringify(qc.quantization_status)} (weights not compressed)`, 'quantization_config.quantization_status');
  if (qc.kv_cache_scheme !== undefined && qc.kv_cache_scheme !== null) throw refuse(`${fmt} with a quantized KV cache (kv_cache_scheme)`, 'quantization_config.kv_cache_scheme');
  const sp = qc.sparsity_config;
  if (sp !== undefined && sp !== null && !(isObject(sp) && (sp.format === 'dense' || sp.format === undefined))) throw refuse(`${fmt} with sparsity (${JSON.stringify(isObject(sp) ? sp.format : sp)})`, 'quantization_config.sparsity_config');
  const ignore = qc.ignore ?? [];
  if (!Array.isArray(ignore) || !ignore.every((x) => typeof x === 'string')) throw bad('ignore', ignore, 'a list of strings');
  const groups = qc.config_groups;
  if (!isObject(groups) || Object.keys(groups).length === 0) throw bad('config_groups', groups, 'a non-empty object');
  let scheme: PrequantScheme | null = null;
  for (const [gname, g] of Object.entries(groups)) {
    const at = `config_groups.${gname}`;
    if (!isObject(g)) throw bad(at, g, 'an object');
    if (g.format !== undefined && g.format !== null && g.format !== 'pack-quantized') throw refuse(`${fmt} format ${JSON.stringify(g.format)}`, `quantization_config.${at}.format`);
    for (const act of ['input_activations', 'output_activations'] as const) {
      if (g[act] !== undefined && g[act] !== null) throw refuse(`${fmt} with quantized ${act.replace('_', ' ')} (W4A16/W8A16 only)`, `quantization_config.${at}.${act}`);
    }
    const w = g.weights;
    if (!isObject(w)) throw refuse(`${fmt} config group without weight quantization`, `quantization_config.${at}.weights`);
    const type = w.type ?? 'int';
    if (type !== 'int') throw refuse(`${fmt} with ${JSON.stringify(type)} weights`, `quantization_config.${at}.weights.type`);
    const bits = parseBits(w.num_bits, `${at}.weights.num_bits`, fmt);
    if (w.dynamic !== undefined && w.dynamic !== false) throw refuse(`${fmt} with dynamic weight quantization`, `quantization_config.${at}.weights.dynamic`);
    if (w.block_structure !== undefined && w.block_structure !== null) throw refuse(`${fmt} with block quantization`, `quantization_config.${at}.weights.block_structure`);
    const symmetric = w.symmetric ?? true;
    if (typeof symmetric !== 'boolean') throw bad(`${at}.weights.symmetric`, symmetric, 'a boolean');
    const strategy = w.strategy ?? (w.group_size !== undefined && w.group_size !== null ? 'group' : 'tensor');
    let group: number | null;
    if (strategy === 'group') {
      if (!(QUANT_GROUPS as readonly unknown[]).includes(w.group_size)) throw refuse(`${fmt} with group_size ${JSON.stringify(w.group_size)}`, `quantization_config.${at}.weights.group_size`);
      group = w.group_size as number;
    } else if (strategy === 'channel') {
      group = null;
    } else {
      throw refuse(`${fmt} with weight strategy ${JSON.stringify(strategy)}`, `quantization_config.${at}.weights.strategy`);
    }
    // ActivationOrdering: "group" (alias "dynamic") saves weight_g_idx; "weight" (alias "static") keeps groups contiguous.
    const ao = w.actorder ?? null;
    if (ao !== null && ao !== false && ao !== true && !['group', 'dynamic', 'weight', 'static'].includes(ao as string)) throw bad(`${at}.weights.actorder`, ao, 'null, "group", "weight", "dynamic" or "static"');
    const actOrder = ao === true || ao === 'group' || ao === 'dynamic';
    const s: PrequantScheme = { format: fmt, bits, group, symmetric, actOrder, checkpointFormat: null, ignore: ignore as string[] };
    if (scheme && (scheme.bits !== s.bits || scheme.group !== s.group || scheme.symmetric !== s.symmetric || scheme.actOrder !== s.actOrder)) {
      throw refuse(`${fmt} with config groups of different weight schemes (${Object.keys(groups).join(', ')})`, 'quantization_config.config_groups');
    }
    scheme = s;
  }
  return scheme as PrequantScheme;
}

function parseGptq(qc: Record<string, unknown>): PrequantScheme {
  const fmt = 'GPTQ';
  const bits = parseBits(qc.bits, 'bits', fmt);
  const gs = qc.group_size ?? -1;
  if (!Number.isInteger(gs)) throw bad('group_size', gs, 'an integer');
  if (gs !== -1 && !(QUANT_GROUPS as readonly unknown[]).includes(gs)) throw refuse(`${fmt} with group_size ${String(gs)}`, 'quantization_config.group_size');
  const sym = qc.sym ?? true;
  if (typeof sym !== 'boolean') throw bad('sym', sym, 'a boolean');
  const desc = qc.desc_act ?? false;
  if (typeof desc !== 'boolean') throw bad('desc_act', desc, 'a boolean');
  // transformers' GPTQConfig writes `checkpoint_format`; GPTQModel's quantize_config writes `format` too.
  const cf = qc.checkpoint_format ?? qc.format ?? 'gptq';
  if (cf !== 'gptq' && cf !== 'gptq_v2') throw refuse(`${fmt} checkpoint_format ${JSON.stringify(cf)}`, 'quantization_config.checkpoint_format');
  const mods = qc.modules_in_block_to_quantize;
  if (mods !== undefined && mods !== null && !Array.isArray(mods)) throw bad('modules_in_block_to_quantize', mods, 'a list');
  return { format: 'gptq', bits, group: gs === -1 ? null : (gs as number), symmetric: sym, actOrder: desc, checkpointFormat: cf, ignore: [] };
}

/** One repacked linear: `<prefix>.weight` in the group format, with its per-K group index when non-trivial. */
export interface QuantizedTensor {
  name: string;
  matrix: QuantizedMatrix;
  /** [Kp] u32 group of each input feature (padding features 0); absent when it is ⌊k / group⌋. */
  gidx?: Uint32Array;
}

const CT_PARTS = ['weight_packed', 'weight_scale', 'weight_zero_point', 'weight_g_idx', 'weight_shape'] as const;
const GPTQ_PARTS = ['qweight', 'qzeros', 'scales', 'g_idx'] as const;

interface Part {
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

/** Group size used for per-channel sources: the channel's scale and zero repeat in every group of 128. */
const CHANNEL_GROUP = 128;

/**
 * Repacks the quantized tensors of a pre-quantized checkpoint, fed tensor by tensor in any order, into
 * {@link QuantizedTensor}s. Only the parts of linears not yet complete are held.
 */
export class PrequantAssembler {
  readonly #scheme: PrequantScheme;
  readonly #parts: readonly string[];
  readonly #pending = new Map<string, Map<string, Part>>();

  constructor(scheme: PrequantScheme) {
    this.#scheme = scheme;
    this.#parts = scheme.format === 'gptq' ? GPTQ_PARTS : CT_PARTS;
  }

  /** `[prefix, part]` when `name` is a quantized part (`<prefix>.qweight`, `<prefix>.weight_packed`, …), else null. */
  split(name: string): [string, string] | null {
    const dot = name.lastIndexOf('.');
    if (dot <= 0) return null;
    const part = name.slice(dot + 1);
    return this.#parts.includes(part) ? [name.slice(0, dot), part] : null;
  }

  /** Whether `name` is a part of a quantized linear that {@link add} takes. */
  claims(name: string): boolean {
    return this.split(name) !== null;
  }

  /** The parts a linear needs under this scheme. */
  #required(): string[] {
    const s = this.#scheme;
    if (s.format === 'gptq') return [...GPTQ_PARTS];
    const r = ['weight_packed', 'weight_scale', 'weight_shape'];
    if (!s.symmetric) r.push('weight_zero_point');
    if (s.actOrder) r.push('weight_g_idx');
    return r;
  }

  /**
   * Takes one part. Returns the repacked `<prefix>.weight` once every part of its linear is in, else null.
   * @throws ModelFormatError naming the tensor for a part given twice, a part this scheme does not have,
   *   a wrong dtype or shape, or values out of range.
   */
  add(name: string, dtype: string, shape: number[], bytes: Uint8Array): QuantizedTensor | null {
    const sp = this.split(name);
    if (!sp) throw new ModelFormatError(`Tensor ${name} is not a part of a quantized linear.`, { tensor: name });
    const [prefix, part] = sp;
    const need = this.#required();
    if (!need.includes(part)) throw new ModelFormatError(`Tensor ${name}: a ${this.#describe()} checkpoint has no "${part}" tensors.`, { tensor: name });
    let m = this.#pending.get(prefix);
    if (!m) this.#pending.set(prefix, (m = new Map()));
    if (m.has(part)) throw new ModelFormatError(`Tensor ${name} appears twice.`, { tensor: name });
    m.set(part, { dtype, shape, bytes });
    if (!need.every((p) => m.has(p))) return null;
    this.#pending.delete(prefix);
    return this.#scheme.format === 'gptq' ? this.#gptq(prefix, m) : this.#ct(prefix, m);
  }

  /** @throws ModelFormatError naming the first linear whose parts did not all arrive. */
  finish(): void {
    for (const [prefix, m] of this.#pending) {
      const missing = this.#required().filter((p) => !m.has(p));
      throw new ModelFormatError(`Quantized linear ${prefix} is incomplete: missing ${missing.map((p) => `${prefix}.${p}`).join(', ')}.`, { tensor: `${prefix}.${missing[0]}` });
    }
  }

  #describe(): string {
    const s = this.#scheme;
    return s.format === 'gptq' ? `GPTQ (${s.checkpointFormat})` : `compressed-tensors ${s.symmetric ? 'symmetric' : 'asymmetric'}${s.actOrder ? ' actorder' : ''}`;
  }

  #ct(prefix: string, m: Map<string, Part>): QuantizedTensor {
    const { bits, group: G, symmetric } = this.#scheme;
    const pf = 32 / bits;
    const packed = m.get('weight_packed') as Part;
    const scale = m.get('weight_scale') as Part;
    const shp = m.get('weight_shape') as Part;
    const t = (p: string) => `${prefix}.${p}`;
    expectDtype(t('weight_shape'), shp, ['I32', 'I64']);
    expectShape(t('weight_shape'), shp, [2]);
    const ws = readInts(shp);
    const [N, K] = ws;
    if (!(N >= 1 && K >= 1)) throw new ModelFormatError(`Tensor ${t('weight_shape')}: [${ws.join(', ')}] is not a weight shape.`, { tensor: t('weight_shape') });
    expectDtype(t('weight_packed'), packed, ['I32']);
    expectShape(t('weight_packed'), packed, [N, Math.ceil(K / pf)]);
    const groups = G === null ? 1 : Math.ceil(K / G);
    expectDtype(t('weight_scale'), scale, ['F16', 'BF16', 'F32']);
    expectShape(t('weight_scale'), scale, [N, groups]);
    let zp: Part | undefined;
    if (!symmetric) {
      zp = m.get('weight_zero_point') as Part;
      expectDtype(t('weight_zero_point'), zp, ['I32']);
      expectShape(t('weight_zero_point'), zp, [Math.ceil(N / pf), groups]);
    }
    let gIdx: Int32Array | null = null;
    if (m.has('weight_g_idx')) {
      const gp = m.get('weight_g_idx') as Part;
      expectDtype(t('weight_g_idx'), gp, ['I32']);
      expectShape(t('weight_g_idx'), gp, [K]);
      const gv = readInts(gp);
      // A −1 anywhere means column order (compressed-tensors' `is_column_order`).
      gIdx = gv.includes(-1) ? null : checkGidx(t('weight_g_idx'), gv, G, groups);
    }
    const sc = readFloats(scale);
    const words = u32View(packed.bytes);
    const zw = zp ? u32View(zp.bytes) : null;
    const mask = (1 << bits) - 1;
    return this.#emit(prefix, t(gIdx ? 'weight_g_idx' : 'weight_shape'), N, K, groups, gIdx, {
      code: (n, k) => (words[n * Math.ceil(K / pf) + Math.floor(k / pf)] >>> ((k % pf) * bits)) & mask,
      scale: (n, g) => sc[n * groups + g],
      zero: (n, g) => (zw ? (zw[Math.floor(n / pf) * groups + g] >>> ((n % pf) * bits)) & mask : symmetricZero(bits)),
    });
  }

  #gptq(prefix: string, m: Map<string, Part>): QuantizedTensor {
    const { bits, group: G, checkpointFormat } = this.#scheme;
    const pf = 32 / bits;
    const t = (p: string) => `${prefix}.${p}`;
    const qw = m.get('qweight') as Part;
    const qz = m.get('qzeros') as Part;
    const sc = m.get('scales') as Part;
    const gi = m.get('g_idx') as Part;
    expectDtype(t('qweight'), qw, ['I32']);
    expectDtype(t('qzeros'), qz, ['I32']);
    expectDtype(t('scales'), sc, ['F16', 'BF16', 'F32']);
    expectDtype(t('g_idx'), gi, ['I32', 'I64']);
    if (qw.shape.length !== 2) expectShape(t('qweight'), qw, [-1, -1]);
    if (gi.shape.length !== 1) expectShape(t('g_idx'), gi, [-1]);
    const K = gi.shape[0];
    const N = qw.shape[1];
    if (!(N >= 1 && K >= 1)) throw new ModelFormatError(`Tensor ${t('qweight')}: shape [${qw.shape.join(', ')}] with a g_idx of ${K} features is not a weight.`, { tensor: t('qweight') });
    if (K % pf !== 0) throw new ModelFormatError(`Tensor ${t('g_idx')}: K = ${K} input features is not a multiple of ${pf} (${bits}-bit codes packed ${pf} per int32 along K).`, { tensor: t('g_idx') });
    expectShape(t('qweight'), qw, [K / pf, N]);
    const groups = G === null ? 1 : Math.ceil(K / G);
    expectShape(t('scales'), sc, [groups, N]);
    expectShape(t('qzeros'), qz, [groups, Math.ceil(N / pf)]);
    const gIdx = checkGidx(t('g_idx'), readInts(gi), G, groups);
    const words = u32View(qw.bytes);
    const zw = u32View(qz.bytes);
    const s = readFloats(sc);
    const mask = (1 << bits) - 1;
    const zW = Math.ceil(N / pf);
    const plus = checkpointFormat === 'gptq' ? 1 : 0;
    return this.#emit(prefix, t('qzeros'), N, K, groups, gIdx, {
      code: (n, k) => (words[Math.floor(k / pf) * N + n] >>> ((k % pf) * bits)) & mask,
      scale: (n, g) => s[g * N + n],
      zero: (n, g) => ((zw[g * zW + Math.floor(n / pf)] >>> ((n % pf) * bits)) & mask) + plus,
    });
  }

  /**
   * Builds the matrix from accessors over the source. groups: the source's groups per row (1 for per-channel).
   * gIdx: the source's non-trivial group index [K], or null (column order).
   */
  #emit(prefix: string, zeroTensor: string, N: number, K: number, groups: number, gIdx: Int32Array | null,
    src: { code: (n: number, k: number) => number; scale: (n: number, g: number) => number; zero: (n: number, g: number) => number }): QuantizedTensor {
    const { bits, group: G } = this.#scheme;
    const group = G ?? CHANNEL_GROUP;
    const out = emptyQuantized(N, K, bits, group);
    const { Kp } = out;
    // Our group of feature k, and the source group it reads.
    const ours = (k: number) => (gIdx ? (k < K ? gIdx[k] : 0) : Math.floor(k / group));
    const source = (g: number) => (G === null ? 0 : g);
    const per = 32 / bits;
    const qWords = (Kp * bits) / 32;
    const zWords = Math.ceil(out.groups / 4);
    if (gIdx && out.groups !== groups) throw new ModelFormatError(`${prefix}: ${groups} groups for K = ${K} and group size ${group}.`, { tensor: zeroTensor });
    for (let n = 0; n < N; n++) {
      for (let g = 0; g < out.groups; g++) {
        const z = src.zero(n, source(g));
        if (z > 255) throw new ModelFormatError(`Tensor ${zeroTensor}: zero point ${z} of output ${n}, group ${source(g)} does not fit 8 bits (a GPTQ v1 ${bits}-bit zero of 0 stored as −1).`, { tensor: zeroTensor });
        out.zeros[n * zWords + (g >> 2)] |= z << ((g & 3) * 8);
        out.scales[n * out.groups + g] = src.scale(n, source(g));
      }
      for (let k = 0; k < Kp; k++) {
        const g = ours(k);
        const q = k < K ? src.code(n, k) : (out.zeros[n * zWords + (g >> 2)] >>> ((g & 3) * 8)) & 0xff;
        out.qweight[n * qWords + Math.floor(k / per)] |= q << ((k % per) * bits);
      }
    }
    if (!gIdx) return { name: `${prefix}.weight`, matrix: out };
    const gidx = new Uint32Array(Kp);
    gidx.set(gIdx);
    return { name: `${prefix}.weight`, matrix: out, gidx };
  }
}

/**
 * The source group index [K] as an Int32Array, or null when it is trivial (⌊k / G⌋; all 0 per-channel).
 * @throws ModelFormatError naming the tensor for a group outside 0..groups−1.
 */
function checkGidx(name: string, gv: number[], G: number | null, groups: number): Int32Array | null {
  let trivial = true;
  for (let k = 0; k < gv.length; k++) {
    const g = gv[k];
    if (!(g >= 0 && g < groups)) throw new ModelFormatError(`Tensor ${name}: feature ${k} is in group ${g}, outside 0..${groups - 1}.`, { tensor: name });
    if (g !== (G === null ? 0 : Math.floor(k / G))) trivial = false;
  }
  return trivial ? null : Int32Array.from(gv);
}

function expectDtype(name: string, p: Part, dtypes: string[]): void {
  if (!dtypes.includes(p.dtype)) throw new ModelFormatError(`Tensor ${name}: dtype ${p.dtype}, expected ${dtypes.join(' or ')}.`, { tensor: name, dtype: p.dtype });
}

/** -1 in `want` matches any size. */
function expectShape(name: string, p: Part, want: number[]): void {
  if (p.shape.length !== want.length || p.shape.some((d, i) => want[i] !== -1 && d !== want[i])) {
    throw new ModelFormatError(`Tensor ${name}: shape [${p.shape.join(', ')}], expected [${want.map((d) => (d === -1 ? '·' : d)).join(', ')}].`, { tensor: name, shape: p.shape, expected: want });
  }
}

/** Little-endian u32 words of a tensor's bytes (copied when unaligned). */
function u32View(b: Uint8Array): Uint32Array {
  if (b.byteOffset % 4 === 0) return new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  return new Uint32Array(b.slice().buffer);
}

/** Values of an I32/I64 tensor as numbers (I64 must stay within ±2^53). */
function readInts(p: Part): number[] {
  const dv = new DataView(p.bytes.buffer, p.bytes.byteOffset, p.bytes.byteLength);
  const out: number[] = [];
  if (p.dtype === 'I32') for (let i = 0; i < p.bytes.byteLength; i += 4) out.push(dv.getInt32(i, true));
  else for (let i = 0; i < p.bytes.byteLength; i += 8) out.push(Number(dv.getBigInt64(i, true)));
  return out;
}

/** Exact f32 values of an F16/BF16/F32 tensor. */
function readFloats(p: Part): Float32Array {
  const dv = new DataView(p.bytes.buffer, p.bytes.byteOffset, p.bytes.byteLength);
  if (p.dtype === 'F32') {
    const out = new Float32Array(p.bytes.byteLength / 4);
    for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(4 * i, true);
    return out;
  }
  const out = new Float32Array(p.bytes.byteLength / 2);
  const cv = p.dtype === 'F16' ? f16ToF32 : bf16ToF32;
  for (let i = 0; i < out.length; i++) out[i] = cv(dv.getUint16(2 * i, true));
  return out;
}

/** The group of input feature k of `t` (its gidx, or ⌊k / group⌋). */
function groupOf(t: QuantizedTensor, k: number): number {
  return t.gidx ? t.gidx[k] : Math.floor(k / t.matrix.group);
}

/**
 * Whether two repacked matrices give every input feature the same group (same K, same group index):
 * the condition for fusing them (q/k/v, gate/up) into one GPU matrix with one gidx.
 */
export function sameGidx(a: QuantizedTensor, b: QuantizedTensor): boolean {
  if (a.matrix.K !== b.matrix.K || a.matrix.group !== b.matrix.group || a.matrix.groups !== b.matrix.groups) return false;
  if (!a.gidx && !b.gidx) return true;
  for (let k = 0; k < a.matrix.Kp; k++) if (groupOf(a, k) !== groupOf(b, k)) return false;
  return true;
}

/**
 * @throws ModelFormatError naming the tensors when the parts of one fused matrix do not share their
 *   group index ({@link sameGidx}): AutoGPTQ/GPTQModel give them identical g_idx, so a difference is a
 *   checkpoint this runtime cannot fuse.
 */
export function assertSameGidx(parts: QuantizedTensor[]): void {
  for (const p of parts.slice(1)) {
    if (!sameGidx(parts[0], p)) {
      throw new ModelFormatError(`Quantized tensors ${parts[0].name} and ${p.name} read the same input but have different group indices (g_idx) or group sizes, so they cannot be fused into one GPU matrix; GPTQ quantizers give such linears identical g_idx.`, { tensor: p.name, tensors: parts.map((x) => x.name) });
    }
  }
}

/** The f32 values [N, K] the GPU computes with for `t`: (q − zero[g]) · scale[g], g its group index. */
export function dequantizeQuantized(t: QuantizedTensor): Float32Array {
  return dequantizeRows(t.matrix, t.gidx);
}
