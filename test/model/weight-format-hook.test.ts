// The weight-format hook of the model (issue 11: "the weight decoding as an override point so that the
// 4-bit/8-bit formats plug in without another rewrite"): a matrix's `kernel` (a variant of the matmul
// made with overridePoint) and its `extraBuffers` are what the model compiles, binds and dispatches.
// Here a format whose decoding multiplies by a scale read from an extra binding: scale 1 gives the
// plain kernel's logits bit for bit, scale 2 changes them (so the extra buffer really is read).
import { afterAll, describe, expect, it } from 'vitest';
import { encodePasses } from '../../src/gpu/kernel.js';
import { kernelPreset } from '../../src/gpu/kernel-config.js';
import { MATMUL } from '../../src/kernels/matmul.js';
import { overrideDefault, overridePoint } from '../../src/kernels/override.js';
import { describeModel, streamWeights } from '../../src/model/loader.js';
import { createModelSource } from '../../src/model/source.js';
import { LlamaGpu } from '../../src/worker/llama.js';
import { fixturePath } from '../helpers/fixtures.js';
import { readF32, storage, testContext } from '../helpers/gpu.js';

// The default decoding, renamed, then scaled by S[0] from extra binding 3.
const SCALED = overridePoint(MATMUL, 'weight', `${overrideDefault(MATMUL, 'weight').replace(/^fn loadWeight\(/m, 'fn loadPlain(')}
@group(0) @binding(3) var<storage, read> S: array<f32>;
fn loadWeight(row: u32, c: u32) -> WChunk {
  let w = loadPlain(row, c);
  return WChunk(w.lo * S[0], w.hi * S[0]);
}
`, 'scaled', ['read']);

const models: LlamaGpu[] = [];
afterAll(() => { for (const m of models) m.destroy(); });

async function logits(scale: number | null): Promise<Float32Array> {
  const ctx = await testContext();
  const desc = await describeModel(createModelSource(fixturePath('tiny-gqa-f16-untied')));
  const m = new LlamaGpu(ctx, desc.config, 32, 0, kernelPreset('cpu'), 8);
  models.push(m);
  const seen = await streamWeights(desc, (n) => m.target(n) !== null, (name, dtype, shape, bytes) => m.addTensor(name, dtype, shape, bytes));
  if (scale !== null) {
    const s = storage(ctx.device, Float32Array.of(scale));
    for (const [key, w] of m.matrices) {
      if (key === 'embed') continue; // gathered by the embedding kernel, not a matmul
      w.kernel = SCALED;
      w.extraBuffers = () => [s];
    }
  }
  await m.finish(seen);
  const T = 5;
  ctx.device.queue.writeBuffer(m.b.ids, 0, Uint32Array.from([3, 14, 15, 92, 65]));
  ctx.device.queue.writeBuffer(m.b.pos, 0, Uint32Array.from([0, 1, 2, 3, 4]));
  const passes = m.forwardPasses(T, 0, { base: 0, stride: m.dims.maxRows }, 'all', 4);
  expect(passes.filter((p) => p.kernel.def.name === (scale === null ? 'matmul' : 'matmul.scaled')).length).toBe(4 * desc.config.numLayers + 1);
  const enc = ctx.device.createCommandEncoder();
  m.arena.reset();
  encodePasses(enc, m.arena, passes);
  m.arena.flush();
  ctx.device.queue.submit([enc.finish()]);
  return (await readF32(ctx.device, m.b.logits)).slice(0, T * m.dims.Vp);
}

describe('weight-format hook of the model', () => {
  it("a matrix's kernel and extra buffers are compiled, bound and dispatched", async () => {
    const plain = await logits(null);
    const same = await logits(1);
    const doubled = await logits(2);
    expect(plain.some((v) => v !== 0)).toBe(true);
    expect(Array.from(same)).toEqual(Array.from(plain));
    expect(Array.from(doubled)).not.toEqual(Array.from(plain));
  });
});
