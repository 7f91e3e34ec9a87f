/**
 * Greedy tree verification (lossless): a path's draft token at slot p[i] is accepted when it equals
 * the model's argmax at its parent slot p[i−1], for i = 1, 2, … while they match, never past the
 * path's true length. The best path accepts the most tokens (first such path on ties); the bonus
 * token is the argmax at its last accepted slot. Accepted drafts + bonus are exactly what greedy AR
 * decoding would produce, because each equals the argmax given its true prefix.
 */
import type { DraftTree } from './tree.js';

export interface Verification {
  /** Index into tree.paths of the best path. */
  path: number;
  /** Accepted draft tokens (0..depth of the path). */
  accepted: number;
  /** Slots kept in the KV cache: the root and the accepted drafts, ascending. */
  slots: number[];
  /** New tokens of this step: accepted drafts then the bonus token. */
  tokens: number[];
}

/** @param tokens [T] tree tokens (slot order); @param argmax [T] model argmax per slot. */
export function verifyGreedy(tree: DraftTree, tokens: ArrayLike<number>, argmax: ArrayLike<number>): Verification {
  let best = 0;
  let bestLen = -1;
  tree.paths.forEach((p, i) => {
    let a = 0;
    while (a + 1 < p.length && tokens[p[a + 1]] === argmax[p[a]]) a++;
    if (a > bestLen) {
      bestLen = a;
      best = i;
    }
  });
  const p = tree.paths[best];
  const slots = p.slice(0, bestLen + 1);
  const out = slots.slice(1).map((s) => tokens[s]);
  out.push(argmax[slots[slots.length - 1]]);
  return { path: best, accepted: bestLen, slots, tokens: out };
}
