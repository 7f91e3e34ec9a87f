// kv_compact.wgsl — keeps the listed KV rows and packs them at rows P, P+1, ... (after a tree
// verification step, the accepted path's rows move next to the cache). Every thread copies one
// element column through the rows in ascending order; since src[i] ≥ P + i and the list ascends, a
// source row is always read before any thread overwrites it (no temporary buffer needed).
//
// Dispatch: grid = (ceil(Hkv·D / 64), layers) over one K or V slab; workgroup 64.
// Glossary: Hkv KV heads, D head dim, Smax cache rows.

struct Params {
  n: u32,            // rows to keep (≤ 16)
  P: u32,            // first destination row
  rowFloats: u32,    // Hkv · D
  planeFloats: u32,  // Smax · Hkv · D (one layer of the slab)
  src: array<vec4<u32>, 4>,   // source rows, ascending; src[i] ≥ P + i
}

@group(1) @binding(0) var<uniform> p: Params;

// Override point `kv` (src/kernels/override.ts): the K or V slab (binding 0, [layers, Smax, Hkv·D]
// elements) and copyKV(dst, src): element dst ← element src (a raw copy: no rounding).
// BEGIN override kv
@group(0) @binding(0) var<storage, read_write> KV: array<f32>;
fn copyKV(dst: u32, src: u32) { KV[dst] = KV[src]; }
// END override kv

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  if (j >= p.rowFloats) { return; }
  let plane = gid.y * p.planeFloats;
  for (var i = 0u; i < p.n; i++) {
    let s = p.src[i / 4u][i % 4u];
    let d = p.P + i;
    if (s != d) { copyKV(plane + d * p.rowFloats + j, plane + s * p.rowFloats + j); }
  }
}
