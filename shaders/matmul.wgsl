// matmul.wgsl — Y[t, n] (+)= Σ_k X[t, k] · W[n, k]: T activation rows times a weight [N, K] (nn.Linear).
//
// One file, specialised by pipeline-overridable constants:
//   GEMV  (T = 1): ROWS = 1, CPT = 1, COLS columns per workgroup.
//   tiled (T > 1): a register tile of ROWS activation rows × CPT weight rows per thread, so each weight
//                  chunk fetched from global memory serves ROWS rows (up to 32: a 69-row tree fetches
//                  each weight 3 times) and each activation chunk CPT columns.
// Determinism for lossless decoding: an output element is always reduced the same way, whatever T,
// ROWS, CPT or COLS: lane ℓ ∈ [0, LANES) accumulates chunks c ≡ ℓ (mod LANES) in ascending c with
// explicit fma in element order, then the LANES partial sums are combined by a fixed pairwise tree.
// LANES is the same for every matmul pipeline of an engine, so a row's result is bit-identical for
// T = 1 and T = 69. LANES = 1 (CPU adapters) needs no workgroup memory or barrier at all. The lane
// tree runs in rounds of RED_ROWS rows, so workgroup memory is LANES·COLS·CPT·RED_ROWS floats.
//
// Dispatch: workgroup = (LANES, COLS); rowBlocks = ceil(T / ROWS), colBlocks = ceil(nRows / (COLS·CPT));
// workgroup w = wid.x + wid.y · gridX handles row block w % rowBlocks of column block w / rowBlocks,
// so the workgroups that fetch the same weight tile are adjacent in dispatch order.
// Weights: a chunk is 8 consecutive input features of one weight row, decoded by `loadWeight` (the
// override point `weight`, see src/kernels/override.ts): f32, f16 or bf16 (WFMT) by default.
// Preconditions: Kp % 8 == 0 (rows zero-padded to Kp); LANES a power of two; ROWS ≤ 32; CPT ≤ 4;
//                RED_ROWS divides ROWS.
//
// Glossary: T rows this step, N output features (this weight chunk: nRows), K input features,
//           Kp = K rounded up to 8 (padded row stride of X and W).

override LANES: u32 = 16u;   // reduction lanes per output element (power of two)
override COLS: u32 = 4u;     // thread columns per workgroup
override ROWS: u32 = 1u;     // activation rows per thread (≤ MAX_ROWS)
override RG: u32 = 1u;       // row groups per workgroup (threads along z sharing each weight fetch)
override CPT: u32 = 1u;      // weight rows (output columns) per thread (≤ MAX_CPT)
override RED_ROWS: u32 = 1u; // rows per round of the lane reduction (divides ROWS)
override WFMT: u32 = 0u;     // weight format of the default `weight` override: 0 f32, 1 f16, 2 bf16
override WTILE: u32 = 1u;    // vec4 entries of the shared weight tile: 2·LANES·COLS·CPT when RG > 1, else 1 (unused)

const MAX_ROWS: u32 = 8u;
const MAX_CPT: u32 = 4u;

struct Params {
  T: u32,          // activation rows to compute
  nRows: u32,      // weight rows (output columns) in this chunk
  kChunks: u32,    // 8-element chunks per weight row: Kp / 8
  xStride4: u32,   // X row stride in vec4 units (Kp / 4)
  yStride: u32,    // Y row stride in floats
  yCol0: u32,      // first Y column written by this chunk
  xRow0: u32,      // first X row read
  yRow0: u32,      // first Y row written
  accumulate: u32, // 1: Y += result (fused residual add), 0: Y = result
  rowBlocks: u32,  // ceil(T / ROWS)
  gridX: u32,      // workgroups along x (the grid is flattened over x, y)
}

/** Elements 8c .. 8c + 7 of one weight row, decoded to f32: lo = elements 0..3, hi = 4..7. */
struct WChunk {
  lo: vec4<f32>,
  hi: vec4<f32>,
}

@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;        // [*, Kp/4] f32 activations
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;        // [*, yStride] f32 outputs
@group(1) @binding(0) var<uniform> p: Params;

// BEGIN override weight
// Defines binding 0 `W` and `fn loadWeight(row: u32, c: u32) -> WChunk` (chunk c of weight row `row`;
// may read p.kChunks). Default: f32 = two vec4<u32> per chunk (32 bytes); f16 and bf16 = one
// vec4<u32> per chunk (16 bytes, 2 elements per u32, element 2i in the low half).
@group(0) @binding(0) var<storage, read> W: array<vec4<u32>>;        // [rows, kChunks] weight chunks

fn unpackBf16(u: u32) -> vec2<f32> {
  return vec2<f32>(bitcast<f32>(u << 16u), bitcast<f32>(u & 0xffff0000u));
}

fn loadWeight(row: u32, c: u32) -> WChunk {
  if (WFMT == 0u) {
    let i = 2u * (row * p.kChunks + c);
    return WChunk(bitcast<vec4<f32>>(W[i]), bitcast<vec4<f32>>(W[i + 1u]));
  }
  let w = W[row * p.kChunks + c];
  if (WFMT == 1u) {
    return WChunk(vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)), vec4<f32>(unpack2x16float(w.z), unpack2x16float(w.w)));
  }
  return WChunk(vec4<f32>(unpackBf16(w.x), unpackBf16(w.y)), vec4<f32>(unpackBf16(w.z), unpackBf16(w.w)));
}
// END override weight

