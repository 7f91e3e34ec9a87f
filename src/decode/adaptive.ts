/**
 * Adaptive draft tree (beyond the paper). The paper's 69-node tree was tuned for A100s; on a weak
 * GPU or a CPU adapter verifying 69 rows can cost far more than one. We measure the forward cost
 * c(T) for a few tree sizes once per (adapter, model) (cached), keep running acceptance statistics
 * per tree node, and each step pick the sub-tree — nodes ordered by observed acceptance, closed under
 * ancestors — that maximises expected new tokens per second, (1 + Σ f_j) / c(T), falling back to AR
 * (T = 1) when nothing beats it. f_j = how often node j lay on the accepted path when it was drafted
 * (a rank- and depth-dependent prior until measured).
 * Exploration is budgeted: at most `exploreBudget` of the decode time goes to steps that draft more
 * than the chosen tree, and an exploration tree costs at most twice the chosen one (on a GPU, where
 * 69 rows cost about one, that is the full tree; on a CPU adapter a few extra nodes).
 * Observed step times rescale the probed costs (the probe is one noisy measurement).
 * Pure TypeScript: the cost probe and its cache are injected.
 */
import type { DraftAvailability, TreePolicy } from './scheduler.js';
import { PAPER_TREE_SIZE, RETRIEVAL_COL, type DraftTree } from './tree.js';

/** Measured forward cost: median milliseconds per tree size T. */
export interface CostTable {
  sizes: number[];
  ms: number[];
}

/** Tree sizes the probe measures. */
export const PROBE_SIZES = [1, 2, 4, 8, 16, 32, 48, PAPER_TREE_SIZE];

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
  /** At most one exploration step every n steps; default 8. */
  exploreEvery?: number;
  /** Share of decode time that exploration may spend; default 0.03. */
  exploreBudget?: number;
  /** A tree must promise this many times AR's tokens per second to be chosen (estimates are noisy); default 1.25. */
  margin?: number;
  /** Weight of the prior in pseudo-drafts (default 4). */
  priorDrafted?: number;
}

export class AdaptiveTreePolicy implements TreePolicy {
  readonly #stats = new Map<string, NodeStat>();
  #step = 0;
  #totalMs = 0;
  #exploreMs = 0;
  #lastExplore = -Infinity;
  #exploring = false;
  #lastAr = -Infinity;
  /** EMA of observed / probed step cost (corrects the probe for load and noise). */
  #scale = 1;
  /** Observed step cost per tree size: EMA (ms) and count. */
  readonly #observed = new Map<number, { ema: number; n: number }>();
  readonly exploreEvery: number;
  readonly exploreBudget: number;
  readonly margin: number;
  readonly priorDrafted: number;
  /** Sub-tree sizes chosen so far (for reporting). */
  readonly chosenSizes: number[] = [];

  constructor(readonly cost: CostTable, opts: AdaptiveOptions = {}) {
    this.exploreEvery = opts.exploreEvery ?? 8;
    this.exploreBudget = opts.exploreBudget ?? 0.03;
    this.margin = opts.margin ?? 1.25;
    this.priorDrafted = opts.priorDrafted ?? 4;
  }

  /**
   * Prior acceptance of a node before it is measured: 0.3 for the top Jacobi candidate or the
   * retrieved token at depth 1, falling with the candidate's rank and with depth (typical of
   * MSN models; the paper's tree ordering encodes the same belief).
   */
  static prior(path: readonly number[]): number {
    let p = 1;
    for (let d = 0; d < path.length; d++) {
      const col = path[d];
      p *= (d === 0 ? 0.3 : 0.5) / (col === RETRIEVAL_COL ? 1 : 1 + col);
    }
    return p;
  }

  /** Estimated probability that node `path` is on the accepted path. */
  f(path: readonly number[]): number {
    const s = this.#stats.get(path.join('.'));
    return ((s?.accepted ?? 0) + AdaptiveTreePolicy.prior(path) * this.priorDrafted) / ((s?.drafted ?? 0) + this.priorDrafted);
  }

