// Pre-quantized checkpoints (issue 12, src/model/prequant.ts): compressed-tensors pack-quantized and GPTQ
// folders written by train/prequant_ref.py (following each format's published layout) are streamed through
// the real loader, and every repacked matrix dequantizes bit for bit to the PyTorch reference; every
// refused format and malformed tensor fails with its typed error.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelFormatError, UnsupportedQuantizationError } from '../../src/errors.js';
import { f32ToF16 } from '../../src/model/dtype.js';
import { describeModel, streamWeights } from '../../src/model/loader.js';
import { assertSameGidx, dequantizeQuantized, parseQuantizationConfig, PrequantAssembler, sameGidx, type PrequantScheme, type QuantizedTensor } from '../../src/model/prequant.js';
import { scaleStorage } from '../../src/model/quantize.js';
import { readSafetensors } from '../../src/model/safetensors.js';
import { createModelSource } from '../../src/model/source.js';

const root = join(import.meta.dirname, '..', '..');
const VARIANTS = {
  'ct-w4g32-sym': { bits: 4, group: 32, symmetric: true, actOrder: false, outGroup: 32 },
  'ct-w4g64-asym': { bits: 4, group: 64, symmetric: false, actOrder: false, outGroup: 64 },
  'ct-w8-channel-asym': { bits: 8, group: null, symmetric: false, actOrder: false, outGroup: 128 },
  'gptq-w4g32-sym': { bits: 4, group: 32, symmetric: true, actOrder: false, outGroup: 32 },
  'gptq-w4g32-asym': { bits: 4, group: 32, symmetric: false, actOrder: false, outGroup: 32 },
  'gptq-w4g32-sym-desc': { bits: 4, group: 32, symmetric: true, actOrder: true, outGroup: 32 },
  'gptq-w4g32-asym-desc': { bits: 4, group: 32, symmetric: false, actOrder: true, outGroup: 32 },
  'gptq-w4g64-asym-desc-v2': { bits: 4, group: 64, symmetric: false, actOrder: true, outGroup: 64 },
  'gptq-w8g128-sym': { bits: 8, group: 128, symmetric: true, actOrder: false, outGroup: 128 },
  'gptq-w4-channel-asym': { bits: 4, group: null, symmetric: false, actOrder: false, outGroup: 128 },
} as const;
const LINEARS = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'];

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'msn-prequant-'));
  execFileSync(join(root, '.venv', 'bin', 'python'), [join(root, 'train', 'prequant_ref.py'), '--out', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
}, 120_000);
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function load(name: string): Promise<{ scheme: PrequantScheme | null; quantized: QuantizedTensor[]; dense: string[]; seen: Set<string> }> {
  const desc = await describeModel(createModelSource(join(dir, name)));
  const quantized: QuantizedTensor[] = [];
  const dense: string[] = [];
  const seen = await streamWeights(desc, () => true, (n) => { dense.push(n); }, undefined, undefined, (t) => { quantized.push(t); });
  return { scheme: desc.quantization, quantized, dense: dense.sort(), seen };
}

async function reference(name: string): Promise<Map<string, Float32Array>> {
  const f = await createModelSource(join(dir, name)).open('reference.safetensors');
  const out = new Map<string, Float32Array>();
  for await (const { info, bytes } of readSafetensors(f.stream, 'reference.safetensors', f.size)) out.set(info.name, new Float32Array(bytes.slice().buffer));
  return out;
}

