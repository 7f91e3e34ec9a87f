/**
 * Static draft trees for tree-masked verification (MSN paper's TR-Jacobi, reference
 * ../shared/reference/msn-tr-jacobi.md §2.1-2.2). A node is named by its template path: a list of
 * candidate columns, one per depth; its token is C[depth − 1][last column] of the candidate table
 * (columns 0..9 = Jacobi top-1..top-10, column 10 = the retrieved token). Slot 0 is the root (the
 * current last token). Built once: per-node depth, parent, source column, the additive T×T ancestor
 * mask, and the root-to-leaf paths with their true lengths (the reference pads paths with the root
 * slot and so falsely accepts past a leaf, §2.4 item 1; we never look past a path's end).
 */

/**
 * Jacobi candidates per future position: the previous step's top-1..top-10 outputs along the
 * rejected tail of its best path (columns 0..9 of the candidate table). Not a sampling top-k:
 * decoding is greedy; this is how many ranked outputs per row a tree step asks the executor for.
 */
export const JACOBI_CANDIDATES = 10;
/** Column of the candidate table holding the retrieved token (after the Jacobi columns). */
export const RETRIEVAL_COL = JACOBI_CANDIDATES;
/** Future positions with candidates. */
export const MAX_DEPTH = 5;

/** The retrieval chain: depth 1..5 along column {@link RETRIEVAL_COL}. */
export const RETRIEVAL_CHAIN: number[][] = Array.from({ length: MAX_DEPTH }, (_, d) => new Array<number>(d + 1).fill(RETRIEVAL_COL));

/** Medusa's `mc_sim_7b_63` sparse tree (63 nodes), reused verbatim by the MSN reference. */
export const MC_SIM_7B_63: number[][] = [[0], [0, 0], [1], [0, 1], [2], [0, 0, 0], [1, 0], [0, 2], [3], [0, 3], [4], [0, 4], [2, 0], [0, 5], [0, 0, 1],
  [5], [0, 6], [6], [0, 7], [0, 1, 0], [1, 1], [7], [0, 8], [0, 0, 2], [3, 0], [0, 9], [8], [9], [1, 0, 0], [0, 2, 0], [1, 2], [0, 0, 3],
  [4, 0], [2, 1], [0, 0, 4], [0, 0, 5], [0, 0, 0, 0], [0, 1, 1], [0, 0, 6], [0, 3, 0], [5, 0], [1, 3], [0, 0, 7], [0, 0, 8], [0, 0, 9],
  [6, 0], [0, 4, 0], [1, 4], [7, 0], [0, 1, 2], [2, 0, 0], [3, 1], [2, 2], [8, 0], [0, 5, 0], [1, 5], [1, 0, 1], [0, 2, 1], [9, 0],
  [0, 6, 0], [0, 0, 0, 1], [1, 6], [0, 7, 0]];

/**
 * Nodes of the paper's tree (root + retrieval chain + mc_sim_7b_63 = 69): the largest tree a step
 * verifies, hence the KV rows kept free beyond the context (`TREE_ROOM` of src/worker/api.ts).
 */
export const PAPER_TREE_SIZE = 1 + RETRIEVAL_CHAIN.length + MC_SIM_7B_63.length;

/** Additive mask value for "not visible" (finite: WGSL may assume no infinities). */
export const MASKED = -3.4e38;

export class DraftTree {
  /** Nodes including the root (T). */
  readonly size: number;
  /** depth[j]: 0 for the root. */
  readonly depth: Int32Array;
  /** parent[j]: −1 for the root. */
  readonly parent: Int32Array;
  /** col[j]: candidate column of node j (−1 for the root). */
  readonly col: Int32Array;
  /** Root-to-leaf slot paths, each starting with 0, with their true lengths. */
  readonly paths: number[][];
  /** Index of the path that is the retrieval chain, or −1. */
  readonly retrievalPath: number;
  /** Template paths of the non-root nodes, in slot order (slot = index + 1). */
  readonly template: number[][];
  /** Stable identity, for caching the uploaded mask. */
  readonly key: string;
  readonly maxDepth: number;

