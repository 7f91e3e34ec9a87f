/**
 * Retrieval pool (prompt-lookup / PLD-style n-gram retrieval, the MSN paper's retrieval branch,
 * ../shared/reference/msn-tr-jacobi.md §2.3): an n-gram index over the prompt and the accepted
 * tokens, updated incrementally as tokens are appended (no rescans). `lookup()` matches the longest
 * suffix of the sequence (n = 3, then 2, then 1) against earlier positions and returns up to
 * `maxTokens` tokens that followed the **most recent** earlier occurrence (the reference takes the
 * oldest; recent context predicts better). No match → an empty proposal.
 */
export class RetrievalPool {
  readonly tokens: number[] = [];
  /** One map per n: n-gram key → end index of its most recent occurrence with ≥ 1 token after it. */
  readonly #index: Array<Map<string, number>>;

  constructor(readonly maxN = 3, readonly maxTokens = 5) {
    this.#index = Array.from({ length: maxN + 1 }, () => new Map());
  }

  #key(end: number, n: number): string {
    let k = '';
    for (let i = end - n + 1; i <= end; i++) k += `${this.tokens[i]},`;
    return k;
  }

  /** Appends tokens; O(maxN) work per token. */
  push(...ids: number[]): void {
    for (const id of ids) {
      this.tokens.push(id);
      // The n-grams ending just before the new token now have a continuation: register them.
      const end = this.tokens.length - 2;
      for (let n = 1; n <= this.maxN && end - n + 1 >= 0; n++) this.#index[n].set(this.#key(end, n), end);
    }
  }

  /** Up to `maxTokens` proposed continuation tokens of the current sequence (may be empty). */
  lookup(): number[] {
    const last = this.tokens.length - 1;
    for (let n = Math.min(this.maxN, this.tokens.length); n >= 1; n--) {
      const end = this.#index[n].get(this.#key(last, n));
      if (end !== undefined) return this.tokens.slice(end + 1, Math.min(end + 1 + this.maxTokens, this.tokens.length));
    }
    return [];
  }
}
