/**
 * Lossless sampling by seeded Gumbel-max (issue 13). Pure TypeScript, float64, no WebGPU.
 *
 * The token at absolute position i (the position the sampled token will occupy) is
 *
 *     argmax_{t ∈ S(row)}  logit_t / temperature + g(seed, i, t),     g = −log(−log u),
 *
 * where S(row) is the row's truncated candidate set and u = u(seed, i, t) ∈ (0, 1) comes from the
 * counter-based generator Philox-4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as
 * easy as 1, 2, 3", SC 2011; constants and round function of Random123's philox.h) keyed by the seed
 * with counter (i, t, 0, 0). By the Gumbel-max trick (Gumbel 1954; Maddison, Tarlow, Minka, "A*
 * Sampling", NeurIPS 2014, §2) the argmax is an exact draw from softmax(logit / temperature) over S.
 * The noise depends only on (seed, i, t), never on which forward or tree row computed the logits, so
 * a draft tree's row at position i draws exactly the token that one-token-at-a-time (AR) sampling
 * draws there: verification stays exact-match and TR-Jacobi's sampled output equals AR's.
 *
 * The candidate set S, in Hugging Face's order (transformers' `TemperatureLogitsWarper`,
 * `TopKLogitsWarper`, `TopPLogitsWarper`, `MinPLogitsWarper`, applied in that order):
 *   0. the row's {@link SAMPLING_CANDIDATES} = 64 most likely finite tokens (the worker's top-64,
 *      ranked by logit descending, ties to the lower id); ties with the 64th beyond it are dropped;
 *   1. temperature: s_t = logit_t / temperature (float64 of the f32 logit); when some |s_t| > 2^32
 *      or overflows (a tiny temperature: the noise would be lost in the rounding of s_t and ties go
 *      to the lower id), s_t = (logit_t − max logit) / temperature instead, the same
 *      distribution shifted, so the top logits score 0 and the others −∞ or far below: the limit
 *      t → 0, greedy with ties among the top logits drawn by the noise;
 *   2. top-k: keep s_t ≥ the k-th largest s (ties with it kept, as HF); k = 0 or k ≥ 64: no-op;
 *   3. top-p: softmax over the kept set; in ascending order (ties: higher id first), drop tokens while
 *      the cumulative probability is ≤ 1 − topP; the most likely token is always kept;
 *   4. min-p: softmax over the kept set; drop tokens with p_t < minP · max p (the top one stays).
 * top-p and min-p therefore renormalise within the 64 candidates, as llama.cpp and HF do after their
 * default top-k.
 */
import { InvalidArgumentError } from '../errors.js';

/** Most likely tokens per row that sampling considers (the worker's top-k, `MAX_TOPK`). */
export const SAMPLING_CANDIDATES = 64;

/**
 * Above this |logit / temperature| the scaled logits are shifted by their max (module header, step 1):
 * the Gumbel noise then keeps at least 20 bits of its float64 precision.
 */
const SHIFT_ABOVE = 2 ** 32;

/** Sampling parameters after validation; temperature > 0 (temperature 0 is greedy decoding). */
export interface SamplingParams {
  /** > 0; logits are divided by it. */
  temperature: number;
  /** Keep the k most likely (ties kept); 0 = no limit beyond the 64 candidates. */
  topK: number;
  /** Nucleus mass in (0, 1]; 1 = off. */
  topP: number;
  /** In [0, 1]; 0 = off. */
  minP: number;
  /**
   * A safe integer (|seed| < 2^53; OpenAI's seeds are int64): the Philox key is its 64-bit two's
   * complement, as two u32 halves (low, high): 7 → (7, 0), −1 → (0xffffffff, 0xffffffff).
   */
  seed: number;
}

/** Caller-facing sampling options (all optional; `temperature` 0 or absent = greedy). */
export interface SamplingOptions {
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  seed?: number;
}

/**
 * Validates the options. Returns null for greedy decoding (temperature absent or 0), else the
 * complete parameters, with `seed` = the given one or `randomSeed()` when none is given.
 * @throws InvalidArgumentError naming the first bad option: temperature not a finite number ≥ 0,
 * topK not an integer ≥ 0, topP outside (0, 1], minP outside [0, 1], seed not a safe integer
 * (negative seeds are allowed: see {@link SamplingParams.seed}).
 */
