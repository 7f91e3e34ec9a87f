// gemm_vec4.wgsl — bench-only: C = A · B in f32 (row-major A [M, K], B [K, N], C [M, N]), for the
// FLOP/s ceiling next to the runtime's own matmul. No workgroup memory (barriers are expensive on
// the CPU adapters); each thread keeps TM × 4 outputs in registers and reads vec4s: per step of 4 k
// values, TM vec4s of A and 4 vec4s of B feed 16·TM fmas.
// Preconditions: M % TM == 0, N % 4 == 0, K % 4 == 0. Dispatch: (ceil(N/4 / 8), ceil(M/TM / 8)).

override TM: u32 = 4u;   // output rows per thread (≤ 8)

struct Params {
  M: u32,
  N4: u32,   // N / 4
  K4: u32,   // K / 4
}

@group(0) @binding(0) var<storage, read> A: array<vec4<f32>>;         // [M, K/4]
@group(0) @binding(1) var<storage, read> B: array<vec4<f32>>;         // [K, N/4]
@group(0) @binding(2) var<storage, read_write> C: array<vec4<f32>>;   // [M, N/4]
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c4 = gid.x;
  let r0 = gid.y * TM;
  if (c4 >= p.N4 || r0 >= p.M) { return; }
  var acc: array<vec4<f32>, 8>;
  for (var i = 0u; i < TM; i++) { acc[i] = vec4<f32>(0.0); }
  for (var k4 = 0u; k4 < p.K4; k4++) {
    let kb = 4u * k4 * p.N4 + c4;
    let b0 = B[kb];
    let b1 = B[kb + p.N4];
    let b2 = B[kb + 2u * p.N4];
    let b3 = B[kb + 3u * p.N4];
    for (var i = 0u; i < TM; i++) {
      let a = A[(r0 + i) * p.K4 + k4];
      acc[i] = fma(vec4<f32>(a.x), b0, fma(vec4<f32>(a.y), b1, fma(vec4<f32>(a.z), b2, fma(vec4<f32>(a.w), b3, acc[i]))));
    }
  }
  for (var i = 0u; i < TM; i++) { C[(r0 + i) * p.N4 + c4] = acc[i]; }
}
