// Seeded Gumbel-max sampling (src/decode/sampling.ts): Philox-4x32-10 against Random123's known
// answers, the candidate set against transformers' warpers, and ≥ 20,000 draws per setting that a
// chi-square test cannot tell from the truncated softmax (and can tell from the untruncated one).
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { gumbelAt, noisedRanking, philox4x32, resolveSampling, sampleRow, SAMPLING_CANDIDATES, truncatedDistribution, truncateRow, uniformAt, type SamplingParams } from '../../src/decode/sampling.js';
import { chiSquare, gammaQ } from '../helpers/chi2.js';

const hex = (w: Uint32Array) => Array.from(w, (x) => x.toString(16).padStart(8, '0'));

/** 80 f32 logits (the HF comparison's vector), as the worker returns them: top-64, value desc, id asc. */
function row(): { ids: number[]; values: number[] } {
  const v = Array.from({ length: 80 }, (_, i) => Math.fround(Math.sin(i * 1.7) * 3 + (i % 5) * 0.3));
  const ids = v.map((_, i) => i).sort((a, b) => v[b] - v[a] || a - b).slice(0, SAMPLING_CANDIDATES);
  return { ids, values: ids.map((i) => v[i]) };
}

const P = (temperature: number, topK: number, topP: number, minP: number, seed = 1): SamplingParams => ({ temperature, topK, topP, minP, seed });

describe('Philox-4x32-10', () => {
  it('matches Random123 kat_vectors', () => {
    expect(hex(philox4x32([0, 0, 0, 0], [0, 0]))).toEqual(['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']);
    expect(hex(philox4x32([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff]))).toEqual(['408f276d', '41c83b0e', 'a20bc7c6', '6d5451fd']);
    expect(hex(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]))).toEqual(['d16cfe09', '94fdcceb', '5001e420', '24126ea1']);
  });

  it('u is in (0, 1) and depends on seed, position and token', () => {
    const us = [uniformAt(0, 0, 0), uniformAt(1, 0, 0), uniformAt(0, 1, 0), uniformAt(0, 0, 1), uniformAt(2 ** 53 - 1, 2 ** 31, 151935)];
    for (const u of us) expect(u > 0 && u < 1).toBe(true);
    expect(new Set(us).size).toBe(us.length);
  });
});

describe('resolveSampling', () => {
  it('temperature 0 or absent is greedy (null); a seed is drawn when none is given', () => {
    expect(resolveSampling({})).toBeNull();
    expect(resolveSampling({ temperature: 0, seed: 3 })).toBeNull();
    expect(resolveSampling({ temperature: 0.8 }, () => 42)).toEqual({ temperature: 0.8, topK: 0, topP: 1, minP: 0, seed: 42 });
    expect(resolveSampling({ temperature: 1, topK: 5, topP: 0.9, minP: 0.1, seed: 7 })).toEqual({ temperature: 1, topK: 5, topP: 0.9, minP: 0.1, seed: 7 });
  });

  for (const [bad, name] of [[{ temperature: -1 }, 'temperature'], [{ temperature: NaN }, 'temperature'], [{ topK: 1.5 }, 'topK'], [{ topK: -1 }, 'topK'],
    [{ topP: 0 }, 'topP'], [{ topP: 1.1 }, 'topP'], [{ minP: -0.1 }, 'minP'], [{ minP: 2 }, 'minP'], [{ seed: -(2 ** 53) }, 'seed'], [{ seed: 0.5 }, 'seed'], [{ seed: 2 ** 53 }, 'seed']] as const) {
    it(`refuses ${JSON.stringify(bad)} naming ${name}`, () => {
      expect(() => resolveSampling(Object.assign({ temperature: 1 }, bad))).toThrow(InvalidArgumentError);
      expect(() => resolveSampling(Object.assign({ temperature: 1 }, bad))).toThrow(name);
    });
  }
});

