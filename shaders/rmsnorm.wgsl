// rmsnorm.wgsl — RMSNorm (Zhang & Sennrich 2019; HF LlamaRMSNorm):
//   Y[t, c] = X[t, c] / sqrt(mean_c(X[t, :]²) + eps) · g[c]
//
// Dispatch: one workgroup of WG threads per row t. The sum of squares is reduced in a fixed order
// (thread-strided partial sums, then a pairwise tree), so a row's result does not depend on T.
// Preconditions: row stride ≥ C; padding columns are never written.
//
// Glossary: T rows, C hidden size.

const WG: u32 = 64u;

struct Params {
  T: u32,        // rows
  C: u32,        // elements per row
  stride: u32,   // row stride of X and Y, floats
  eps: f32,      // rms_norm_eps
  invC: f32,     // 1 / C
}

@group(0) @binding(0) var<storage, read> X: array<f32>;              // [T, stride] f32
@group(0) @binding(1) var<storage, read> g: array<f32>;              // [C] f32 weight
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;        // [T, stride] f32
@group(1) @binding(0) var<uniform> p: Params;

var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = wid.x;
  let base = t * p.stride;
  var s = 0.0;
  for (var c = lid.x; c < p.C; c += WG) {
    let v = X[base + c];
    s = fma(v, v, s);
  }
  red[lid.x] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid.x < k) { red[lid.x] = red[lid.x] + red[lid.x + k]; }
    workgroupBarrier();
  }
  let scale = inverseSqrt(red[0] * p.invC + p.eps);
  for (var c = lid.x; c < p.C; c += WG) {
    Y[base + c] = (X[base + c] * scale) * g[c];
  }
}
