// The shipped default MSN model on the GPU (Dawn in Node): every decode mode reproduces `ar` token
// for token over held-out code prompts in the SFT format, and the tree accepts > 1 token per step.
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createNodeEngine } from '../../src/engine/node.js';
import type { Engine } from '../../src/engine/engine.js';

const prompts = readFileSync('train/data/test_prompts.jsonl', 'utf8').trim().split('\n').slice(0, 5).map((l) => JSON.parse(l).prompt as string);
let engine: Engine | undefined;
afterAll(async () => { await engine?.dispose(); });

describe('default model (public/models/msn-code-tiny)', () => {
  it('tr-jacobi (fixed and adaptive), jacobi and retrieval equal ar on held-out prompts', { timeout: 400_000 }, async () => {
    engine = await createNodeEngine({ model: 'public/models/msn-code-tiny', contextLength: 512 });
    let newTokens = 0;
    let steps = 0;
    for (const prompt of prompts) {
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
