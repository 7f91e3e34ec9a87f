/**
 * Adaptive draft tree (beyond the paper). The paper's 69-node tree was tuned for A100s; on a weak
 * GPU or a CPU adapter verifying 69 rows can cost far more than one. We measure the forward cost
 * c(T) for a few tree sizes once per (adapter, model) (cached), keep running acceptance statistics
 * per tree node, and each step pick the sub-tree — nodes ordered by observed acceptance, closed under
 * ancestors — that maximises expected new tokens per second, (1 + Σ f_j) / c(T), falling back to AR
 * (T = 1) when nothing beats it. f_j = how often node j lay on the accepted path when it was drafted.
 * Every `exploreEvery`-th step drafts the full tree so that unused nodes keep being measured.
 * Pure TypeScript: the cost probe and its cache are injected.
 */
import type { TreePolicy } from './scheduler.js';
import type { DraftTree } from './tree.js';

/** Measured forward cost: median milliseconds per tree size T. */
export interface CostTable {
  sizes: number[];
  ms: number[];
}

/** Tree sizes the probe measures. */
export const PROBE_SIZES = [1, 2, 4, 8, 16, 32, 48, 69];

/** c(T) by linear interpolation (flat beyond the ends). */
export function costAt(table: CostTable, T: number): number {
  const { sizes, ms } = table;
  if (T <= sizes[0]) return ms[0];
  for (let i = 1; i < sizes.length; i++) {
    if (T <= sizes[i]) return ms[i - 1] + ((ms[i] - ms[i - 1]) * (T - sizes[i - 1])) / (sizes[i] - sizes[i - 1]);
  }
  return ms[ms.length - 1] * (T / sizes[sizes.length - 1]);
}

interface NodeStat {
  drafted: number;
  accepted: number;
}

export interface AdaptiveOptions {
  /** Draft the full tree every n-th step (exploration); default 8. */
  exploreEvery?: number;
  /** Prior pseudo-counts: f starts at priorAccepted / priorDrafted; default 1 / 4 at depth 1, decaying with depth. */
  priorDrafted?: number;
}

export class AdaptiveTreePolicy implements TreePolicy {
  readonly #stats = new Map<string, NodeStat>();
  #step = 0;
  readonly exploreEvery: number;
  readonly priorDrafted: number;
  /** Sub-tree sizes chosen so far (for reporting). */
  readonly chosenSizes: number[] = [];

  constructor(readonly cost: CostTable, opts: AdaptiveOptions = {}) {
    this.exploreEvery = opts.exploreEvery ?? 8;
    this.priorDrafted = opts.priorDrafted ?? 4;
  }

  /** Estimated probability that node `path` is on the accepted path. */
  f(path: readonly number[]): number {
    const s = this.#stats.get(path.join('.'));
    const prior = 0.5 ** path.length; // optimistic-ish prior so new nodes get tried
    return ((s?.accepted ?? 0) + prior * this.priorDrafted) / ((s?.drafted ?? 0) + this.priorDrafted);
  }

  choose(base: DraftTree): DraftTree | null {
    this.#step++;
    if (this.#step % this.exploreEvery === 1 || this.exploreEvery === 1) {
      this.chosenSizes.push(base.size);
      return base;
    }
    // Order nodes by f (ties: shallower, then slot order); parents never rank below children
    // because f_parent ≥ f_child in expectation; closure is enforced explicitly anyway.
    const nodes = base.template.map((p, i) => ({ slot: i + 1, f: this.f(p), depth: p.length }));
    nodes.sort((a, b) => b.f - a.f || a.depth - b.depth || a.slot - b.slot);
    const chosen = new Set<number>();
    const order: number[] = [];
    for (const n of nodes) {
      // add missing ancestors first
      const chain: number[] = [];
      for (let s = n.slot; s > 0 && !chosen.has(s); s = base.parent[s]) chain.unshift(s);
      for (const s of chain) { chosen.add(s); order.push(s); }
    }
    let bestM = 0;
    let bestRate = 1 / costAt(this.cost, 1);
    let gain = 0;
    for (let m = 1; m <= order.length; m++) {
      gain += this.f(base.template[order[m - 1] - 1]);
      const rate = (1 + gain) / costAt(this.cost, m + 1);
      if (rate > bestRate) { bestRate = rate; bestM = m; }
    }
    this.chosenSizes.push(bestM + 1);
    if (bestM === 0) return null;
    return base.subtree(order.slice(0, bestM));
  }

  observe(tree: DraftTree, path: number, accepted: number): void {
    const onPath = new Set(tree.paths[path].slice(1, accepted + 1));
    for (let j = 1; j < tree.size; j++) {
      const key = tree.template[j - 1].join('.');
      const s = this.#stats.get(key) ?? { drafted: 0, accepted: 0 };
      s.drafted++;
      if (onPath.has(j)) s.accepted++;
      this.#stats.set(key, s);
    }
  }
}
