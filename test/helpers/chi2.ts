// Pearson's chi-square test for the sampling tests: the statistic, and its p-value
// P(χ²_df ≥ x) = Q(df/2, x/2), the regularized upper incomplete gamma function (series for
// x < a + 1, Lentz continued fraction otherwise; Numerical Recipes 3rd ed. §6.2), with ln Γ from
// Lanczos (g = 7, n = 9). Checked against torch.special.gammaincc in test/decode/sampling.test.ts.

const LANCZOS = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];

function lnGamma(z: number): number {
  if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - lnGamma(1 - z);
  z -= 1;
  let x = LANCZOS[0];
  for (let i = 1; i < 9; i++) x += LANCZOS[i] / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(x);
}

/** Q(a, x) = Γ(a, x) / Γ(a), a > 0, x ≥ 0. */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const lead = -x + a * Math.log(x) - lnGamma(a);
  if (x < a + 1) {
    let sum = 1 / a, term = sum, ap = a;
    for (let n = 0; n < 1000 && Math.abs(term) > Math.abs(sum) * 1e-16; n++) { ap += 1; term *= x / ap; sum += term; }
    return 1 - sum * Math.exp(lead);
  }
  const tiny = 1e-300;
  let b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b; if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c; if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return Math.exp(lead) * h;
}

/**
 * Pearson's test of observed counts against probabilities (summing to 1). Categories with an
 * expected count below 5 are pooled into one (the usual validity rule). @returns the statistic,
 * degrees of freedom and p-value.
 */
export function chiSquare(observed: readonly number[], probs: readonly number[]): { stat: number; df: number; p: number } {
  const n = observed.reduce((a, b) => a + b, 0);
  const cells: Array<[number, number]> = [];
  let po = 0, pe = 0;
  observed.forEach((o, i) => {
    const e = probs[i] * n;
    if (e < 5) { po += o; pe += e; } else cells.push([o, e]);
  });
  if (pe > 0 || po > 0) cells.push([po, pe]);
  const stat = cells.reduce((s, [o, e]) => s + (e > 0 ? (o - e) ** 2 / e : o > 0 ? Infinity : 0), 0);
  const df = cells.length - 1;
  return { stat, df, p: df > 0 ? gammaQ(df / 2, stat / 2) : 1 };
}
