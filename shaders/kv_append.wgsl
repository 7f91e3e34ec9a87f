// kv_append.wgsl — KV append: copies the T new rows of K (already rotated) and V from the fused
// QKV rows into one layer of the KV cache at rows P .. P+T-1.
//
// KV cache layout: a K slab and a V slab, each [layers, Smax, Hkv·D] f32 (several layers per buffer).
// Dispatch: one thread per (t, j < Hkv·D); workgroup 64; grid flattened over x/y.
// Glossary: T rows, P cached rows, Hkv KV heads, D head dim, Smax cache rows.

struct Params {
  T: u32,
  P: u32,          // first destination row
  rowFloats: u32,  // Hkv · D
  qkvStride: u32,  // QKV row stride, floats
  kCol: u32,       // first K column in QKV (H · D)
  kBase: u32,      // offset of this layer in the K slab, floats
  vBase: u32,      // offset of this layer in the V slab, floats
  gridX: u32,
}

@group(0) @binding(0) var<storage, read> QKV: array<f32>;            // [T, qkvStride] f32
@group(0) @binding(1) var<storage, read_write> Kc: array<f32>;       // [layers, Smax, Hkv·D] f32
@group(0) @binding(2) var<storage, read_write> Vc: array<f32>;       // [layers, Smax, Hkv·D] f32
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * p.gridX * 64u;
  if (idx >= p.T * p.rowFloats) { return; }
  let j = idx % p.rowFloats;
  let t = idx / p.rowFloats;
  let src = t * p.qkvStride + p.kCol + j;
  let dst = (p.P + t) * p.rowFloats + j;
  Kc[p.kBase + dst] = QKV[src];
  Vc[p.vBase + dst] = QKV[src + p.rowFloats];
}