describe('seeds are any safe integer (OpenAI takes int64)', () => {
  it('a negative seed is accepted and keys Philox with its two\'s-complement 64-bit halves', () => {
    expect(resolveSampling({ temperature: 1, seed: -1 })?.seed).toBe(-1);
    expect(resolveSampling({ temperature: 1, seed: -(2 ** 53) + 1 })?.seed).toBe(-(2 ** 53) + 1);
    const u = (w: Uint32Array) => ((w[0] >>> 6) * 67108864 + (w[1] >>> 6) + 0.5) / 4503599627370496;
    // -1 = 0xffffffff_ffffffff; -2^32 - 5 = 0xfffffffe_fffffffb.
    expect(uniformAt(-1, 3, 9)).toBe(u(philox4x32([3, 9, 0, 0], [0xffffffff, 0xffffffff])));
    expect(uniformAt(-(2 ** 32) - 5, 3, 9)).toBe(u(philox4x32([3, 9, 0, 0], [0xfffffffb, 0xfffffffe])));
    expect(new Set([-1, 1, -2, 2 ** 32 - 1].map((seed) => uniformAt(seed, 0, 0))).size).toBe(4);
  });
});

describe('tiny temperatures behave as their limit', () => {
  const ids = [4, 7, 2, 9];
  const values = [5, 5, 3, -1]; // ids 4 and 7 share the top logit
  for (const t of [5e-324, 1e-310, 1e-300]) {
    it(`temperature ${t}: an exact draw among the top logits (greedy with ties broken by the noise)`, () => {
      const drawn = new Map<number, number>();
      for (let seed = 0; seed < 400; seed++) {
        const tok = sampleRow(ids, values, P(t, 0, 1, 0, seed), 11);
        drawn.set(tok, (drawn.get(tok) ?? 0) + 1);
        expect(noisedRanking(ids, values, P(t, 0, 1, 0, seed), 11)[0]).toBe(tok);
      }
      expect([...drawn.keys()].sort()).toEqual([4, 7]);
      expect(drawn.get(4)).toBeGreaterThan(150);
      expect(drawn.get(7)).toBeGreaterThan(150);
      const dist = truncatedDistribution(ids, values, P(t, 0, 0.9, 0.1));
      expect([...dist.entries()]).toEqual([[4, 0.5], [7, 0.5]]);
    });
  }
  it('a normal temperature is the plain formula argmax(logit / t + g), bit for bit', () => {
    for (let seed = 0; seed < 50; seed++) {
      const score = ids.map((id, i) => values[i] / 0.3 + gumbelAt(seed, 5, id));
      const best = ids[score.indexOf(Math.max(...score))];
      expect(sampleRow(ids, values, P(0.3, 0, 1, 0, seed), 5)).toBe(best);
    }
  });
});

describe('candidate set = transformers (Temperature → TopK → TopP → MinP warpers) over the top-64', () => {
  // Kept ids from transformers 4.x logits_process.py on the same f32 logits (train-side .venv).
  const HF: Array<[number, number, number, number, number[]]> = [
    [1, 0, 1, 0, [0, 1, 2, 4, 5, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 23, 24, 26, 27, 28, 29, 30, 31, 33, 34, 35, 37, 38, 39, 41, 42, 43, 44, 45, 46, 48, 49, 50, 52, 53, 54, 56, 57, 59, 60, 61, 63, 64, 65, 67, 68, 69, 70, 71, 72, 74, 75, 76, 78, 79]],
    [0.7, 0, 0.9, 0, [1, 8, 12, 16, 19, 23, 27, 34, 38, 42, 49, 53, 56, 60, 64, 67, 68, 71, 75, 78, 79]],
    [1.3, 0, 1, 0.05, [1, 4, 5, 8, 9, 12, 13, 15, 16, 19, 20, 23, 24, 26, 27, 30, 31, 34, 35, 37, 38, 41, 42, 45, 46, 48, 49, 52, 53, 56, 57, 59, 60, 63, 64, 67, 68, 71, 72, 74, 75, 78, 79]],
    [1, 20, 0.95, 0, [1, 8, 12, 16, 19, 23, 27, 34, 38, 42, 49, 53, 60, 64, 67, 71, 75, 79]],
    [0.5, 5, 1, 0, [23, 34, 38, 49, 64]],
    [0.8, 0, 0.5, 0.2, [12, 19, 23, 34, 38, 49, 64]],
    [2, 10, 0.8, 0.1, [8, 12, 19, 23, 34, 38, 49, 64]],
  ];
  for (const [t, k, p, m, kept] of HF) {
    it(`temperature ${t} topK ${k} topP ${p} minP ${m}`, () => {
      const r = row();
      expect(truncateRow(r.ids, r.values, P(t, k, p, m)).ids.slice().sort((a, b) => a - b)).toEqual(kept);
    });
  }

  it('empty slots (−1) are skipped; a row with none finite samples −1', () => {
    expect(truncateRow([5, -1, 2], [1, NaN, 0.5], P(1, 0, 1, 0)).ids).toEqual([5, 2]);
    expect(sampleRow([-1, -1], [NaN, NaN], P(1, 0, 1, 0), 3)).toBe(-1);
    expect(noisedRanking([-1], [NaN], P(1, 0, 1, 0), 3)).toEqual([]);
  });
});

