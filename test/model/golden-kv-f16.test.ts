// The f16 KV cache against its PyTorch twin (issue 12 item 4): transformers with K (after RoPE) and V
// rounded to float16 in the cache (test/fixtures/make_fixtures.py --kv-dtype f16 → golden.kv-f16.json).
// Prompt logits at every position and 16 greedy steps, in both kernel configurations. The f16 golden
// differs from the f32 one by more than the tolerance, so an f32 cache fails this test.
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Executor } from '../../src/worker/executor.js';
import { createNodeGpu } from '../../src/gpu/node.js';
import { fixturePath, golden } from '../helpers/fixtures.js';
import { disabledFeatures, expectClose, KERNEL_CONFIGS } from '../helpers/gpu.js';

interface KvGolden { prompt_ids: number[]; prompt_logits: number[][]; greedy_ids: number[]; greedy_logits: number[][] }
const KV_FIXTURES = ['tiny-gqa-f32', 'tiny-llama3-bf16-sharded'] as const;
const kvGolden = (name: string) => JSON.parse(readFileSync(join(fixturePath(name), 'golden.kv-f16.json'), 'utf8')) as KvGolden;
const RTOL = 1e-4; // of the row's largest |logit|, as test/model/golden.test.ts

const executors: Executor[] = [];
afterAll(async () => { for (const e of executors) await e.dispose(); });

const maxRowDiff = (a: number[][], b: number[][]) => Math.max(...a.map((r, t) => Math.max(...r.map((v, i) => Math.abs(v - b[t][i])) ) / Math.max(...b[t].map(Math.abs))));

describe.each(KERNEL_CONFIGS.flatMap((k) => KV_FIXTURES.map((n) => [k, n] as const)))('kernel config %s: %s with an f16 KV cache', (kernelConfig, name) => {
  const g = kvGolden(name);

  it('the f16 golden is distinguishable from the f32 one at this tolerance', () => {
    expect(g.prompt_ids).toEqual(golden(name).prompt_ids);
    expect(maxRowDiff(g.prompt_logits, golden(name).prompt_logits)).toBeGreaterThan(2 * RTOL);
  });

  it('prompt logits and 16 greedy steps match PyTorch with K and V rounded to f16', async () => {
    const ex = new Executor(() => createNodeGpu());
    executors.push(ex);
    const info = await ex.load(fixturePath(name), { contextLength: 64, kvDtype: 'f16', disableFeatures: disabledFeatures(), kernelConfig });
    expect(info.kvDtype).toBe('f16');
    const V = info.config.vocabSize;
    const close = (got: Float32Array, ref: number[], what: string) => expectClose(got, ref, RTOL * Math.max(...ref.map(Math.abs)), 1e-4, what);
    const T = g.prompt_ids.length;
    const r = await ex.forward({ tokens: g.prompt_ids, positions: g.prompt_ids.map((_, i) => i), mask: 'causal', topK: 1, commit: true, returnLogits: true });
    for (let t = 0; t < T; t++) close(r.logits!.subarray(t * V, (t + 1) * V), g.prompt_logits[t], `${name} prompt row ${t}`);
    await ex.reset();
    await ex.forward({ tokens: g.prompt_ids.slice(0, -1), positions: g.prompt_ids.slice(0, -1).map((_, i) => i), mask: 'causal', topK: 0, commit: true });
    let cur = g.prompt_ids[T - 1];
    const out: number[] = [];
    for (let step = 0; step < g.greedy_ids.length; step++) {
      const s = await ex.forward({ tokens: [cur], positions: [T - 1 + step], mask: 'causal', topK: 1, commit: true, returnLogits: true });
      close(s.logits!.subarray(0, V), g.greedy_logits[step], `${name} greedy step ${step}`);
      cur = s.ids[0];
      out.push(cur);
    }
    expect(out).toEqual(g.greedy_ids);
    await ex.dispose();
  });
});
