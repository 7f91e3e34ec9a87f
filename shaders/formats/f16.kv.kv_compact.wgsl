// f16.kv.kv_compact.wgsl — not a kernel: the `kv` override region (src/kernels/override.ts) of
// kv_compact.wgsl for the f16 KV cache of issue 12 (src/kernels/kv-format.ts): a storage word holds
// two f16 elements and is copied unchanged (the wrapper is given rowWords = Hkv·D / 2).
//   KV (binding 0): one K or V slab [layers, Smax, Hkv·D / 2] u32.
@group(0) @binding(0) var<storage, read_write> KV: array<u32>;
fn copyKV(dst: u32, src: u32) { KV[dst] = KV[src]; }
