// qgroup-gidx.weight.wgsl — not a kernel: the `weight` override region (src/kernels/override.ts) of
// matmul.wgsl for the group-quantized format of issue 12 (src/model/quantize.ts) with a per-input-feature
// group index, as GPTQ checkpoints quantized with `desc_act` (activation order) store it
// (src/model/prequant.ts repacks them). The lead-in constants QBITS (4 or 8), QGROUP (32, 64 or 128:
// only the number of groups per row, ceil(Kp / QGROUP), comes from it) and QSCALE_F16 (true: f16 scales)
// are written in by src/kernels/qweight.ts.
//
// Per weight row (Kp = roundUp(K, 8) input features, groups = ceil(Kp / QGROUP) groups):
// value of feature k = (q − zero[QG[k]]) · scale[QG[k]] in f32; q unsigned QBITS-bit, zero unsigned 8-bit.
//   W  (binding 0): qweight [rows, Kp · QBITS / 32] u32; feature k at word k·QBITS/32, bits (k mod 32/QBITS)·QBITS.
//   QS (binding 3): scales [rows, ceil(groups / 2)] f16 pairs (even group low) or [rows, groups] f32 bits.
//   QZ (binding 4): zeros [rows, ceil(groups / 4)] u32; group g at word g/4, bits (g mod 4)·8.
//   QG (binding 5): group index [Kp] u32, shared by every row (padding features: group 0, code = zero).
// The 8 features of a chunk may lie in 8 different groups: each gets its own scale and zero.

@group(0) @binding(0) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read> QS: array<u32>;
@group(0) @binding(4) var<storage, read> QZ: array<u32>;
@group(0) @binding(5) var<storage, read> QG: array<u32>;

fn loadWeight(row: u32, c: u32) -> WChunk {
  let groups = (p.kChunks * 8u + QGROUP - 1u) / QGROUP;
  let mask = (1u << QBITS) - 1u;
  var v: array<f32, 8>;
  for (var i = 0u; i < 8u; i++) {
    let g = QG[c * 8u + i];
    var s: f32;
    if (QSCALE_F16) {
      s = unpack2x16float(QS[row * ((groups + 1u) / 2u) + g / 2u])[g % 2u];
    } else {
      s = bitcast<f32>(QS[row * groups + g]);
    }
    let z = f32((QZ[row * ((groups + 3u) / 4u) + g / 4u] >> ((g % 4u) * 8u)) & 0xffu);
    let k = c * 8u + i;
    let q = (W[row * p.kChunks * QBITS / 4u + k * QBITS / 32u] >> ((k % (32u / QBITS)) * QBITS)) & mask;
    v[i] = (f32(q) - z) * s;
  }
  return WChunk(vec4<f32>(v[0], v[1], v[2], v[3]), vec4<f32>(v[4], v[5], v[6], v[7]));
}
