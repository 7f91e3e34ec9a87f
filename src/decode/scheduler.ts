/**
 * The decoding scheduler: prefill, then decode steps until EOS, a stop (`stopAfter`) or `maxNewTokens`, yielding the new
 * tokens of each step. One scheduler serves every mode:
 *   - `ar`: greedy autoregressive, one token per forward;
 *   - `jacobi`: a chain of 5 Jacobi candidates (no retrieval);
 *   - `retrieval`: prompt lookup, a chain of up to 5 retrieved tokens (AR when nothing matches);
 *   - `tr-jacobi`: the MSN paper's tree — retrieval chain + mc_sim_7b_63 Jacobi tree, 69 nodes —
 *     verified in one forward with a tree mask (reference §2.3, minus its bugs §2.4).
 * Every mode outputs exactly the greedy AR tokens (the lossless invariant). With `sampling` set, the
 * token at each position is the seeded Gumbel-max draw of `sampling.ts` instead of the argmax: it
 * depends only on (seed, position, the row's logits), so a tree row draws what AR draws there,
 * verification stays exact-match, and every mode outputs exactly AR's sampled tokens.
 * Non-finite logits: the backend returns id −1 for a top-k slot that no finite logit fills (and ids
 * outside [0, vocabSize) are treated the same). Such ids never become tokens or Jacobi candidates;
 * when the row greedy AR would take its next token from has none, decoding stops with
 * NonFiniteLogitsError after yielding every token before it — the same tokens and the same position
 * in every mode (ARCHITECTURE.md, "Non-finite logits").
 * Definitions used everywhere (README, stats, benchmarks):
 *   - prefill covers the prompt minus its last token (committed to the KV cache in chunks);
 *   - every decode step starts from the current last token (the "root");
 *   - steps = decode forwards; newTokens includes a generated EOS; MAT = newTokens / steps.
 */
import { AbortedError, ContextOverflowError, InvalidArgumentError, MsnError, NonFiniteLogitsError } from '../errors.js';
import type { StepBackend } from './backend.js';
import { CandidateTable, COLS } from './candidates.js';
import { RetrievalPool } from './retrieval.js';
import { createRng, type Rng } from './rng.js';
import { noisedRanking, SAMPLING_CANDIDATES, sampleRow, type SamplingParams } from './sampling.js';
import { DraftTree, JACOBI_CANDIDATES, MAX_DEPTH, RETRIEVAL_COL } from './tree.js';
import { verifyGreedy } from './verify.js';

export type DecodeMode = 'ar' | 'jacobi' | 'retrieval' | 'tr-jacobi';
export const DECODE_MODES: readonly DecodeMode[] = ['ar', 'jacobi', 'retrieval', 'tr-jacobi'];

/** Which candidate-table entries hold real candidates this step (others would be random fill). */
export interface DraftAvailability {
  /** Leading depths with a retrieved token (0..5). */
  retrieved: number;
  /** Leading depths with Jacobi outputs from an earlier step (0..5). */
  jacobiRows: number;
}

/** Chooses the draft tree of each step (the adaptive policy implements this). */
export interface TreePolicy {
  /** Tree for the next step, or null for an AR step. `base` is the mode's full tree. */
  choose(base: DraftTree, avail?: DraftAvailability): DraftTree | null;
  /** Feedback after each tree step: the tree used, its best path and accepted length, and wall time. */
  observe?(tree: DraftTree, path: number, accepted: number, ms: number): void;
  /** Feedback after an AR step the policy chose (wall time). */
  observeAr?(ms: number): void;
}

