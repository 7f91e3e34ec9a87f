/**
 * Naive float64 CPU references of every kernel, on logical (unpadded) row-major arrays. The layer
 * maths (matmul, RMSNorm, RoPE, attention, SwiGLU) live in src/model/float64.ts, shared with the
 * runtime's load-time self-check, and are re-exported here under their reference names.
 * Written for clarity, not speed; the runtime never imports this folder.
 * Glossary: T rows, P cached rows, H/Hkv heads, D head dim, C hidden, F FFN width, V vocab.
 */

import { attention64, biasAdd64, geglu64, headRmsnorm64, matmul64, rmsnorm64, rmsnormAdd64, rope64, softcap64, swiglu64 } from '../model/float64.js';

type Arr = ArrayLike<number>;

// The float64 maths the runtime's load-time self-check also uses (one implementation, src/model/float64.ts).
export { matmul64 as matmulRef, rmsnorm64 as rmsnormRef, rope64 as ropeRef, attention64 as attentionRef, swiglu64 as swigluRef, biasAdd64 as biasAddRef, headRmsnorm64 as headRmsnormRef, geglu64 as gegluRef, rmsnormAdd64 as rmsnormAddRef, softcap64 as softcapRef };

/** X[T, C] = E[ids[t], :]. */
export function embedRef(E: Arr, ids: Arr, C: number): Float64Array {
  const X = new Float64Array(ids.length * C);
  for (let t = 0; t < ids.length; t++) for (let c = 0; c < C; c++) X[t * C + c] = E[ids[t] * C + c];
  return X;
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