var<workgroup> red: array<f32, LANES * COLS * RG * CPT * RED_ROWS>;
var<workgroup> wtile: array<vec4<f32>, WTILE>;   // RG > 1: the decoded weight chunks of one step, [COLS·CPT][LANES][lo, hi]

fn fma4(x: vec4<f32>, w: vec4<f32>, acc: f32) -> f32 {
  var a = fma(x.x, w.x, acc);
  a = fma(x.y, w.y, a);
  a = fma(x.z, w.z, a);
  return fma(x.w, w.w, a);
}

@compute @workgroup_size(LANES, COLS, RG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let block = wid.x + wid.y * p.gridX;
  let colBlock = block / p.rowBlocks;
  if (colBlock * COLS * CPT >= p.nRows) { return; }   // grid padding (uniform per workgroup)
  let lane = lid.x;
  let col = lid.y;
  let rg = lid.z;
  let n0 = (colBlock * COLS + col) * CPT;
  let t0 = (block % p.rowBlocks) * (ROWS * RG) + rg * ROWS;
  var wrow: array<u32, MAX_CPT>;
  for (var j = 0u; j < CPT; j++) { wrow[j] = min(n0 + j, p.nRows - 1u); }
  var xrow: array<u32, MAX_ROWS>;
  for (var r = 0u; r < ROWS; r++) { xrow[r] = (p.xRow0 + min(t0 + r, p.T - 1u)) * p.xStride4; }
  var acc: array<f32, 32>;   // [MAX_ROWS][MAX_CPT]
  for (var r = 0u; r < ROWS; r++) { for (var j = 0u; j < CPT; j++) { acc[r * MAX_CPT + j] = 0.0; } }

  if (RG == 1u) {
    // Lane ℓ takes chunks c ≡ ℓ (mod LANES) in ascending order.
    for (var c = lane; c < p.kChunks; c += LANES) {
      var w: array<WChunk, MAX_CPT>;
      for (var j = 0u; j < CPT; j++) { w[j] = loadWeight(wrow[j], c); }
      for (var r = 0u; r < ROWS; r++) {
        let xlo = X[xrow[r] + 2u * c];
        let xhi = X[xrow[r] + 2u * c + 1u];
        for (var j = 0u; j < CPT; j++) {
          acc[r * MAX_CPT + j] = fma4(xhi, w[j].hi, fma4(xlo, w[j].lo, acc[r * MAX_CPT + j]));
        }
      }
    }
  } else {
    // Same chunks per lane, in a uniform loop over c0 (barriers): the weight chunks of each step are
    // fetched once per workgroup (column j by thread rg = j mod RG) and shared through workgroup memory.
    for (var c0 = 0u; c0 < p.kChunks; c0 += LANES) {
      let c = c0 + lane;
      if (c < p.kChunks) {
        for (var j = rg; j < CPT; j += RG) {
          let d = loadWeight(wrow[j], c);
          let k = 2u * ((col * CPT + j) * LANES + lane);
          wtile[k] = d.lo;
          wtile[k + 1u] = d.hi;
        }
      }
      workgroupBarrier();
      if (c < p.kChunks) {
        for (var r = 0u; r < ROWS; r++) {
          let xlo = X[xrow[r] + 2u * c];
          let xhi = X[xrow[r] + 2u * c + 1u];
          for (var j = 0u; j < CPT; j++) {
            let k = 2u * ((col * CPT + j) * LANES + lane);
            acc[r * MAX_CPT + j] = fma4(xhi, wtile[k + 1u], fma4(xlo, wtile[k], acc[r * MAX_CPT + j]));
          }
        }
      }
      workgroupBarrier();
    }
  }

  if (LANES > 1u) {
    // Fixed pairwise tree over lanes (same order for every T, ROWS, RG, CPT, COLS), RED_ROWS rows a round.
    let slot = col + COLS * rg;   // this thread's (col, rg) among COLS · RG
    for (var r0 = 0u; r0 < ROWS; r0 += RED_ROWS) {
      for (var rr = 0u; rr < RED_ROWS; rr++) {
        for (var j = 0u; j < CPT; j++) { red[((rr * CPT + j) * COLS * RG + slot) * LANES + lane] = acc[(r0 + rr) * MAX_CPT + j]; }
      }
      workgroupBarrier();
      for (var s = LANES / 2u; s > 0u; s >>= 1u) {
        if (lane < s) {
          for (var i = 0u; i < RED_ROWS * CPT; i++) {
            let k = (i * COLS * RG + slot) * LANES + lane;
            red[k] = red[k] + red[k + s];
          }
        }
        workgroupBarrier();
      }
      if (lane == 0u) {
        for (var rr = 0u; rr < RED_ROWS; rr++) {
          for (var j = 0u; j < CPT; j++) { acc[(r0 + rr) * MAX_CPT + j] = red[((rr * CPT + j) * COLS * RG + slot) * LANES]; }
        }
      }
      workgroupBarrier();
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