export interface DecodeOptions {
  mode: DecodeMode;
  maxNewTokens: number;
  /** Token ids that end generation (the EOS token is emitted, then decoding stops). */
  eosTokenIds: ReadonlySet<number>;
  /** Rows of one forward (prefill chunk size; bounds the tree size). */
  maxRows: number;
  /** Tokens the KV cache can hold for prompt + generation. */
  contextLength: number;
  signal?: AbortSignal;
  /** Milliseconds clock (injected for tests). */
  now?: () => number;
  /** RNG for draft initialisation (default seeded 0x5eed). */
  rng?: Rng;
  /**
   * Sampling (temperature > 0), or absent for greedy decoding. Rows then return their top-64 and
   * each token is `sampleRow` at its absolute position; Jacobi candidates are the noised ranking.
   */
  sampling?: SamplingParams;
  /** Tree policy for `tr-jacobi` (default: the fixed paper tree). */
  policy?: TreePolicy;
  /** Mask ids already registered with this backend, by tree key (reused across generations). */
  maskCache?: Map<string, number>;
  /** Vocabulary size: caps the top-k requested per row (default 10) and bounds valid ids. */
  vocabSize?: number;
  /** Called after every decode step with the running stats (live tokens/s and MAT in a UI). */
  onStep?: (stats: Readonly<DecodeStats>) => void;
  /** When the request started (clock of `now`), if before this call: TTFT counts from there. */
  startedAt?: number;
  /**
   * Called once per emitted token, in order (EOS tokens excepted), before the step is yielded; true
   * ends generation after this token (`stopReason` 'stop'), even inside an accepted draft run: the
   * engine's stop sequences. The tokens after it are neither emitted nor counted.
   */
  stopAfter?: (id: number) => boolean;
  /**
   * KV rows already committed in the backend that hold `promptIds[0..cachedPrefix)` (multi-turn
   * prefix reuse); prefill starts after them. Must be ≤ promptIds.length − 1 (default 0).
   */
  cachedPrefix?: number;
  /**
   * At the end of a generation that finished normally (EOS, stop, length), commit the last tree
   * step's accepted rows up to the last emitted token (`backend.kvKeep`), so the committed cache then
   * holds exactly prompt + new tokens minus the last one (it has no KV row yet). Default false.
   */
  commitTail?: boolean;
}

/** Counters of one generation. */
export interface DecodeStats {
  promptTokens: number;
  newTokens: number;
  steps: number;
  prefillMs: number;
  /** From the start of the request (incl. a one-time adaptive cost probe) to the first new token. */
  ttftMs: number;
  decodeMs: number;
  /** acceptedHistogram[n] = steps that produced n new tokens (accepted drafts + bonus). */
  acceptedHistogram: number[];
  /** Steps whose best path was the retrieval chain with at least one accepted draft. */
  retrievalWins: number;
  /** Mean tree size (rows per forward) over decode steps. */
  meanTreeSize: number;
  /** 'stop': `stopAfter` ended it. */
  stopReason: 'eos' | 'stop' | 'length' | null;
}

function abortCheck(signal?: AbortSignal): void {
  if (signal?.aborted) throw new AbortedError();
}

/** The full tree of a mode (before trimming). */
export function baseTree(mode: DecodeMode): DraftTree | null {
  if (mode === 'ar') return null;
  if (mode === 'jacobi') return DraftTree.jacobiChain(MAX_DEPTH);
  if (mode === 'retrieval') return DraftTree.retrievalChain(MAX_DEPTH);
  return DraftTree.paper();
}

/**
 * Runs prefill + decode; yields the new tokens of each step. The generator's return value is the
 * stats. @throws ContextOverflowError before any GPU work when prompt + maxNewTokens > context;
 * AbortedError when `signal` aborts (between steps); InvalidArgumentError for bad options;
 * NonFiniteLogitsError when the row that decides the next token has no finite logit (after the
 * tokens before it were yielded).
 */