  /**
   * @param template node paths in slot order; every node's parent path must come earlier.
   * @throws Error on a malformed template (missing parent, duplicate, bad column).
   */
  constructor(template: number[][]) {
    this.template = template.map((p) => [...p]);
    const T = template.length + 1;
    this.size = T;
    this.depth = new Int32Array(T);
    this.parent = new Int32Array(T).fill(-1);
    this.col = new Int32Array(T).fill(-1);
    const slotOf = new Map<string, number>([['', 0]]);
    template.forEach((p, i) => {
      const j = i + 1;
      const key = p.join(',');
      if (p.length < 1 || p.length > MAX_DEPTH) throw new Error(`DraftTree: path ${JSON.stringify(p)} must have 1..${MAX_DEPTH} entries`);
      if (slotOf.has(key)) throw new Error(`DraftTree: duplicate path ${JSON.stringify(p)}`);
      for (const c of p) if (!Number.isInteger(c) || c < 0 || c > RETRIEVAL_COL) throw new Error(`DraftTree: bad column in ${JSON.stringify(p)}`);
      const par = slotOf.get(p.slice(0, -1).join(','));
      if (par === undefined) throw new Error(`DraftTree: parent of ${JSON.stringify(p)} must come before it`);
      slotOf.set(key, j);
      this.depth[j] = p.length;
      this.parent[j] = par;
      this.col[j] = p[p.length - 1];
    });
    const hasChild = new Uint8Array(T);
    for (let j = 1; j < T; j++) hasChild[this.parent[j]] = 1;
    this.paths = [];
    for (let j = 0; j < T; j++) {
      if (hasChild[j]) continue;
      const path: number[] = [];
      for (let a = j; a >= 0; a = this.parent[a]) path.unshift(a);
      this.paths.push(path);
    }
    this.retrievalPath = this.paths.findIndex((p) => p.length > 1 && p.slice(1).every((s) => this.col[s] === RETRIEVAL_COL));
    this.maxDepth = Math.max(0, ...this.depth);
    this.key = template.map((p) => p.join('.')).join('|');
  }

  /** The paper's tree ({@link PAPER_TREE_SIZE} = 69 nodes): root + 5-deep retrieval chain + mc_sim_7b_63. */
  static paper(): DraftTree {
    return new DraftTree([...RETRIEVAL_CHAIN, ...MC_SIM_7B_63]);
  }

  /** Plain Jacobi window: root + a chain of `n` top-1 candidates. */
  static jacobiChain(n = MAX_DEPTH): DraftTree {
    return new DraftTree(Array.from({ length: n }, (_, i) => new Array<number>(i + 1).fill(0)));
  }

  /** Prompt lookup: root + a chain of `n` retrieved tokens. */
  static retrievalChain(n: number): DraftTree {
    return new DraftTree(RETRIEVAL_CHAIN.slice(0, n));
  }

  /** The sub-tree of the given non-root slots (closed under ancestors is checked), in slot order. */
  subtree(slots: Iterable<number>): DraftTree {
    const keep = new Set(slots);
    keep.delete(0);
    for (const s of keep) {
      if (s < 1 || s >= this.size) throw new Error(`subtree: slot ${s} out of range`);
      if (this.parent[s] !== 0 && !keep.has(this.parent[s])) throw new Error(`subtree: slot ${s} kept without its parent ${this.parent[s]}`);
    }
    return new DraftTree(this.template.filter((_, i) => keep.has(i + 1)));
  }

  /** The sub-tree of nodes with depth ≤ d. */
  truncate(d: number): DraftTree {
    if (d >= this.maxDepth) return this;
    return new DraftTree(this.template.filter((p) => p.length <= d));
  }

  /** Additive T×T ancestor mask: 0 where node i may see node j (j ancestor-or-self of i), MASKED elsewhere. */
  mask(): Float32Array {
    const T = this.size;
    const m = new Float32Array(T * T).fill(MASKED);
    for (let i = 0; i < T; i++) for (let a = i; a >= 0; a = this.parent[a]) m[i * T + a] = 0;
    return m;
  }
}
