// Real shapes on the GPU (issue 17 item 5), opt-in (`npm run test:heavy`: each shape is made and its golden
// computed by transformers on the CPU, minutes per shape on 2 cores, so CI leaves them out): the model
// maker's family shapes at 2 layers load on lavapipe with the memory plan's bytes and decode
// transformers' greedy tokens, AR and tr-jacobi.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Golden, MODEL_CACHE, MAKE_MODEL, PYTHON, ROOT } from '../helpers/make-model.js';
import { denseFormat, parameterCount, planMemory } from '../../src/model/memory-plan.js';
import { TREE_ROOM } from '../../src/worker/api.js';
import { createNodeEngine } from '../../src/engine/node.js';
import type { Engine } from '../../src/engine/engine.js';

const CACHE = MODEL_CACHE;

// Qwen2.5-0.5B (q/k/v biases, 14:2 GQA) and Qwen3-0.6B (q/k norms, head_dim 128 ≠ hidden / heads) at
// their real widths and vocabulary (151936 rows, tied), and Phi-3.5-mini (fused qkv_proj and
// gate_up_proj, longrope; 32064 rows, untied), 2 layers: load, memory plan, a few tokens.
describe.each([
  ['qwen2', 'qwen2.5-0.5b', 'Qwen2ForCausalLM', 151936, true],
  ['qwen3', 'qwen3-0.6b', 'Qwen3ForCausalLM', 151936, true],
  ['phi3', 'phi-3.5-mini', 'Phi3ForCausalLM', 32064, false],
] as const)('--family %s (%s), 2 layers, on the GPU (Dawn/lavapipe)', (family, name, arch, vocabSize, tied) => {
  const folder = join(CACHE, `${name}-2l`);
  const goldenPath = join(folder, 'golden.json');
  let golden: Golden;
  let engine: Engine;

  beforeAll(async () => {
    if (!existsSync(goldenPath)) {
      execFileSync(PYTHON, [MAKE_MODEL, '--family', family, '--layers', '2', '--out', folder, '--golden', goldenPath], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'], timeout: 900_000 });
    }
    golden = JSON.parse(readFileSync(goldenPath, 'utf8')) as Golden;
    engine = await createNodeEngine({ model: folder, contextLength: 48, inline: true, kvDtype: 'f32' }); // f32 KV, as the golden
  }, 1_200_000);
  afterAll(async () => { await engine?.dispose(); });

  it('loads the real shape with the memory plan\'s bytes', () => {
    expect(golden).toMatchObject({ shape: name, layers: 2 });
    const cfg = engine.info.config;
    expect(cfg).toMatchObject({ architecture: arch, vocabSize, numLayers: 2, tieWordEmbeddings: tied });
    expect(engine.info.weightFormats).toEqual(['bf16']);
    const plan = planMemory({ config: cfg, format: denseFormat('BF16'), kvDtype: 'f32', contextLength: 48, treeRoom: TREE_ROOM,
      limits: { maxBindingBytes: engine.info.deviceLimits.maxStorageBufferBindingSize, maxBufferBytes: engine.info.deviceLimits.maxBufferSize } });
    expect(engine.info.memory).toMatchObject({ weightsBytes: plan.weightsBytes, kvBytes: plan.kvBytes, scratchBytes: plan.scratchBytes });
    expect(plan.weightsBytes).toBeGreaterThanOrEqual(2 * parameterCount(cfg));
  });

  it('greedy AR gives transformers\' tokens, and tr-jacobi with the fixed tree gives AR\'s', async () => {
    for (const p of golden.prompts) {
      expect(engine.tokenizer.encode(p.text)).toEqual(p.ids);
      const ar = await engine.complete(p.text, { decode: 'ar', maxNewTokens: p.greedy_ids.length });
      expect(ar.tokenIds, JSON.stringify(p.text)).toEqual(p.greedy_ids);
    }
    const p = golden.prompts[0];
    const tr = await engine.complete(p.text, { decode: 'tr-jacobi', tree: 'fixed', maxNewTokens: 6 });
    expect(tr.tokenIds).toEqual(p.greedy_ids.slice(0, 6));
  }, 600_000);
});
