// Lossless property of every decode mode against a fake deterministic model (no GPU).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decode, type DecodeMode, type DecodeStats } from '../../src/decode/scheduler.js';
import { createRng } from '../../src/decode/rng.js';
import type { SamplingParams } from '../../src/decode/sampling.js';
import { FakeModel } from '../helpers/fake-model.js';

async function run(model: FakeModel, prompt: number[], mode: DecodeMode, maxNewTokens: number, eos: Set<number>, contextLength = 4096, maxRows = 128, seed = 1, sampling?: SamplingParams) {
  model.kv = [];
  model.pending = null;
  const out: number[] = [];
  const gen = decode(model, prompt, { mode, maxNewTokens, eosTokenIds: eos, maxRows, contextLength, rng: createRng(seed), vocabSize: model.spec.vocab, sampling });
  let r = await gen.next();
  while (!r.done) { out.push(...r.value); r = await gen.next(); }
  return { out, stats: r.value as DecodeStats };
}

const MODES: DecodeMode[] = ['ar', 'jacobi', 'retrieval', 'tr-jacobi'];

/** The fields of a random fake-model case shared by the greedy and sampled property tests (besides the vocabulary). */
const MODEL_CASE = {
  seed: fc.integer({ min: 0, max: 1e6 }),
  predictability: fc.double({ min: 0, max: 1, noNaN: true }),
  prompt: fc.array(fc.nat(), { minLength: 1, maxLength: 30 }),
  maxNewTokens: fc.integer({ min: 1, max: 40 }),
  eosCount: fc.integer({ min: 0, max: 2 }),
  maxRows: fc.constantFrom(128, 69, 7, 2),
  rngSeed: fc.nat(),
};

