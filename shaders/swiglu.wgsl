// swiglu.wgsl — SwiGLU activation (Shazeer 2020; HF LlamaMLP): A[t, f] = silu(G[t, f]) · U[t, f],
// silu(x) = x / (1 + exp(−x)). G and U are the two halves of the fused gate_up projection rows.
//
// Dispatch: one thread per (t, f); workgroup 64; grid flattened over x/y.
// Glossary: T rows, F intermediate (FFN) size.

struct Params {
  T: u32,
  F: u32,
  guStride: u32,   // fused [gate | up] row stride, floats (gate at 0, up at F)
  aStride: u32,    // output row stride, floats
  gridX: u32,
}

@group(0) @binding(0) var<storage, read> GU: array<f32>;             // [T, guStride] f32
@group(0) @binding(1) var<storage, read_write> A: array<f32>;        // [T, aStride] f32
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * p.gridX * 64u;
  if (idx >= p.T * p.F) { return; }
  let f = idx % p.F;
  let t = idx / p.F;
  let g = GU[t * p.guStride + f];
  let u = GU[t * p.guStride + p.F + f];
  A[t * p.aStride + f] = g / (1.0 + exp(min(-g, 80.0))) * u;   // clamp: no inf under WGSL fast math
}