export async function* decode(backend: StepBackend, promptIds: readonly number[], opts: DecodeOptions): AsyncGenerator<number[], DecodeStats> {
  const now = opts.now ?? (() => performance.now());
  if (promptIds.length === 0) throw new InvalidArgumentError('The prompt has no tokens.');
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 1) throw new InvalidArgumentError(`maxNewTokens must be a positive integer, got ${opts.maxNewTokens}.`);
  if (!(DECODE_MODES as readonly string[]).includes(opts.mode)) throw new InvalidArgumentError(`Unknown decode mode "${opts.mode}"; use one of ${DECODE_MODES.join(', ')}.`);
  if (promptIds.length + opts.maxNewTokens > opts.contextLength) throw new ContextOverflowError(promptIds.length, opts.maxNewTokens, opts.contextLength);
  const stats: DecodeStats = { promptTokens: promptIds.length, newTokens: 0, steps: 0, prefillMs: 0, ttftMs: 0, decodeMs: 0, acceptedHistogram: [], retrievalWins: 0, meanTreeSize: 0, stopReason: null };
  const t0 = now();
  // Prefill: prompt[:-1] in chunks, no logits (after the rows a previous request left).
  const pre = promptIds.length - 1;
  const cached = opts.cachedPrefix ?? 0;
  if (!Number.isInteger(cached) || cached < 0 || cached > pre) throw new InvalidArgumentError(`cachedPrefix must be an integer in [0, ${pre}], got ${cached}.`);
  for (let s = cached; s < pre; s += opts.maxRows) {
    abortCheck(opts.signal);
    const n = Math.min(opts.maxRows, pre - s);
    await backend.forward({ tokens: promptIds.slice(s, s + n), positions: Array.from({ length: n }, (_, i) => s + i), mask: 'causal', topK: 0, commit: true, expectedKvLength: s });
  }
  stats.prefillMs = now() - t0;

  const tDecode = now();
  const base = baseTree(opts.mode);
  const rng = opts.rng ?? createRng(0x5eed);
  const pool = new RetrievalPool(3, MAX_DEPTH);
  pool.push(...promptIds);
  const cand = new CandidateTable();
  const masks = opts.maskCache ?? new Map<string, number>();
  let root = promptIds[promptIds.length - 1];
  let P = promptIds.length - 1; // committed KV rows = position of the root
  let keep: number[] | undefined; // accepted slots of the previous (pending) tree step
  let rows = 0;
  const sampling = opts.sampling;
  const topK = sampling ? Math.min(SAMPLING_CANDIDATES, opts.vocabSize ?? SAMPLING_CANDIDATES) : Math.min(JACOBI_CANDIDATES, opts.vocabSize ?? JACOBI_CANDIDATES);
  const V = opts.vocabSize ?? Infinity;
  /** −1 for an id that is no token (an empty top-k slot, or a broken backend's id ≥ V). */
  const tokenOr = (id: number): number => (id >= 0 && id < V ? id : -1);
  /** Row j's valid ids and values (invalid ids → −1), best first. */
  const rowOf = (r: { ids: Int32Array; values: Float32Array; k: number }, j: number) => ({
    ids: Array.from(r.ids.subarray(j * r.k, (j + 1) * r.k), tokenOr), values: r.values.subarray(j * r.k, (j + 1) * r.k),
  });
  /** The token row j decides for absolute position `pos`: its argmax, or the seeded draw. */
  const pick = (r: { ids: Int32Array; values: Float32Array; k: number }, j: number, pos: number): number => {
    if (!sampling) return tokenOr(r.ids[j * r.k]);
    const row = rowOf(r, j);
    return sampleRow(row.ids, row.values, sampling, pos);
  };
  let nonFinite: NonFiniteLogitsError | null = null;
  if (base) cand.setRetrieval(pool.lookup());

  const maskId = async (tree: DraftTree): Promise<number> => {
    let id = masks.get(tree.key);
    if (id === undefined) {
      id = await backend.registerMask(tree.mask(), tree.size);
      masks.set(tree.key, id);
    }
    return id;
  };

  while (true) {
    abortCheck(opts.signal);
    const remaining = opts.maxNewTokens - stats.newTokens;
    // Choose this step's tree: the mode's tree, trimmed so drafts never run past maxNewTokens, the
    // context, or the rows of one forward; `retrieval` drafts only what the pool proposed.
    let tree: DraftTree | null = base;
    if (tree && opts.mode === 'retrieval') {
      const n = cand.data.filter((_, i) => i % COLS === RETRIEVAL_COL && cand.data[i] >= 0).length;
      tree = n > 0 ? DraftTree.retrievalChain(n) : null;
    }
    if (tree && opts.mode === 'tr-jacobi' && opts.policy) tree = opts.policy.choose(tree, cand.availability());
    if (tree) {
      const dmax = Math.min(MAX_DEPTH, remaining - 1, opts.contextLength - 1 - P);
      tree = dmax >= 1 ? tree.truncate(dmax) : null;
      if (tree && tree.size > opts.maxRows) tree = tree.subtree(Array.from({ length: opts.maxRows - 1 }, (_, i) => i + 1));
      if (tree && tree.size <= 1) tree = null;
    }

    let newTokens: number[];
    const tStep = now();
    if (!tree) {
      const r = await backend.forward({ tokens: [root], positions: [P], mask: 'causal', topK: sampling ? topK : 1, commit: true, keep, expectedKvLength: P });
      const next = pick(r, 0, P + 1);
      if (next < 0) throw new NonFiniteLogitsError({ step: stats.steps + 1, row: 0, position: P, id: r.ids[0] });
      keep = undefined;
      newTokens = [next];
      P += 1;
      rows += 1;
      // One token accepted: the Jacobi candidates move one position closer to the root.
      cand.shift(1);
      if (base && opts.mode === 'tr-jacobi') opts.policy?.observeAr?.(now() - tStep);
    } else {
      const T = tree.size;
      cand.fillRandom(rng, pool.tokens, Array.from({ length: T - 1 }, (_, i) => [tree!.depth[i + 1], tree!.col[i + 1]] as const));
      const tokens = new Array<number>(T);
      tokens[0] = root;
      for (let j = 1; j < T; j++) tokens[j] = cand.get(tree.depth[j], tree.col[j]);
      const positions = Array.from(tree.depth, (d) => P + d);
      // The mode's static tree is uploaded once and referenced by id; per-step trees (adaptive
      // sub-trees, trimmed trees, retrieval chains) carry their small mask with the step.
      const isStatic = tree === base;
      let r;
      try {
        r = await backend.forward({ tokens, positions, mask: isStatic ? await maskId(tree) : tree.mask(), topK, commit: false, keep, expectedKvLength: P });
      } catch (e) {
        // The executor's mask library may have been reset: register again once.
        if (!(isStatic && e instanceof MsnError && e.code === 'unknown-mask')) throw e;
        masks.delete(tree.key);
        r = await backend.forward({ tokens, positions, mask: await maskId(tree), topK, commit: false, keep, expectedKvLength: P });
      }
      const k = r.k;
      // An argmax (or draw) of −1 (no finite logit) matches no draft, so verification stops before
      // it. Row j holds the token at depth(j) and decides the one at position P + depth(j) + 1.
      const argmax = Array.from({ length: T }, (_, j) => pick(r, j, P + tree!.depth[j] + 1));
      const v = verifyGreedy(tree, tokens, argmax);
      keep = v.slots;
      newTokens = v.tokens;
      if (newTokens[newTokens.length - 1] < 0) {
        // The bonus row (where AR would decode next) has no finite logit: emit the accepted drafts
        // first, as AR would have, then stop (unless they end generation before that row counts).
        const row = v.slots[v.slots.length - 1];
        nonFinite = new NonFiniteLogitsError({ step: stats.steps + 1, row, position: P + tree.depth[row], id: r.ids[row * k] });
        newTokens = newTokens.slice(0, -1);
        if (newTokens.length === 0) throw nonFinite;
      }
      P += v.slots.length;
      rows += T;
      if (v.path === tree.retrievalPath && v.accepted > 0) stats.retrievalWins++;
      // Next Jacobi draft: top-10 outputs along the rejected tail of the best path (sampling: the
      // top-10 of the noised ranking at the position each candidate would take).
      cand.clear();
      const path = tree.paths[v.path];
      for (let rIdx = 0; v.accepted + 1 + rIdx < path.length && rIdx < MAX_DEPTH; rIdx++) {
        const slot = path[v.accepted + 1 + rIdx];
        if (sampling) {
          const row = rowOf(r, slot);
          cand.setJacobi(rIdx + 1, noisedRanking(row.ids, row.values, sampling, P - v.slots.length + tree.depth[slot] + 1).slice(0, JACOBI_CANDIDATES));
        } else cand.setJacobi(rIdx + 1, Array.from(r.ids.subarray(slot * k, slot * k + k), tokenOr));
      }
      opts.policy?.observe?.(tree, v.path, v.accepted, now() - tStep);
    }
    stats.steps++;
    // Emit, stopping exactly at EOS and at maxNewTokens even inside an accepted run.
    const emit: number[] = [];
    for (const t of newTokens) {
      emit.push(t);
      if (opts.eosTokenIds.has(t)) { stats.stopReason = 'eos'; break; }
      if (opts.stopAfter?.(t)) { stats.stopReason = 'stop'; break; }
      if (stats.newTokens + emit.length >= opts.maxNewTokens) { stats.stopReason = 'length'; break; }
    }
    stats.newTokens += emit.length;
    stats.acceptedHistogram[emit.length] = (stats.acceptedHistogram[emit.length] ?? 0) + 1;
    if (stats.newTokens === emit.length) stats.ttftMs = now() - (opts.startedAt ?? t0);
    stats.decodeMs = now() - tDecode;
    pool.push(...emit);
    opts.onStep?.(stats);
    yield emit;
    if (stats.stopReason) {
      // The last tree step's accepted rows are still pending: commit those of the emitted tokens
      // (the root's and each emitted draft's but the last; slot i holds the token before emit[i]).
      if (opts.commitTail && keep && backend.kvKeep) await backend.kvKeep(keep.slice(0, emit.length));
      break;
    }
    if (nonFinite) throw nonFinite;
    root = newTokens[newTokens.length - 1];
    if (base) cand.setRetrieval(pool.lookup());
  }
  for (let i = 0; i < stats.acceptedHistogram.length; i++) stats.acceptedHistogram[i] ??= 0;
  stats.meanTreeSize = stats.steps ? rows / stats.steps : 0;
  return stats;
}
