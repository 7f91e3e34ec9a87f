// geglu.wgsl — GeGLU activation with the tanh GELU (Shazeer 2020; HF GemmaMLP with
// `gelu_pytorch_tanh`): A[t, f] = gelu_tanh(G[t, f]) · U[t, f],
//   gelu_tanh(x) = 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))).
// G and U are the two halves of the fused gate_up projection rows (as in swiglu.wgsl).
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

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * p.gridX * 64u;
  if (idx >= p.T * p.F) { return; }
  let f = idx % p.F;
  let t = idx / p.F;
  let g = GU[t * p.guStride + f];
  let u = GU[t * p.guStride + p.F + f];
  // tanh saturates to ±1 in f32 beyond |z| = 9; the clamp keeps implementations built on exp finite.
  let z = clamp(SQRT_2_OVER_PI * (g + 0.044715 * g * g * g), -15.0, 15.0);
  A[t * p.aStride + f] = 0.5 * g * (1.0 + tanh(z)) * u;
}
