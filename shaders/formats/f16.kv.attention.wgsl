// f16.kv.attention.wgsl — not a kernel: the `kv` override region (src/kernels/override.ts) of
// attention.wgsl for the f16 KV cache of issue 12 (src/kernels/kv-format.ts). Two f16 elements per
// u32 word, element 2w in the low half (`pack2x16float` order), so `shader-f16` is not needed.
//   Kc, Vc (bindings 1, 2): [layers, Smax, Hkv·D / 2] u32; element i at word i / 2, half i % 2.
@group(0) @binding(1) var<storage, read> Kc: array<u32>;
@group(0) @binding(2) var<storage, read> Vc: array<u32>;
fn loadK(i: u32) -> f32 { return unpack2x16float(Kc[i / 2u])[i % 2u]; }
fn loadV(i: u32) -> f32 { return unpack2x16float(Vc[i / 2u])[i % 2u]; }
