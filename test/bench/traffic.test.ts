// The traffic model of one whole forward (bench/cost-curve.ts, from the kernel wrappers' Pass.reads):
// the default model's weight and K/V fetch ratios in the `gpu` configuration meet issue 11's targets,
// and the geometry is pinned so a regression in either kernel's sharing fails here.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCostCurve } from '../../bench/cost-curve.ts';
import { dispatch } from '../../bench/context.ts';
import { GpuTimer } from '../../bench/gpu-timer.ts';
import { kernelPreset } from '../../src/gpu/kernel-config.js';
import { describeModel } from '../../src/model/loader.js';
import { createModelSource } from '../../src/model/source.js';
import { testContext } from '../helpers/gpu.js';

const root = join(import.meta.dirname, '..', '..');

describe('traffic of one forward of the default model (P = 512)', () => {
  it('gpu configuration: weights fetched once per 32 rows, K/V once per 16 query vectors', async () => {
    const ctx = await testContext();
    const desc = await describeModel(createModelSource(join(root, 'public', 'models', 'msn-code-tiny')));
    const G = desc.config.numHeads / desc.config.numKvHeads;
    const timer = new GpuTimer(ctx.device, 5);
    const c = await runCostCurve({ ctx, desc, model: 'msn-code-tiny', kernels: kernelPreset('gpu'), timer, P: 512, noTiming: true, dispatch });
    timer.destroy();
    const at = (T: number) => c.traffic.find((t) => t.T === T)!;
    expect(c.traffic.map((t) => t.T)).toEqual([1, 2, 4, 8, 16, 32, 69, 128]);
    // Weights: one fetch per forward up to 32 rows, ⌈T / 32⌉ beyond (the old 8-row tiles: ⌈T / 8⌉, 9 at T = 69).
    for (const T of [1, 2, 4, 8, 16, 32]) expect(at(T).weightFetchRatio, `T ${T}`).toBe(1);
    expect(at(69).weightFetchRatio).toBe(3);
    expect(at(128).weightFetchRatio).toBe(4);
    // K/V: the paper's tree at T = 69 within ⌈69·G/16⌉ (one workgroup per (head, row) fetched 69·G).
    expect(at(69).kvFetchRatio!).toBeLessThanOrEqual(Math.ceil((69 * G) / 16));
    expect(at(69).kvFetchRatio!).toBeGreaterThan(1);
    // An AR step reads each cached K/V row of a KV head once for its G query heads.
    expect(at(1).kvFetchRatio).toBe(1);
  });

  it('cpu configuration: 8-row weight tiles (⌈T / 8⌉ fetches)', async () => {
    const ctx = await testContext();
    const desc = await describeModel(createModelSource(join(root, 'public', 'models', 'msn-code-tiny')));
    const timer = new GpuTimer(ctx.device, 5);
    const c = await runCostCurve({ ctx, desc, model: 'msn-code-tiny', kernels: kernelPreset('cpu'), timer, P: 512, Ts: [1, 8, 9, 69], noTiming: true, dispatch });
    timer.destroy();
    expect(c.traffic.map((t) => [t.T, t.weightFetchRatio])).toEqual([[1, 1], [8, 1], [9, 2], [69, 9]]);
  });
});