const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe('pre-quantized folders match their PyTorch dequantized reference, bit for bit', () => {
  for (const [name, v] of Object.entries(VARIANTS)) {
    it(name, async () => {
      const { scheme, quantized, dense, seen } = await load(name);
      expect(scheme).toMatchObject({ format: name.startsWith('ct') ? 'compressed-tensors' : 'gptq', bits: v.bits, group: v.group, symmetric: v.symmetric, actOrder: v.actOrder });
      expect(dense).toEqual(['lm_head.weight', 'model.embed_tokens.weight', 'model.layers.0.input_layernorm.weight', 'model.layers.0.post_attention_layernorm.weight',
        'model.layers.1.input_layernorm.weight', 'model.layers.1.post_attention_layernorm.weight', 'model.norm.weight']);
      const names = [0, 1].flatMap((l) => LINEARS.map((x) => `model.layers.${l}.${x}.weight`));
      expect(quantized.map((t) => t.name).sort()).toEqual([...names].sort());
      for (const n of names) expect(seen.has(n)).toBe(true);
      const ref = await reference(name);
      for (const t of quantized) {
        const r = ref.get(t.name) as Float32Array;
        expect(r.length, t.name).toBe(t.matrix.N * t.matrix.K);
        expect(t.matrix.bits).toBe(v.bits);
        expect(t.matrix.group).toBe(v.outGroup);
        expect(bitsOf(dequantizeQuantized(t)), t.name).toEqual(bitsOf(r));
        // activation order leaves a trace only where a row has more than one group.
        expect(t.gidx !== undefined, `${t.name} gidx`).toBe(v.actOrder && t.matrix.K > (v.group ?? Infinity));
        if (t.gidx) {
          expect(t.gidx.length).toBe(t.matrix.Kp);
          expect(Math.max(...t.gidx)).toBe(t.matrix.groups - 1);
        }
        // GPTQ scales are f16; compressed-tensors' bf16 scales are kept as f32 values when not f16-exact.
        if (name.startsWith('gptq')) expect(scaleStorage(t.matrix.scales)).toBe('f16');
      }
      // q/k/v and gate/up read one input: one group index each; o_proj reads another (differs under desc_act).
      const by = (s: string) => quantized.find((t) => t.name === `model.layers.0.${s}.weight`) as QuantizedTensor;
      expect(() => assertSameGidx(['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj'].map(by))).not.toThrow();
      expect(() => assertSameGidx(['mlp.gate_proj', 'mlp.up_proj'].map(by))).not.toThrow();
      const permuted = v.actOrder && 64 > (v.group ?? Infinity); // q and o: K = 64
      expect(sameGidx(by('self_attn.q_proj'), by('self_attn.o_proj'))).toBe(!permuted);
      if (permuted) expect(() => assertSameGidx([by('self_attn.q_proj'), by('self_attn.o_proj')])).toThrow(/model\.layers\.0\.self_attn\.q_proj\.weight and model\.layers\.0\.self_attn\.o_proj\.weight/);
    }, 60_000);
  }
});

// ---------------------------------------------------------------- hand-worked layouts

const i32 = (...v: number[]) => new Uint8Array(Int32Array.from(v).buffer);
const f16 = (...v: number[]) => new Uint8Array(Uint16Array.from(v.map(f32ToF16)).buffer);
const gptq = (over: Partial<PrequantScheme> = {}): PrequantScheme => ({ format: 'gptq', bits: 4, group: 32, symmetric: false, actOrder: false, checkpointFormat: 'gptq', ignore: [], ...over });
const ct = (over: Partial<PrequantScheme> = {}): PrequantScheme => ({ format: 'compressed-tensors', bits: 4, group: 32, symmetric: true, actOrder: false, checkpointFormat: null, ignore: [], ...over });

