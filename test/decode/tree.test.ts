// Draft tree template, greedy verification (incl. the reference's padded-path bug) and retrieval pool.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DraftTree, MC_SIM_7B_63, RETRIEVAL_COL } from '../../src/decode/tree.js';
import { verifyGreedy } from '../../src/decode/verify.js';
import { RetrievalPool } from '../../src/decode/retrieval.js';
import { CandidateTable } from '../../src/decode/candidates.js';
import { createRng } from '../../src/decode/rng.js';

describe('DraftTree', () => {
  const tree = DraftTree.paper();
  it('is the paper tree: 69 nodes, 43 leaf paths with the stated lengths, 227 mask non-zeros', () => {
    expect(tree.size).toBe(69);
    expect(MC_SIM_7B_63.length).toBe(63);
    expect(tree.paths.length).toBe(43);
    const lens = tree.paths.map((p) => p.length);
    expect(lens.filter((l) => l === 6).length).toBe(1);
    expect(lens.filter((l) => l === 5).length).toBe(2);
    expect(lens.filter((l) => l === 4).length).toBe(22);
    expect(lens.filter((l) => l === 3).length).toBe(18);
    expect(Array.from(tree.mask()).filter((v) => v === 0).length).toBe(227);
    expect(tree.retrievalPath).toBe(0);
    expect(tree.paths[0]).toEqual([0, 1, 2, 3, 4, 5]);
    const byDepth = [1, 2, 3, 4].map((d) => MC_SIM_7B_63.filter((p) => p.length === d).length);
    expect(byDepth).toEqual([10, 28, 23, 2]);
  });

  it('parents precede children; positions are depths; masks are ancestor closures', () => {
    const m = tree.mask();
    for (let j = 1; j < tree.size; j++) {
      expect(tree.parent[j]).toBeLessThan(j);
      expect(tree.depth[j]).toBe(tree.depth[tree.parent[j]] + 1);
      let visible = 0;
      for (let i = 0; i < tree.size; i++) if (m[j * tree.size + i] === 0) visible++;
      expect(visible).toBe(tree.depth[j] + 1);
    }
    expect(tree.col[1]).toBe(RETRIEVAL_COL);
  });

  it('sub-trees stay closed under ancestors; truncation by depth', () => {
    expect(() => tree.subtree([7])).toThrow(/parent/);
    const s = tree.subtree([6, 7, 8]);
    expect(s.size).toBe(4);
    expect(tree.truncate(2).maxDepth).toBe(2);
    expect(tree.truncate(1).size).toBe(1 + 1 + 10);
  });
});

describe('verifyGreedy', () => {
  it('never accepts past a path\'s true length (reference bug §2.4 item 1)', () => {
    // root → a → b → c is a 4-slot path; every draft is right and the model's next token after c
    // equals the root token. The reference, padding paths with slot 0, would accept 4 drafts.
    const t = new DraftTree([[0], [0, 0], [0, 0, 0]]);
    const root = 7;
    const tokens = [root, 1, 2, 3];
    const argmax = [1, 2, 3, root];
    const v = verifyGreedy(t, tokens, argmax);
    expect(v.accepted).toBe(3);
    expect(v.tokens).toEqual([1, 2, 3, root]);
    expect(v.slots).toEqual([0, 1, 2, 3]);
  });

  it('matches a brute-force longest-prefix over all paths (property)', () => {
    const tree = DraftTree.paper();
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 69, maxLength: 69 }), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 69, maxLength: 69 }), (tokens, argmax) => {
      const v = verifyGreedy(tree, tokens, argmax);
      let best = -1;
      for (const p of tree.paths) {
        let a = 0;
        while (a + 1 < p.length && tokens[p[a + 1]] === argmax[p[a]]) a++;
        best = Math.max(best, a);
      }
      expect(v.accepted).toBe(best);
      expect(v.tokens.length).toBe(best + 1);
      // accepted tokens form the greedy chain from the root
      for (let i = 1; i < v.slots.length; i++) expect(tokens[v.slots[i]]).toBe(argmax[v.slots[i - 1]]);
    }), { numRuns: 2000 });
  });
});

describe('RetrievalPool', () => {
  /** Naive rescan: most recent earlier occurrence of the longest suffix (n ≤ 3). */
  function naive(seq: number[]): number[] {
    const L = seq.length;
    for (let n = Math.min(3, L); n >= 1; n--) {
      const key = seq.slice(L - n).join(',');
      for (let e = L - 2; e >= n - 1; e--) {
        if (seq.slice(e - n + 1, e + 1).join(',') === key) return seq.slice(e + 1, Math.min(e + 6, L));
      }
    }
    return [];
  }
  it('incremental index equals a naive rescan, preferring the most recent match (property)', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 80 }), (seq) => {
      const pool = new RetrievalPool();
      for (let i = 0; i < seq.length; i++) {
        pool.push(seq[i]);
        expect(pool.lookup()).toEqual(naive(seq.slice(0, i + 1)));
      }
    }), { numRuns: 500 });
  });
  it('proposes nothing without a match, and the most recent continuation otherwise', () => {
    const p = new RetrievalPool();
    p.push(1, 2, 3);
    expect(p.lookup()).toEqual([]);
    p.push(9, 2, 3, 8, 2, 3);
    expect(p.lookup()).toEqual([8, 2, 3]);
  });
});

describe('CandidateTable', () => {
  it('shift moves Jacobi rows towards the root and empties the tail, keeping the retrieval column', () => {
    const c = new CandidateTable();
    for (let d = 1; d <= 5; d++) c.setJacobi(d, [d * 10, d * 10 + 1]);
    c.setRetrieval([7, 8]);
    c.shift(2);
    expect(c.get(1, 0)).toBe(30);
    expect(c.get(3, 1)).toBe(51);
    expect(c.get(4, 0)).toBe(-1);
    expect(c.get(1, 10)).toBe(7);
  });

  it('random fill draws only from the context, leaves set entries alone', () => {
    const c = new CandidateTable();
    c.setJacobi(1, [5, 6]);
    c.setRetrieval([42]);
    c.fillRandom(createRng(1), [100, 101]);
    expect(c.get(1, 0)).toBe(5);
    expect(c.get(1, 1)).toBe(6);
    expect(c.get(1, 10)).toBe(42);
    for (const v of c.data) expect([5, 6, 42, 100, 101]).toContain(v);
  });
});
