// Non-finite logits in the scheduler, with the fake model (no GPU). The executor returns id −1 for a
// top-k slot that no finite logit fills (a row of NaN/±inf returns −1 as its argmax). Every decode
// mode must: stop with NonFiniteLogitsError (step, row, position) exactly where greedy AR meets such
// a row, after yielding every token AR would have yielded; never yield or draft −1 or an id ≥ V;
// ignore such rows that AR would never compute (off the accepted path, past EOS or maxNewTokens).
import { describe, expect, it } from 'vitest';
import { decode, type DecodeMode, type TreePolicy } from '../../src/decode/scheduler.js';
import { AdaptiveTreePolicy } from '../../src/decode/adaptive.js';
import { probeForwardCost } from '../../src/decode/probe.js';
import { createRng } from '../../src/decode/rng.js';
import { MsnError, NonFiniteLogitsError } from '../../src/errors.js';
import type { ForwardRequest, ForwardResult } from '../../src/decode/backend.js';
import { FakeModel, type FakeSpec } from '../helpers/fake-model.js';

/** How a row's top-k is spoiled; `ctx` is the row's whole context (committed KV, ancestors, its token). */
type Spoil = (ctx: readonly number[], k: number) => 'empty' | 'id-out-of-range' | number | null;

/**
 * The fake model with spoiled rows: 'empty' → every id −1 (no finite logit); a number n → only the
 * first n ids are real, the rest −1 (fewer finite logits than k); 'id-out-of-range' → the argmax is
 * V + 3 (a broken backend). Also checks that no token it is fed is outside [0, V).
 */
class SpoiledModel extends FakeModel {
  constructor(spec: FakeSpec, readonly spoil: Spoil) {
    super(spec);
  }

  override async forward(req: ForwardRequest): Promise<ForwardResult> {
    for (const t of Array.from(req.tokens)) if (!(Number.isInteger(t) && t >= 0 && t < this.spec.vocab)) throw new Error(`fed token ${t}`);
    const r = await super.forward(req);
    const T = req.tokens.length;
    const k = r.k;
    if (k === 0) return r;
    for (let t = T - r.rows; t < T; t++) {
      const ctx = this.rowContext(req, t);
      const s = this.spoil(ctx, k);
      const row = r.ids.subarray((t - (T - r.rows)) * k, (t - (T - r.rows) + 1) * k);
      if (s === 'empty') row.fill(-1);
      else if (s === 'id-out-of-range') row[0] = this.spec.vocab + 3;
      else if (typeof s === 'number') row.fill(-1, s);
    }
    return r;
  }

  /** Context of row t after super.forward: committed KV (+ the block itself for a commit), ancestors, token. */
  rowContext(req: ForwardRequest, t: number): number[] {
    const T = req.tokens.length;
    if (req.commit) return this.kv.slice(0, this.kv.length - T + t + 1);
    const chain: number[] = [];
    for (let j = t; j >= 0; j = this.pending!.parent[j]) chain.unshift(req.tokens[j]);
    return [...this.kv, ...chain];
  }
}

interface Run { out: number[]; error: unknown }

async function run(model: FakeModel, prompt: number[], mode: DecodeMode | 'tr-jacobi-adaptive', maxNewTokens: number, eos = new Set<number>()): Promise<Run> {
  model.kv = [];
  model.pending = null;
  const policy: TreePolicy | undefined = mode === 'tr-jacobi-adaptive' ? new AdaptiveTreePolicy({ sizes: [1, 69], ms: [10, 10.5] }) : undefined;
  const out: number[] = [];
  const gen = decode(model, prompt, {
    mode: mode === 'tr-jacobi-adaptive' ? 'tr-jacobi' : mode, maxNewTokens, eosTokenIds: eos, maxRows: 128, contextLength: 4096,
    rng: createRng(7), vocabSize: model.spec.vocab, policy, now: () => 0,
  });
  try {
    let r = await gen.next();
    while (!r.done) { out.push(...r.value); r = await gen.next(); }
  } catch (e) {
    return { out, error: e };
  }
  return { out, error: null };
}

const MODES = ['ar', 'jacobi', 'retrieval', 'tr-jacobi', 'tr-jacobi-adaptive'] as const;
const SPEC: FakeSpec = { vocab: 24, seed: 11, predictability: 0.9 }; // loops: trees accept long runs
const PROMPT = [3, 5, 7, 9, 11, 13, 3, 5, 7]; // prefill of 8 rows before the first step

