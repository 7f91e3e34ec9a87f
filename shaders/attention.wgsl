// attention.wgsl — causal / tree-masked multi-head attention with GQA over the KV cache plus the T
// new rows (Vaswani et al. 2017; online softmax as in FlashAttention, Dao et al. 2022), sharing each
// K/V fetch among QN query vectors.
//
// Query row t (head h) sees every cached key 0..P-1 and those new keys j ∈ [0, T) whose additive mask
// entry M[t, j] is > −1e30 (host encodes −∞ as −3.4e38), with M[t, j] added to the score.
// Determinism for lossless decoding: keys are visited in a *virtual* order: cached rows 0..P-1, then
// the visible new rows in ascending j, numbered P, P+1, ... The online softmax runs over blocks of
// BLOCK virtual keys aligned to virtual index 0, so a tree node whose ancestors are scattered over the
// T new rows does exactly the arithmetic of the same token decoded alone after its ancestors.
//
// Sharing: a workgroup serves one KV head and QN query vectors n = t·G + g (consecutive rows × the G
// query heads of that KV head; n ∈ [QN·wid.x, QN·wid.x + QN)). For each softmax block it fetches the
// K rows, then the V rows, that its queries need ONCE, in chunks of DC floats per row, into
// workgroup memory (`tile`): the cached rows of the block (shared by all queries) and the union of
// the new rows the queries see at the block's slots. Should that union not fit the tile (BLOCK
// rows), the block's slots are split into ranges processed in ascending order.
// Per query the arithmetic is exactly that of one query alone, whichever queries share the
// workgroup: score = fma(fma chain over d ascending of q·k, scale, bias); block max; block sum by the
// fixed pairwise tree (level k: x[i] += x[i + k], k = BLOCK/2 … 1); l = fma(l, alpha, sum);
// acc[d] = acc[d]·alpha, then acc[d] = fma(p_i, V[row_i, d], acc[d]) over slots i ascending.
//
// Soft-cap (p.softcap = c > 0; Gemma 2 attn_logit_softcapping): score = c·tanh(q·k·scale / c) + bias,
// per score, so the block order and the tree/AR equality are untouched.
//
// Sliding window (p.window = W > 0; Mistral, Qwen2, Gemma local layers): virtual key indices equal positions (a query
// sees its ancestors, one per position), so query row t at position P + visible − 1 sees keys with
// virtual index ≥ lo = max(0, P + visible − W) (transformers: kv_idx > q_idx − W). Slots below lo
// score as masked (p = 0); blocks wholly below lo leave the query's state untouched (not `live`),
// and the workgroup's block loop starts at the block of its smallest lo. The query's arithmetic is
// that of the same token decoded alone, block for block.
//
// Dispatch: grid = (ceil(T·G / QN), Hkv); QN·DC threads, thread (qi = tid / DC, lane = tid % DC).
// BLOCK is engine-wide (`KernelConfig.attention`); QN too, except that a T = 1 step runs with
// QN = G rounded up to a power of two (src/kernels/attention.ts: attentionQueries). No per-query
// result depends on QN, and every a·b + c is an explicit fma, so no compiler contraction choice of
// either pipeline can make them round differently.
// Preconditions: D ≤ 256, D % 4 == 0; T ≤ MAX_T = 128; QN ≤ BLOCK ≤ 64; QN ≤ 16; new rows already
// appended at KV rows P..P+T-1.
// Glossary: T new rows, P cached rows, H query heads, Hkv KV heads, G = H/Hkv, D head dim.

override BLOCK: u32 = 64u;        // keys per softmax block (16, 32 or 64)
override QN: u32 = 16u;           // query vectors per workgroup (≤ 16, ≤ BLOCK)
override MAX_T: u32 = 128u;       // largest T this pipeline accepts (≤ 32·MW)
const DC: u32 = 16u;              // d-chunk width = threads per query
const KPT: u32 = 4u;              // register slots per thread (≥ BLOCK / DC)
const MW: u32 = 4u;               // u32 words of a mask row bitmask (T ≤ 128)
const NEG: f32 = -1.0e38;         // "minus infinity" that stays finite under WGSL fast math
const NONE: u32 = 0xffffffffu;

