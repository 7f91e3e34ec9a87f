// Dense tensors travel from the weight stream to the GPU (and the load-time quantizer, and the
// self-check's capture) in row blocks (`LoadOptions.loadBlockBytes`, default 64 MiB): a load in tiny
// blocks gives bitwise the same logits as whole tensors, dense and quantized, with a passing self-check.
import { afterAll, describe, expect, it } from 'vitest';
import { Executor } from '../../src/worker/executor.js';
import { createNodeGpu } from '../../src/gpu/node.js';
import { fixturePath, golden } from '../helpers/fixtures.js';
import type { LoadOptions } from '../../src/worker/api.js';

const executors: Executor[] = [];
afterAll(async () => { for (const e of executors) await e.dispose(); });

async function logits(name: string, opts: LoadOptions): Promise<{ logits: Float32Array; selfCheck: number }> {
  const ex = new Executor(() => createNodeGpu());
  executors.push(ex);
  const g = golden(name);
  const info = await ex.load(fixturePath(name), { contextLength: 32, kernelConfig: 'cpu', ...opts });
  const r = await ex.forward({ tokens: g.prompt_ids, positions: g.prompt_ids.map((_, i) => i), mask: 'causal', topK: 1, commit: true, returnLogits: true });
  await ex.dispose();
  return { logits: r.logits!, selfCheck: info.selfCheck!.maxAbsErr };
}

describe('row-block loading', () => {
  for (const [name, opts] of [
    ['tiny-llama3-bf16-sharded', {}],
    ['tiny-gqa-f32', { quantize: 'q4' }],
    ['tiny-mha-tied-f16', { quantize: 'q8', quantizeGroupSize: 64 }],
    ['tiny-gqa-f32', { quantize: 'q4', quantizeEmbeddings: false }],
  ] as const) {
    it(`${name} ${JSON.stringify(opts)}: blocks of a few rows give the whole-tensor logits bit for bit`, async () => {
      const whole = await logits(name, opts);
      const blocks = await logits(name, { ...opts, loadBlockBytes: 700 });
      expect(Array.from(blocks.logits)).toEqual(Array.from(whole.logits));
      expect(blocks.selfCheck).toBe(whole.selfCheck);
    }, 240_000);
  }
});