  /**
   * Expected wall time of a step with T rows, ms: the observed average for this size once seen
   * twice, else the probed cost rescaled by how observed steps compare with the probe.
   */
  costOf(T: number): number {
    const o = this.#observed.get(T);
    if (o && o.n >= 2) return o.ema;
    return this.#scale * costAt(this.cost, T);
  }

  choose(base: DraftTree, avail?: DraftAvailability): DraftTree | null {
    this.#step++;
    // Measure the real cost of an AR step first, and again now and then: the probe's relative
    // costs miss per-step overheads (KV compaction, longer context, round trips).
    const ar = this.#observed.get(1);
    const timed = this.#observed.size > 0;
    if (this.#step <= 2 || (timed && (!ar || ar.n < 2 || this.#step - this.#lastAr > 64))) {
      this.#lastAr = this.#step;
      this.chosenSizes.push(1);
      return null;
    }
    // Only nodes whose candidate is real this step (a retrieved token, a Jacobi output) are worth
    // drafting: a random context token is what an empty slot gets. Order by f (ties: shallower,
    // then slot order), adding missing ancestors first.
    const real = (p: readonly number[]) => !avail || p.every((c, d) => (c === RETRIEVAL_COL ? d < avail.retrieved : d < avail.jacobiRows));
    const nodes = base.template.map((p, i) => ({ slot: i + 1, f: real(p) ? this.f(p) : 0, depth: p.length, real: real(p) })).filter((n) => n.real);
    nodes.sort((a, b) => b.f - a.f || a.depth - b.depth || a.slot - b.slot);
    const chosen = new Set<number>();
    const order: number[] = [];
    for (const n of nodes) {
      const chain: number[] = [];
      for (let s = n.slot; s > 0 && !chosen.has(s); s = base.parent[s]) chain.unshift(s);
      for (const s of chain) { chosen.add(s); order.push(s); }
    }
    let bestM = 0;
    let bestRate = this.margin / this.costOf(1);
    let gain = 0;
    for (let m = 1; m <= order.length; m++) {
      gain += this.f(base.template[order[m - 1] - 1]);
      const rate = (1 + gain) / this.costOf(m + 1);
      if (rate > bestRate) { bestRate = rate; bestM = m; }
    }
    // Budgeted exploration: extend the tree to the largest prefix costing ≤ 2× the chosen one.
    this.#exploring = false;
    if (this.#step - this.#lastExplore >= this.exploreEvery && this.#exploreMs <= this.exploreBudget * this.#totalMs) {
      let m = bestM;
      while (m < order.length && this.costOf(m + 2) <= 2 * this.costOf(bestM + 1)) m++;
      if (m > bestM) {
        this.#exploring = true;
        this.#lastExplore = this.#step;
        bestM = m;
      }
    }
    this.chosenSizes.push(bestM + 1);
    if (bestM === 0) {
      this.#lastAr = this.#step;
      return null;
    }
    return base.subtree(order.slice(0, bestM));
  }

  /** Feedback of an AR step (T = 1) taken instead of a tree. */
  observeAr(ms: number): void {
    this.#account(1, ms);
  }

  #account(T: number, ms: number): void {
    if (!(ms > 0)) return;
    this.#totalMs += ms;
    if (this.#exploring) this.#exploreMs += ms;
    this.#exploring = false;
    const ratio = ms / costAt(this.cost, T);
    this.#scale = 0.9 * this.#scale + 0.1 * Math.min(10, Math.max(0.1, ratio));
    const o = this.#observed.get(T);
    if (!o) this.#observed.set(T, { ema: ms, n: 1 });
    else {
      o.n++;
      o.ema = o.n <= 4 ? o.ema + (ms - o.ema) / o.n : 0.8 * o.ema + 0.2 * ms;
    }
  }

  observe(tree: DraftTree, path: number, accepted: number, ms = 0): void {
    this.#account(tree.size, ms);
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
