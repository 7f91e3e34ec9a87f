/**
 * A fake deterministic language model behind the executor's StepBackend interface, for testing the
 * scheduler without a GPU. next(context) is a pure function of the whole context: with tunable
 * predictability it follows a random functional graph A[last token] (sequences loop → retrieval
 * hits), otherwise a hash of the last three tokens. Its top-k adds "look-ahead" candidates
 * A[A[ctx[-2]]], A³[ctx[-3]], … so Jacobi candidates computed under a wrong token still contain the
 * right one (what MSN training teaches a real model). The fake keeps a KV "cache" of tokens with the
 * executor's exact keep/commit semantics and asserts positions, masks and kept rows.
 */
import { causalMask } from '../../src/kernels/attention.js';
import type { ForwardRequest, ForwardResult, StepBackend } from '../../src/decode/backend.js';
import { sampleRow, type SamplingParams } from '../../src/decode/sampling.js';

export interface FakeSpec {
  vocab: number;
  seed: number;
  /** Probability (per context, hashed) that the next token follows the functional graph. */
  predictability: number;
}

function hash(...xs: number[]): number {
  let h = 2166136261;
  for (const x of xs) {
    h ^= x + 0x9e3779b9;
    h = Math.imul(h, 16777619) >>> 0;
    h ^= h >>> 13;
  }
  return h >>> 0;
}

export class FakeModel implements StepBackend {
  readonly A: Int32Array;
  kv: number[] = [];
  pending: { tokens: number[]; parent: number[] } | null = null;
  masks = new Map<number, { T: number; mask: Float32Array }>();
  forwards = 0;
  rowsTotal = 0;

  constructor(readonly spec: FakeSpec) {
    this.A = Int32Array.from({ length: spec.vocab }, (_, i) => hash(spec.seed, i) % spec.vocab);
  }

  /** The true next token after `ctx` (greedy argmax). */
  next(ctx: readonly number[]): number {
    const n = ctx.length;
    const last = ctx[n - 1];
    const h = hash(this.spec.seed, 7, last, ctx[n - 2] ?? -1, ctx[n - 3] ?? -1);
    if ((h % 1000) / 1000 < this.spec.predictability) return this.A[last];
    return hash(this.spec.seed, 99, last, ctx[n - 2] ?? -1, ctx[n - 3] ?? -1) % this.spec.vocab;
  }

  /** Top-k: the argmax first, then look-ahead guesses, then hashed filler; distinct ids. */
  topk(ctx: readonly number[], k: number): number[] {
    const out = [this.next(ctx)];
    const n = ctx.length;
    for (let back = 2; back <= 5 && out.length < k; back++) {
      if (n - back < 0) break;
      let x = ctx[n - back];
      for (let i = 0; i < back; i++) x = this.A[x];
      if (!out.includes(x)) out.push(x);
    }
    for (let i = 0; out.length < k && i < 1000; i++) {
      const x = hash(this.spec.seed, 5, i, ctx[n - 1]) % this.spec.vocab;
      if (!out.includes(x)) out.push(x);
    }
    return out.slice(0, k);
  }

  /**
   * Logits of the top-k ids (f32, strictly decreasing by rank: gaps hashed from the context in
   * [0.05, 1.05), so sampling is neither flat nor peaked); slots past the distinct ids found are
   * empty (id −1, value NaN), as the executor returns them.
   */
  topkWithValues(ctx: readonly number[], k: number): { ids: number[]; values: number[] } {
    const ids = this.topk(ctx, k);
    const values: number[] = [];
    let v = 0;
    for (let r = 0; r < ids.length; r++) {
      values.push(Math.fround(v));
      v -= 0.05 + (hash(this.spec.seed, 11, r, ctx[ctx.length - 1], ctx.length) % 1000) / 1000;
    }
    while (ids.length < k) { ids.push(-1); values.push(NaN); }
    return { ids, values };
  }

