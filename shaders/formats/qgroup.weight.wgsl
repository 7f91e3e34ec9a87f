// qgroup.weight.wgsl — not a kernel: the `weight` override region (src/kernels/override.ts) of
// matmul.wgsl for the group-quantized weight format of issue 12 (src/model/quantize.ts). The lead-in
// constants QBITS (4 or 8) and QGROUP (32, 64 or 128) are written in by src/kernels/qweight.ts.
//
// Format (per weight row, Kp = roundUp(K, 8) input features, groups of QGROUP features, the last one
// partial): value = (q − zero) · scale in f32, q and zero unsigned QBITS-bit integers.
//   W  (binding 0): qweight [rows, Kp · QBITS / 32] u32; element k at word k·QBITS/32, bits (k mod 32/QBITS)·QBITS.
//   QS (binding 3): scales [rows, ceil(Kp / QGROUP)] f32.
//   QZ (binding 4): zeros [rows, ceil(groups · QBITS / 32)] u32, packed like the weights.
// A chunk (8 features) lies in one group, since QGROUP is a multiple of 8.

@group(0) @binding(0) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read> QS: array<f32>;
@group(0) @binding(4) var<storage, read> QZ: array<u32>;

fn loadWeight(row: u32, c: u32) -> WChunk {
  let groups = (p.kChunks * 8u + QGROUP - 1u) / QGROUP;
  let g = (c * 8u) / QGROUP;
  let s = QS[row * groups + g];
  let per = 32u / QBITS;
  let zWords = (groups + per - 1u) / per;
  let mask = (1u << QBITS) - 1u;
  let z = f32((QZ[row * zWords + g / per] >> ((g % per) * QBITS)) & mask);
  var v: array<f32, 8>;
  if (QBITS == 4u) {
    let w = W[row * p.kChunks + c];
    for (var i = 0u; i < 8u; i++) { v[i] = (f32((w >> (4u * i)) & mask) - z) * s; }
  } else {
    let w0 = W[2u * (row * p.kChunks + c)];
    let w1 = W[2u * (row * p.kChunks + c) + 1u];
    for (var i = 0u; i < 4u; i++) {
      v[i] = (f32((w0 >> (8u * i)) & mask) - z) * s;
      v[4u + i] = (f32((w1 >> (8u * i)) & mask) - z) * s;
    }
  }
  return WChunk(vec4<f32>(v[0], v[1], v[2], v[3]), vec4<f32>(v[4], v[5], v[6], v[7]));
}
