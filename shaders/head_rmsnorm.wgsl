// head_rmsnorm.wgsl — per-head RMSNorm of the query and key heads of fused QKV rows, in place,
// before RoPE (Qwen3 `q_norm` / `k_norm`, HF Qwen3RMSNorm over head_dim):
//   x[t, h, :] = x[t, h, :] / sqrt(mean_d(x[t, h, d]²) + eps) · g_h,
//   g_h = gq = g[0 .. D) for query heads h < H, gk = g[D .. 2D) for key heads H ≤ h < H + Hkv.
// Value heads are left alone.
//
// Dispatch: one thread per (t, head h < H + Hkv); the sum of squares is one fma chain over d
// ascending, so a row's result does not depend on T. Each thread reads and writes only its own head.
// Preconditions: (H + Hkv)·D ≤ stride; D ≤ 256.
// Glossary: T rows, H query heads, Hkv key/value heads, D head dim.

struct Params {
  T: u32,
  heads: u32,    // H + Hkv: heads normed per row
  H: u32,        // query heads (use gq); the rest use gk
  D: u32,
  stride: u32,   // QKV row stride, floats
  gridX: u32,
  eps: f32,      // rms_norm_eps
  invD: f32,     // 1 / D
}

@group(0) @binding(0) var<storage, read_write> QKV: array<f32>;      // [T, stride] f32; head h at h·D
@group(0) @binding(1) var<storage, read> g: array<f32>;              // [2D] f32: q_norm then k_norm weight
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * p.gridX * 64u;
  if (idx >= p.T * p.heads) { return; }
  let h = idx % p.heads;
  let t = idx / p.heads;
  let o = t * p.stride + h * p.D;
  let go = select(p.D, 0u, h < p.H);
  var s = 0.0;
  for (var d = 0u; d < p.D; d++) {
    let v = QKV[o + d];
    s = fma(v, v, s);
  }
  let scale = inverseSqrt(s * p.invD + p.eps);
  for (var d = 0u; d < p.D; d++) {
    QKV[o + d] = (QKV[o + d] * scale) * g[go + d];
  }
}