struct Params {
  T: u32,
  P: u32,
  H: u32,
  G: u32,          // query heads per KV head
  D4: u32,         // D / 4
  qStride: u32,    // query row stride (fused QKV), floats
  outStride: u32,  // output row stride, floats
  rowFloats: u32,  // KV row size Hkv·D, floats
  kBase: u32,      // this layer's offset in the K slab, floats
  vBase: u32,      // this layer's offset in the V slab, floats
  maskBase: u32,   // offset of this step's mask block in the mask library, floats
  maskStride: u32, // mask row stride, floats (≥ T; a causal mask for the largest T serves every T)
  scale: f32,      // 1 / sqrt(D) (Gemma: query_pre_attn_scalar^−½)
  window: u32,     // sliding window W (keys at positions > q − W), 0 = none
  softcap: f32,    // attention logit soft-cap c: score = c·tanh(q·k·scale / c) before the mask (Gemma 2); 0 = none
}

@group(0) @binding(0) var<storage, read> Q: array<f32>;              // [T, qStride] f32; head h at h·D
@group(0) @binding(3) var<storage, read> M: array<f32>;              // mask library; [T, maskStride] at maskBase
@group(0) @binding(4) var<storage, read_write> O: array<f32>;        // [T, outStride] f32; head h at h·D
@group(1) @binding(0) var<uniform> p: Params;

// Override point `kv` (src/kernels/override.ts): the K and V cache slabs (bindings 1 and 2,
// [layers, Smax, Hkv·D] elements) and loadK/loadV(i) → element i as f32.
// BEGIN override kv
@group(0) @binding(1) var<storage, read> Kc: array<f32>;
@group(0) @binding(2) var<storage, read> Vc: array<f32>;
fn loadK(i: u32) -> f32 { return Kc[i]; }
fn loadV(i: u32) -> f32 { return Vc[i]; }
// END override kv

var<workgroup> tile: array<f32, BLOCK * DC>;      // one d-chunk of the range's K (then V) rows
var<workgroup> qc: array<f32, QN * DC>;           // one d-chunk of each query
var<workgroup> prob: array<f32, QN * BLOCK>;      // p of (query, slot)
var<workgroup> red: array<f32, QN * DC>;          // per query: the last 16 values of the reduction tree
var<workgroup> slotRow: array<u32, QN * BLOCK>;   // new row j of (query, slot); in the V phase its tile index
var<workgroup> slotBits: array<u32, BLOCK * MW>;  // union over the queries of the new rows at a slot
var<workgroup> qm: array<u32, QN * MW>;           // each query's mask row as a bitmask of visible new rows
var<workgroup> tileRow: array<u32, BLOCK>;        // layer row of each tile position
var<workgroup> rangeStart: array<u32, BLOCK + 1u>; // slot ranges of the block: [rangeStart[r], rangeStart[r+1])
var<workgroup> rU: array<u32, MW>;                // new rows of the current range
var<workgroup> rPre: array<u32, MW>;              // new rows of the range in the words before word w
var<workgroup> nRanges: u32;
var<workgroup> nTile: u32;                        // rows in the tile
var<workgroup> ncR: u32;                          // cached rows at the head of the tile
var<workgroup> maxTotal: u32;                     // the workgroup's largest P + visible new rows
var<workgroup> minLo: u32;                        // the workgroup's smallest first visible key (sliding window)

/** First key (virtual index) a query with `total` keys sees under the sliding window: max(0, total − W). */
fn firstKey(total: u32) -> u32 {
  if (p.window == 0u) { return 0u; }
  return total - min(total, p.window);
}

/** Tile position of slot i of query qi in the current range starting at s0 (nc cached slots in the block). */
fn tileIndex(qi: u32, i: u32, s0: u32, nc: u32) -> u32 {
  if (i < nc) { return i - s0; }
  let j = slotRow[qi * BLOCK + i];
  let wj = j / 32u;
  return ncR + rPre[wj] + countOneBits(rU[wj] & ((1u << (j % 32u)) - 1u));
}

/** Thread 0: rows of range r of the block at b0 → tileRow, nTile, ncR, rU, rPre. */
fn setupRange(r: u32, b0: u32, nc: u32) {
  let s0 = rangeStart[r];
  let s1 = rangeStart[r + 1u];
  var k = 0u;
  for (var i = s0; i < min(s1, nc); i++) { tileRow[k] = b0 + i; k++; }
  ncR = k;
  for (var w = 0u; w < MW; w++) {
    var u = 0u;
    for (var i = max(s0, nc); i < s1; i++) { u |= slotBits[i * MW + w]; }
    rU[w] = u;
    rPre[w] = k - ncR;
    while (u != 0u) {
      tileRow[k] = p.P + w * 32u + firstTrailingBit(u);
      k++;
      u &= u - 1u;
    }
  }
  nTile = k;
}

