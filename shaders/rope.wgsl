// rope.wgsl — rotary position embedding (Su et al. 2021, RoFormer; HF Llama "rotate_half" layout),
// applied in place to the query heads and key heads of the fused QKV rows:
//   for i < D/2:  x'[i]       = x[i] · cos(θ) − x[i + D/2] · sin(θ)
//                 x'[i + D/2] = x[i + D/2] · cos(θ) + x[i] · sin(θ),   θ = pos[t] · invFreq[i]
// cos/sin come from a host-built float64 table (rounded to f32), indexed by the token's absolute
// position from the positions buffer: tree nodes have non-contiguous positions (P + depth).
//
// Dispatch: one thread per (t, head of H + Hkv, i < D/2); workgroup 64; grid flattened over x/y.
// Glossary: T rows, H query heads, Hkv KV heads, D head dim, Smax table rows.

struct Params {
  T: u32,
  heads: u32,     // H + Hkv heads rotated (query heads first, then key heads, contiguous)
  halfD: u32,     // D / 2
  stride: u32,    // QKV row stride, floats
  gridX: u32,     // workgroups along x (for flattening)
}

@group(0) @binding(0) var<storage, read_write> QKV: array<f32>;      // [T, stride] f32; heads at columns h·D
@group(0) @binding(1) var<storage, read> pos: array<u32>;            // [T] absolute positions
@group(0) @binding(2) var<storage, read> cs: array<vec2<f32>>;       // [Smax, D/2] (cos, sin)
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * p.gridX * 64u;
  if (idx >= p.T * p.heads * p.halfD) { return; }
  let i = idx % p.halfD;
  let h = (idx / p.halfD) % p.heads;
  let t = idx / (p.halfD * p.heads);
  let c = cs[pos[t] * p.halfD + i];
  let o = t * p.stride + h * 2u * p.halfD + i;
  let a = QKV[o];
  let b = QKV[o + p.halfD];
  QKV[o] = a * c.x - b * c.y;
  QKV[o + p.halfD] = b * c.x + a * c.y;
}
