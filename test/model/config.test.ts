// config.json validation: every rejection names the field; the Llama-family variants parse.
import { describe, expect, it } from 'vitest';
import { gemmaEmbedScale, parseLlamaConfig, parseEosIds } from '../../src/model/config.js';
import { canonicalTensorName } from '../../src/worker/llama.js';
import { ModelFormatError, UnsupportedModelError } from '../../src/errors.js';
import { ropeInvFreq, ropeInvFreqOfLayer } from '../../src/model/rope.js';
import { FAMILY_FIXTURES, golden } from '../helpers/fixtures.js';
import { readFileSync } from 'node:fs';

const base = { architectures: ['LlamaForCausalLM'], hidden_size: 64, intermediate_size: 172, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 100, max_position_embeddings: 512, rms_norm_eps: 1e-5 };

describe('parseLlamaConfig', () => {
  it('parses Llama 2/3, TinyLlama-style GQA, tied embeddings and EOS lists', () => {
    const c = parseLlamaConfig({ ...base, tie_word_embeddings: true, eos_token_id: [1, 2], bos_token_id: 0, rope_theta: 500000 });
    expect(c.headDim).toBe(16);
    expect(c.numKvHeads).toBe(2);
    expect(c.tieWordEmbeddings).toBe(true);
    expect(c.eosTokenIds).toEqual([1, 2]);
    expect(c.ropeTheta).toBe(500000);
    expect(parseLlamaConfig({ ...base, num_key_value_heads: undefined }).numKvHeads).toBe(4);
    expect(parseLlamaConfig({ ...base, architectures: ['MistralForCausalLM'], sliding_window: null }).architecture).toBe('MistralForCausalLM');
    expect(parseEosIds({ eos_token_id: 7 }, 'g')).toEqual([7]);
  });

  const cases: Array<[string, Record<string, unknown>, typeof ModelFormatError | typeof UnsupportedModelError, RegExp]> = [
    ['missing field', { ...base, hidden_size: undefined }, ModelFormatError, /hidden_size/],
    ['wrong type', { ...base, num_hidden_layers: '2' }, ModelFormatError, /num_hidden_layers/],
    ['non-positive size', { ...base, intermediate_size: 0 }, ModelFormatError, /intermediate_size/],
    ['fractional size', { ...base, vocab_size: 10.5 }, ModelFormatError, /vocab_size/],
    ['heads not dividing hidden', { ...base, num_attention_heads: 5, num_key_value_heads: 5 }, ModelFormatError, /hidden_size.*num_attention_heads|divisible/],
    ['kv heads not dividing heads', { ...base, num_key_value_heads: 3 }, ModelFormatError, /num_key_value_heads/],
    ['other architecture', { ...base, architectures: ['GPT2LMHeadModel'] }, UnsupportedModelError, /architectures/],
    ['sliding window of 0', { ...base, architectures: ['MistralForCausalLM'], sliding_window: 0 }, ModelFormatError, /sliding_window/],
    ['use_sliding_window not a boolean', { ...base, architectures: ['Qwen2ForCausalLM'], use_sliding_window: 'yes' }, ModelFormatError, /use_sliding_window/],
    ['layer_types of the wrong length', { ...base, layer_types: ['full_attention'] }, ModelFormatError, /layer_types/],
    ['unknown layer type', { ...base, layer_types: ['full_attention', 'chunked_attention'] }, UnsupportedModelError, /layer_types.*chunked_attention/],
    ['partial rotary outside Phi-3', { ...base, partial_rotary_factor: 0.5 }, UnsupportedModelError, /partial_rotary_factor/],
    ['Phi-3 partial rotary giving an odd rotary dim', { ...base, architectures: ['Phi3ForCausalLM'], partial_rotary_factor: 0.35 }, UnsupportedModelError, /partial_rotary_factor.*0\.35/],
    ['Phi-3 partial rotary above 1', { ...base, architectures: ['Phi3ForCausalLM'], partial_rotary_factor: 1.5 }, UnsupportedModelError, /partial_rotary_factor.*1\.5/],
    ['Phi-3 partial rotary in rope_parameters, odd dim', { ...base, architectures: ['Phi3ForCausalLM'], rope_parameters: { rope_type: 'default', rope_theta: 1e4, partial_rotary_factor: 0.1 } }, UnsupportedModelError, /partial_rotary_factor/],
    ['Phi-3 yarn', { ...base, architectures: ['Phi3ForCausalLM'], rope_scaling: { type: 'yarn', factor: 4 } }, UnsupportedModelError, /rope_scaling.rope_type.*yarn/],
    ['Phi-3 dynamic (transformers 5 dialect)', { ...base, architectures: ['Phi3ForCausalLM'], rope_parameters: { rope_type: 'dynamic', factor: 2, rope_theta: 1e4 } }, UnsupportedModelError, /rope_type.*dynamic/],
    ['longrope factor list of the wrong length', { ...base, architectures: ['Phi3ForCausalLM'], rope_scaling: { type: 'longrope', short_factor: [1, 1], long_factor: Array(8).fill(2) } }, ModelFormatError, /short_factor.*8/],
    ['longrope without long_factor', { ...base, architectures: ['Phi3ForCausalLM'], rope_scaling: { type: 'longrope', short_factor: Array(8).fill(1) } }, ModelFormatError, /long_factor/],
    ['longrope with a non-positive factor', { ...base, architectures: ['Phi3ForCausalLM'], rope_scaling: { type: 'longrope', short_factor: Array(8).fill(0), long_factor: Array(8).fill(2) } }, ModelFormatError, /short_factor/],
    ['Phi-3 sliding window of 0', { ...base, architectures: ['Phi3ForCausalLM'], sliding_window: 0 }, ModelFormatError, /sliding_window/],
    ['Phi-3 attention bias', { ...base, architectures: ['Phi3ForCausalLM'], attention_bias: true }, UnsupportedModelError, /attention_bias/],
    ['Phi-4-mini lm_head bias', { ...base, architectures: ['Phi3ForCausalLM'], lm_head_bias: true }, UnsupportedModelError, /lm_head_bias/],
    ['Phi-3 gelu', { ...base, architectures: ['Phi3ForCausalLM'], hidden_act: 'gelu_new' }, UnsupportedModelError, /hidden_act.*gelu_new/],
    ['qwen3 attention bias (o_proj too)', { ...base, architectures: ['Qwen3ForCausalLM'], attention_bias: true }, UnsupportedModelError, /attention_bias/],
    ['dynamic rope in rope_parameters', { ...base, rope_parameters: { rope_type: 'dynamic', factor: 2, rope_theta: 1e4 } }, UnsupportedModelError, /rope_type.*dynamic/],
    ['attention bias', { ...base, attention_bias: true }, UnsupportedModelError, /attention_bias/],
    ['gelu', { ...base, hidden_act: 'gelu' }, UnsupportedModelError, /hidden_act/],
    ['yarn scaling', { ...base, rope_scaling: { rope_type: 'yarn', factor: 4 } }, UnsupportedModelError, /rope_type/],
    ['odd head dim', { ...base, head_dim: 6 }, UnsupportedModelError, /head_dim/],
    ['bad eos', { ...base, eos_token_id: 'x' }, ModelFormatError, /eos_token_id/],
  ];
  for (const [what, cfg, cls, re] of cases) {
    it(`rejects: ${what}`, () => {
      expect(() => parseLlamaConfig(cfg)).toThrow(cls);
      expect(() => parseLlamaConfig(cfg)).toThrow(re);
    });
  }
  it('family options: Llama has none; Mistral windows every layer; Qwen2 biases and windows only with use_sliding_window', () => {
    const llama = parseLlamaConfig(base).family;
    expect(llama).toMatchObject({ qkvBias: false, qkNorm: false, slidingWindow: [null, null], normWeightOffset: 0, activation: 'silu', embeddingScale: null, postNorms: false, attnSoftcap: null, finalSoftcap: null, queryScale: null, partialRotaryFactor: 1 });
    expect(parseLlamaConfig({ ...base, rope_theta: 5e5 }).family.ropeThetaPerLayer).toEqual([5e5, 5e5]);
    expect(parseLlamaConfig({ ...base, architectures: ['MistralForCausalLM'], sliding_window: 128 }).family.slidingWindow).toEqual([128, 128]);
    expect(parseLlamaConfig({ ...base, architectures: ['MistralForCausalLM'], sliding_window: null }).family.slidingWindow).toEqual([null, null]);
    // Qwen2.5's published fields: use_sliding_window false beside a sliding_window value → no window.
    const q2 = { ...base, architectures: ['Qwen2ForCausalLM'], use_sliding_window: false, sliding_window: 32768, max_window_layers: 1 };
    expect(parseLlamaConfig(q2).family).toMatchObject({ qkvBias: true, qkNorm: false, slidingWindow: [null, null] });
    expect(parseLlamaConfig({ ...q2, use_sliding_window: true, sliding_window: 8 }).family.slidingWindow).toEqual([null, 8]);
    expect(parseLlamaConfig({ ...q2, use_sliding_window: true, sliding_window: 8, max_window_layers: 0 }).family.slidingWindow).toEqual([8, 8]);
    // transformers 5 writes layer_types (and rope_parameters); it decides over max_window_layers.
    expect(parseLlamaConfig({ ...q2, use_sliding_window: true, sliding_window: 8, layer_types: ['sliding_attention', 'full_attention'] }).family.slidingWindow).toEqual([8, null]);
    expect(parseLlamaConfig({ ...q2, use_sliding_window: false, layer_types: ['sliding_attention', 'sliding_attention'] }).family.slidingWindow).toEqual([null, null]);
    const q3 = parseLlamaConfig({ ...base, architectures: ['Qwen3ForCausalLM'], head_dim: 32, attention_bias: false, sliding_window: null, use_sliding_window: false, rope_scaling: null });
    expect(q3.family).toMatchObject({ qkvBias: false, qkNorm: true, slidingWindow: [null, null] });
    expect(q3.headDim).toBe(32);
    expect(parseLlamaConfig({ ...base, architectures: undefined, model_type: 'qwen3' }).architecture).toBe('Qwen3ForCausalLM');
  });

  it('both dialects: rope_theta / rope_scaling and transformers 5 rope_parameters give the same config', () => {
    const hub = parseLlamaConfig({ ...base, rope_theta: 1e6, rope_scaling: { rope_type: 'linear', factor: 2 } });
    const t5 = parseLlamaConfig({ ...base, rope_parameters: { rope_type: 'linear', factor: 2, rope_theta: 1e6 } });
    expect(t5).toEqual(hub);
    expect(parseLlamaConfig({ ...base, rope_parameters: { rope_type: 'default', rope_theta: 1e6 } })).toEqual(parseLlamaConfig({ ...base, rope_theta: 1e6 }));
  });

  // tiny-gemma3-mm-f32's config.json is transformers 5's own (a multimodal wrapper): compared with tiny-gemma3-f32 below.
  for (const name of FAMILY_FIXTURES.filter((n) => n !== 'tiny-gemma3-mm-f32')) {
    it(`${name}: the published-style config.json and transformers 5's own dialect parse to the same config`, () => {
      const hub = parseLlamaConfig(JSON.parse(readFileSync(`test/fixtures/models/${name}/config.json`, 'utf8')));
      const t5 = parseLlamaConfig(JSON.parse(readFileSync(`test/fixtures/configs/${name}.transformers5.json`, 'utf8')));
      expect(t5).toEqual(hub);
    });
  }
  it('family fixtures: the options the forward reads', () => {
    const fam = (n: string) => parseLlamaConfig(JSON.parse(readFileSync(`test/fixtures/models/${n}/config.json`, 'utf8')));
    expect(fam('tiny-qwen2-bf16').family).toMatchObject({ qkvBias: true, qkNorm: false, slidingWindow: [null, null] });
    expect(fam('tiny-qwen3-f16')).toMatchObject({ headDim: 16, family: { qkvBias: false, qkNorm: true, slidingWindow: [null, null] } });
    expect(fam('tiny-qwen2-window-f32').family).toMatchObject({ qkvBias: true, slidingWindow: [null, 5] });
    expect(fam('tiny-mistral-window-f32').family).toMatchObject({ qkvBias: false, qkNorm: false, slidingWindow: [6, 6] });
  });

  it('Phi-3: fused projections, partial rotary, sliding window on every layer, longrope (alias su), nulls', () => {
    const phi = { ...base, architectures: ['Phi3ForCausalLM'], hidden_size: 96, num_attention_heads: 4, num_key_value_heads: 4 }; // D = 24
    const plain = parseLlamaConfig({ ...phi, sliding_window: 2047, rope_scaling: null, partial_rotary_factor: null, original_max_position_embeddings: 4096 });
    expect(plain.family).toMatchObject({ fusedProjections: true, qkvBias: false, qkNorm: false, slidingWindow: [2047, 2047], partialRotaryFactor: 1, rotaryDim: 24 });
    expect(plain.ropeScaling).toBeNull();
    expect(parseLlamaConfig({ ...phi, sliding_window: null }).family.slidingWindow).toEqual([null, null]);
    expect(parseLlamaConfig({ ...base, architectures: undefined, model_type: 'phi3' }).architecture).toBe('Phi3ForCausalLM');
    expect(parseLlamaConfig(base).family).toMatchObject({ fusedProjections: false, rotaryDim: 16 });
    // Phi-4-mini: 0.75 of D = 24 → R = 18 (HF int(): ⌊D·f⌋); factor lists have R/2 = 9 entries.
    const short = Array.from({ length: 9 }, (_, i) => 1 + i / 10);
    const long = Array.from({ length: 9 }, (_, i) => 2 + i);
    const lr = { ...phi, partial_rotary_factor: 0.75, max_position_embeddings: 131072, original_max_position_embeddings: 4096, rope_theta: 10000, rope_scaling: { type: 'longrope', short_factor: short, long_factor: long } };
    const hub = parseLlamaConfig(lr);
    expect(hub.family.rotaryDim).toBe(18);
    expect(hub.ropeScaling).toEqual({ type: 'longrope', shortFactor: short, longFactor: long, originalMaxPositionEmbeddings: 4096, attentionFactor: Math.sqrt(1 + Math.log(32) / Math.log(4096)) });
    // The old alias "su"; an explicit attention_factor; factor = max/original replaced by rope_scaling.factor when given.
    expect(parseLlamaConfig({ ...lr, rope_scaling: { ...lr.rope_scaling, type: 'su' } }).ropeScaling).toEqual(hub.ropeScaling);
    expect(parseLlamaConfig({ ...lr, rope_scaling: { ...lr.rope_scaling, attention_factor: 1.25 } }).ropeScaling).toMatchObject({ attentionFactor: 1.25 });
    expect(parseLlamaConfig({ ...lr, rope_scaling: { ...lr.rope_scaling, factor: 1 } }).ropeScaling).toMatchObject({ attentionFactor: 1 });
    // original_max_position_embeddings only inside the scaling dict (transformers 5), or absent (= max_position_embeddings: factor 1).
    const { original_max_position_embeddings: _omit, ...noTop } = lr;
    void _omit;
    expect(parseLlamaConfig({ ...noTop, rope_scaling: { ...lr.rope_scaling, original_max_position_embeddings: 4096 } }).ropeScaling).toEqual(hub.ropeScaling);
    expect(parseLlamaConfig(noTop).ropeScaling).toMatchObject({ originalMaxPositionEmbeddings: 131072, attentionFactor: 1 });
    // transformers 5's dialect: everything inside rope_parameters.
    const { rope_scaling: _rs, rope_theta: _rt, partial_rotary_factor: _prf, ...bare } = lr;
    void _rs; void _rt; void _prf;
    const t5 = parseLlamaConfig({ ...bare, rope_parameters: { rope_type: 'longrope', rope_theta: 10000, partial_rotary_factor: 0.75, short_factor: short, long_factor: long, original_max_position_embeddings: 4096 } });
    expect(t5).toEqual(hub);
  });

  it('Phi-3.5-mini published config (scripts/configs): longrope with 48 factors, MHA, window 262144', () => {
    const pub = JSON.parse(readFileSync('scripts/configs/phi-3.5-mini.json', 'utf8')).config;
    const cfg = parseLlamaConfig(pub);
    expect(cfg).toMatchObject({ architecture: 'Phi3ForCausalLM', headDim: 96, numKvHeads: 32, ropeTheta: 10000, maxPositionEmbeddings: 131072, family: { fusedProjections: true, rotaryDim: 96, slidingWindow: new Array(32).fill(262144) } });
    expect(cfg.ropeScaling).toMatchObject({ type: 'longrope', originalMaxPositionEmbeddings: 4096, attentionFactor: Math.sqrt(1 + Math.log(32) / Math.log(4096)) });
    expect((cfg.ropeScaling as { shortFactor: number[] }).shortFactor).toHaveLength(48);
  });

  it('Phi-3 fixtures: the options the forward reads; inverse frequencies equal HF\'s', () => {
    const fam = (n: string) => parseLlamaConfig(JSON.parse(readFileSync(`test/fixtures/models/${n}/config.json`, 'utf8')));
    expect(fam('tiny-phi3-f32')).toMatchObject({ headDim: 12, ropeScaling: null, family: { fusedProjections: true, rotaryDim: 6, partialRotaryFactor: 0.5, slidingWindow: [6, 6] } });
    const lr = fam('tiny-phi3-longrope-f32');
    expect(lr).toMatchObject({ headDim: 16, family: { rotaryDim: 12, slidingWindow: [262144, 262144] }, ropeScaling: { type: 'longrope', originalMaxPositionEmbeddings: 16, attentionFactor: Math.sqrt(1 + Math.log(4) / Math.log(16)) } });
    for (const n of ['tiny-phi3-f32', 'tiny-phi3-longrope-f32']) {
      const g = golden(n) as unknown as { rope_inv_freq: number[] };
      const inv = ropeInvFreq(fam(n));
      expect(inv.length).toBe(g.rope_inv_freq.length);
      inv.forEach((f, i) => expect(Math.fround(f)).toBeCloseTo(g.rope_inv_freq[i], 6));
    }
  });

  it('Gemma fixtures: the options the forward reads', () => {
    const fam = (n: string) => parseLlamaConfig(JSON.parse(readFileSync(`test/fixtures/models/${n}/config.json`, 'utf8')));
    const g2 = fam('tiny-gemma2-f32');
    expect(g2).toMatchObject({ architecture: 'Gemma2ForCausalLM', headDim: 16, tieWordEmbeddings: true, ropeScaling: null });
    expect(g2.family).toEqual({
      qkvBias: false, qkNorm: false, slidingWindow: [5, null], normWeightOffset: 1, activation: 'gelu_tanh', embeddingScale: Math.fround(Math.sqrt(48)),
      postNorms: true, attnSoftcap: 8, finalSoftcap: 15, queryScale: 24 ** -0.5, ropeThetaPerLayer: [10000, 10000], ropeScaledPerLayer: [true, true], partialRotaryFactor: 1, rotaryDim: 16, fusedProjections: false,
    });
    const g3 = fam('tiny-gemma3-f32');
    expect(g3).toMatchObject({ architecture: 'Gemma3ForCausalLM', ropeTheta: 1e6, ropeScaling: { type: 'linear', factor: 8 } });
    expect(g3.family).toMatchObject({ qkNorm: true, slidingWindow: [6, null], attnSoftcap: null, finalSoftcap: null, ropeThetaPerLayer: [10000, 1e6], ropeScaledPerLayer: [false, true] });
    // HF's inverse frequencies of the global layers (golden rope_inv_freq) = layer 1's; layer 0: 10000^(−2i/D) unscaled
    const inv = golden('tiny-gemma3-f32') as unknown as { rope_inv_freq: number[] };
    ropeInvFreqOfLayer(g3, 1).forEach((v, i) => expect(Math.abs(v - inv.rope_inv_freq[i])).toBeLessThanOrEqual(2e-7 * inv.rope_inv_freq[i])); // HF forms them in f32
    expect(Array.from(ropeInvFreqOfLayer(g3, 0))).toEqual(Array.from({ length: 8 }, (_, i) => 1 / 10000 ** ((2 * i) / 16)));
  });

  it('a Gemma3ForConditionalGeneration folder parses to its language model (text_config; the wrapper\'s token ids and dtype)', () => {
    const mm = parseLlamaConfig(JSON.parse(readFileSync('test/fixtures/models/tiny-gemma3-mm-f32/config.json', 'utf8')));
    const text = parseLlamaConfig(JSON.parse(readFileSync('test/fixtures/models/tiny-gemma3-f32/config.json', 'utf8')));
    expect({ ...mm, architecture: text.architecture }).toEqual(text);
    expect(mm.architecture).toBe('Gemma3ForConditionalGeneration');
  });

  it('published Gemma configs (gemma-2-2b-it, gemma-3-1b-it, gemma-3-4b-it with a sparse text_config)', () => {
    const cfg = (n: string) => parseLlamaConfig(JSON.parse(readFileSync(`test/fixtures/configs/${n}.json`, 'utf8')));
    const g2 = cfg('gemma-2-2b-it');
    expect(g2.family.slidingWindow).toEqual(Array.from({ length: 26 }, (_, i) => (i % 2 === 0 ? 4096 : null)));
    expect(g2.family).toMatchObject({ attnSoftcap: 50, finalSoftcap: 30, queryScale: 1 / 16, embeddingScale: 48, activation: 'gelu_tanh' });
    expect(g2.eosTokenIds).toEqual([1, 107]);
    const g1 = cfg('gemma-3-1b-it');
    expect(g1.family.slidingWindow).toEqual(Array.from({ length: 26 }, (_, i) => ((i + 1) % 6 === 0 ? null : 512)));
    expect(g1.family.ropeThetaPerLayer).toEqual(Array.from({ length: 26 }, (_, i) => ((i + 1) % 6 === 0 ? 1e6 : 10000)));
    expect(g1.family.embeddingScale).toBe(34); // √1152 = 33.94 in bfloat16
    expect(g1).toMatchObject({ ropeScaling: null, numKvHeads: 1, headDim: 256, vocabSize: 262144 });
    const g4 = cfg('gemma-3-4b-it');
    expect(g4).toMatchObject({
      architecture: 'Gemma3ForConditionalGeneration', vocabSize: 262208, hiddenSize: 2560, numLayers: 34, numHeads: 8, numKvHeads: 4, headDim: 256,
      ropeTheta: 1e6, ropeScaling: { type: 'linear', factor: 8 }, tieWordEmbeddings: true, eosTokenIds: [1, 106], declaredDtype: 'bfloat16',
    });
    expect(g4.family.slidingWindow.slice(0, 6)).toEqual([1024, 1024, 1024, 1024, 1024, null]);
    expect(g4.family.ropeScaledPerLayer.slice(0, 6)).toEqual([false, false, false, false, false, true]);
    expect(g4.family.queryScale).toBe(1 / 16);
  });

  it('Gemma: the embedding scale is √C in f32, then in the declared dtype', () => {
    expect(gemmaEmbedScale(1152, 'float32')).toBe(Math.fround(Math.sqrt(1152)));
    expect(gemmaEmbedScale(1152, 'bfloat16')).toBe(34);
    expect(gemmaEmbedScale(1152, 'float16')).toBe(33.9375);
    expect(gemmaEmbedScale(2304, null)).toBe(48);
  });

  it('Gemma: refuses what the forward does not implement, naming the field', () => {
    const base = JSON.parse(readFileSync('test/fixtures/configs/gemma-3-1b-it.json', 'utf8'));
    const err = (patch: Record<string, unknown>) => { try { parseLlamaConfig({ ...base, ...patch }); } catch (e) { return e; } return null; };
    expect(err({ hidden_activation: 'gelu' })).toMatchObject({ name: 'UnsupportedModelError', message: expect.stringContaining('hidden_activation') });
    expect(err({ use_bidirectional_attention: true })).toBeInstanceOf(UnsupportedModelError);
    expect(err({ rope_parameters: { full_attention: { rope_type: 'default', rope_theta: 1e6 }, sliding_attention: { rope_type: 'linear', factor: 2, rope_theta: 1e4 } } })).toMatchObject({ message: expect.stringContaining('rope_parameters.sliding_attention.rope_type') });
    expect(err({ rope_scaling: { rope_type: 'yarn', factor: 2 } })).toBeInstanceOf(UnsupportedModelError);
    expect(err({ text_config: 3, architectures: ['Gemma3ForConditionalGeneration'] })).toBeInstanceOf(ModelFormatError);
  });

  it('multimodal tensor prefixes map to the decoder names; the vision tower keeps names no target has', () => {
    expect(canonicalTensorName('language_model.model.layers.3.mlp.up_proj.weight')).toBe('model.layers.3.mlp.up_proj.weight');
    expect(canonicalTensorName('model.language_model.embed_tokens.weight')).toBe('model.embed_tokens.weight');
    expect(canonicalTensorName('language_model.lm_head.weight')).toBe('lm_head.weight');
    expect(canonicalTensorName('vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight')).toBe('vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight');
    expect(canonicalTensorName('model.vision_tower.encoder.layers.0.mlp.fc1.weight')).toBe('model.vision_tower.encoder.layers.0.mlp.fc1.weight');
  });

  it('rejects non-objects', () => {
    expect(() => parseLlamaConfig(null)).toThrow(ModelFormatError);
    expect(() => parseLlamaConfig([1])).toThrow(ModelFormatError);
  });

  it('llama3 rope scaling matches HF inv_freq of the bf16 fixture', () => {
    const cfg = parseLlamaConfig(JSON.parse(readFileSync('test/fixtures/models/tiny-llama3-bf16-sharded/config.json', 'utf8')));
    const g = golden('tiny-llama3-bf16-sharded') as unknown as { rope_inv_freq: number[] };
    const inv = ropeInvFreq(cfg);
    inv.forEach((f, i) => expect(Math.fround(f)).toBeCloseTo(g.rope_inv_freq[i], 6));
  });
});