export function resolveSampling(o: SamplingOptions, randomSeed: () => number = defaultRandomSeed): SamplingParams | null {
  const t = o.temperature ?? 0;
  if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) throw new InvalidArgumentError(`temperature must be a finite number ≥ 0 (0 = greedy), got ${String(o.temperature)}.`);
  const topK = o.topK ?? 0;
  if (!Number.isInteger(topK) || topK < 0) throw new InvalidArgumentError(`topK must be an integer ≥ 0 (0 = off), got ${String(o.topK)}.`);
  const topP = o.topP ?? 1;
  if (typeof topP !== 'number' || !(topP > 0 && topP <= 1)) throw new InvalidArgumentError(`topP must be in (0, 1], got ${String(o.topP)}.`);
  const minP = o.minP ?? 0;
  if (typeof minP !== 'number' || !(minP >= 0 && minP <= 1)) throw new InvalidArgumentError(`minP must be in [0, 1], got ${String(o.minP)}.`);
  if (o.seed !== undefined && !Number.isSafeInteger(o.seed)) throw new InvalidArgumentError(`seed must be a safe integer (−2^53, 2^53), got ${String(o.seed)}.`);
  if (t === 0) return null;
  return { temperature: t, topK, topP, minP, seed: o.seed ?? randomSeed() };
}

/** A uniformly random 32-bit seed (crypto.getRandomValues: browsers and Node ≥ 19). */
export function defaultRandomSeed(): number {
  return globalThis.crypto.getRandomValues(new Uint32Array(1))[0];
}

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two u32 (exact: every partial sum stays < 2^53). */
function mulhi(a: number, b: number): number {
  const ah = a >>> 16, al = a & 0xffff, bh = b >>> 16, bl = b & 0xffff;
  const mid = ah * bl + al * bh + Math.floor((al * bl) / 65536);
  return (ah * bh + Math.floor(mid / 65536)) >>> 0;
}

/**
 * Philox-4x32-10 (Random123): 10 rounds of the 4×32 Philox bijection of `ctr` under `key`.
 * @param ctr 4 u32; @param key 2 u32. @returns 4 u32 (Random123's known-answer vectors are tested).
 */
export function philox4x32(ctr: readonly number[], key: readonly number[]): Uint32Array {
  let c0 = ctr[0] >>> 0, c1 = ctr[1] >>> 0, c2 = ctr[2] >>> 0, c3 = ctr[3] >>> 0;
  let k0 = key[0] >>> 0, k1 = key[1] >>> 0;
  for (let r = 0; r < 10; r++) {
    if (r > 0) { k0 = (k0 + W0) >>> 0; k1 = (k1 + W1) >>> 0; }
    const hi0 = mulhi(M0, c0), lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2), lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0; c1 = lo1; c2 = (hi0 ^ c3 ^ k1) >>> 0; c3 = lo0;
  }
  return Uint32Array.of(c0, c1, c2, c3);
}

/**
 * u(seed, position, token) ∈ (0, 1), open: 52 bits of Philox-4x32-10 output (26 of each of the first
 * two words), u = (x + ½) / 2^52, so 0 < u ≤ 1 − 2^−53 exactly in float64. The key is the seed's
 * 64-bit two's complement: low = seed mod 2^32, high = ⌊seed / 2^32⌋ mod 2^32 (both exact for a
 * safe integer, negative ones included).
 */
export function uniformAt(seed: number, position: number, token: number): number {
  const w = philox4x32([position, token, 0, 0], [seed >>> 0, Math.floor(seed / 4294967296) >>> 0]);
  return ((w[0] >>> 6) * 67108864 + (w[1] >>> 6) + 0.5) / 4503599627370496;
}

/** Standard Gumbel noise −log(−log u(seed, position, token)); always finite. */
export function gumbelAt(seed: number, position: number, token: number): number {
  return -Math.log(-Math.log(uniformAt(seed, position, token)));
}

/** The truncated candidate set of one row: token ids and their scaled logits s = logit / temperature. */
export interface Candidates {
  ids: number[];
  scaled: number[];
}