describe('hand-worked layouts', () => {
  it('GPTQ v1: qweight packed along K, qzeros along N with zero − 1 (nibble 15 → zero 16), scales [groups, N]', () => {
    // N = 8, K = 8, one group. Feature k of output n has code (k + n) mod 16.
    const words: number[] = [];
    for (let n = 0; n < 8; n++) { let w = 0; for (let k = 0; k < 8; k++) w |= ((k + n) % 16) << (4 * k); words.push(w | 0); }
    // stored zeros: output n → n + 8 − 1 for n < 7, and 15 (zero 16) for n = 7.
    let z = 0;
    for (let n = 0; n < 8; n++) z |= (n < 7 ? n + 7 : 15) << (4 * n);
    const a = new PrequantAssembler(gptq());
    expect(a.add('l.qweight', 'I32', [1, 8], i32(...words))).toBeNull();
    expect(a.add('l.qzeros', 'I32', [1, 1], i32(z | 0))).toBeNull();
    expect(a.add('l.scales', 'F16', [1, 8], f16(0.5, 0.25, 1, 2, 0.125, 4, 0.5, 1))).toBeNull();
    const t = a.add('l.g_idx', 'I32', [8], i32(0, 0, 0, 0, 0, 0, 0, 0)) as QuantizedTensor;
    expect(t.name).toBe('l.weight');
    expect(t.gidx).toBeUndefined();
    const s = [0.5, 0.25, 1, 2, 0.125, 4, 0.5, 1];
    const want: number[] = [];
    for (let n = 0; n < 8; n++) for (let k = 0; k < 8; k++) want.push(((k + n) % 16 - (n < 7 ? n + 8 : 16)) * s[n]);
    expect(Array.from(dequantizeQuantized(t))).toEqual(want);
    a.finish();
  });

  it('GPTQ desc_act: a permuted g_idx becomes gidx [Kp] (v2 zeros as stored)', () => {
    // N = 8, K = 64, group 32: g_idx swaps the halves of the first 16 features with the next group.
    const g = Array.from({ length: 64 }, (_, k) => (k < 16 ? 1 : k < 32 ? 0 : k < 48 ? 0 : 1));
    const a = new PrequantAssembler(gptq({ checkpointFormat: 'gptq_v2', actOrder: true }));
    a.add('l.qweight', 'I32', [8, 8], i32(...Array.from({ length: 64 }, (_, i) => (0x76543210 + i) | 0)));
    a.add('l.qzeros', 'I32', [2, 1], i32(0x33333333, 0x11111111));
    a.add('l.scales', 'F16', [2, 8], f16(...Array(8).fill(0.5), ...Array(8).fill(2)));
    const t = a.add('l.g_idx', 'I32', [64], i32(...g)) as QuantizedTensor;
    expect(Array.from(t.gidx as Uint32Array)).toEqual(g);
    const d = dequantizeQuantized(t);
    for (const [n, k] of [[0, 0], [3, 17], [7, 63], [5, 40]]) {
      const word = (0x76543210 + Math.floor(k / 8) * 8 + n) >>> 0;
      const q = (word >>> ((k % 8) * 4)) & 15;
      expect(d[n * 64 + k], `[${n}, ${k}]`).toBe((q - (g[k] === 0 ? 3 : 1)) * (g[k] === 0 ? 0.5 : 2));
    }
  });

  it('compressed-tensors: weight_packed along K (+8 offset), asymmetric zero points packed along N, padding features = zero', () => {
    // N = 2, K = 12 (Kp 16): codes c = k − 6 (signed), zeros −1 (row 0) and 2 (row 1), scale 0.5 / 0.25.
    const words: number[] = [];
    for (let n = 0; n < 2; n++) for (let j = 0; j < 2; j++) { let w = 0; for (let i = 0; i < 8; i++) { const k = j * 8 + i; if (k < 12) w |= (k - 6 + 8) << (4 * i); } words.push(w | 0); }
    const a = new PrequantAssembler(ct({ symmetric: false }));
    a.add('m.weight_packed', 'I32', [2, 2], i32(...words));
    a.add('m.weight_scale', 'BF16', [2, 1], new Uint8Array(Uint16Array.of(0x3f00, 0x3e80).buffer));
    a.add('m.weight_zero_point', 'I32', [1, 1], i32((-1 + 8) | ((2 + 8) << 4)));
    const t = a.add('m.weight_shape', 'I64', [2], new Uint8Array(BigInt64Array.of(2n, 12n).buffer)) as QuantizedTensor;
    expect(Array.from(dequantizeQuantized(t))).toEqual([
      ...Array.from({ length: 12 }, (_, k) => (k - 6 + 1) * 0.5), ...Array.from({ length: 12 }, (_, k) => (k - 6 - 2) * 0.25)]);
    // padding features 12..15 carry the zero point: 7 in row 0, 10 in row 1.
    expect(t.matrix.qweight[1] >>> 16).toBe(0x7777);
    expect(t.matrix.qweight[3] >>> 16).toBe(0xaaaa);
  });
});

// ---------------------------------------------------------------- refusals