describe('scheduler: rows with no finite logit', () => {
  const ref = new FakeModel(SPEC).greedy(PROMPT, 60);

  for (const mode of MODES) {
    it(`${mode}: throws NonFiniteLogitsError where AR meets the row, after yielding every earlier token`, async () => {
      let trees = 0;
      for (let m = 0; m < 30; m++) {
        // Every row predicting new token m (at position |prompt| − 1 + m) has no finite logit.
        const bad = PROMPT.length - 1 + m;
        const model = new SpoiledModel(SPEC, (ctx) => (ctx.length - 1 === bad ? 'empty' : null));
        const { out, error } = await run(model, PROMPT, mode, 40);
        expect(out, `${mode} m=${m}`).toEqual(ref.slice(0, m));
        expect(error).toBeInstanceOf(NonFiniteLogitsError);
        const e = error as NonFiniteLogitsError;
        expect(e.code).toBe('non-finite-logits');
        expect(e.detail.position).toBe(bad);
        expect(e.detail.step).toBeGreaterThanOrEqual(1);
        if (mode === 'ar') expect(e.detail).toMatchObject({ step: m + 1, row: 0 });
        if ((e.detail.row as number) > 0) trees++;
        expect(e.message).toMatch(new RegExp(`step ${e.detail.step}, row ${e.detail.row} \\(position ${bad}\\)`));
        expect(e.message).toMatch(/NaN or ±infinity/);
      }
      // Modes whose drafts get accepted meet the bad row inside a tree at least once (a row > 0,
      // after accepted drafts). The fake's Jacobi chain alone never gets a draft accepted.
      if (mode !== 'ar' && mode !== 'jacobi') expect(trees).toBeGreaterThan(0);
    });

    it(`${mode}: such a row past EOS or maxNewTokens is never computed as AR would, so no error`, async () => {
      const m = ref.findIndex((t, i) => i >= 5 && ref.indexOf(t) === i); // a token first seen at index m ≥ 5
      const bad = PROMPT.length - 1 + (m + 1);
      const spoil: Spoil = (ctx) => (ctx.length - 1 >= bad ? 'empty' : null);
      const a = await run(new SpoiledModel(SPEC, spoil), PROMPT, mode, 40, new Set([ref[m]]));
      expect(a).toEqual({ out: ref.slice(0, m + 1), error: null });
      const b = await run(new SpoiledModel(SPEC, spoil), PROMPT, mode, m + 1);
      expect(b).toEqual({ out: ref.slice(0, m + 1), error: null });
    });

    it(`${mode}: rows off the greedy path with no finite logit, and short top-k rows, stay lossless`, async () => {
      const truth = [...PROMPT, ...ref];
      const onPath = (ctx: readonly number[]) => ctx.every((t, i) => truth[i] === t);
      // Off the true path: no finite logit at all; on it: only 2 finite logits (8 −1 ids after them).
      const model = new SpoiledModel(SPEC, (ctx) => (onPath(ctx) ? 2 : 'empty'));
      const { out, error } = await run(model, PROMPT, mode, 40);
      expect(error).toBeNull();
      expect(out).toEqual(ref.slice(0, 40));
    });

    it(`${mode}: an id ≥ V from the backend is never yielded`, async () => {
      const bad = PROMPT.length - 1 + 6;
      const model = new SpoiledModel(SPEC, (ctx) => (ctx.length - 1 === bad ? 'id-out-of-range' : null));
      const { out, error } = await run(model, PROMPT, mode, 40);
      expect(out).toEqual(ref.slice(0, 6));
      expect(error).toBeInstanceOf(NonFiniteLogitsError);
      expect((error as MsnError).detail).toMatchObject({ position: bad, id: SPEC.vocab + 3 });
    });
  }

  it('the adaptive probe only measures: rows with no finite logit do not fail it (decoding reports the rows that matter)', async () => {
    const model = new SpoiledModel({ vocab: 20, seed: 1, predictability: 0.5 }, () => 'empty');
    let t = 0;
    const table = await probeForwardCost(model, 128, 20, 3, () => (t += 1));
    expect(table.sizes.length).toBeGreaterThan(0);
    expect(table.ms.every((m) => m > 0)).toBe(true);
  });
});