/**
 * Steps 0-4 of the module header over one row of the worker's top-k output.
 * @param ids row of token ids, best first (value desc, id asc); −1 = empty slot (ignored);
 * @param values the matching f32 logits. @returns the kept ids and scaled logits, best first
 * (empty when the row has no finite logit).
 */
export function truncateRow(ids: ArrayLike<number>, values: ArrayLike<number>, p: SamplingParams): Candidates {
  let ids_: number[] = [];
  let s: number[] = [];
  const raw: number[] = [];
  for (let j = 0; j < ids.length && ids_.length < SAMPLING_CANDIDATES; j++) {
    if (ids[j] < 0 || !Number.isFinite(values[j])) continue;
    ids_.push(ids[j]);
    raw.push(values[j]);
    s.push(values[j] / p.temperature);
  }
  // A tiny temperature overflows logit / t, or makes it so large that the noise (of order 1) is lost
  // in its rounding: shift by the max first (step 1 of the header). Normal temperatures keep the
  // unshifted formula, bit for bit.
  if (s.some((x) => !(Math.abs(x) <= SHIFT_ABOVE))) {
    const max = Math.max(...raw);
    s = raw.map((x) => (x - max) / p.temperature);
  }
  const keep = (f: (i: number) => boolean) => {
    const ni: number[] = [], ns: number[] = [];
    for (let i = 0; i < ids_.length; i++) if (f(i)) { ni.push(ids_[i]); ns.push(s[i]); }
    ids_ = ni; s = ns;
  };
  if (p.topK > 0 && p.topK < ids_.length) {
    const th = s[p.topK - 1];
    keep((i) => s[i] >= th);
  }
  if (p.topP < 1 && ids_.length > 1) {
    const pr = softmax(s);
    const drop = new Array<boolean>(pr.length).fill(false);
    let cum = 0;
    for (let i = pr.length - 1; i >= 1; i--) {
      cum += pr[i];
      if (cum <= 1 - p.topP) drop[i] = true;
      else break;
    }
    keep((i) => !drop[i]);
  }
  if (p.minP > 0 && ids_.length > 1) {
    const pr = softmax(s);
    const th = p.minP * pr[0];
    keep((i) => i === 0 || pr[i] >= th);
  }
  return { ids: ids_, scaled: s };
}

/** softmax of a float64 vector whose first entry is its maximum. */
function softmax(s: readonly number[]): number[] {
  const e = s.map((x) => Math.exp(x - s[0]));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / z);
}

/** The exact distribution sampling draws from: softmax over the truncated set (tests, docs). */
export function truncatedDistribution(ids: ArrayLike<number>, values: ArrayLike<number>, p: SamplingParams): Map<number, number> {
  const c = truncateRow(ids, values, p);
  const pr = softmax(c.scaled);
  return new Map(c.ids.map((id, i) => [id, pr[i]]));
}

/**
 * The candidates of one row ranked by their noised score s_t + g(seed, position, t), best first
 * (ties to the lower id). Element 0 is the sampled token; the rest are the Jacobi candidates.
 * @param position absolute position of the token being sampled. @returns [] for a row with no
 * finite logit.
 */
export function noisedRanking(ids: ArrayLike<number>, values: ArrayLike<number>, p: SamplingParams, position: number): number[] {
  const c = truncateRow(ids, values, p);
  const score = c.ids.map((t, i) => c.scaled[i] + gumbelAt(p.seed, position, t));
  return c.ids.map((_, i) => i).sort((a, b) => score[b] - score[a] || c.ids[a] - c.ids[b]).map((i) => c.ids[i]);
}

/** The sampled token at `position` (see the module header), or −1 when the row has no finite logit. */
export function sampleRow(ids: ArrayLike<number>, values: ArrayLike<number>, p: SamplingParams, position: number): number {
  const c = truncateRow(ids, values, p);
  let best = -1;
  let bestScore = -Infinity;
  for (let i = 0; i < c.ids.length; i++) {
    const sc = c.scaled[i] + gumbelAt(p.seed, position, c.ids[i]);
    if (sc > bestScore || (sc === bestScore && c.ids[i] < best)) { best = c.ids[i]; bestScore = sc; }
  }
  return best;
}
