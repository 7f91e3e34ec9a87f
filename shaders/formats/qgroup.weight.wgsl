// qgroup.weight.wgsl — not a kernel: the `weight` override region (src/kernels/override.ts) of
// matmul.wgsl and embed.wgsl for the group-quantized weight format of issue 12 (src/model/quantize.ts
// writes the format down). The lead-in constants QBITS (4 or 8), QGROUP (32, 64 or 128) and
// QSCALE_F16 (true: f16 scales) are written in by src/kernels/qweight.ts.
//
// Per weight row (Kp = roundUp(K, 8) input features, groups of QGROUP features, the last one partial):
// value = (q − zero) · scale in f32; q unsigned QBITS-bit, zero unsigned 8-bit, scale f16 or f32.
//   W  (binding 0): qweight [rows, Kp · QBITS / 32] u32; feature k at word k·QBITS/32, bits (k mod 32/QBITS)·QBITS.
//   QS (binding 3): scales [rows, ceil(groups / 2)] f16 pairs (even group low) or [rows, groups] f32 bits.
//   QZ (binding 4): zeros [rows, ceil(groups / 4)] u32; group g at word g/4, bits (g mod 4)·8.
// A chunk (8 features) lies in one group, since QGROUP is a multiple of 8.

@group(0) @binding(0) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read> QS: array<u32>;
@group(0) @binding(4) var<storage, read> QZ: array<u32>;

fn loadWeight(row: u32, c: u32) -> WChunk {
  let groups = (p.kChunks * 8u + QGROUP - 1u) / QGROUP;
  let g = (c * 8u) / QGROUP;
  var s: f32;
  if (QSCALE_F16) {
    s = unpack2x16float(QS[row * ((groups + 1u) / 2u) + g / 2u])[g % 2u];
  } else {
    s = bitcast<f32>(QS[row * groups + g]);
  }
  let z = f32((QZ[row * ((groups + 3u) / 4u) + g / 4u] >> ((g % 4u) * 8u)) & 0xffu);
  let mask = (1u << QBITS) - 1u;
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
