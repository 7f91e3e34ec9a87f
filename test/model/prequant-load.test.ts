// Pre-quantized checkpoints through the engine (issue 12, "Done when" bullet 3): every folder written by
// train/prequant_ref.py (compressed-tensors pack-quantized and GPTQ, following each format's published
// layout) is loaded with the Executor, and its prompt logits at every position and 8 greedy steps match
// transformers' LlamaForCausalLM running the PyTorch dequantized linears (`--golden`); the self-check
// passes and catches a corrupted code on a desc_act folder; a tree forward equals the rows fed one by one,
// bit for bit, on a desc_act folder (the g_idx kernel keeps the lossless property); a folder whose fused
// q/k/v parts have different g_idx is refused with UnsupportedQuantizationError.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SelfCheckError, UnsupportedQuantizationError } from '../../src/errors.js';
import { createNodeGpu } from '../../src/gpu/node.js';
import type { LoadOptions } from '../../src/worker/api.js';
import { Executor } from '../../src/worker/executor.js';
import { disabledFeatures, expectClose } from '../helpers/gpu.js';

const root = join(import.meta.dirname, '..', '..');

interface PrequantGolden {
  prompt_ids: number[];
  prompt_logits: number[][];
  greedy_ids: number[];
  greedy_logits: number[][];
  min_margin: number;
}

// variant → [weight format on the GPU, kernel configurations to run]
const VARIANTS: Record<string, [string, Array<'cpu' | 'gpu'>]> = {
  'ct-w4g32-sym': ['q4g32', ['cpu', 'gpu']],
  'ct-w4g64-asym': ['q4g64', ['cpu']],
  'ct-w8-channel-asym': ['q8g128', ['cpu']],
  'gptq-w4g32-sym': ['q4g32', ['cpu']],
  'gptq-w4g32-asym': ['q4g32', ['cpu']],
  'gptq-w4g32-sym-desc': ['q4g32', ['cpu']],
  'gptq-w4g32-asym-desc': ['q4g32', ['cpu', 'gpu']],
  'gptq-w4g64-asym-desc-v2': ['q4g64', ['cpu']],
  'gptq-w8g128-sym': ['q8g128', ['cpu']],
  'gptq-w4-channel-asym': ['q4g128', ['cpu']],
  // Phi-3: fused qkv_proj / gate_up_proj quantized whole (one g_idx per fused tensor), partial rotary, a window.
  'ct-w4g32-sym-phi3': ['q4g32', ['cpu']],
  'gptq-w4g32-asym-desc-phi3': ['q4g32', ['cpu', 'gpu']],
};

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'msn-prequant-load-'));
  execFileSync(join(root, '.venv', 'bin', 'python'), [join(root, 'train', 'prequant_ref.py'), '--out', dir, '--golden'], { stdio: ['ignore', 'ignore', 'inherit'] });
}, 180_000);

