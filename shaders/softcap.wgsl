// softcap.wgsl — tanh soft-capping of logits in place (Gemma 2 `final_logit_softcapping`, HF
// Gemma2ForCausalLM): Z[t, v] = cap · tanh(Z[t, v] / cap), after lm_head and before top-k.
//
// Dispatch: one thread per (t, v); workgroup 64; grid flattened over x/y.
// Preconditions: V ≤ stride; padding columns are never written.
// Glossary: T rows, V vocabulary.

struct Params {
  T: u32,
  V: u32,
  stride: u32,   // row stride of Z, floats
  gridX: u32,
  cap: f32,      // the soft-cap (> 0)
}

@group(0) @binding(0) var<storage, read_write> Z: array<f32>;        // [T, stride] f32 logits
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * p.gridX * 64u;
  if (idx >= p.T * p.V) { return; }
  let i = (idx / p.V) * p.stride + idx % p.V;
  // tanh saturates to ±1 in f32 beyond |z| = 9; the clamp keeps implementations built on exp finite.
  Z[i] = p.cap * tanh(clamp(Z[i] / p.cap, -15.0, 15.0));
}
