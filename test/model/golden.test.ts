// The executor (in-process, Dawn in Node) against HF transformers goldens of the fixture models:
// logits of every prompt position and of 16 greedy steps, and the greedy tokens themselves. In both
// kernel configurations (issue 11 item 5), on the Llama fixtures and the other families' (issue 17): `cpu`, and `gpu` forced on this software adapter, each
// under the WebGPU default device limits.
import { describe, expect, it, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Executor } from '../../src/worker/executor.js';
import { createNodeGpu } from '../../src/gpu/node.js';
import { FAMILY_FIXTURES, FIXTURES, fixturePath, golden } from '../helpers/fixtures.js';
import { disabledFeatures, expectClose, KERNEL_CONFIGS, WEBGPU_DEFAULT_LIMITS } from '../helpers/gpu.js';

const executors: Executor[] = [];
afterAll(async () => { for (const e of executors) await e.dispose(); });

function rowClose(got: Float32Array, ref: number[], what: string) {
  const scale = Math.max(...ref.map(Math.abs));
  expectClose(got, ref, 1e-4 * scale, 1e-4, what);
}

async function loadFixture(name: string, kernelConfig: 'cpu' | 'gpu', split = false) {
  const ex = new Executor(() => createNodeGpu());
  executors.push(ex);
  const g = golden(name);
  const file = JSON.parse(readFileSync(join(fixturePath(name), 'config.json'), 'utf8'));
  const cfg = file.text_config ?? file; // a Gemma3ForConditionalGeneration folder: the language model's config
  const D = cfg.head_dim ?? cfg.hidden_size / cfg.num_attention_heads;
  // Split: one KV layer per binding, so weights larger than that are split and prefill runs in chunks of 5.
  const opts = split ? { maxBindingBytes: (64 + 69) * cfg.num_key_value_heads * D * 4, maxRows: 5 } : {};
  const info = await ex.load(fixturePath(name), { contextLength: 64, disableFeatures: disabledFeatures(), kernelConfig, ...opts });
  expect(info.kernelConfig.preset).toBe(kernelConfig);
  expect(info.deviceLimits).toEqual(WEBGPU_DEFAULT_LIMITS);
  if (split) {
    expect(info.memory.kvBuffers).toBe(2 * cfg.num_hidden_layers);
    expect(info.memory.weightBuffers).toBeGreaterThan(7 * cfg.num_hidden_layers / 2 + 2);
    expect(info.maxRows).toBeLessThan(g.prompt_ids.length);
  }
  return { ex, info };
}

describe.each(KERNEL_CONFIGS.flatMap((k) => [...FIXTURES, ...FAMILY_FIXTURES].map((name) => [k, name] as const)))('kernel config %s: %s', (kernelConfig, name) => {
  const g = golden(name);

  it('prompt logits at every position match HF', async () => {
    const { ex, info } = await loadFixture(name, kernelConfig);
    expect(info.eosTokenIds).toEqual(g.eos_token_ids);
    const T = g.prompt_ids.length;
    const r = await ex.forward({ tokens: g.prompt_ids, positions: g.prompt_ids.map((_, i) => i), mask: 'causal', topK: 2, commit: true, returnLogits: true });
    const V = info.config.vocabSize;
    for (let t = 0; t < T; t++) rowClose(r.logits!.subarray(t * V, (t + 1) * V), g.prompt_logits[t], `${name} prompt row ${t}`);
    // argmax from the GPU top-k equals the golden argmax
    for (let t = 0; t < T; t++) {
      const row = g.prompt_logits[t];
      expect(r.ids[t * 2]).toBe(row.indexOf(Math.max(...row)));
    }
    await ex.dispose();
  });

  for (const [label, split] of [['', false], [' with weights and KV split under a lowered binding limit, chunked prefill', true]] as const) {
    it(`greedy decoding reproduces HF's 16 tokens and logits${label}`, async () => {
      const { ex, info } = await loadFixture(name, kernelConfig, split);
      const V = info.config.vocabSize;
      const prompt = g.prompt_ids;
      // prefill prompt[:-1] in chunks of maxRows, no logits
      for (let s = 0; s < prompt.length - 1; s += info.maxRows) {
        const chunk = prompt.slice(s, Math.min(prompt.length - 1, s + info.maxRows));
        await ex.forward({ tokens: chunk, positions: chunk.map((_, i) => s + i), mask: 'causal', topK: 0, commit: true });
      }
      let cur = prompt[prompt.length - 1];
      const out: number[] = [];
      for (let step = 0; step < g.greedy_ids.length; step++) {
        const pos = prompt.length - 1 + step;
        const r = await ex.forward({ tokens: [cur], positions: [pos], mask: 'causal', topK: 1, commit: true, returnLogits: true });
        rowClose(r.logits!.subarray(0, V), g.greedy_logits[step], `${name} greedy step ${step}`);
        cur = r.ids[0];
        out.push(cur);
      }
      expect(out).toEqual(g.greedy_ids);
      await ex.dispose();
    });
  }
});

describe.each(KERNEL_CONFIGS)('kernel config %s: longrope by absolute position', (kernelConfig) => {
  it('one forward over prompt + greedy tokens (crossing original_max_position_embeddings) gives the token-by-token golden rows', async () => {
    // transformers would rotate every row of this forward with the long factors (the sequence is
    // longer than 16); the runtime picks them per position, so each row equals the same token decoded alone.
    const name = 'tiny-phi3-longrope-f32';
    const g = golden(name);
    const { ex, info } = await loadFixture(name, kernelConfig);
    const ids = [...g.prompt_ids, ...g.greedy_ids.slice(0, -1)];
    expect(ids.length).toBeGreaterThan(16);
    const r = await ex.forward({ tokens: ids, positions: ids.map((_, i) => i), mask: 'causal', topK: 1, commit: true, returnLogits: true });
    const V = info.config.vocabSize;
    const T0 = g.prompt_ids.length;
    for (let t = 0; t < ids.length; t++) {
      const ref = t < T0 - 1 ? g.prompt_logits[t] : g.greedy_logits[t - T0 + 1];
      rowClose(r.logits!.subarray(t * V, (t + 1) * V), ref, `${name} row ${t}`);
    }
    expect(Array.from({ length: g.greedy_ids.length }, (_, i) => r.ids[T0 - 1 + i])).toEqual(g.greedy_ids);
    await ex.dispose();
  });
});
