// The shipped default MSN model on the GPU (Dawn in Node): every decode mode reproduces `ar` token
// for token over held-out code prompts in the SFT format, and the tree accepts > 1 token per step.
// In both kernel configurations (issue 11 item 5): AR and the tree always in the same one; `gpu` is
// forced on this software adapter, under the WebGPU default device limits, on fewer prompts (it is
// slower here), still with every decode mode.
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createNodeEngine } from '../../src/engine/node.js';
import type { Engine } from '../../src/engine/engine.js';
import { KERNEL_CONFIGS, WEBGPU_DEFAULT_LIMITS } from '../helpers/gpu.js';

const allPrompts = readFileSync('train/data/test_prompts.jsonl', 'utf8').trim().split('\n').slice(0, 5).map((l) => JSON.parse(l).prompt as string);
const PROMPTS = { cpu: allPrompts, gpu: allPrompts.slice(0, 3) };
const engines: Engine[] = [];
afterAll(async () => { for (const e of engines) await e.dispose(); });

describe.each(KERNEL_CONFIGS)('default model (public/models/msn-code-tiny), kernel config %s', (kernelConfig) => {
  it('tr-jacobi (fixed and adaptive), jacobi and retrieval equal ar on held-out prompts', { timeout: 400_000 }, async () => {
    const engine = await createNodeEngine({ model: 'public/models/msn-code-tiny', contextLength: 512, kernelConfig });
    engines.push(engine);
    expect(engine.info.kernelConfig.preset).toBe(kernelConfig);
    expect(engine.info.deviceLimits).toEqual(WEBGPU_DEFAULT_LIMITS);
    let newTokens = 0;
    let steps = 0;
    for (const prompt of PROMPTS[kernelConfig]) {
      const ar = await engine.complete(prompt, { decode: 'ar', maxNewTokens: 16 });
      const tr = await engine.complete(prompt, { decode: 'tr-jacobi', tree: 'fixed', maxNewTokens: 16 });
      expect(tr.tokenIds).toEqual(ar.tokenIds);
      newTokens += tr.newTokens;
      steps += tr.steps;
      for (const decode of ['jacobi', 'retrieval'] as const) expect((await engine.complete(prompt, { decode, maxNewTokens: 16 })).tokenIds).toEqual(ar.tokenIds);
      expect((await engine.complete(prompt, { decode: 'tr-jacobi', tree: 'adaptive', maxNewTokens: 16 })).tokenIds).toEqual(ar.tokenIds);
    }
    // MSN + the tree: clearly more than one token per step on average.
    expect(newTokens / steps).toBeGreaterThan(1.3);
  });
});

// The shipped plain-SFT twin (public/models/msn-code-tiny-sft, the same architecture without MSN
// training): lossless too, in both configurations; kept small (one prompt, 8 tokens) for CI time.
describe.each(KERNEL_CONFIGS)('SFT twin (public/models/msn-code-tiny-sft), kernel config %s', (kernelConfig) => {
  it('tr-jacobi (fixed tree) equals ar on a held-out prompt', { timeout: 200_000 }, async () => {
    const engine = await createNodeEngine({ model: 'public/models/msn-code-tiny-sft', contextLength: 256, kernelConfig });
    engines.push(engine);
    expect(engine.info.kernelConfig.preset).toBe(kernelConfig);
    expect(engine.info.deviceLimits).toEqual(WEBGPU_DEFAULT_LIMITS);
    const prompt = allPrompts[0];
    const ar = await engine.complete(prompt, { decode: 'ar', maxNewTokens: 8 });
    expect(ar.newTokens).toBe(8);
    expect((await engine.complete(prompt, { decode: 'tr-jacobi', tree: 'fixed', maxNewTokens: 8 })).tokenIds).toEqual(ar.tokenIds);
  });
});
