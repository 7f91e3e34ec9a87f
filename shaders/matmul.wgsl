// matmul.wgsl — Y[t, n] (+)= Σ_k X[t, k] · W[n, k]: T activation rows times a weight [N, K] (nn.Linear).
//
// One file, two specialisations (pipeline-overridable constants):
//   GEMV path  (T = 1): ROWS = 1, CPT = 1, COLS columns per workgroup.
//   tiled path (T > 1): a register tile of ROWS activation rows × CPT weight rows per thread, so each
//                       weight chunk is reused ROWS times and each activation chunk CPT times.
// Determinism for lossless decoding: an output element is always reduced the same way, whatever T,
// ROWS, CPT or COLS: lane ℓ ∈ [0, LANES) accumulates chunks c ≡ ℓ (mod LANES) in ascending c with
// explicit fma in element order, then the LANES partial sums are combined by a fixed pairwise tree.
// LANES is the same for every matmul pipeline of an engine, so a row's result is bit-identical for
// T = 1 and T = 69. LANES = 1 (CPU adapters) needs no workgroup memory or barrier at all.
//
// Dispatch: workgroup = (LANES, COLS); grid = (ceil(nRows / (COLS·CPT)), ceil(T / ROWS)).
// Weight formats (WFMT): 0 = f32 (chunk = 4 elements), 1 = f16 packed 2 per u32 (chunk = 8),
//                        2 = bf16 packed 2 per u32, unpacked by shifting into the high half (chunk = 8).
// Preconditions: Kp % 8 == 0 (rows zero-padded to Kp); LANES a power of two; ROWS ≤ 8; CPT ≤ 4.
//
// Glossary: T rows this step, N output features (this weight chunk: nRows), K input features,
//           Kp = K rounded up to 8 (padded row stride of X and W).

override LANES: u32 = 16u;   // reduction lanes per output element (power of two)
override COLS: u32 = 4u;     // thread columns per workgroup
override ROWS: u32 = 1u;     // activation rows per thread (≤ MAX_ROWS)
override CPT: u32 = 1u;      // weight rows (output columns) per thread (≤ MAX_CPT)
override WFMT: u32 = 0u;     // weight format, see above

const MAX_ROWS: u32 = 8u;
const MAX_CPT: u32 = 4u;

struct Params {
  T: u32,          // activation rows to compute
  nRows: u32,      // weight rows (output columns) in this chunk
  kChunks: u32,    // chunks per weight row: Kp/4 (f32) or Kp/8 (16-bit)
  xStride4: u32,   // X row stride in vec4 units (Kp / 4)
  yStride: u32,    // Y row stride in floats
  yCol0: u32,      // first Y column written by this chunk
  xRow0: u32,      // first X row read
  yRow0: u32,      // first Y row written
  accumulate: u32, // 1: Y += result (fused residual add), 0: Y = result
}

@group(0) @binding(0) var<storage, read> W: array<vec4<u32>>;        // [nRows, kChunks] raw weight chunks
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;        // [*, Kp/4] f32 activations
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;        // [*, yStride] f32 outputs
@group(1) @binding(0) var<uniform> p: Params;

var<workgroup> red: array<f32, LANES * COLS * ROWS * CPT>;

fn unpackBf16(u: u32) -> vec2<f32> {
  return vec2<f32>(bitcast<f32>(u << 16u), bitcast<f32>(u & 0xffff0000u));
}

// Weight chunk → up to 8 f32 values (lo = elements 0..3, hi = 4..7).
fn decodeLo(w: vec4<u32>) -> vec4<f32> {
  if (WFMT == 0u) { return bitcast<vec4<f32>>(w); }
  if (WFMT == 1u) { return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)); }
  return vec4<f32>(unpackBf16(w.x), unpackBf16(w.y));
}
fn decodeHi(w: vec4<u32>) -> vec4<f32> {
  if (WFMT == 1u) { return vec4<f32>(unpack2x16float(w.z), unpack2x16float(w.w)); }
  return vec4<f32>(unpackBf16(w.z), unpackBf16(w.w));
}

fn fma4(x: vec4<f32>, w: vec4<f32>, acc: f32) -> f32 {
  var a = fma(x.x, w.x, acc);
  a = fma(x.y, w.y, a);
  a = fma(x.z, w.z, a);
  return fma(x.w, w.w, a);
}

@compute @workgroup_size(LANES, COLS, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let lane = lid.x;
  let col = lid.y;
  let n0 = (wid.x * COLS + col) * CPT;
  let t0 = wid.y * ROWS;
  var wrow: array<u32, MAX_CPT>;
  for (var j = 0u; j < CPT; j++) { wrow[j] = min(n0 + j, p.nRows - 1u) * p.kChunks; }
  var xrow: array<u32, MAX_ROWS>;
  for (var r = 0u; r < ROWS; r++) { xrow[r] = (p.xRow0 + min(t0 + r, p.T - 1u)) * p.xStride4; }
  var acc: array<f32, 32>;   // [MAX_ROWS][MAX_CPT]
  for (var i = 0u; i < 32u; i++) { acc[i] = 0.0; }

  for (var c = lane; c < p.kChunks; c += LANES) {
    var wlo: array<vec4<f32>, MAX_CPT>;
    var whi: array<vec4<f32>, MAX_CPT>;
    for (var j = 0u; j < CPT; j++) {
      let w = W[wrow[j] + c];
      wlo[j] = decodeLo(w);
      if (WFMT != 0u) { whi[j] = decodeHi(w); }
    }
    for (var r = 0u; r < ROWS; r++) {
      if (WFMT == 0u) {
        let x = X[xrow[r] + c];
        for (var j = 0u; j < CPT; j++) { acc[r * MAX_CPT + j] = fma4(x, wlo[j], acc[r * MAX_CPT + j]); }
      } else {
        let xlo = X[xrow[r] + 2u * c];
        let xhi = X[xrow[r] + 2u * c + 1u];
        for (var j = 0u; j < CPT; j++) {
          acc[r * MAX_CPT + j] = fma4(xhi, whi[j], fma4(xlo, wlo[j], acc[r * MAX_CPT + j]));
        }
      }
    }
  }

  if (LANES > 1u) {
    // Fixed pairwise tree over lanes (same order for every T, ROWS, CPT, COLS).
    for (var r = 0u; r < ROWS; r++) {
      for (var j = 0u; j < CPT; j++) { red[((r * CPT + j) * COLS + col) * LANES + lane] = acc[r * MAX_CPT + j]; }
    }
    workgroupBarrier();
    for (var s = LANES / 2u; s > 0u; s >>= 1u) {
      if (lane < s) {
        for (var i = 0u; i < ROWS * CPT; i++) {
          let k = (i * COLS + col) * LANES + lane;
          red[k] = red[k] + red[k + s];
        }
      }
      workgroupBarrier();
    }
    if (lane == 0u) {
      for (var r = 0u; r < ROWS; r++) {
        for (var j = 0u; j < CPT; j++) { acc[r * MAX_CPT + j] = red[((r * CPT + j) * COLS + col) * LANES]; }
      }
    }
  }
  if (lane == 0u) {
    for (var r = 0u; r < ROWS; r++) {
      let t = t0 + r;
      for (var j = 0u; j < CPT; j++) {
        let n = n0 + j;
        if (t < p.T && n < p.nRows) {
          let yi = (p.yRow0 + t) * p.yStride + p.yCol0 + n;
          let v = acc[r * MAX_CPT + j];
          if (p.accumulate == 1u) { Y[yi] = Y[yi] + v; } else { Y[yi] = v; }
        }
      }
    }
  }
}
