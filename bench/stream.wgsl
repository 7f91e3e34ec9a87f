// stream.wgsl — bench-only: a streaming read of a big buffer, for the memory-bandwidth ceiling
// (the issue's "best streaming-read kernel"; Dawn's buffer copy is not a ceiling on every GPU).
// Workgroup w reads the contiguous vec4 range [w·chunk4, (w+1)·chunk4) with its WG lanes side by side
// (each iteration of a workgroup reads WG consecutive vec4s), four independent loads in flight per
// lane, and sums them; the sum is written only under a condition that never holds for our data, so
// the loads stay live and nothing else touches memory.
// Dispatch: workgroups = (gx, gy) flattened, w = wid.x + wid.y · gx; ceil(n4 / chunk4) of them.

override WG: u32 = 256u;

struct Params {
  n4: u32,      // vec4s in the buffer
  chunk4: u32,  // vec4s per workgroup
}

@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;   // [n4] data, values in ±[0.125, 0.25)
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;   // [1] sink
@group(1) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let w = wid.x + wid.y * nwg.x;
  let start = w * p.chunk4;
  let end = min(start + p.chunk4, p.n4);
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  var i = start + lid.x;
  loop {
    if (i + 3u * WG >= end) { break; }
    a0 += src[i];
    a1 += src[i + WG];
    a2 += src[i + 2u * WG];
    a3 += src[i + 3u * WG];
    i += 4u * WG;
  }
  for (; i < end; i += WG) { a0 += src[i]; }
  let s = a0 + a1 + a2 + a3;
  let v = s.x + s.y + s.z + s.w;
  if (v == 1234567.0) { dst[0] = v; }
}
