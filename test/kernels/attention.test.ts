// Tree-masked attention and top-k against float64 references, plus the bitwise tree-vs-AR invariant.
import { describe, expect, it } from 'vitest';
import { attentionKernel, attentionPass, causalMask, MASKED } from '../../src/kernels/attention.js';
import { TOPK, topkPass } from '../../src/kernels/topk.js';
import { attentionRef, topkRef } from '../../src/reference/ops.js';
import { expectClose, randomData, readF32, readU32, rng, run, storage, testRig } from '../helpers/gpu.js';

/** Random tree of T nodes (node 0 = root, parent[j] < j) → additive ancestor mask. */
function randomTree(T: number, seed: number): { mask: Float32Array; parent: number[] } {
  const r = rng(seed);
  const parent = [-1];
  for (let j = 1; j < T; j++) parent.push(Math.floor(r() * j));
  const mask = new Float32Array(T * T).fill(MASKED);
  for (let j = 0; j < T; j++) for (let a = j; a >= 0; a = parent[a]) mask[j * T + a] = 0;
  return { mask, parent };
}

interface Case { T: number; P: number; H: number; Hkv: number; D: number; mask: Float32Array }

async function runAttention(c: Case, seed: number, layer = 1, layers = 2, wg = 64) {
  const r = await testRig();
  const { T, P, H, Hkv, D } = c;
  const Smax = P + T + 5;
  const rowF = Hkv * D;
  const qStride = (H + 2 * Hkv) * D;
  const q = randomData(T * qStride, seed);
  const plane = Smax * rowF;
  const kv = randomData(layers * 2 * plane, seed + 1, false);
  const kBase = layer * 2 * plane; const vBase = kBase + plane;
  const lib = new Float32Array(7 + T * T); lib.set(c.mask, 7); // mask at a non-zero offset
  const oBuf = storage(r.device, T * H * D * 4);
  const kvBuf = storage(r.device, kv);
  await run(r, [attentionPass(r.cache, r.cache.bind(attentionKernel(r.cache, wg), [storage(r.device, q), kvBuf, kvBuf, storage(r.device, lib), oBuf]),
    { T, P, H, Hkv, D, qStride, outStride: H * D, kBase, vBase, maskBase: 7, Smax }, wg)]);
  const got = await readF32(r.device, oBuf);
  const ql = new Float32Array(T * H * D);
  for (let t = 0; t < T; t++) ql.set(q.subarray(t * qStride, t * qStride + H * D), t * H * D);
  const K = kv.subarray(kBase, kBase + (P + T) * rowF);
  const V = kv.subarray(vBase, vBase + (P + T) * rowF);
  return { got, ref: attentionRef(ql, K, V, c.mask, T, P, H, Hkv, D), q, kv, kBase, vBase, Smax, qStride };
}

describe('attention', () => {
  const shapes: Array<[number, number, number, number, number]> = [
    [1, 0, 4, 2, 8], [1, 70, 4, 4, 16], [3, 5, 6, 2, 12], [17, 64, 8, 2, 16], [69, 31, 4, 1, 8], [5, 130, 3, 3, 64], [2, 9, 2, 1, 256],
  ];
  for (const [T, P, H, Hkv, D] of shapes) {
    const wg = [64, 16, 32][(T + P) % 3];
    it(`causal T=${T} P=${P} H=${H} Hkv=${Hkv} D=${D} block ${wg}`, async () => {
      const { got, ref } = await runAttention({ T, P, H, Hkv, D, mask: causalMask(T) }, T * 7 + P, 1, 2, wg);
      expectClose(got, ref, 2e-6, 2e-5, 'attention causal');
    });
  }
  for (const [T, P] of [[69, 40], [20, 0], [33, 100]]) {
    it(`random tree mask with additive biases T=${T} P=${P}`, async () => {
      const { mask } = randomTree(T, T + P);
      const r = rng(5);
      for (let i = 0; i < mask.length; i++) if (mask[i] === 0 && r() < 0.3) mask[i] = (r() - 0.5) * 2;
      const { got, ref } = await runAttention({ T, P, H: 4, Hkv: 2, D: 16, mask }, T + 3 * P);
      expectClose(got, ref, 2e-6, 2e-5, 'attention tree');
    });
  }

  for (const wg of [64, 16]) it(`a tree node gets bit-identical output to the same token decoded alone after its ancestors (block ${wg})`, async () => {
    const r = await testRig();
    const T = 69; const P = 77; const H = 4; const Hkv = 2; const D = 16;
    const { mask, parent } = randomTree(T, 42);
    const tree = await runAttention({ T, P, H, Hkv, D, mask }, 1234, 0, 1, wg);
    const rowF = Hkv * D;
    for (const node of [0, 1, 5, 30, 68]) {
      const path: number[] = [];
      for (let a = node; a >= 0; a = parent[a]) path.unshift(a);
      const d = path.length - 1;
      // AR layout: cache rows 0..P-1, then the ancestors at P..P+d-1, the node itself at P+d (new row).
      const Smax = tree.Smax + 1;
      const plane = Smax * rowF;
      const kv = new Float32Array(2 * plane);
      for (const [pl, base] of [[0, tree.kBase], [1, tree.vBase]]) {
        kv.set(tree.kv.subarray(base, base + P * rowF), pl * plane);
        path.forEach((slot, i) => kv.set(tree.kv.subarray(base + (P + slot) * rowF, base + (P + slot + 1) * rowF), pl * plane + (P + i) * rowF));
      }
      const q1 = tree.q.slice(node * tree.qStride, (node + 1) * tree.qStride);
      const oBuf = storage(r.device, H * D * 4);
      const kv1 = storage(r.device, kv);
      await run(r, [attentionPass(r.cache, r.cache.bind(attentionKernel(r.cache, wg), [storage(r.device, q1), kv1, kv1, storage(r.device, new Float32Array(4)), oBuf]),
        { T: 1, P: P + d, H, Hkv, D, qStride: tree.qStride, outStride: H * D, kBase: 0, vBase: plane, maskBase: 0, Smax }, wg)]);
      const one = await readF32(r.device, oBuf);
      expect(Array.from(one)).toEqual(Array.from(tree.got.subarray(node * H * D, (node + 1) * H * D)));
    }
  });
});

describe('topk', () => {
  for (const [T, V, k] of [[1, 301, 1], [3, 301, 10], [69, 1000, 10], [2, 17, 16], [5, 4096, 16]]) {
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
