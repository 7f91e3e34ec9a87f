// topk.wgsl — per-row top-k of the logits (k ≤ 64), largest first; ties go to the lowest token id.
// Element 0 is the greedy argmax. Only these ids and values cross back to the host.
//
// Only finite logits are ranked: NaN, +inf and −inf are skipped, detected by their bit pattern
// (exponent bits all ones) because a WGSL compiler may assume floats are finite and fold an
// `x != x` test away. Slots that no finite logit fills keep id EMPTY (0xffffffff) and value 0, so a
// row with no finite logit returns EMPTY as its argmax: the host must check it (ARCHITECTURE.md,
// "Non-finite logits"). An empty slot ranks after every real one, so a finite −3.4e38 still counts.
//
// Dispatch: one workgroup of WG threads per row. Each thread keeps a sorted list of its best k over
// the ids it visits (tid, tid+WG, ... ascending, replacing only on strictly greater values, so ties
// keep the lower id); lists are then merged pairwise in a fixed tree with (value desc, id asc) order.
// k = 64 (sampling's candidate set) is why WG is 32: the lists live in WG · MAXK · 8 B = 16 KiB of
// workgroup memory, WebGPU's default maxComputeWorkgroupStorageSize. The result is an exact
// selection (values are copied, never computed), so every k and WG give the same top-1.
// Glossary: T rows, V vocabulary size.

const WG: u32 = 32u;
const MAXK: u32 = 64u;
const EMPTY: u32 = 0xffffffffu;      // id of a slot no finite logit fills
const EXP_MASK: u32 = 0x7f800000u;   // f32 exponent bits: all ones = NaN or ±inf

struct Params {
  V: u32,          // vocabulary size (columns considered)
  stride: u32,     // logits row stride, floats
  k: u32,          // 1 ≤ k ≤ 64
  row0: u32,       // first logits row
}

@group(0) @binding(0) var<storage, read> L: array<f32>;              // [T, stride] f32 logits
@group(0) @binding(1) var<storage, read_write> outIds: array<u32>;   // [T, k] token ids
@group(0) @binding(2) var<storage, read_write> outVals: array<f32>;  // [T, k] logits
@group(1) @binding(0) var<uniform> p: Params;

var<workgroup> sv: array<f32, WG * MAXK>;
var<workgroup> si: array<u32, WG * MAXK>;

// true when (va, ia) ranks before (vb, ib); an empty slot ranks after everything. Values in real
// slots are finite, so the comparisons below never see NaN.
fn better(va: f32, ia: u32, vb: f32, ib: u32) -> bool {
  if (ia == EMPTY) { return false; }
  if (ib == EMPTY) { return true; }
  return va > vb || (va == vb && ia < ib);
}

fn isFinite(x: f32) -> bool {
  return (bitcast<u32>(x) & EXP_MASK) != EXP_MASK;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let tid = lid.x;
  let t = wid.x;
  let k = p.k;
  var bv: array<f32, MAXK>;
  var bi: array<u32, MAXK>;
  for (var j = 0u; j < MAXK; j++) { bv[j] = 0.0; bi[j] = EMPTY; }
  let base = (p.row0 + t) * p.stride;
  for (var v = tid; v < p.V; v += WG) {
    let x = L[base + v];
    if (isFinite(x) && better(x, v, bv[k - 1u], bi[k - 1u])) {
      var j = k - 1u;
      loop {
        if (j == 0u) { break; }
        if (!better(x, v, bv[j - 1u], bi[j - 1u])) { break; }
        bv[j] = bv[j - 1u]; bi[j] = bi[j - 1u];
        j--;
      }
      bv[j] = x; bi[j] = v;
    }
  }
  for (var j = 0u; j < k; j++) { sv[tid * MAXK + j] = bv[j]; si[tid * MAXK + j] = bi[j]; }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (tid < s) {
      // merge lists tid and tid+s into bv/bi
      var a = 0u; var b = 0u;
      let oa = tid * MAXK; let ob = (tid + s) * MAXK;
      for (var j = 0u; j < k; j++) {
        if (better(sv[oa + a], si[oa + a], sv[ob + b], si[ob + b])) {
          bv[j] = sv[oa + a]; bi[j] = si[oa + a]; a++;
        } else {
          bv[j] = sv[ob + b]; bi[j] = si[ob + b]; b++;
        }
      }
    }
    workgroupBarrier();
    if (tid < s) {
      for (var j = 0u; j < k; j++) { sv[tid * MAXK + j] = bv[j]; si[tid * MAXK + j] = bi[j]; }
    }
    workgroupBarrier();
  }
  for (var j = tid; j < k; j += WG) {
    outIds[t * k + j] = si[j];
    outVals[t * k + j] = sv[j];
  }
}