describe('parseQuantizationConfig', () => {
  const CT = { quant_method: 'compressed-tensors', format: 'pack-quantized', quantization_status: 'compressed', ignore: ['lm_head'],
    config_groups: { group_0: { targets: ['Linear'], input_activations: null, output_activations: null, weights: { num_bits: 4, type: 'int', symmetric: true, strategy: 'group', group_size: 128, dynamic: false, actorder: null } } } };
  const cfg = (qc: unknown) => ({ model_type: 'llama', quantization_config: qc });
  const w = (over: Record<string, unknown>) => ({ ...CT, config_groups: { group_0: { ...CT.config_groups.group_0, weights: { ...CT.config_groups.group_0.weights, ...over } } } });

  it('reads the supported schemes and null for an unquantized config', () => {
    expect(parseQuantizationConfig({ model_type: 'llama' })).toBeNull();
    expect(parseQuantizationConfig(cfg(CT))).toEqual({ format: 'compressed-tensors', bits: 4, group: 128, symmetric: true, actOrder: false, checkpointFormat: null, ignore: ['lm_head'] });
    expect(parseQuantizationConfig(cfg(w({ strategy: 'channel', group_size: null, num_bits: 8, symmetric: false, actorder: 'group' })))).toMatchObject({ bits: 8, group: null, symmetric: false, actOrder: true });
    expect(parseQuantizationConfig(cfg({ quant_method: 'gptq', bits: 4, group_size: 128, sym: false, desc_act: true }))).toEqual({ format: 'gptq', bits: 4, group: 128, symmetric: false, actOrder: true, checkpointFormat: 'gptq', ignore: [] });
    expect(parseQuantizationConfig(cfg({ quant_method: 'gptq', bits: 8, group_size: -1, checkpoint_format: 'gptq_v2' }))).toMatchObject({ bits: 8, group: null, symmetric: true, checkpointFormat: 'gptq_v2' });
  });

  const refused: Array<[string, unknown, RegExp]> = [
    ['AWQ', { quant_method: 'awq', bits: 4, group_size: 128, version: 'gemm' }, /quant_method "awq"/],
    ['bitsandbytes', { quant_method: 'bitsandbytes', load_in_4bit: true }, /quant_method "bitsandbytes"/],
    ['bitsandbytes (legacy keys)', { load_in_8bit: true }, /bitsandbytes/],
    ['fp8', { quant_method: 'fp8', activation_scheme: 'dynamic' }, /quant_method "fp8"/],
    ['GPTQ 3-bit', { quant_method: 'gptq', bits: 3, group_size: 128 }, /GPTQ with 3-bit weights/],
    ['GPTQ 2-bit', { quant_method: 'gptq', bits: 2, group_size: 128 }, /GPTQ with 2-bit weights/],
    ['GPTQ marlin', { quant_method: 'gptq', bits: 4, group_size: 128, checkpoint_format: 'marlin' }, /GPTQ checkpoint_format "marlin"/],
    ['GPTQ group 16', { quant_method: 'gptq', bits: 4, group_size: 16 }, /GPTQ with group_size 16/],
    ['CT float-quantized (fp8)', { ...CT, format: 'float-quantized' }, /compressed-tensors format "float-quantized"/],
    ['CT naive-quantized', { ...CT, format: 'naive-quantized' }, /format "naive-quantized"/],
    ['CT marlin-24', { ...CT, format: 'marlin-24' }, /format "marlin-24"/],
    ['CT W4A8', { ...CT, config_groups: { g: { ...CT.config_groups.group_0, input_activations: { num_bits: 8, type: 'int' } } } }, /quantized input activations/],
    ['CT fp weights', w({ type: 'float', num_bits: 8 }), /"float" weights/],
    ['CT 2-bit', w({ num_bits: 2 }), /2-bit weights/],
    ['CT group 16', w({ group_size: 16 }), /group_size 16/],
    ['CT tensor strategy', w({ strategy: 'tensor', group_size: null }), /strategy "tensor"/],
    ['CT KV cache', { ...CT, kv_cache_scheme: { num_bits: 8, type: 'float' } }, /quantized KV cache/],
    ['CT sparsity', { ...CT, sparsity_config: { format: 'sparse-24-bitmask' } }, /sparsity/],
    ['CT mixed groups', { ...CT, config_groups: { a: CT.config_groups.group_0, b: { ...CT.config_groups.group_0, weights: { ...CT.config_groups.group_0.weights, num_bits: 8 } } } }, /different weight schemes/],
  ];
  for (const [what, qc, msg] of refused) {
    it(`refuses ${what} with UnsupportedQuantizationError`, () => {
      let err: unknown;
      try { parseQuantizationConfig(cfg(qc)); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(UnsupportedQuantizationError);
      expect((err as Error).message).toMatch(msg);
      expect((err as Error).message).toMatch(/Supported: compressed-tensors "pack-quantized"/);
    });
  }

  it('malformed fields are ModelFormatErrors', () => {
    expect(() => parseQuantizationConfig(cfg('gptq'))).toThrow(ModelFormatError);
    expect(() => parseQuantizationConfig(cfg({ quant_method: 'gptq', bits: '4' }))).toThrow(/quantization_config\.bits = "4" is not an integer/);
    expect(() => parseQuantizationConfig(cfg({ quant_method: 'gptq', bits: 4, sym: 'yes' }))).toThrow(/sym = "yes" is not a boolean/);
  });
});

describe('refusal up front, before any weight byte', () => {
  const llama = JSON.stringify({ architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 64, intermediate_size: 128, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 2, vocab_size: 301, max_position_embeddings: 256, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 0 });
  const folder = (name: string, qc: unknown, files: Record<string, string>) => {
    const d = join(dir, name);
    mkdirSync(d, { recursive: true });
    const c = JSON.parse(llama) as Record<string, unknown>;
    if (qc) c.quantization_config = qc;
    writeFileSync(join(d, 'config.json'), JSON.stringify(c));
    for (const [f, text] of Object.entries(files)) writeFileSync(join(d, f), text);
    return createModelSource(d);
  };

  it('an AWQ folder is refused by describeModel (its weight file is not even valid safetensors)', async () => {
    await expect(describeModel(folder('awq', { quant_method: 'awq', bits: 4, group_size: 128 }, { 'model.safetensors': 'not safetensors' }))).rejects.toThrow(UnsupportedQuantizationError);
  });

  it('a folder with only PyTorch pickles is refused with the same typed error', async () => {
    await expect(describeModel(folder('pickle', null, { 'pytorch_model.bin': 'pickle' }))).rejects.toThrow(/PyTorch pickle weights \(pytorch_model\.bin\)/);
  });

  it('a pre-quantized folder streamed without a quantized sink is refused before reading', async () => {
    const desc = await describeModel(createModelSource(join(dir, 'gptq-w4g32-sym')));
    await expect(streamWeights(desc, () => true, () => {})).rejects.toThrow(UnsupportedQuantizationError);
  });
});

// ---------------------------------------------------------------- malformed tensors

describe('malformed quantized tensors are ModelFormatErrors naming the tensor', () => {
  const full = () => {
    const a = new PrequantAssembler(gptq());
    return a;
  };
  const cases: Array<[string, (a: PrequantAssembler) => unknown, RegExp]> = [
    ['qweight dtype', (a) => { a.add('l.qweight', 'F32', [1, 8], new Uint8Array(32)); a.add('l.qzeros', 'I32', [1, 1], i32(0)); a.add('l.scales', 'F16', [1, 8], new Uint8Array(16)); return a.add('l.g_idx', 'I32', [8], i32(0, 0, 0, 0, 0, 0, 0, 0)); }, /Tensor l\.qweight: dtype F32, expected I32/],
    ['qzeros shape', (a) => { a.add('l.qweight', 'I32', [1, 8], new Uint8Array(32)); a.add('l.qzeros', 'I32', [1, 2], i32(0, 0)); a.add('l.scales', 'F16', [1, 8], new Uint8Array(16)); return a.add('l.g_idx', 'I32', [8], i32(0, 0, 0, 0, 0, 0, 0, 0)); }, /Tensor l\.qzeros: shape \[1, 2\], expected \[1, 1\]/],
    ['g_idx out of range', (a) => { a.add('l.qweight', 'I32', [1, 8], new Uint8Array(32)); a.add('l.qzeros', 'I32', [1, 1], i32(0)); a.add('l.scales', 'F16', [1, 8], new Uint8Array(16)); return a.add('l.g_idx', 'I32', [8], i32(0, 0, 0, 1, 0, 0, 0, 0)); }, /Tensor l\.g_idx: feature 3 is in group 1, outside 0\.\.0/],
    ['K not a multiple of 8', (a) => { a.add('l.qweight', 'I32', [1, 8], new Uint8Array(32)); a.add('l.qzeros', 'I32', [1, 1], i32(0)); a.add('l.scales', 'F16', [1, 8], new Uint8Array(16)); return a.add('l.g_idx', 'I32', [7], i32(0, 0, 0, 0, 0, 0, 0)); }, /l\.g_idx: K = 7 input features is not a multiple of 8/],
    ['qweight rows ≠ K / 8', (a) => { a.add('l.qweight', 'I32', [2, 8], new Uint8Array(64)); a.add('l.qzeros', 'I32', [1, 1], i32(0)); a.add('l.scales', 'F16', [1, 8], new Uint8Array(16)); return a.add('l.g_idx', 'I32', [8], i32(0, 0, 0, 0, 0, 0, 0, 0)); }, /l\.qweight: shape \[2, 8\], expected \[1, 8\]/],
    ['part given twice', (a) => { a.add('l.qweight', 'I32', [1, 8], new Uint8Array(32)); return a.add('l.qweight', 'I32', [1, 8], new Uint8Array(32)); }, /l\.qweight appears twice/],
    ['a compressed-tensors part in a GPTQ folder', (a) => a.add('l.weight_packed', 'I32', [1, 1], i32(0)), /not a part of a quantized linear/],
  ];
  for (const [what, f, msg] of cases) {
    it(what, () => {
      expect(() => f(full())).toThrow(msg);
      expect(() => f(full())).toThrow(ModelFormatError);
    });
  }

  it('an 8-bit GPTQ v1 zero of 0 (stored −1 → 256) does not fit 8 bits', () => {
    const a = new PrequantAssembler(gptq({ bits: 8, group: null }));
    a.add('l.qweight', 'I32', [2, 4], new Uint8Array(32));
    a.add('l.qzeros', 'I32', [1, 1], i32(-1));
    a.add('l.scales', 'F16', [1, 4], new Uint8Array(8));
    expect(() => a.add('l.g_idx', 'I32', [8], i32(0, 0, 0, 0, 0, 0, 0, 0))).toThrow(/Tensor l\.qzeros: zero point 256 .* does not fit 8 bits/);
  });

  it('compressed-tensors: a hostile weight_shape is refused before allocating; a K that G does not divide has a short last group', () => {
    const a = new PrequantAssembler(ct());
    a.add('m.weight_packed', 'I32', [1, 1], i32(0));
    a.add('m.weight_scale', 'F16', [1, 1], f16(1));
    expect(() => a.add('m.weight_shape', 'I64', [2], new Uint8Array(BigInt64Array.of(1n, 8_000_000_000n).buffer))).toThrow(/m\.weight_packed: shape \[1, 1\], expected \[1, 1000000000\]/);
    // K = 40, G = 32: groups [0, 32) with scale 1 and [32, 40) with scale 0.5; code 9 (signed 1) everywhere.
    const b = new PrequantAssembler(ct());
    b.add('m.weight_packed', 'I32', [1, 5], i32(...new Array<number>(5).fill(0x99999999 | 0)));
    b.add('m.weight_scale', 'F16', [1, 2], f16(1, 0.5));
    const t = b.add('m.weight_shape', 'I32', [2], i32(1, 40)) as QuantizedTensor;
    expect(t.matrix).toMatchObject({ N: 1, K: 40, Kp: 40, groups: 2, group: 32 });
    expect(Array.from(dequantizeQuantized(t))).toEqual([...new Array<number>(32).fill(1), ...new Array<number>(8).fill(0.5)]);
    // the scale tensor must still have ceil(K / G) groups
    const c = new PrequantAssembler(ct());
    c.add('m.weight_packed', 'I32', [1, 5], new Uint8Array(20));
    c.add('m.weight_scale', 'F16', [1, 1], f16(1));
    expect(() => c.add('m.weight_shape', 'I32', [2], i32(1, 40))).toThrow(/m\.weight_scale: shape \[1, 1\], expected \[1, 2\]/);
  });

  it('a linear whose parts do not all arrive fails at the end of the stream', () => {
    const a = new PrequantAssembler(ct({ symmetric: false }));
    a.add('m.weight_packed', 'I32', [1, 1], i32(0));
    a.add('m.weight_scale', 'F16', [1, 1], f16(1));
    a.add('m.weight_shape', 'I32', [2], i32(1, 8));
    expect(() => a.finish()).toThrow(/Quantized linear m is incomplete: missing m\.weight_zero_point/);
  });
});
