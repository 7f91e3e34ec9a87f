// Tree-masked attention and top-k against float64 references, plus the bitwise tree-vs-AR invariant,
// in both kernel presets (src/gpu/kernel-config.ts).
import { describe, expect, it } from 'vitest';
import { causalMask } from '../../src/kernels/attention.js';
import { TOPK, topkPass } from '../../src/kernels/topk.js';
import { kernelPreset } from '../../src/gpu/kernel-config.js';
import { topkRef } from '../../src/reference/ops.js';
import { randomTree, runAttention, treeNodeAlone } from '../helpers/attention.js';
import { expectClose, randomData, readF32, readU32, rng, run, storage, testRig } from '../helpers/gpu.js';

const PRESETS = { gpu: kernelPreset('gpu').attention, cpu: kernelPreset('cpu').attention } as const;

/** Tree mask with additive biases on 30 % of the visible entries. */
function biasedTree(T: number, seed: number): { mask: Float32Array; parent: number[] } {
  const tree = randomTree(T, seed);
  const r = rng(seed + 5);
  for (let i = 0; i < tree.mask.length; i++) if (tree.mask[i] === 0 && r() < 0.3) tree.mask[i] = (r() - 0.5) * 2;
  return tree;
}

for (const [name, cfg] of Object.entries(PRESETS)) {
  describe(`attention (${name} preset: block ${cfg.block}, ${cfg.queries} queries per workgroup)`, () => {
    // [T, P, H, Hkv, D, mask]: P across block boundaries (15, 16, 17, 63, 64, 65, 130), G ∈ {1, 2, 4}, every D.
    const shapes: Array<[number, number, number, number, number, 'causal' | 'tree']> = [
      [1, 0, 4, 2, 8, 'causal'], [1, 65, 4, 1, 4, 'causal'], [2, 15, 8, 2, 48, 'causal'], [5, 130, 4, 1, 64, 'tree'],
      [16, 17, 4, 4, 8, 'tree'], [17, 64, 8, 2, 16, 'causal'], [17, 63, 4, 1, 4, 'tree'], [69, 31, 4, 2, 8, 'tree'],
      [69, 16, 4, 4, 4, 'causal'], [5, 9, 2, 1, 128, 'tree'], [2, 40, 2, 1, 256, 'causal'], [16, 0, 2, 2, 48, 'tree'],
    ];
    for (const [T, P, H, Hkv, D, kind] of shapes) {
      it(`${kind} T=${T} P=${P} H=${H} Hkv=${Hkv} D=${D}`, async () => {
        const mask = kind === 'causal' ? causalMask(T) : biasedTree(T, T * 3 + P).mask;
        const { got, ref } = await runAttention({ T, P, H, Hkv, D, mask }, T * 7 + P + D, cfg);
        expectClose(got, ref(), 2e-6, 2e-5, `attention ${kind}`);
      });
    }

    it('a tree node gets bit-identical output to the same token decoded alone after its ancestors (T = 1 runs with G queries per workgroup)', async () => {
      const r = await testRig();
      for (const [T, P, H, Hkv, D, seed] of [[69, 77, 4, 2, 16, 42], [40, 15, 4, 1, 8, 7], [17, 64, 8, 2, 12, 3]]) {
        const { mask, parent } = randomTree(T, seed);
        const tree = await runAttention({ T, P, H, Hkv, D, mask }, 1234 + seed, cfg, { layer: 0, layers: 1 });
        for (const node of [0, 1, 5, Math.floor(T / 2), T - 1]) {
          // AR layout: cache rows 0..P-1, then the ancestors at P..P+d-1, the node itself at P+d (new row).
          const { out } = await treeNodeAlone(r, cfg, tree, { P, H, Hkv, D }, parent, node);
          expect(Array.from(out)).toEqual(Array.from(tree.got.subarray(node * H * D, (node + 1) * H * D)));
        }
      }
    });
  });
}

describe('attention in other configurations (fewer threads than slots, smaller blocks)', () => {
  for (const cfg of [{ block: 64, queries: 2 }, { block: 64, queries: 1 }, { block: 32, queries: 4 }, { block: 16, queries: 16 }]) {
    for (const [T, P, kind] of [[40, 3, 'causal'], [69, 50, 'tree']] as const) {
      it(`block ${cfg.block}, ${cfg.queries} queries: ${kind} T=${T} P=${P}`, async () => {
        const mask = kind === 'causal' ? causalMask(T) : biasedTree(T, T + P).mask;
        const { got, ref } = await runAttention({ T, P, H: 4, Hkv: 2, D: 8, mask }, T + P, cfg);
        expectClose(got, ref(), 2e-6, 2e-5, `attention ${kind}`);
      });
    }
  }
});

describe('topk', () => {
  // k = 64 (sampling's candidate set): V = k, V just above k, V not a multiple of the workgroup,
  // V < workgroup × k (threads with fewer than k values), a 69-row tree.
  for (const [T, V, k] of [[1, 301, 1], [3, 301, 10], [69, 1000, 10], [2, 17, 16], [5, 4096, 16],
    [2, 64, 64], [3, 65, 64], [2, 1999, 64], [1, 130, 64], [69, 517, 64], [2, 4096, 63], [4, 32003, 64]]) {
    it(`T=${T} V=${V} k=${k}, with ties`, async () => {
      const r = await testRig();
      const stride = V + 3;
      const L = randomData(T * stride, V + k, false).map((x) => Math.round(x * 40) / 40); // many exact ties
      const idBuf = storage(r.device, T * k * 4); const valBuf = storage(r.device, T * k * 4);
      await run(r, [topkPass(r.cache, r.maxPerDim, r.cache.bind(r.cache.get(TOPK), [storage(r.device, L), idBuf, valBuf]), { T, V, stride, k })]);
      const ids = await readU32(r.device, idBuf, T * k); const vals = await readF32(r.device, valBuf, T * k);
      const Ll = new Float32Array(T * V);
      for (let t = 0; t < T; t++) Ll.set(L.subarray(t * stride, t * stride + V), t * V);
      const ref = topkRef(Ll, T, V, k);
      expect(Array.from(ids)).toEqual(ref.ids.flat());
      expect(Array.from(vals)).toEqual(ref.vals.flat().map(Math.fround));
    });
  }
});
