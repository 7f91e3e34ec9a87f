// attention.wgsl — causal / tree-masked multi-head attention with GQA over the KV cache plus the T
// new rows (Vaswani et al. 2017; online softmax as in FlashAttention, Dao et al. 2022).
//
// Query row t (head h) sees every cached key 0..P-1 and those new keys j ∈ [0, T) whose additive mask
// entry M[t, j] is > −1e30 (host encodes −∞ as −3.4e38), with M[t, j] added to the score.
// Determinism for lossless decoding: keys are visited in a *virtual* order: cached rows 0..P-1, then
// the visible new rows in ascending j, numbered P, P+1, ... The online softmax runs over blocks of
// WG virtual keys aligned to virtual index 0, so a tree node whose ancestors are scattered over the
// T new rows does exactly the arithmetic of the same token decoded alone after its ancestors.
//
// Dispatch: one workgroup of WG threads per (head h, row t): grid = (H, T). WG (= the softmax block)
// is engine-wide: 64 on GPUs, 16 on CPU adapters (fewer barriers per block).
// Preconditions: D ≤ 256, D % 4 == 0; T ≤ MAX_T; new rows already appended at KV rows P..P+T-1.
// Glossary: T new rows, P cached rows, H query heads, Hkv KV heads, G = H/Hkv, D head dim.

override WG: u32 = 64u;           // threads = keys per softmax block (power of two, 16..64)
const MAX_D4: u32 = 64u;          // D/4 ≤ 64
const NEG: f32 = -1.0e38;         // "minus infinity" that stays finite under WGSL fast math
override MAX_T: u32 = 128u;       // largest T this pipeline accepts

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
  scale: f32,      // 1 / sqrt(D)
}

@group(0) @binding(0) var<storage, read> Q: array<f32>;              // [T, qStride] f32; head h at h·D
@group(0) @binding(1) var<storage, read> Kc: array<f32>;             // K cache slab [layers, Smax, Hkv·D] f32
@group(0) @binding(2) var<storage, read> Vc: array<f32>;             // V cache slab [layers, Smax, Hkv·D] f32
@group(0) @binding(3) var<storage, read> M: array<f32>;              // mask library; [T, maskStride] at maskBase
@group(0) @binding(4) var<storage, read_write> O: array<f32>;        // [T, outStride] f32; head h at h·D
@group(1) @binding(0) var<uniform> p: Params;

var<workgroup> q: array<vec4<f32>, MAX_D4>;
var<workgroup> vis: array<u32, MAX_T>;    // visible new rows of this query, ascending
var<workgroup> nVis: u32;
var<workgroup> red: array<f32, 64>;
var<workgroup> prob: array<f32, 64>;
var<workgroup> rows: array<u32, 64>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let h = wid.x;
  let t = wid.y;
  let tid = lid.x;
  let kvh = h / p.G;
  let D = p.D4 * 4u;
  for (var i = tid; i < p.D4; i += WG) {
    let o = t * p.qStride + h * D + 4u * i;
    q[i] = vec4<f32>(Q[o], Q[o + 1u], Q[o + 2u], Q[o + 3u]);
  }
  if (tid == 0u) {
    var n = 0u;
    for (var j = 0u; j < p.T; j++) {
      if (M[p.maskBase + t * p.maskStride + j] > -1.0e30) { vis[n] = j; n++; }
    }
    nVis = n;
  }
  workgroupBarrier();
  let total = p.P + workgroupUniformLoad(&nVis);

  var m = NEG;            // running max
  var l = 0.0;            // running sum of exp
  var acc: array<f32, 16>; // output elements d = tid + WG·e
  for (var e = 0u; e < 16u; e++) { acc[e] = 0.0; }

  for (var b0 = 0u; b0 < total; b0 += WG) {
    // 1. score of virtual key v = b0 + tid
    let v = b0 + tid;
    var s = NEG;
    var row = 0u;
    let valid = v < total;
    if (valid) {
      var bias = 0.0;
      if (v < p.P) { row = v; } else {
        let j = vis[v - p.P];
        row = p.P + j;
        bias = M[p.maskBase + t * p.maskStride + j];
      }
      let ko = p.kBase + row * p.rowFloats + kvh * D;
      var dot = 0.0;
      for (var i = 0u; i < p.D4; i++) {
        let qi = q[i];
        let o = ko + 4u * i;
        dot = fma(qi.x, Kc[o], dot);
        dot = fma(qi.y, Kc[o + 1u], dot);
        dot = fma(qi.z, Kc[o + 2u], dot);
        dot = fma(qi.w, Kc[o + 3u], dot);
      }
      s = dot * p.scale + bias;
    }
    // 2. block max (exact in any order)
    red[tid] = s;
    workgroupBarrier();
    for (var k = WG / 2u; k > 0u; k >>= 1u) {
      if (tid < k) { red[tid] = max(red[tid], red[tid + k]); }
      workgroupBarrier();
    }
    let mNew = max(m, red[0]);
    workgroupBarrier();
    let alpha = exp(m - mNew);
    var pr = 0.0;
    if (valid) { pr = exp(s - mNew); }
    prob[tid] = pr;
    rows[tid] = row;
    // 3. block sum, fixed pairwise tree
    red[tid] = pr;
    workgroupBarrier();
    for (var k = WG / 2u; k > 0u; k >>= 1u) {
      if (tid < k) { red[tid] = red[tid] + red[tid + k]; }
      workgroupBarrier();
    }
    l = l * alpha + red[0];
    m = mNew;
    // 4. acc[d] = acc[d]·alpha + Σ_i p_i V[row_i, d], i ascending
    let nb = min(WG, total - b0);
    for (var e = 0u; e * WG < D; e++) {
      let d = tid + e * WG;
      if (d < D) {
        var a = acc[e] * alpha;
        for (var i = 0u; i < nb; i++) {
          a = fma(prob[i], Vc[p.vBase + rows[i] * p.rowFloats + kvh * D + d], a);
        }
        acc[e] = a;
      }
    }
    workgroupBarrier();
  }
  for (var e = 0u; e * WG < D; e++) {
    let d = tid + e * WG;
    if (d < D) { O[t * p.outStride + h * D + d] = acc[e] / l; }
  }
}
