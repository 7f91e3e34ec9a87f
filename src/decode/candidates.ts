/**
 * The Jacobi candidate table C [5][11] (MSN reference §2.1): row d−1 holds candidates for the token
 * at offset +d from the root; columns 0..9 are the Jacobi top-1..top-10, column 10 the retrieved
 * token; −1 marks an empty slot. Empty slots are filled with tokens drawn uniformly from the
 * context (prompt + accepted tokens) by an injected RNG before each step.
 */
import type { Rng } from './rng.js';
import { MAX_DEPTH, RETRIEVAL_COL, JACOBI_CANDIDATES } from './tree.js';

export const COLS = JACOBI_CANDIDATES + 1;

export class CandidateTable {
  readonly data = new Int32Array(MAX_DEPTH * COLS).fill(-1);

  get(depth: number, col: number): number {
    return this.data[(depth - 1) * COLS + col];
  }

  /** Leading depths holding real retrieved tokens / real Jacobi candidates (before random fill). */
  availability(): { retrieved: number; jacobiRows: number } {
    let retrieved = 0;
    while (retrieved < MAX_DEPTH && this.data[retrieved * COLS + RETRIEVAL_COL] >= 0) retrieved++;
    let jacobiRows = 0;
    while (jacobiRows < MAX_DEPTH && this.data[jacobiRows * COLS] >= 0) jacobiRows++;
    return { retrieved, jacobiRows };
  }

  /** Empties every slot. */
  clear(): void {
    this.data.fill(-1);
  }

  /** Moves the Jacobi rows `n` positions towards the root (after n tokens were accepted); the rows freed at the end become empty. */
  shift(n: number): void {
    for (let d = 1; d <= MAX_DEPTH; d++) {
      for (let c = 0; c < JACOBI_CANDIDATES; c++) this.data[(d - 1) * COLS + c] = d + n <= MAX_DEPTH ? this.data[(d + n - 1) * COLS + c] : -1;
    }
  }

  /** Row `depth − 1` ← up to 10 Jacobi candidates (best first). */
  setJacobi(depth: number, ids: ArrayLike<number>): void {
    for (let c = 0; c < JACOBI_CANDIDATES; c++) this.data[(depth - 1) * COLS + c] = c < ids.length ? ids[c] : -1;
  }

  /** Column 10 ← the retrieved continuation (row d−1 gets token d−1; missing entries −1). */
  setRetrieval(ids: readonly number[]): void {
    for (let d = 1; d <= MAX_DEPTH; d++) this.data[(d - 1) * COLS + RETRIEVAL_COL] = d <= ids.length ? ids[d - 1] : -1;
  }

  /**
   * Fills the empty slots that `uses` reads — (depth, column) pairs in the tree's slot order — with
   * uniform random tokens of `context`, one draw per slot in that order (so a chain draws exactly
   * like train/evaluate.py's Jacobi reference). Without `uses`, fills every empty slot.
   */
  fillRandom(rng: Rng, context: readonly number[], uses?: Iterable<readonly [number, number]>): void {
    if (!uses) {
      for (let i = 0; i < this.data.length; i++) if (this.data[i] < 0) this.data[i] = context[rng.int(context.length)];
      return;
    }
    for (const [depth, col] of uses) {
      const i = (depth - 1) * COLS + col;
      if (this.data[i] < 0) this.data[i] = context[rng.int(context.length)];
    }
  }
}
