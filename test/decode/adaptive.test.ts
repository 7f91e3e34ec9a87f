// Adaptive tree policy: picks by expected tokens per second, closes under ancestors, stays lossless.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AdaptiveTreePolicy, costAt, type CostTable } from '../../src/decode/adaptive.js';
import { probeForwardCost } from '../../src/decode/probe.js';
import { decode } from '../../src/decode/scheduler.js';
import { DraftTree } from '../../src/decode/tree.js';
import { createRng } from '../../src/decode/rng.js';
import { FakeModel } from '../helpers/fake-model.js';

const linear: CostTable = { sizes: [1, 2, 4, 8, 16, 32, 48, 69], ms: [1, 2, 4, 8, 16, 32, 48, 69] };
const flat: CostTable = { sizes: [1, 69], ms: [10, 10.5] };

async function run(model: FakeModel, prompt: number[], n: number, policy: AdaptiveTreePolicy) {
  model.kv = [];
  model.pending = null;
  const out: number[] = [];
  const gen = decode(model, prompt, { mode: 'tr-jacobi', maxNewTokens: n, eosTokenIds: new Set(), maxRows: 128, contextLength: 4096, rng: createRng(3), policy, vocabSize: model.spec.vocab, now: () => 0 });
  let r = await gen.next();
  while (!r.done) { out.push(...r.value); r = await gen.next(); }
  return { out, stats: r.value };
}

describe('adaptive tree', () => {
  it('costAt interpolates and extrapolates', () => {
    expect(costAt(linear, 3)).toBe(3);
    expect(costAt(linear, 60)).toBeCloseTo(60);
    expect(costAt(flat, 35)).toBeCloseTo(10.25);
    expect(costAt(linear, 138)).toBeCloseTo(138);
  });

  it('flat costs keep big trees; steep costs shrink the tree or fall back to AR; output stays lossless', async () => {
    const model = new FakeModel({ vocab: 40, seed: 5, predictability: 0.9 });
    const prompt = Array.from({ length: 24 }, (_, i) => (i * 3) % 40);
    const ref = model.greedy(prompt, 80);
    const pf = new AdaptiveTreePolicy(flat);
    const a = await run(model, prompt, 80, pf);
    const ps = new AdaptiveTreePolicy(linear);
    const b = await run(model, prompt, 80, ps);
    expect(a.out).toEqual(ref);
    expect(b.out).toEqual(ref);
    const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
    // flat: trees as large as the real candidates allow (only retrieved or Jacobi slots are drafted)
    expect(mean(pf.chosenSizes)).toBeGreaterThan(mean(ps.chosenSizes) + 5);
    expect(Math.max(...pf.chosenSizes)).toBeGreaterThan(30);
    // with steep costs every step, exploration included, uses a small tree (≤ 8 rows) or AR
    expect(Math.max(...ps.chosenSizes)).toBeLessThanOrEqual(8);
  });

  it('chosen sub-trees are closed under ancestors and lossless for any cost table (property)', async () => {
    let trees = 0;
    await fc.assert(fc.asyncProperty(fc.array(fc.double({ min: 0.1, max: 100, noNaN: true }), { minLength: 8, maxLength: 8 }), fc.integer({ min: 0, max: 1000 }), async (ms, seed) => {
      const table = { sizes: [1, 2, 4, 8, 16, 32, 48, 69], ms };
      const policy = new AdaptiveTreePolicy(table, { exploreEvery: 3 });
      // The trees the policy really chose during the run (a DraftTree orders parents before
      // children by construction, so closure is checked against the base tree's template paths).
      const chosen: Array<DraftTree | null> = [];
      const choose = policy.choose.bind(policy);
      policy.choose = (b, a) => { const t = choose(b, a); chosen.push(t); return t; };
      const model = new FakeModel({ vocab: 30, seed, predictability: 0.85 });
      const prompt = [1, 2, 3, 4, 1, 2, 3];
      const { out } = await run(model, prompt, 30, policy);
      expect(out).toEqual(model.greedy(prompt, 30));
      const base = new Set(DraftTree.paper().template.map((p) => p.join(',')));
      for (const t of chosen) {
        if (!t) continue;
        trees++;
        const nodes = new Set(t.template.map((p) => p.join(',')));
        for (const p of t.template) {
          expect(base.has(p.join(',')), `${JSON.stringify(p)} is a node of the paper tree`).toBe(true);
          for (let d = 1; d < p.length; d++) expect(nodes.has(p.slice(0, d).join(',')), `ancestor of ${JSON.stringify(p)}`).toBe(true);
        }
      }
    }), { numRuns: 60 });
    // The property ran on real sub-trees, not only on AR steps.
    expect(trees).toBeGreaterThan(60);
  });

  it('measures a real AR step before trusting the probe, and follows observed costs', () => {
    // The probe claims trees are free; observed steps say 4 rows cost 3× an AR step.
    const p = new AdaptiveTreePolicy(flat, { exploreBudget: 0 });
    const base = DraftTree.paper();
    expect(p.choose(base)).toBeNull();
    p.observeAr(10);
    expect(p.choose(base)).toBeNull();
    p.observeAr(10);
    const t = p.choose(base)!;
    expect(t.size).toBeGreaterThan(4);
    for (let i = 0; i < 6; i++) p.observe(t, 0, 0, 10 * t.size);
    const sizes = Array.from({ length: 20 }, () => p.choose(base)?.size ?? 1);
    expect(Math.max(...sizes)).toBeLessThan(t.size);
  });

  it('exploration stays within its time budget', () => {
    const p = new AdaptiveTreePolicy(linear, { exploreEvery: 1, exploreBudget: 0.05 });
    const base = DraftTree.paper();
    let explored = 0;
    for (let i = 0; i < 400; i++) {
      const t = p.choose(base);
      const T = t ? t.size : 1;
      if (T > 1) { explored++; p.observe(t!, 0, 0, T); } else p.observeAr(1);
    }
    // exploring a 2-row tree costs 2 ms against 1 ms AR steps: ≤ 5 % of the time → ≤ ~10 % of steps
    expect(explored).toBeGreaterThan(0);
    expect(explored).toBeLessThan(40);
  });

  it('the probe stops at sizes that cannot pay and extrapolates the rest', async () => {
    const model = new FakeModel({ vocab: 20, seed: 1, predictability: 0.5 });
    let calls = 0;
    const slow = { registerMask: model.registerMask.bind(model), forward: async (r: Parameters<FakeModel['forward']>[0]) => { calls++; clock += r.tokens.length; return model.forward(r); } };
    let clock = 0;
    const t = await probeForwardCost(slow, 128, 20, 3, () => clock);
    // cost = T: stops after T = 8 (> 6 × c(1)); 16..69 extrapolated linearly
    expect(calls).toBe(4 * 3);
    expect(t.ms).toEqual([1, 2, 4, 8, 16, 32, 48, 69]);
  });

  it('the probe times each size up to maxRows', async () => {
    const model = new FakeModel({ vocab: 20, seed: 1, predictability: 0.5 });
    let clock = 0;
    const t = await probeForwardCost(model, 40, 20, 3, () => (clock += 1));
    expect(t.sizes).toEqual([1, 2, 4, 8, 16, 32]);
    expect(t.ms.length).toBe(6);
    expect(model.forwards).toBe(6 * 3);
  });
});
