// embed.wgsl — embedding gather: X[t, :] = E[ids[t], :] for the tokens whose id lies in this
// weight chunk's vocabulary range [v0, v0 + vRows). Rows of other chunks are left untouched (the
// embedding matrix may be split into several buffers to respect maxStorageBufferBindingSize).
//
// Dispatch: one thread per (t, element pair or quad); workgroup 64; grid flattened over x/y.
// Weight formats (WFMT): 0 = f32, 1 = f16 packed 2 per u32, 2 = bf16 packed 2 per u32.
// Preconditions: Kp % 8 == 0; padding columns of E are zero and X's are never written.
//
// Glossary: T tokens, C hidden size, Kp = C rounded up to 8 (row stride of E and X).

override WFMT: u32 = 0u;

struct Params {
  T: u32,          // tokens
  C: u32,          // hidden size (elements written per row)
  rowWords: u32,   // u32 words per E row: Kp (f32) or Kp/2 (16-bit)
  xStride: u32,    // X row stride in floats (Kp)
  v0: u32,         // first vocabulary id held by this chunk
  vRows: u32,      // rows in this chunk
  gridX: u32,      // workgroups along x (for flattening)
}

@group(0) @binding(0) var<storage, read> E: array<u32>;              // [vRows, rowWords] raw weight words
@group(0) @binding(1) var<storage, read> ids: array<u32>;            // [T] token ids
@group(0) @binding(2) var<storage, read_write> X: array<f32>;        // [T, xStride] f32 embeddings
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.gridX * 64u;     // one thread per (t, word)
  let words = select(p.C, (p.C + 1u) / 2u, WFMT != 0u);
  if (i >= p.T * words) { return; }
  let t = i / words;
  let w = i % words;
  let id = ids[t];
  if (id < p.v0 || id >= p.v0 + p.vRows) { return; }
  let u = E[(id - p.v0) * p.rowWords + w];
  let xo = t * p.xStride;
  if (WFMT == 0u) {
    X[xo + w] = bitcast<f32>(u);
    return;
  }
  var v: vec2<f32>;
  if (WFMT == 1u) { v = unpack2x16float(u); } else { v = vec2<f32>(bitcast<f32>(u << 16u), bitcast<f32>(u & 0xffff0000u)); }
  X[xo + 2u * w] = v.x;
  if (2u * w + 1u < p.C) { X[xo + 2u * w + 1u] = v.y; }
}
