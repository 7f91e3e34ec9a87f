// bias_add.wgsl — adds a bias vector to every row (HF nn.Linear(bias=True): y = x·Wᵀ + b), after the
// matmul: Y[t, n] = Y[t, n] + b[n] for n < N. Used for the fused q/k/v biases of Qwen2
// (`self_attn.{q,k,v}_proj.bias`, concatenated like the fused matrix). Elementwise, so a row's result
// does not depend on T and the matmul's reduction order is untouched.
//
// Dispatch: one thread per (t, n); workgroup 64; grid flattened over x/y.
// Preconditions: N ≤ stride; padding columns are never written.
// Glossary: T rows, N output features.

struct Params {
  T: u32,
  N: u32,
  stride: u32,   // row stride of Y, floats
  gridX: u32,
}

@group(0) @binding(0) var<storage, read_write> Y: array<f32>;        // [T, stride] f32, updated in place
@group(0) @binding(1) var<storage, read> b: array<f32>;              // [N] f32 bias (padded to 8)
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * p.gridX * 64u;
  if (idx >= p.T * p.N) { return; }
  let n = idx % p.N;
  let t = idx / p.N;
  Y[t * p.stride + n] = Y[t * p.stride + n] + b[n];
}
