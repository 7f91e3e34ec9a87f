/** Small statistics helpers of the benchmark (browser- and Node-compatible). */

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

/** Element-wise sum of histograms (arrays indexed by accepted length). */
export function addHistogram(into: number[], h: readonly number[]): number[] {
  for (let i = 0; i < h.length; i++) into[i] = (into[i] ?? 0) + (h[i] ?? 0);
  for (let i = 0; i < into.length; i++) into[i] ??= 0;
  return into;
}

/**
 * Repetition of a generated sequence: the fraction of its tokens that complete an n-gram (n = 4) seen
 * earlier. `context` is what precedes the output (the prompt) — with it the rate measures copying
 * from the prompt or from earlier output (what prompt-lookup drafting exploits); with an empty
 * context it measures the output repeating itself (a looping model).
 */
export function repetitionRate(output: readonly number[], context: readonly number[] = [], n = 4): number {
  if (output.length === 0) return 0;
  const seq = [...context, ...output];
  const seen = new Set<string>();
  let repeated = 0;
  for (let j = n - 1; j < seq.length; j++) {
    const key = seq.slice(j - n + 1, j + 1).join(',');
    if (j >= context.length && seen.has(key)) repeated++;
    seen.add(key);
  }
  return repeated / output.length;
}

/** Rounds for reports (keeps JSON readable). */
export function round(x: number, digits = 3): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Three significant digits (rates that span 0.01 to 10,000). */
export function sig(x: number, digits = 3): number {
  if (!Number.isFinite(x) || x === 0) return x;
  return Number(x.toPrecision(digits));
}