const executors: Executor[] = [];
afterAll(async () => {
  for (const e of executors) await e.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function load(folder: string, options: LoadOptions = {}) {
  const ex = new Executor(() => createNodeGpu());
  executors.push(ex);
  const info = await ex.load(folder, { contextLength: 64, disableFeatures: disabledFeatures(), ...options });
  return { ex, info };
}

const golden = (name: string) => JSON.parse(readFileSync(join(dir, name, 'golden.json'), 'utf8')) as PrequantGolden;

function rowClose(got: Float32Array, ref: number[], what: string) {
  const scale = Math.max(...ref.map(Math.abs));
  expectClose(got, ref, 1e-4 * scale, 1e-4, what);
}

describe.each(Object.entries(VARIANTS).flatMap(([name, [fmt, configs]]) => configs.map((k) => [name, k, fmt] as const)))('%s (kernel config %s)', (name, kernelConfig, fmt) => {
  it(`prompt logits at every position and 8 greedy steps match PyTorch on the dequantized weights; self-check passes; weightFormats has ${fmt}`, async () => {
    const g = golden(name);
    // every greedy step is decided by more than the tolerance (so equal tokens are a real check)
    expect(g.min_margin).toBeGreaterThan(1e-4 * 4);
    const { ex, info } = await load(join(dir, name), { kernelConfig });
    expect(info.kernelConfig.preset).toBe(kernelConfig);
    expect(info.selfCheck!.ok).toBe(true);
    expect(info.selfCheck!.maxAbsErr).toBeLessThanOrEqual(info.selfCheck!.tolerance);
    // quantized linears in the group format; the f16 embedding, lm_head and norms stay dense
    expect(info.weightFormats).toEqual([fmt, 'f16'].sort());
    const V = info.config.vocabSize;
    const T = g.prompt_ids.length;
    const r = await ex.forward({ tokens: g.prompt_ids, positions: g.prompt_ids.map((_, i) => i), mask: 'causal', topK: 1, commit: true, returnLogits: true });
    for (let t = 0; t < T; t++) rowClose(r.logits!.subarray(t * V, (t + 1) * V), g.prompt_logits[t], `${name} prompt row ${t}`);
    // greedy: row 0 is the prompt's last row; then one AR step per token
    const out = [r.ids[T - 1]];
    rowClose(r.logits!.subarray((T - 1) * V, T * V), g.greedy_logits[0], `${name} greedy step 0`);
    for (let step = 1; step < g.greedy_ids.length; step++) {
      const s = await ex.forward({ tokens: [out[step - 1]], positions: [T - 1 + step], mask: 'causal', topK: 1, commit: true, returnLogits: true });
      rowClose(s.logits!.subarray(0, V), g.greedy_logits[step], `${name} greedy step ${step}`);
      out.push(s.ids[0]);
    }
    expect(out).toEqual(g.greedy_ids);
    await ex.dispose();
  }, 120_000);
});

describe('desc_act (g_idx) folders at engine level', () => {
  const name = 'gptq-w4g32-asym-desc';

  it('a corrupted code on the GPU fails the self-check', async () => {
    const err = await load(join(dir, name), { kernelConfig: 'cpu', faults: { corruptWeight: true } }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(SelfCheckError);
    const e = err as SelfCheckError;
    expect(e.detail.layer).toBe(0);
    expect(e.detail.maxAbsErr as number).toBeGreaterThan(e.detail.tolerance as number);
  }, 120_000);

  it('a 5-node tree forward gives bitwise the logits of its rows fed one by one (AR)', async () => {
    const g = golden(name);
    const { ex, info } = await load(join(dir, name), { kernelConfig: 'cpu' });
    const V = info.config.vocabSize;
    const prompt = g.prompt_ids;
    const P = prompt.length;
    // root 0; children 1, 2 of the root; 3 child of 1; 4 child of 2 (not causal: 2 does not see 1, 4 not 3)
    const parent = [-1, 0, 0, 1, 2];
    const tokens = [5, 77, 140, 203, 9];
    const path = (i: number): number[] => (i < 0 ? [] : [...path(parent[i]), i]);
    const mask = new Float32Array(25).fill(-Infinity);
    for (let i = 0; i < 5; i++) for (const j of path(i)) mask[i * 5 + j] = 0;
    const positions = tokens.map((_, i) => P + path(i).length - 1);
    expect(positions).toEqual([P, P + 1, P + 1, P + 2, P + 2]);
    await ex.forward({ tokens: prompt, positions: prompt.map((_, i) => i), mask: 'causal', topK: 0, commit: true });
    const tree = await ex.forward({ tokens, positions, mask, topK: 4, commit: false, returnLogits: true });
    for (let i = 0; i < 5; i++) {
      await ex.reset();
      await ex.forward({ tokens: prompt, positions: prompt.map((_, j) => j), mask: 'causal', topK: 0, commit: true });
      let last: Float32Array | undefined;
      for (const j of path(i)) {
        const s = await ex.forward({ tokens: [tokens[j]], positions: [positions[j]], mask: 'causal', topK: 4, commit: true, returnLogits: true });
        last = s.logits!;
      }
      const row = tree.logits!.subarray(i * V, (i + 1) * V);
      expect(Array.from(new Uint32Array(row.slice().buffer)), `tree row ${i}`).toEqual(Array.from(new Uint32Array(last!.slice().buffer)));
    }
    await ex.dispose();
  }, 180_000);

  it('a folder whose fused q/k/v parts have different g_idx is refused with UnsupportedQuantizationError', async () => {
    // layer 0's k_proj gets o_proj's g_idx (same shape [64], another activation order): not one input's order.
    const bad = join(dir, 'bad-gidx');
    cpSync(join(dir, name), bad, { recursive: true });
    const file = join(bad, 'model.safetensors');
    const bytes = readFileSync(file);
    const hlen = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + hlen).toString('utf8')) as Record<string, { data_offsets: [number, number] }>;
    const at = (t: string) => header[t].data_offsets.map((o) => 8 + hlen + o);
    const [k0, k1] = at('model.layers.0.self_attn.k_proj.g_idx');
    const [o0, o1] = at('model.layers.0.self_attn.o_proj.g_idx');
    expect(Buffer.compare(bytes.subarray(k0, k1), bytes.subarray(o0, o1))).not.toBe(0);
    bytes.copy(bytes, k0, o0, o1);
    writeFileSync(file, bytes);
    const err = await load(bad, { kernelConfig: 'cpu' }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedQuantizationError);
    // names both parts (k_proj streams first, then q_proj differs from it) and the fused matrix
    expect((err as Error).message).toMatch(/model\.layers\.0\.self_attn\.q_proj\.weight: a g_idx \(activation order\) that differs from model\.layers\.0\.self_attn\.k_proj\.weight's, another part of the fused qkv0 matrix/);
  }, 120_000);
});
