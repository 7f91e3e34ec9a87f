// Sliding-window attention (Mistral, Qwen2 `sliding_window`): against the float64 reference with
// windows whose edge falls across softmax blocks, with causal and tree masks, and the bitwise
// tree-row = AR-row invariant under a window, in both kernel presets and a 16-key block.
import { describe, expect, it } from 'vitest';
import { attentionGeometry, attentionPass, causalMask, maskVisibility } from '../../src/kernels/attention.js';
import { kernelPreset } from '../../src/gpu/kernel-config.js';
import { ShapeError } from '../../src/kernels/shape.js';
import { attentionRef } from '../../src/reference/ops.js';
import { randomTree, runAttention, treeNodeAlone } from '../helpers/attention.js';
import { expectClose, testRig } from '../helpers/gpu.js';

const CONFIGS = { gpu: kernelPreset('gpu').attention, cpu: kernelPreset('cpu').attention, 'block 16': { block: 16, queries: 4 } } as const;

describe('attention64 with a window', () => {
  it('equals full attention over only the last W positions (AR row)', () => {
    const D = 4; const P = 9; const W = 3;
    const q = Float64Array.from({ length: D }, (_, i) => 0.3 * (i + 1));
    const K = Float64Array.from({ length: (P + 1) * D }, (_, i) => Math.sin(i));
    const V = Float64Array.from({ length: (P + 1) * D }, (_, i) => Math.cos(i));
    const win = attentionRef(q, K, V, [0], 1, P, 1, 1, D, undefined, W);
    // the same query over keys P+1−W .. P only
    const lo = P + 1 - W;
    const full = attentionRef(q, K.slice(lo * D), V.slice(lo * D), [0], 1, P - lo, 1, 1, D);
    expect(Array.from(win)).toEqual(Array.from(full));
    expect(Array.from(attentionRef(q, K, V, [0], 1, P, 1, 1, D, undefined, 100))).toEqual(Array.from(attentionRef(q, K, V, [0], 1, P, 1, 1, D)));
  });
});

for (const [name, cfg] of Object.entries(CONFIGS)) {
  describe(`sliding-window attention (${name}: block ${cfg.block}, ${cfg.queries} queries)`, () => {
    // [T, P, H, Hkv, D, W, mask]: window edges before, on and after block edges, windows of 1, windows
    // larger than the sequence, prefill chunks wider than the window.
    const shapes: Array<[number, number, number, number, number, number, 'causal' | 'tree']> = [
      [1, 70, 4, 2, 8, 7, 'causal'], [1, 64, 4, 1, 4, 1, 'causal'], [1, 65, 2, 2, 8, 64, 'causal'], [1, 130, 4, 2, 8, 66, 'causal'],
      [17, 40, 4, 2, 8, 20, 'causal'], [40, 0, 4, 1, 8, 16, 'causal'], [69, 31, 4, 2, 8, 33, 'tree'], [33, 90, 8, 2, 16, 5, 'tree'],
      [5, 3, 2, 1, 12, 500, 'causal'],
    ];
    // The 16-key block runs the shapes whose window edges cross the most blocks (CI has 2 cores).
    for (const [T, P, H, Hkv, D, W, kind] of name === 'block 16' ? shapes.filter(([T]) => T === 17 || T === 69 || T === 33) : shapes) {
      it(`${kind} T=${T} P=${P} H=${H} Hkv=${Hkv} D=${D} window ${W}`, async () => {
        const mask = kind === 'causal' ? causalMask(T) : randomTree(T, T * 5 + W).mask;
        const { got, ref } = await runAttention({ T, P, H, Hkv, D, mask }, T * 11 + P + W, cfg, { window: W });
        expectClose(got, ref(), 2e-6, 2e-5, `attention window ${W}`);
        if (W < P + T && name === 'gpu') {
          // the window changes the result (so a kernel that ignores it fails)
          const { got: noWindow } = await runAttention({ T, P, H, Hkv, D, mask }, T * 11 + P + W, cfg);
          expect(Array.from(noWindow)).not.toEqual(Array.from(got));
        }
      });
    }

    it('a tree node gets bit-identical output to the same token decoded alone under the window', async () => {
      const r = await testRig();
      for (const [T, P, H, Hkv, D, W, seed] of [[69, 77, 4, 2, 16, 20, 42], [40, 15, 4, 1, 8, 9, 7], [17, 64, 8, 2, 12, 65, 3], [30, 100, 4, 2, 8, 16, 5]]) {
        const { mask, parent } = randomTree(T, seed);
        const tree = await runAttention({ T, P, H, Hkv, D, mask }, 1234 + seed, cfg, { layer: 0, layers: 1, window: W });
        for (const node of [0, 1, 5, Math.floor(T / 2), T - 1]) {
          const { out, depth } = await treeNodeAlone(r, cfg, tree, { P, H, Hkv, D, window: W }, parent, node);
          expect(Array.from(out), `node ${node} (depth ${depth})`).toEqual(Array.from(tree.got.subarray(node * H * D, (node + 1) * H * D)));
        }
      }
    });
  });
}

describe('sliding-window geometry and checks', () => {
  it('skips whole blocks below every query\'s window (AR step: only the blocks holding its last W keys)', () => {
    const cfg = { block: 16, queries: 4 };
    const full = attentionGeometry(1, 100, 1, cfg, undefined, 0);
    const win = attentionGeometry(1, 100, 1, cfg, undefined, 10);
    // 101 keys → 7 blocks without a window; the window 91..100 lies in blocks 80..95 and 96..100
    expect(full.kvRows).toBe(101);
    expect(win.kvRows).toBe(101 - 80);
    // a causal prefill of 40 rows at P = 0, window 16, one workgroup of 4 queries per 4 rows
    const vis = maskVisibility(causalMask(40), 40);
    expect(attentionGeometry(40, 0, 1, cfg, vis, 16).kvRows).toBeLessThan(attentionGeometry(40, 0, 1, cfg, vis, 0).kvRows);
  });

  it('refuses a window that is not a positive integer', () => {
    const cache = { get: () => ({}) } as never;
    const s = { T: 1, P: 3, H: 2, Hkv: 1, D: 8, qStride: 32, outStride: 16, kBase: 0, vBase: 0, maskBase: 0, Smax: 10 };
    for (const window of [0, -1, 2.5]) expect(() => attentionPass(cache, {} as GPUBindGroup, { ...s, window }, { block: 64, queries: 2 })).toThrow(ShapeError);
    expect(attentionPass(cache, {} as GPUBindGroup, { ...s, window: null }, { block: 64, queries: 2 }).params[13]).toBe(0);
  });
});
