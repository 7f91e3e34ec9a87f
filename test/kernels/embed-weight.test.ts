import { describe, expect, it } from 'vitest';
import { EMBED, embedKernel, embedPass } from '../../src/kernels/embed.js';
import { overrideDefault, overridePoint } from '../../src/kernels/override.js';
import { decodeToF32, encodeFromF32, padRows } from '../../src/model/dtype.js';
import { embedRef } from '../../src/reference/ops.js';
import { roundUp } from '../../src/gpu/kernel.js';
import { expectClose, randomData, readF32, readU32, run, storage, testRig } from '../helpers/gpu.js';

/** The load-counting variant: the weight load also adds its bytes to a counter (binding 3). */
const COUNTED = overridePoint(EMBED, 'weight', `${overrideDefault(EMBED, 'weight').replace(/^fn loadWeight\(/m, 'fn loadWeightUncounted(')}
@group(0) @binding(3) var<storage, read_write> loads: array<atomic<u32>>;
fn loadWeight(row: u32, c: u32) -> WChunk {
  atomicAdd(&loads[0], select(16u, 32u, WFMT == 0u));
  return loadWeightUncounted(row, c);
}
`, 'count', ['rw']);

describe('embed: weight override point and Pass.reads', () => {
  for (const [fmt, dt] of [['f32', 'F32'], ['f16', 'F16'], ['bf16', 'BF16']] as const) {
    it(`${fmt}: the load-counting variant gathers the same rows and fetches exactly reads.weights bytes per vocabulary chunk`, async () => {
      const r = await testRig();
      const V = 37; const C = 21; const Kp = roundUp(C, 8); const T = 11;
      const raw = encodeFromF32(randomData(V * C, 4), dt);
      const padded = padRows(raw, V, C, Kp, dt);
      const split = 20; const rowBytes = padded.byteLength / V;
      const ids = Uint32Array.from({ length: T }, (_, i) => (i * 7 + 3) % V);
      const idBuf = storage(r.device, ids);
      const xBuf = storage(r.device, T * Kp * 4);
      for (const [v0, n] of [[0, split], [split, V - split]]) {
        const counter = storage(r.device, new Uint32Array(4));
        const inChunk = Array.from(ids).filter((id) => id >= v0 && id < v0 + n).length;
        const bg = r.cache.bind(embedKernel(r.cache, fmt, COUNTED), [storage(r.device, padded.slice(v0 * rowBytes, (v0 + n) * rowBytes)), idBuf, xBuf, counter]);
        const pass = embedPass(r.cache, r.maxPerDim, bg, { T, C, Kp, fmt, v0, vRows: n, tokensInChunk: inChunk }, COUNTED);
        await run(r, [pass]);
        const [bytes] = await readU32(r.device, counter);
        expect(bytes).toBeGreaterThan(0);
        expect(pass.reads!.weights).toBe(bytes);
      }
      const X = await readF32(r.device, xBuf);
      const got = new Float32Array(T * C);
      for (let t = 0; t < T; t++) got.set(X.subarray(t * Kp, t * Kp + C), t * C);
      expectClose(got, embedRef(decodeToF32(raw, dt), ids, C), 0, 0, 'embed');
    });
  }
});