/** Levels 8, 4, 2, 1 of query qi's block-max tree over red[qi·DC ..] (every thread of the query). */
fn blockMax(qi: u32) -> f32 {
  var y: array<f32, DC>;
  for (var i = 0u; i < DC; i++) { y[i] = red[qi * DC + i]; }
  y[0] = max(y[0], y[8]); y[1] = max(y[1], y[9]); y[2] = max(y[2], y[10]); y[3] = max(y[3], y[11]); y[4] = max(y[4], y[12]); y[5] = max(y[5], y[13]); y[6] = max(y[6], y[14]); y[7] = max(y[7], y[15]);
  y[0] = max(y[0], y[4]); y[1] = max(y[1], y[5]); y[2] = max(y[2], y[6]); y[3] = max(y[3], y[7]);
  y[0] = max(y[0], y[2]); y[1] = max(y[1], y[3]);
  y[0] = max(y[0], y[1]);
  return y[0];
}

/** Levels 8, 4, 2, 1 of query qi's fixed pairwise block-sum tree (level k: y[i] = y[i] + y[i + k]). */
fn blockSum(qi: u32) -> f32 {
  var y: array<f32, DC>;
  for (var i = 0u; i < DC; i++) { y[i] = red[qi * DC + i]; }
  y[0] = y[0] + y[8]; y[1] = y[1] + y[9]; y[2] = y[2] + y[10]; y[3] = y[3] + y[11]; y[4] = y[4] + y[12]; y[5] = y[5] + y[13]; y[6] = y[6] + y[14]; y[7] = y[7] + y[15];
  y[0] = y[0] + y[4]; y[1] = y[1] + y[5]; y[2] = y[2] + y[6]; y[3] = y[3] + y[7];
  y[0] = y[0] + y[2]; y[1] = y[1] + y[3];
  y[0] = y[0] + y[1];
  return y[0];
}

