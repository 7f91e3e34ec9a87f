// kv_compact.wgsl — keeps the listed KV rows and packs them at rows P, P+1, ... (after a tree
// verification step, the accepted path's rows move next to the cache). The unit is one storage word
// of a KV row, whatever the KV format packs into it (f32: one element; f16: two): every thread
// copies one word column through the rows in ascending order; since src[i] ≥ P + i and the list
// ascends, a source row is always read before any thread overwrites it (no temporary buffer needed).
//
// Dispatch: grid = (ceil(rowWords / 64), layers) over one K or V slab; workgroup 64.
// Glossary: Hkv KV heads, D head dim, Smax cache rows.

struct Params {
  n: u32,            // rows to keep (≤ 16)
  P: u32,            // first destination row
  rowWords: u32,     // storage words per KV row (f32: Hkv · D)
  planeWords: u32,   // Smax · rowWords (one layer of the slab)
  src: array<vec4<u32>, 4>,   // source rows, ascending; src[i] ≥ P + i
}

@group(1) @binding(0) var<uniform> p: Params;

// Override point `kv` (src/kernels/override.ts). Defines:
//   binding 0: the K or V slab, [layers, Smax, rowWords] storage words;
//   copyKV(dst: u32, src: u32): word dst ← word src of the slab (word index = layer·planeWords +
//   row·rowWords + j; a raw copy, no rounding). A format with data outside the row's words (row
//   scales) copies them when j = dst % p.rowWords == 0 (row = dst / p.rowWords).
// f32 words by default.
// BEGIN override kv
@group(0) @binding(0) var<storage, read_write> KV: array<f32>;
fn copyKV(dst: u32, src: u32) { KV[dst] = KV[src]; }
// END override kv

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  if (j >= p.rowWords) { return; }
  let plane = gid.y * p.planeWords;
  for (var i = 0u; i < p.n; i++) {
    let s = p.src[i / 4u][i % 4u];
    let d = p.P + i;
    if (s != d) { copyKV(plane + d * p.rowWords + j, plane + s * p.rowWords + j); }
  }
}
