/**
 * Naive float64 CPU references of every kernel, on logical (unpadded) row-major arrays.
 * Written for clarity, not speed; the runtime never imports this folder.
 * Glossary: T rows, P cached rows, H/Hkv heads, D head dim, C hidden, F FFN width, V vocab.
 */

type Arr = ArrayLike<number>;

/** Y[T, N] = X[T, K] · W[N, K]ᵀ (+ Y0 when given). */
export function matmulRef(X: Arr, W: Arr, T: number, N: number, K: number, Y0?: Arr): Float64Array {
  const Y = new Float64Array(T * N);
  for (let t = 0; t < T; t++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += X[t * K + k] * W[n * K + k];
      Y[t * N + n] = s + (Y0 ? Y0[t * N + n] : 0);
    }
  }
  return Y;
}

/** X[T, C] = E[ids[t], :]. */
export function embedRef(E: Arr, ids: Arr, C: number): Float64Array {
  const X = new Float64Array(ids.length * C);
  for (let t = 0; t < ids.length; t++) for (let c = 0; c < C; c++) X[t * C + c] = E[ids[t] * C + c];
  return X;
}

/** RMSNorm over rows of C. */
export function rmsnormRef(X: Arr, g: Arr, T: number, C: number, eps: number): Float64Array {
  const Y = new Float64Array(T * C);
  for (let t = 0; t < T; t++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += X[t * C + c] ** 2;
    const r = 1 / Math.sqrt(ss / C + eps);
    for (let c = 0; c < C; c++) Y[t * C + c] = X[t * C + c] * r * g[c];
  }
  return Y;
}

/** RoPE (rotate_half layout) on `heads` heads of D per row; invFreq[D/2]. The angle is formed in f32 as HF does. */
export function ropeRef(X: Arr, pos: Arr, T: number, heads: number, D: number, invFreq: Arr): Float64Array {
  const Y = Float64Array.from(X);
  const hd = D / 2;
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < hd; i++) {
        const th = Math.fround(pos[t] * Math.fround(invFreq[i]));
        const o = t * heads * D + h * D + i;
        const a = X[o];
        const b = X[o + hd];
        Y[o] = a * Math.cos(th) - b * Math.sin(th);
        Y[o + hd] = b * Math.cos(th) + a * Math.sin(th);
      }
    }
  }
  return Y;
}

/**
 * Masked attention. q[T, H·D]; K, V = [S, Hkv·D] rows (cache rows 0..P-1 then the T new rows);
 * mask[T, T] additive for the new rows (≤ −1e30 = masked). Returns O[T, H·D].
 */
export function attentionRef(q: Arr, K: Arr, V: Arr, mask: Arr, T: number, P: number, H: number, Hkv: number, D: number, scale = 1 / Math.sqrt(D)): Float64Array {
  const O = new Float64Array(T * H * D);
  const G = H / Hkv;
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < H; h++) {
      const kh = Math.floor(h / G);
      const keys: number[] = [];
      const bias: number[] = [];
      for (let j = 0; j < P; j++) { keys.push(j); bias.push(0); }
      for (let j = 0; j < T; j++) if (mask[t * T + j] > -1e30) { keys.push(P + j); bias.push(mask[t * T + j]); }
      const s = keys.map((r, i) => {
        let d = 0;
        for (let e = 0; e < D; e++) d += q[t * H * D + h * D + e] * K[r * Hkv * D + kh * D + e];
        return d * scale + bias[i];
      });
      const m = Math.max(...s);
      const p = s.map((x) => Math.exp(x - m));
      const l = p.reduce((a, b) => a + b, 0);
      for (let e = 0; e < D; e++) {
        let acc = 0;
        keys.forEach((r, i) => { acc += p[i] * V[r * Hkv * D + kh * D + e]; });
        O[t * H * D + h * D + e] = acc / l;
      }
    }
  }
  return O;
}

/** A[T, F] = silu(G) · U from GU[T, 2F]. */
export function swigluRef(GU: Arr, T: number, F: number): Float64Array {
  const A = new Float64Array(T * F);
  for (let t = 0; t < T; t++) {
    for (let f = 0; f < F; f++) {
      const g = GU[t * 2 * F + f];
      A[t * F + f] = (g / (1 + Math.exp(-g))) * GU[t * 2 * F + F + f];
    }
  }
  return A;
}

/** Id of a top-k slot that no finite logit fills (0xffffffff; −1 once read as Int32). */
export const TOPK_EMPTY_REF = 0xffffffff;

/**
 * Top-k per row over the finite logits only, ids by (value desc, id asc). NaN and ±infinity are
 * never ranked; slots left without a finite logit get id {@link TOPK_EMPTY_REF} and value 0.
 */
export function topkRef(L: Arr, T: number, V: number, k: number): { ids: number[][]; vals: number[][] } {
  const ids: number[][] = [];
  const vals: number[][] = [];
  for (let t = 0; t < T; t++) {
    const order = Array.from({ length: V }, (_, i) => i)
      .filter((i) => Number.isFinite(L[t * V + i]))
      .sort((a, b) => (L[t * V + b] - L[t * V + a]) || a - b)
      .slice(0, k);
    ids.push([...order, ...new Array<number>(k - order.length).fill(TOPK_EMPTY_REF)]);
    vals.push([...order.map((i) => L[t * V + i]), ...new Array<number>(k - order.length).fill(0)]);
  }
  return { ids, vals };
}
