// rmsnorm_add.wgsl — RMSNorm of a sub-layer's output added to the residual stream (Gemma 2/3
// sandwich norms: `post_attention_layernorm`, `post_feedforward_layernorm`, HF Gemma2DecoderLayer):
//   X[t, c] = X[t, c] + Y[t, c] / sqrt(mean_c(Y[t, :]²) + eps) · g[c]
// g holds the norm's full scale (Gemma's 1 + weight, added at load in f32).
// The sum of squares is reduced exactly as in rmsnorm.wgsl (thread-strided partial sums, then a
// pairwise tree), so a row's result does not depend on T; the normed value is rounded to f32 before
// the add, as HF rounds the norm's output before `residual + hidden_states`.
//
// Dispatch: one workgroup of WG threads per row t.
// Preconditions: row stride ≥ C; padding columns are never written.
// Glossary: T rows, C hidden size.

const WG: u32 = 64u;

struct Params {
  T: u32,        // rows
  C: u32,        // elements per row
  stride: u32,   // row stride of Y and X, floats
  eps: f32,      // rms_norm_eps
  invC: f32,     // 1 / C
}

@group(0) @binding(0) var<storage, read> Y: array<f32>;              // [T, stride] f32 sub-layer output
@group(0) @binding(1) var<storage, read> g: array<f32>;              // [C] f32 norm scale
@group(0) @binding(2) var<storage, read_write> X: array<f32>;        // [T, stride] f32 residual stream, updated
@group(1) @binding(0) var<uniform> p: Params;

var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = wid.x;
  let base = t * p.stride;
  var s = 0.0;
  for (var c = lid.x; c < p.C; c += WG) {
    let v = Y[base + c];
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
    let y = (Y[base + c] * scale) * g[c];
    X[base + c] = X[base + c] + y;
  }
}
