// f16.kv.rope_kv_append.wgsl — not a kernel: the `kv` override region (src/kernels/override.ts) of
// rope_kv_append.wgsl for the f16 KV cache of issue 12 (src/kernels/kv-format.ts). Elements e0..e0+3
// (e0 % 4 = 0, Hkv·D even) fill two whole u32 words, element 2w in the low half; each call is the only
// writer of its words. f32 → f16 by `pack2x16float` (values beyond the f16 range are outside its
// domain: WGSL leaves them indeterminate; K and V of real models stay far below 65504).
//   Kc, Vc (bindings 3, 4): [layers, Smax, Hkv·D / 2] u32.
@group(0) @binding(3) var<storage, read_write> Kc: array<u32>;
@group(0) @binding(4) var<storage, read_write> Vc: array<u32>;
fn storeK4(row: u32, e0: u32, v: vec4<f32>) { let w = (row * p.rowElems + e0) / 2u; Kc[w] = pack2x16float(v.xy); Kc[w + 1u] = pack2x16float(v.zw); }
fn storeV4(row: u32, e0: u32, v: vec4<f32>) { let w = (row * p.rowElems + e0) / 2u; Vc[w] = pack2x16float(v.xy); Vc[w + 1u] = pack2x16float(v.zw); }