describe('scheduler: every mode equals greedy AR (fake model)', () => {
  it('random models, prompts, limits, EOS sets (property)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.record({
        vocab: fc.integer({ min: 2, max: 60 }),
        ...MODEL_CASE,
      }),
      async (c) => {
        const model = new FakeModel({ vocab: c.vocab, seed: c.seed, predictability: c.predictability });
        const prompt = c.prompt.map((x) => x % c.vocab);
        const eos = new Set(Array.from({ length: c.eosCount }, (_, i) => (c.seed + 7 * i) % c.vocab));
        const ref = model.greedy(prompt, c.maxNewTokens, eos);
        for (const mode of MODES) {
          const { out, stats } = await run(model, prompt, mode, c.maxNewTokens, eos, 4096, c.maxRows, c.rngSeed);
          expect(out, mode).toEqual(ref);
          expect(stats.newTokens).toBe(ref.length);
          expect(stats.acceptedHistogram.reduce((a, b) => a + b, 0)).toBe(stats.steps);
          expect(stats.acceptedHistogram.reduce((a, n, i) => a + n * i, 0)).toBe(stats.newTokens);
          expect(stats.stopReason).toBe(eos.has(ref[ref.length - 1]) ? 'eos' : 'length');
          if (mode === 'ar') expect(stats.steps).toBe(ref.length);
          expect(model.forwards).toBeGreaterThanOrEqual(stats.steps);
        }
      },
    ), { numRuns: 1000 });
  });

  it('sampling: every mode gives AR sampling\'s exact tokens (property over models, seeds, settings)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.record({
        vocab: fc.integer({ min: 2, max: 90 }),
        ...MODEL_CASE,
        sampling: fc.record({
          temperature: fc.double({ min: 0.05, max: 3, noNaN: true }),
          topK: fc.constantFrom(0, 1, 5, 40),
          topP: fc.constantFrom(1, 0.95, 0.5),
          minP: fc.constantFrom(0, 0.05, 0.3),
          seed: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        }),
      }),
      async (c) => {
        const model = new FakeModel({ vocab: c.vocab, seed: c.seed, predictability: c.predictability });
        const prompt = c.prompt.map((x) => x % c.vocab);
        const eos = new Set(Array.from({ length: c.eosCount }, (_, i) => (c.seed + 7 * i) % c.vocab));
        const ref = model.sampled(prompt, c.maxNewTokens, c.sampling, eos);
        for (const mode of MODES) {
          const { out, stats } = await run(model, prompt, mode, c.maxNewTokens, eos, 4096, c.maxRows, c.rngSeed, c.sampling);
          expect(out, mode).toEqual(ref);
          expect(stats.stopReason).toBe(eos.has(ref[ref.length - 1]) ? 'eos' : 'length');
        }
      },
    ), { numRuns: 300 });
  });

  it('sampling: two seeds differ, and drafts are still accepted (MAT > 1 on a predictable model)', async () => {
    const model = new FakeModel({ vocab: 50, seed: 4, predictability: 0.9 });
    const prompt = [1, 2, 3, 4, 5];
    const p = { temperature: 1, topK: 0, topP: 1, minP: 0 };
    const a = await run(model, prompt, 'tr-jacobi', 60, new Set(), 4096, 128, 1, { ...p, seed: 1 });
    const b = await run(model, prompt, 'tr-jacobi', 60, new Set(), 4096, 128, 1, { ...p, seed: 2 });
    expect(a.out).not.toEqual(b.out);
    expect(a.out).toEqual(model.sampled(prompt, 60, { ...p, seed: 1 }));
    // Cold temperature: the draw is nearly always the argmax, so the look-ahead drafts get accepted.
    const cold = await run(model, prompt, 'tr-jacobi', 60, new Set(), 4096, 128, 1, { ...p, temperature: 0.05, seed: 3 });
    expect(cold.stats.newTokens / cold.stats.steps).toBeGreaterThan(1.5);
  });

  it('EOS inside an accepted run and maxNewTokens mid-run stop exactly', async () => {
    // A looping model: retrieval accepts long runs, so stops fall inside accepted runs.
    const model = new FakeModel({ vocab: 12, seed: 3, predictability: 1 });
    const prompt = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 1, 2, 3];
    const ref = model.greedy(prompt, 200);
    let insideRun = 0;
    for (let n = 1; n <= 30; n++) {
      const { out, stats } = await run(model, prompt, 'tr-jacobi', n, new Set());
      expect(out).toEqual(ref.slice(0, n));
      if (stats.steps < n) insideRun++;
    }
    expect(insideRun).toBeGreaterThan(20);
    for (const eosTok of new Set(ref.slice(3, 20))) {
      const eos = new Set([eosTok]);
      const r = model.greedy(prompt, 60, eos);
      const { out, stats } = await run(model, prompt, 'tr-jacobi', 60, eos);
      expect(out).toEqual(r);
      expect(stats.stopReason).toBe('eos');
    }
  });

  it('a context that fills up: the tree shrinks to what fits, output unchanged', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 1, max: 30 }), async (seed, n) => {
      const model = new FakeModel({ vocab: 20, seed, predictability: 0.8 });
      const prompt = [1, 2, 3, 1, 2, 3, 4];
      const ctxLen = prompt.length + n; // exactly full at the end
      const ref = model.greedy(prompt, n);
      for (const mode of MODES) {
        const { out } = await run(model, prompt, mode, n, new Set(), ctxLen);
        expect(out).toEqual(ref);
        expect(model.kv.length).toBeLessThanOrEqual(ctxLen);
      }
    }), { numRuns: 150 });
  });

  it('predictable models accept several tokens per step (MAT > 1) in tree modes', async () => {
    const model = new FakeModel({ vocab: 50, seed: 11, predictability: 0.95 });
    const prompt = Array.from({ length: 20 }, (_, i) => (i * 7) % 50);
    const ar = await run(model, prompt, 'ar', 64, new Set());
    const tr = await run(model, prompt, 'tr-jacobi', 64, new Set());
    const rt = await run(model, prompt, 'retrieval', 64, new Set());
    expect(tr.out).toEqual(ar.out);
    expect(tr.stats.steps).toBeLessThan(ar.stats.steps / 2);
    expect(rt.stats.steps).toBeLessThan(ar.stats.steps);
    expect(tr.stats.retrievalWins).toBeGreaterThan(0);
    expect(tr.stats.meanTreeSize).toBeGreaterThan(30);
  });

  it('rejects bad options before any forward', async () => {
    const model = new FakeModel({ vocab: 10, seed: 1, predictability: 0.5 });
    await expect(run(model, [], 'ar', 4, new Set())).rejects.toThrow(/no tokens/);
    await expect(run(model, [1, 2], 'tr-jacobi', 10, new Set(), 11)).rejects.toThrow(/exceeds the context/);
    await expect(run(model, [1], 'bogus' as DecodeMode, 4, new Set())).rejects.toThrow(/Unknown decode mode/);
    expect(model.forwards).toBe(0);
  });
});
