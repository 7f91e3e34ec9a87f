/** Attention test helpers: random trees and a run of the attention kernel with its float64 reference. */
import { type AttentionConfig, attentionKernel, attentionPass, MASKED, maskVisibility } from '../../src/kernels/attention.js';
import type { KernelDef } from '../../src/gpu/kernel.js';
import { attentionRef } from '../../src/reference/ops.js';
import { randomData, readF32, rng, run, storage, testRig } from './gpu.js';

/** Random tree of T nodes (node 0 = root, parent[j] < j) → additive ancestor mask. */
export function randomTree(T: number, seed: number): { mask: Float32Array; parent: number[] } {
  const r = rng(seed);
  const parent = [-1];
  for (let j = 1; j < T; j++) parent.push(Math.floor(r() * j));
  const mask = new Float32Array(T * T).fill(MASKED);
  for (let j = 0; j < T; j++) for (let a = j; a >= 0; a = parent[a]) mask[j * T + a] = 0;
  return { mask, parent };
}

export interface Case { T: number; P: number; H: number; Hkv: number; D: number; mask: Float32Array }


/**
 * Runs attention on random Q/K/V (layer `layer` of `layers` in one slab, mask at a non-zero offset of
 * the library) and returns the output with its float64 reference. `def` and `extra` run a variant;
 * `kvBytes` is handed to the pass shape (the variant's KV element size); `window` is the sliding window.
 */
export async function runAttention(c: Case, seed: number, cfg: AttentionConfig, opts: { layer?: number; layers?: number; def?: KernelDef; extra?: GPUBuffer[]; visible?: boolean; kvBytes?: number; window?: number | null; scale?: number; softcap?: number | null } = {}) {
  const r = await testRig();
  const { T, P, H, Hkv, D } = c;
  const layer = opts.layer ?? 1; const layers = opts.layers ?? 2;
  const Smax = P + T + 5;
  const rowF = Hkv * D;
  const qStride = (H + 2 * Hkv) * D;
  const q = randomData(T * qStride, seed);
  const plane = Smax * rowF;
  const kv = randomData(layers * 2 * plane, seed + 1, false);
  const kBase = layer * 2 * plane; const vBase = kBase + plane;
  const lib = new Float32Array(7 + T * T); lib.set(c.mask, 7);
  const oBuf = storage(r.device, T * H * D * 4);
  const kvBuf = storage(r.device, kv);
  const pass = attentionPass(r.cache, r.cache.bind(attentionKernel(r.cache, cfg, opts.def), [storage(r.device, q), kvBuf, kvBuf, storage(r.device, lib), oBuf, ...(opts.extra ?? [])]),
    { T, P, H, Hkv, D, qStride, outStride: H * D, kBase, vBase, maskBase: 7, Smax, visible: opts.visible === false ? undefined : maskVisibility(c.mask, T), kvBytes: opts.kvBytes, window: opts.window, scale: opts.scale, softcap: opts.softcap }, cfg, opts.def);
  await run(r, [pass]);
  const got = await readF32(r.device, oBuf);
  const ql = new Float32Array(T * H * D);
  for (let t = 0; t < T; t++) ql.set(q.subarray(t * qStride, t * qStride + H * D), t * H * D);
  const K = kv.subarray(kBase, kBase + (P + T) * rowF);
  const V = kv.subarray(vBase, vBase + (P + T) * rowF);
  return { got, ref: () => attentionRef(ql, K, V, c.mask, T, P, H, Hkv, D, opts.scale, opts.window ?? null, opts.softcap ?? null), q, kv, kBase, vBase, Smax, qStride, pass };
}


/**
 * The output [H·D] of tree node `node` of `tree` (a {@link runAttention} result) computed as AR computes
 * it: the same token decoded alone, T = 1, with the cached rows 0..P−1 followed by its ancestors' K/V rows
 * and its own (the path from the root) in order. Tree row = AR row is the lossless invariant.
 */
export async function treeNodeAlone(
  r: Awaited<ReturnType<typeof testRig>>, cfg: AttentionConfig, tree: Awaited<ReturnType<typeof runAttention>>,
  c: { P: number; H: number; Hkv: number; D: number; window?: number | null }, parent: number[], node: number,
): Promise<{ out: Float32Array; depth: number }> {
  const { P, H, Hkv, D } = c;
  const path: number[] = [];
  for (let a = node; a >= 0; a = parent[a]) path.unshift(a);
  const rowF = Hkv * D;
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
  await run(r, [attentionPass(r.cache, r.cache.bind(attentionKernel(r.cache, cfg), [storage(r.device, q1), kv1, kv1, storage(r.device, new Float32Array(4)), oBuf]),
    { T: 1, P: P + path.length - 1, H, Hkv, D, qStride: tree.qStride, outStride: H * D, kBase: 0, vBase: plane, maskBase: 0, Smax, ...(c.window === undefined ? {} : { window: c.window }) }, cfg)]);
  return { out: await readF32(r.device, oBuf), depth: path.length - 1 };
}