@compute @workgroup_size(QN * DC)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let tid = lid.x;
  let qi = tid / DC;
  let lane = tid % DC;
  let kvh = wid.y;
  let D = p.D4 * 4u;
  let nq = p.T * p.G;
  let n = wid.x * QN + qi;
  let qValid = n < nq;
  let t = select(0u, n / p.G, qValid);
  let h = kvh * p.G + n % p.G;
  let kOff = p.kBase + kvh * D;
  let vOff = p.vBase + kvh * D;
  let mRow = p.maskBase + t * p.maskStride;

  // The mask row as a bitmask: lane w < MW builds word w.
  if (lane < MW) {
    var bits = 0u;
    if (qValid) {
      for (var b = 0u; b < 32u; b++) {
        let j = lane * 32u + b;
        if (j < p.T && M[mRow + j] > -1.0e30) { bits |= 1u << b; }
      }
    }
    qm[qi * MW + lane] = bits;
  }
  workgroupBarrier();
  var nVis = 0u;
  for (var w = 0u; w < MW; w++) { nVis += countOneBits(qm[qi * MW + w]); }
  let total = select(0u, p.P + nVis, qValid);
  let lo = firstKey(total);
  if (tid == 0u) {
    var mx = 0u;
    var mn = 0xffffffffu;
    for (var k = 0u; k < QN; k++) {
      var c = 0u;
      for (var w = 0u; w < MW; w++) { c += countOneBits(qm[k * MW + w]); }
      if (wid.x * QN + k < nq) { mx = max(mx, p.P + c); mn = min(mn, firstKey(p.P + c)); }
    }
    maxTotal = mx;
    minLo = select(0u, mn, mn != 0xffffffffu);
  }
  let wgTotal = workgroupUniformLoad(&maxTotal);
  let wgFirst = (workgroupUniformLoad(&minLo) / BLOCK) * BLOCK;

  var m = NEG;             // running max
  var l = 0.0;             // running sum of exp
  var acc: array<f32, 16>; // output elements d = DC·c + lane
  for (var c = 0u; c < 16u; c++) { acc[c] = 0.0; }

  for (var b0 = wgFirst; b0 < wgTotal; b0 += BLOCK) {
    let nc = select(0u, min(BLOCK, p.P - b0), b0 < p.P);   // cached slots of the block
    let nb = min(BLOCK, wgTotal - b0);                      // slots any query of the workgroup has
    let live = b0 < total && b0 + BLOCK > lo;
    let qnb = select(0u, min(BLOCK, total - b0), live);   // slots this query has

    // 0. plan: the new row of each (query, slot), the union per slot, ranges that fit the tile.
    if (nb > nc) {
      // Each thread writes its own slots (i ≡ lane mod DC): NONE, then the r-th visible row j at
      // virtual key P + r = b0 + i.
      for (var k = 0u; k < KPT; k++) {
        let i = lane + DC * k;
        if (i < BLOCK) { slotRow[qi * BLOCK + i] = NONE; }
      }
      var v = p.P;
      for (var w = 0u; w < MW; w++) {
        var bits = qm[qi * MW + w];
        while (bits != 0u) {
          let j = w * 32u + firstTrailingBit(bits);
          bits &= bits - 1u;
          if (v >= b0 && v < b0 + BLOCK && (v - b0) % DC == lane) { slotRow[qi * BLOCK + v - b0] = j; }
          v++;
        }
      }
      workgroupBarrier();
      for (var i = tid; i < BLOCK; i += QN * DC) {   // fewer threads than slots when QN·DC < BLOCK
        var u: array<u32, MW>;
        for (var w = 0u; w < MW; w++) { u[w] = 0u; }
        for (var k = 0u; k < QN; k++) {
          let j = slotRow[k * BLOCK + i];
          if (j != NONE) { u[j / 32u] |= 1u << (j % 32u); }
        }
        for (var w = 0u; w < MW; w++) { slotBits[i * MW + w] = u[w]; }
      }
      workgroupBarrier();
      if (tid == 0u) {
        var u: array<u32, MW>;
        for (var w = 0u; w < MW; w++) { u[w] = 0u; }
        var cached = nc;
        var r = 0u;
        rangeStart[0] = 0u;
        for (var i = nc; i < nb; i++) {
          var cand: array<u32, MW>;
          var cnt = cached;
          for (var w = 0u; w < MW; w++) { cand[w] = u[w] | slotBits[i * MW + w]; cnt += countOneBits(cand[w]); }
          if (cnt > BLOCK) {
            r++;
            rangeStart[r] = i;
            cached = 0u;
            for (var w = 0u; w < MW; w++) { u[w] = slotBits[i * MW + w]; }
          } else {
            u = cand;
          }
        }
        rangeStart[r + 1u] = nb;
        nRanges = r + 1u;
      }
    } else if (tid == 0u) {
      rangeStart[0] = 0u;
      rangeStart[1] = nb;
      nRanges = 1u;
    }
    let nR = workgroupUniformLoad(&nRanges);

    // 1. scores: dot chains over d ascending, one d-chunk of the range's K rows at a time.
    var dot: array<f32, KPT>;
    for (var k = 0u; k < KPT; k++) { dot[k] = 0.0; }
    for (var r = 0u; r < nR; r++) {
      if (tid == 0u) { setupRange(r, b0, nc); }
      workgroupBarrier();
      let s0 = rangeStart[r];
      let s1 = rangeStart[r + 1u];
      let rows = nTile;
      var idx: array<u32, KPT>;
      for (var k = 0u; k < KPT; k++) {
        let i = lane + DC * k;
        idx[k] = NONE;
        if (i < BLOCK && i >= s0 && i < s1 && i < qnb) { idx[k] = tileIndex(qi, i, s0, nc); }
      }
      for (var d0 = 0u; d0 < D; d0 += DC) {
        for (var e = tid; e < rows * DC; e += QN * DC) {
          let dd = e % DC;
          if (d0 + dd < D) { tile[e] = loadK(kOff + tileRow[e / DC] * p.rowFloats + d0 + dd); }
        }
        if (qValid && d0 + lane < D) { qc[tid] = Q[t * p.qStride + h * D + d0 + lane]; }
        workgroupBarrier();
        let w = min(DC, D - d0);
        for (var k = 0u; k < KPT; k++) {
          if (idx[k] != NONE) {
            var a = dot[k];
            for (var dd = 0u; dd < w; dd++) { a = fma(qc[qi * DC + dd], tile[idx[k] * DC + dd], a); }
            dot[k] = a;
          }
        }
        workgroupBarrier();
      }
    }
    var s: array<f32, KPT>;
    for (var k = 0u; k < KPT; k++) {
      let i = lane + DC * k;
      s[k] = NEG;
      if (i < qnb && b0 + i >= lo) {
        var bias = 0.0;
        if (i >= nc) { bias = M[mRow + slotRow[qi * BLOCK + i]]; }
        if (p.softcap > 0.0) {
          // HF Gemma2: (q·k·scale / c) → tanh → · c, then + mask; |arg| clamped where tanh is ±1 in f32.
          s[k] = fma(p.softcap, tanh(clamp(dot[k] * p.scale / p.softcap, -15.0, 15.0)), bias);
        } else {
          s[k] = fma(dot[k], p.scale, bias);   // explicit: one rounding in every pipeline
        }
      }
    }

    // 2. block max (the same tree; exact in any order): levels BLOCK/2 .. 16 in registers, 8 .. 1 from red.
    // Slots lane + DC·k of this thread: level 32 pairs k with k + 2, level 16 pairs k with k + 1.
    var x0 = s[0]; var x1 = s[1]; var x2 = s[2]; var x3 = s[3];
    if (BLOCK == 64u) { x0 = max(x0, x2); x1 = max(x1, x3); }
    if (BLOCK >= 32u) { x0 = max(x0, x1); }
    red[tid] = x0;
    workgroupBarrier();
    let mNew = max(m, blockMax(qi));
    workgroupBarrier();
    let alpha = exp(m - mNew);

    // 3. p_i and the block sum by the fixed pairwise tree.
    var pr: array<f32, KPT>;
    for (var k = 0u; k < KPT; k++) {
      let i = lane + DC * k;
      pr[k] = 0.0;
      if (i < qnb && b0 + i >= lo) { pr[k] = exp(s[k] - mNew); }
      if (i < BLOCK) { prob[qi * BLOCK + i] = pr[k]; }
    }
    x0 = pr[0]; x1 = pr[1]; x2 = pr[2]; x3 = pr[3];
    if (BLOCK == 64u) { x0 = x0 + x2; x1 = x1 + x3; }
    if (BLOCK >= 32u) { x0 = x0 + x1; }
    red[tid] = x0;
    workgroupBarrier();
    let bsum = blockSum(qi);
    if (live) {
      l = fma(l, alpha, bsum);
      m = mNew;
    }

    // 4. acc[d] = acc[d]·alpha + Σ_i p_i V[row_i, d], i ascending over the ranges in order.
    for (var r = 0u; r < nR; r++) {
      if (tid == 0u) { setupRange(r, b0, nc); }
      workgroupBarrier();
      let s0 = rangeStart[r];
      let s1 = rangeStart[r + 1u];
      let rows = nTile;
      for (var k = 0u; k < KPT; k++) {
        let i = lane + DC * k;
        if (i < BLOCK && i >= s0 && i < s1 && i >= nc && i < qnb) { slotRow[qi * BLOCK + i] = tileIndex(qi, i, s0, nc); }
      }
      workgroupBarrier();
      let hi = min(s1, qnb);
      for (var c = 0u; c * DC < D; c++) {
        let d0 = c * DC;
        for (var e = tid; e < rows * DC; e += QN * DC) {
          let dd = e % DC;
          if (d0 + dd < D) { tile[e] = loadV(vOff + tileRow[e / DC] * p.rowFloats + d0 + dd); }
        }
        workgroupBarrier();
        if (live && d0 + lane < D) {
          var a = acc[c];
          if (r == 0u) { a = a * alpha; }
          for (var i = s0; i < hi; i++) {
            let ti = select(slotRow[qi * BLOCK + i], i - s0, i < nc);
            a = fma(prob[qi * BLOCK + i], tile[ti * DC + lane], a);
          }
          acc[c] = a;
        }
        workgroupBarrier();
      }
    }
  }
  if (qValid) {
    for (var c = 0u; c * DC < D; c++) {
      let d = c * DC + lane;
      if (d < D) { O[t * p.outStride + h * D + d] = acc[c] / l; }
    }
  }
}
