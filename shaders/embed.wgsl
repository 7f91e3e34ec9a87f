// embed.wgsl — embedding gather: X[t, :] = E[ids[t], :] · scale for the tokens whose id lies in this
// weight chunk's vocabulary range [v0, v0 + vRows). Rows of other chunks are left untouched (the
// embedding matrix may be split into several buffers to respect maxStorageBufferBindingSize).
//
// Dispatch: one thread per (t, 8-element chunk); workgroup 64; grid flattened over x/y.
// Weights: decoded by `loadWeight` (the override point `weight`, the same contract and default as
// shaders/matmul.wgsl: f32, f16 or bf16 by WFMT).
// Preconditions: Kp % 8 == 0; padding columns of E are zero and X's are never written.
//
// Glossary: T tokens, C hidden size, Kp = C rounded up to 8 (row stride of E and X).

override WFMT: u32 = 0u;   // weight format of the default `weight` override: 0 f32, 1 f16, 2 bf16

struct Params {
  T: u32,          // tokens
  C: u32,          // hidden size (elements written per row)
  kChunks: u32,    // 8-element chunks per E row: Kp / 8
  xStride: u32,    // X row stride in floats (Kp)
  v0: u32,         // first vocabulary id held by this chunk
  vRows: u32,      // rows in this chunk
  gridX: u32,      // workgroups along x (for flattening)
  scale: f32,      // row multiplier: 1, or Gemma's √C in the model dtype (1 leaves the row exact)
}

/** Elements 8c .. 8c + 7 of one weight row, decoded to f32: lo = elements 0..3, hi = 4..7. */
struct WChunk {
  lo: vec4<f32>,
  hi: vec4<f32>,
}

@group(0) @binding(1) var<storage, read> ids: array<u32>;            // [T] token ids
@group(0) @binding(2) var<storage, read_write> X: array<f32>;        // [T, xStride] f32 embeddings
@group(1) @binding(0) var<uniform> p: Params;

// BEGIN override weight
// Filled at load with matmul.wgsl's `weight` region (src/kernels/embed.ts), so one format's WGSL
// serves both kernels: binding 0 `W` and `fn loadWeight(row: u32, c: u32) -> WChunk`.
// END override weight

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.gridX * 64u;     // one thread per (t, chunk)
  let chunks = (p.C + 7u) / 8u;
  if (i >= p.T * chunks) { return; }
  let t = i / chunks;
  let c = i % chunks;
  let id = ids[t];
  if (id < p.v0 || id >= p.v0 + p.vRows) { return; }
  let w = loadWeight(id - p.v0, c);
  let xo = t * p.xStride + 8u * c;
  let n = min(8u, p.C - 8u * c);
  for (var k = 0u; k < n; k++) {
    if (k < 4u) { X[xo + k] = w.lo[k] * p.scale; } else { X[xo + k] = w.hi[k - 4u] * p.scale; }
  }
}
