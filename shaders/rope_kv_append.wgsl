// rope_kv_append.wgsl — RoPE fused with the KV append (one dispatch instead of two per layer).
//
// RoPE (Su et al. 2021, RoFormer; HF Llama "rotate_half" layout) on the fused QKV rows:
//   for i < D/2:  x'[i]       = x[i] · cos(θ) − x[i + D/2] · sin(θ)
//                 x'[i + D/2] = x[i + D/2] · cos(θ) + x[i] · sin(θ),   θ = pos[t] · invFreq[i]
// cos/sin come from a host-built float64 table (rounded to f32), indexed by the token's absolute
// position from the positions buffer: tree nodes have non-contiguous positions (P + depth).
// Query heads (h < H) are rotated in place in QKV (attention reads them there). Key heads are rotated
// and written straight into the KV cache at rows P .. P+T-1, with the V head of the same index copied
// alongside; K and V in QKV are left as they were (nothing reads them after this kernel).
// The arithmetic is exactly that of a separate RoPE pass followed by a copy (bit-identical results).
//
// KV cache layout: a K slab and a V slab, each [layers, Smax, Hkv·D] f32 (several layers per buffer).
// Dispatch: one thread per (t, head of H + Hkv, i < D/2); workgroup 64; grid flattened over x/y.
// Preconditions: D even; P + T ≤ Smax; (H + 2·Hkv)·D ≤ stride.
// Glossary: T rows, P cached rows, H query heads, Hkv KV heads, D head dim, Smax table/cache rows.

struct Params {
  T: u32,
  H: u32,         // query heads
  Hkv: u32,       // key/value heads
  halfD: u32,     // D / 2
  stride: u32,    // QKV row stride, floats
  P: u32,         // first destination cache row
  kBase: u32,     // offset of this layer in the K slab, floats
  vBase: u32,     // offset of this layer in the V slab, floats
  gridX: u32,     // workgroups along x (for flattening)
}

@group(0) @binding(0) var<storage, read_write> QKV: array<f32>;      // [T, stride] f32; Q heads, K heads, V heads at h·D
@group(0) @binding(1) var<storage, read> pos: array<u32>;            // [T] absolute positions
@group(0) @binding(2) var<storage, read> cs: array<vec2<f32>>;       // [Smax, D/2] (cos, sin)
@group(1) @binding(0) var<uniform> p: Params;

// Override point `kv` (src/kernels/override.ts): the K and V cache slabs (bindings 3 and 4,
// [layers, Smax, Hkv·D] elements) and storeK/storeV(i, x): element i ← the f32 value x.
// BEGIN override kv
@group(0) @binding(3) var<storage, read_write> Kc: array<f32>;
@group(0) @binding(4) var<storage, read_write> Vc: array<f32>;
fn storeK(i: u32, x: f32) { Kc[i] = x; }
fn storeV(i: u32, x: f32) { Vc[i] = x; }
// END override kv

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let heads = p.H + p.Hkv;
  let idx = gid.x + gid.y * p.gridX * 64u;
  if (idx >= p.T * heads * p.halfD) { return; }
  let i = idx % p.halfD;
  let h = (idx / p.halfD) % heads;
  let t = idx / (p.halfD * heads);
  let c = cs[pos[t] * p.halfD + i];
  let o = t * p.stride + h * 2u * p.halfD + i;
  let a = QKV[o];
  let b = QKV[o + p.halfD];
  let ra = a * c.x - b * c.y;
  let rb = b * c.x + a * c.y;
  if (h < p.H) {
    QKV[o] = ra;
    QKV[o + p.halfD] = rb;
    return;
  }
  let rowFloats = p.Hkv * 2u * p.halfD;
  let dst = (p.P + t) * rowFloats + (h - p.H) * 2u * p.halfD + i;
  storeK(p.kBase + dst, ra);
  storeK(p.kBase + dst + p.halfD, rb);
  let v = o + rowFloats;   // the V head of the same index follows the K heads
  storeV(p.vBase + dst, QKV[v]);
  storeV(p.vBase + dst + p.halfD, QKV[v + p.halfD]);
}