  /** Plain AR sampling with the seeded Gumbel-max rule (the reference output under sampling). */
  sampled(prompt: readonly number[], n: number, params: SamplingParams, eos: ReadonlySet<number> = new Set()): number[] {
    const ctx = [...prompt];
    const out: number[] = [];
    const k = Math.min(64, this.spec.vocab);
    while (out.length < n) {
      const r = this.topkWithValues(ctx, k);
      const t = sampleRow(r.ids, r.values, params, ctx.length);
      out.push(t);
      ctx.push(t);
      if (eos.has(t)) break;
    }
    return out;
  }

  /** Plain greedy continuation (the reference output). */
  greedy(prompt: readonly number[], n: number, eos: ReadonlySet<number> = new Set()): number[] {
    const ctx = [...prompt];
    const out: number[] = [];
    while (out.length < n) {
      const t = this.next(ctx);
      out.push(t);
      ctx.push(t);
      if (eos.has(t)) break;
    }
    return out;
  }

  async registerMask(mask: Float32Array, T: number): Promise<number> {
    const id = this.masks.size + 1;
    this.masks.set(id, { T, mask: Float32Array.from(mask) });
    return id;
  }

  /** Commits kept pending rows (a root path), as the executor's kvKeep. */
  async kvKeep(keep: number[]): Promise<number> {
    if (!this.pending) throw new Error('fake: keep without a pending block');
    const { tokens, parent } = this.pending;
    keep.forEach((r, i) => {
      if (i === 0 ? r !== 0 : parent[r] !== keep[i - 1]) throw new Error(`fake: kept rows ${JSON.stringify(keep)} are not a root path`);
      this.kv.push(tokens[r]);
    });
    this.pending = null;
    return this.kv.length;
  }

  async forward(req: ForwardRequest): Promise<ForwardResult> {
    this.forwards++;
    const T = req.tokens.length;
    this.rowsTotal += T;
    if (req.keep) await this.kvKeep(req.keep);
    if (req.expectedKvLength !== undefined && req.expectedKvLength !== this.kv.length) throw new Error(`fake: expectedKvLength ${req.expectedKvLength} != ${this.kv.length}`);
    this.pending = null;
    let mask: Float32Array;
    if (req.mask === 'causal') mask = causalMask(T);
    else if (typeof req.mask !== 'number') {
      if (req.mask.length !== T * T) throw new Error('fake: inline mask size');
      mask = req.mask;
    } else {
      const m = this.masks.get(req.mask);
      if (!m || m.T !== T) throw new Error(`fake: bad mask ${req.mask}`);
      mask = m.mask;
    }
    const parent: number[] = [];
    const ids: number[] = [];
    const values: number[] = [];
    const k = req.topK;
    for (let t = 0; t < T; t++) {
      const anc: number[] = [];
      for (let j = 0; j < T; j++) if (j !== t && mask[t * T + j] > -1e30) anc.push(j);
      parent.push(anc.length ? anc[anc.length - 1] : -1);
      const ctx = [...this.kv, ...anc.map((j) => req.tokens[j]), req.tokens[t]];
      if (req.positions[t] !== this.kv.length + anc.length) throw new Error(`fake: row ${t} position ${req.positions[t]} != ${this.kv.length + anc.length}`);
      if ((req.logitRows ?? 'all') === 'all' || t === T - 1) {
        if (k > 0) {
          const r = this.topkWithValues(ctx, k);
          ids.push(...r.ids);
          values.push(...r.values);
        }
      }
    }
    if (req.commit) {
      if (req.mask !== 'causal') throw new Error('fake: commit of a tree block');
      this.kv.push(...Array.from(req.tokens));
    } else {
      this.pending = { tokens: Array.from(req.tokens), parent };
    }
    const rows = k === 0 ? 0 : (req.logitRows === 'last' ? 1 : T);
    return { ids: Int32Array.from(ids), values: Float32Array.from(values), rows, k, kvLength: this.kv.length, gpuMs: 0, gpuTiming: 'wall' };
  }
}
