// config.json validation: every rejection names the field; the Llama-family variants parse.
import { describe, expect, it } from 'vitest';
import { parseLlamaConfig, parseEosIds } from '../../src/model/config.js';
import { ModelFormatError, UnsupportedModelError } from '../../src/errors.js';
import { ropeInvFreq } from '../../src/model/rope.js';
import { golden } from '../helpers/fixtures.js';
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
    ['sliding window', { ...base, architectures: ['MistralForCausalLM'], sliding_window: 128 }, UnsupportedModelError, /sliding_window/],
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