describe('Gumbel-max draws = the truncated softmax (chi-square, 20,000 draws, p > 0.001)', () => {
  const N = 20000;
  const SETTINGS: Array<[number, number, number, number]> = [[1, 0, 1, 0], [0.7, 0, 0.9, 0], [1.3, 0, 1, 0.05], [0.5, 5, 1, 0], [2, 10, 0.8, 0.1], [1, 20, 0.95, 0]];
  /** Draw counts over seeds (and positions), per token id. */
  function draws(params: SamplingParams, byPosition: boolean): Map<number, number> {
    const r = row();
    const counts = new Map<number, number>();
    for (let d = 0; d < N; d++) {
      const t = byPosition ? sampleRow(r.ids, r.values, params, d) : sampleRow(r.ids, r.values, { ...params, seed: 1000 + d }, 17);
      counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    return counts;
  }
  for (const [t, k, p, m] of SETTINGS) {
    for (const byPosition of [false, true]) {
      it(`temperature ${t} topK ${k} topP ${p} minP ${m}, over ${byPosition ? 'positions' : 'seeds'}`, () => {
        const params = P(t, k, p, m, 99);
        const r = row();
        const dist = truncatedDistribution(r.ids, r.values, params);
        const counts = draws(params, byPosition);
        for (const id of counts.keys()) expect(dist.has(id), `token ${id} outside the candidate set`).toBe(true);
        const ids = [...dist.keys()];
        const res = chiSquare(ids.map((i) => counts.get(i) ?? 0), ids.map((i) => dist.get(i)!));
        expect(res.p, JSON.stringify(res)).toBeGreaterThan(0.001);
      });
    }
  }

  it('the same test rejects the wrong distribution (untruncated softmax vs top-p 0.5 draws)', () => {
    const r = row();
    const full = truncatedDistribution(r.ids, r.values, P(0.8, 0, 1, 0));
    const counts = draws(P(0.8, 0, 0.5, 0, 5), false);
    const ids = [...full.keys()];
    expect(chiSquare(ids.map((i) => counts.get(i) ?? 0), ids.map((i) => full.get(i)!)).p).toBeLessThan(1e-6);
  });

  it('chi-square p-values match torch.special.gammaincc', () => {
    // torch.special.gammaincc(df / 2, x / 2) in float64.
    for (const [df, x, q] of [[1, 10.83, 0.0009986863791802583], [5, 20.52, 0.0009978366077119374], [10, 29.59, 0.0009993620119330142],
      [30, 59.7, 0.001000851622880548], [63, 103.4, 0.0010092270914614744], [20, 10, 0.9681719426937953], [3, 0.5, 0.9188914116546758]]) {
      expect(gammaQ(df / 2, x / 2)).toBeCloseTo(q, 10);
    }
  });
});

describe('noisedRanking', () => {
  it('its first element is the sampled token, and it ranks the whole candidate set', () => {
    const r = row();
    for (let pos = 0; pos < 50; pos++) {
      const params = P(0.9, 0, 0.95, 0, 31);
      const rank = noisedRanking(r.ids, r.values, params, pos);
      expect(rank[0]).toBe(sampleRow(r.ids, r.values, params, pos));
      expect(rank.slice().sort((a, b) => a - b)).toEqual(truncateRow(r.ids, r.values, params).ids.sort((a, b) => a - b));
    }
  });
});
