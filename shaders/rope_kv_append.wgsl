// rope_kv_append.wgsl — RoPE fused with the KV append (one dispatch instead of two per layer).
//
// RoPE (Su et al. 2021, RoFormer; HF Llama "rotate_half" layout) on the first R dims of each head
// of the fused QKV rows (partial rotary, HF Phi-3 `partial_rotary_factor`: R < D; else R = D):
//   for i < R/2:  x'[i]       = x[i] · cos(θ) − x[i + R/2] · sin(θ)
//                 x'[i + R/2] = x[i + R/2] · cos(θ) + x[i] · sin(θ),   θ = pos[t] · invFreq[i]
//   for R ≤ d < D: x'[d] = x[d]  (passed through)
// cos/sin come from a host-built float64 table (rounded to f32), indexed by the token's absolute
// position from the positions buffer: tree nodes have non-contiguous positions (P + depth). Any
// per-position choice of frequencies (LongRoPE's short/long factors) and scaling lives in the table.
// Query heads (h < H) are rotated in place in QKV (attention reads them there). Key heads are rotated
// and written straight into the KV cache at rows P .. P+T-1, with the V head of the same index copied
// alongside; K and V in QKV are left as they were (nothing reads them after this kernel).
// The arithmetic is exactly that of a separate RoPE pass followed by a copy (bit-identical results).
//
// Thread mapping: one thread per (t, head of H + Hkv, quad q < D/4) owns the 4 consecutive output
// elements d = 4q .. 4q+3 of its head and computes each from x[d] and its RoPE partner x[d ± R/2]
// (so a quad may straddle R/2 or R), then stores them as one unit: the KV store writes 4 consecutive
// elements of one KV row, which a packed KV format (2 f16 per word, q8 with row scales) can do
// without sharing a storage word with another thread. A workgroup holds HPW = ⌊64 / (D/4)⌋ whole
// heads, so the in-place rotation of a query head reads every x before a storage barrier and writes
// after it (a partner element belongs to another thread of the same workgroup).
//
// KV cache layout: a K slab and a V slab, each [layers, Smax, Hkv·D] elements (several layers per
// buffer); a KV row is `row` = layer·Smax + cache row of its slab.
// Dispatch: grid of ⌈T·(H + Hkv) / HPW⌉ workgroups of 64 threads, flattened over x/y.
// Preconditions: D a multiple of 4, D ≤ 256; R even, 2 ≤ R ≤ D; P + T ≤ Smax; (H + 2·Hkv)·D ≤ stride.
// Glossary: T rows, P cached rows, H query heads, Hkv KV heads, D head dim, R rotary dims, Smax table/cache rows.

const WG: u32 = 64u;

struct Params {
  T: u32,
  H: u32,         // query heads
  Hkv: u32,       // key/value heads
  D: u32,         // head dim (multiple of 4)
  stride: u32,    // QKV row stride, floats
  kRow0: u32,     // K slab row of new row 0 (layer·Smax + P)
  vRow0: u32,     // V slab row of new row 0
  rowElems: u32,  // elements per KV row: Hkv·D
  hpw: u32,       // heads per workgroup: ⌊64 / (D/4)⌋
  gridX: u32,     // workgroups along x (for flattening)
  R: u32,         // rotary dims (even, ≤ D): dims ≥ R pass through
}

@group(0) @binding(0) var<storage, read_write> QKV: array<f32>;      // [T, stride] f32; Q heads, K heads, V heads at h·D
@group(0) @binding(1) var<storage, read> pos: array<u32>;            // [T] absolute positions
@group(0) @binding(2) var<storage, read> cs: array<vec2<f32>>;       // [Smax, R/2] (cos, sin)
@group(1) @binding(0) var<uniform> p: Params;

// Override point `kv` (src/kernels/override.ts). Defines:
//   bindings 3 and 4: the K and V cache slabs ([layers, Smax, Hkv·D] elements, in the format's words);
//   storeK4(row: u32, e0: u32, v: vec4<f32>), storeV4(same): elements e0 .. e0+3 of KV row `row`
//   (slab row = layer·Smax + cache row; e0 = head·D + d, e0 % 4 == 0, row length p.rowElems) ← v.
// Each call is the only writer of those 4 elements; the format chooses their words (f32: one vec4).
// BEGIN override kv
@group(0) @binding(3) var<storage, read_write> Kc: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> Vc: array<vec4<f32>>;
fn storeK4(row: u32, e0: u32, v: vec4<f32>) { Kc[(row * p.rowElems + e0) / 4u] = v; }
fn storeV4(row: u32, e0: u32, v: vec4<f32>) { Vc[(row * p.rowElems + e0) / 4u] = v; }
// END override kv

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let heads = p.H + p.Hkv;
  let quads = p.D / 4u;
  let halfR = p.R / 2u;
  let lh = lid.x / quads;
  let unit = (wid.x + wid.y * p.gridX) * p.hpw + lh;
  let live = lh < p.hpw && unit < p.T * heads;
  let h = unit % heads;
  let t = unit / heads;
  let e0 = (lid.x % quads) * 4u;
  let o = t * p.stride + h * p.D;
  var r = vec4<f32>(0.0);
  if (live) {
    let pt = pos[t];
    for (var k = 0u; k < 4u; k++) {
      let d = e0 + k;
      if (d < halfR) {
        let a = QKV[o + d];
        let b = QKV[o + d + halfR];
        let c = cs[pt * halfR + d];
        r[k] = a * c.x - b * c.y;
      } else if (d < p.R) {
        let i = d - halfR;
        let a = QKV[o + i];
        let b = QKV[o + d];
        let c = cs[pt * halfR + i];
        r[k] = b * c.x + a * c.y;
      } else {
        r[k] = QKV[o + d];
      }
    }
  }
  storageBarrier();   // every thread of a query head has read it before any writes it back
  if (!live) { return; }
  if (h < p.H) {
    for (var k = 0u; k < 4u; k++) { QKV[o + e0 + k] = r[k]; }
    return;
  }
  let e = (h - p.H) * p.D + e0;
  storeK4(p.kRow0 + t, e, r);
  let v = o + p.rowElems + e0;   // the V head of the same index follows the K heads
  storeV4(p.vRow0 + t, e, vec4<f32>(QKV[v], QKV[v + 1u], QKV[v + 2u], QKV[v + 3u]));
}
