// Seeded sampling on the real GPU path (Dawn in Node), issue 13 items 2-3: every decode mode and tree
// gives AR sampling's exact tokens (property over seeds and settings, on the fixtures and the shipped
// model); temperature 0 is greedy, bitwise; two seeds differ; the seed used is reported.
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createNodeEngine } from '../../src/engine/node.js';
import type { Engine, GenerateOptions } from '../../src/engine/engine.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { FIXTURES, fixturePath, golden } from '../helpers/fixtures.js';
import { disabledFeatures } from '../helpers/gpu.js';

const engines: Engine[] = [];
afterAll(async () => { for (const e of engines) await e.dispose(); });

const PROMPTS = ['x', 'aaaa bbbb aaaa bbbb aaaa', 'for i in range(10):\n    for j in range('];
const samplingArb = fc.record({
  temperature: fc.constantFrom(0.3, 0.8, 1, 1.5),
  topK: fc.constantFrom(0, 5, 40),
  topP: fc.constantFrom(1, 0.95, 0.7),
  minP: fc.constantFrom(0, 0.05),
  seed: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
});

/** Every non-AR decode mode and tree, compared with AR under the same sampling options. */
async function expectAllModesEqualAr(e: Engine, prompt: string, s: GenerateOptions, maxNewTokens: number): Promise<{ newTokens: number; steps: number }> {
  const ar = await e.complete(prompt, { ...s, decode: 'ar', maxNewTokens });
  expect(ar.steps).toBe(ar.newTokens);
  expect(ar.seed).toBe(s.seed);
  const runs: GenerateOptions[] = [{ decode: 'jacobi' }, { decode: 'retrieval' }, { decode: 'tr-jacobi', tree: 'fixed' }, { decode: 'tr-jacobi', tree: 'adaptive' }];
  let tr = { newTokens: 0, steps: 0 };
  for (const m of runs) {
    const r = await e.complete(prompt, { ...s, ...m, maxNewTokens, draftSeed: (s.seed ?? 0) % 1000 });
    expect(r.tokenIds, `${m.decode} ${m.tree ?? ''} ${JSON.stringify(s)} on ${JSON.stringify(prompt)}`).toEqual(ar.tokenIds);
    expect(r.text).toBe(ar.text);
    if (m.tree === 'fixed') tr = r;
  }
  return tr;
}

describe.each(FIXTURES)('%s: sampled decoding on the GPU', (name) => {
  it('every mode and tree = AR sampling (property over seeds, temperature, top-k, top-p, min-p)', { timeout: 300_000 }, async () => {
    const e = await createNodeEngine({ model: fixturePath(name), contextLength: 160, inline: true, disableFeatures: disabledFeatures(), kernelConfig: 'cpu' });
    engines.push(e);
    await fc.assert(fc.asyncProperty(fc.constantFrom(...PROMPTS, golden(name).prompt_text), samplingArb, async (prompt, s) => {
      await expectAllModesEqualAr(e, prompt, s, 20);
    }), { numRuns: 4 });
  });

  it('temperature 0 is greedy, bitwise (the golden tokens), whatever the other sampling options; seed null', { timeout: 120_000 }, async () => {
    const e = await createNodeEngine({ model: fixturePath(name), contextLength: 160, inline: true, disableFeatures: disabledFeatures(), kernelConfig: 'cpu' });
    engines.push(e);
    const g = golden(name);
    const n = g.greedy_ids.length;
    for (const opts of [{}, { temperature: 0 }, { temperature: 0, seed: 5, topP: 0.5, topK: 3, minP: 0.2 }] as GenerateOptions[]) {
      for (const decode of ['ar', 'tr-jacobi'] as const) {
        const r = await e.complete(g.prompt_text, { ...opts, decode, tree: 'fixed', maxNewTokens: n });
        expect(r.tokenIds.slice(0, n), `${decode} ${JSON.stringify(opts)}`).toEqual(g.greedy_ids.slice(0, r.tokenIds.length));
        expect(r.seed).toBeNull();
      }
    }
  });
});

describe('seeds', () => {
  it('two seeds give different outputs on a non-peaked prompt; a random seed is reported and replays', { timeout: 120_000 }, async () => {
    const e = await createNodeEngine({ model: fixturePath('tiny-gqa-f32'), contextLength: 160, inline: true, disableFeatures: disabledFeatures(), kernelConfig: 'cpu' });
    engines.push(e);
    const a = await e.complete('x = ', { temperature: 1, seed: 1, maxNewTokens: 16, decode: 'tr-jacobi', tree: 'fixed' });
    const b = await e.complete('x = ', { temperature: 1, seed: 2, maxNewTokens: 16, decode: 'tr-jacobi', tree: 'fixed' });
    expect(a.tokenIds).not.toEqual(b.tokenIds);
    const greedy = await e.complete('x = ', { maxNewTokens: 16 });
    expect(a.tokenIds).not.toEqual(greedy.tokenIds);
    const r = await e.complete('x = ', { temperature: 1, maxNewTokens: 16 });
    expect(Number.isSafeInteger(r.seed)).toBe(true);
    expect((await e.complete('x = ', { temperature: 1, seed: r.seed!, maxNewTokens: 16, decode: 'ar' })).tokenIds).toEqual(r.tokenIds);
    await expect(e.complete('x = ', { temperature: -0.5 })).rejects.toThrow(InvalidArgumentError);
    await expect(e.complete('x = ', { temperature: 1, topP: 2 })).rejects.toThrow('topP');
  });
});

describe('default model (public/models/msn-code-tiny): sampled decoding', () => {
  it('every mode and tree = AR sampling over held-out prompts and seeds; the tree still accepts drafts', { timeout: 400_000 }, async () => {
    const e = await createNodeEngine({ model: 'public/models/msn-code-tiny', contextLength: 512, kernelConfig: 'cpu' });
    engines.push(e);
    const { readFileSync } = await import('node:fs');
    const prompts = readFileSync('train/data/test_prompts.jsonl', 'utf8').trim().split('\n').slice(0, 2).map((l) => JSON.parse(l).prompt as string);
    let newTokens = 0;
    let steps = 0;
    for (const prompt of prompts) {
      for (const s of [{ temperature: 0.8, topP: 0.95, seed: 7 }, { temperature: 1, topK: 40, minP: 0.05, seed: 2 ** 40 + 3 }]) {
        const tr = await expectAllModesEqualAr(e, prompt, s, 16);
        newTokens += tr.newTokens;
        steps += tr.steps;
      }
    }
    expect(steps).toBeLessThan(newTokens);
  });
});
