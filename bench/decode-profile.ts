/**
 * Profile of one `ar` decode forward (T = 1, top-1) of our model, pass by pass (peers benchmark,
 * issue 14). Bench-only: runs in bench/decode-profile-worker.ts, a Web Worker like the engine's, on
 * the same kind of context (src/gpu/context.ts createGpuContext: default limits, optional features)
 * and the same model construction as the executor (LlamaGpu, streamWeights, the engine's kernel
 * configuration and KV dtype), so the passes are the ones the engine dispatches
 * (LlamaGpu.forwardPasses). Measures, each a median over `reps` repetitions after a warm-up:
 *  - each pass's device time (timestamp-query around each pass, all in one submit), summed by kind
 *    (bench/kernels.ts kindOf); without timestamp-query, each pass in its own submit, wall time;
 *  - every pass in its own submit, awaited (the per-submit cost);
 *  - the whole forward in one compute pass: device time and submit → onSubmittedWorkDone;
 *  - the whole forward as the executor runs it: write ids and positions, encode, submit, copy the
 *    top-k to the readback buffer and mapAsync it.
 * The KV rows below `P` hold whatever the buffers hold (zeros): times do not depend on the values.
 */
import { createGpuContext } from '../src/gpu/context.js';
import { chooseKernelConfig } from '../src/gpu/kernel-config.js';
import { encodePasses, type Pass } from '../src/gpu/kernel.js';
import { describeModel } from '../src/model/loader.js';
import { createModelSource } from '../src/model/source.js';
import { defaultKvDtype } from '../src/model/memory-plan.js';
import { TREE_ROOM } from '../src/worker/api.js';
import { LlamaGpu } from '../src/worker/llama.js';
import { dispatch, loadWeights } from './context.js';
import { kindOf, packPasses } from './kernels.js';
import type { DecodeProfileRaw, ProfileKind } from './peers-profile.js';
import { median } from './stats.js';

/** Floating-point operations of one pass (multiply-add = 2): matmuls and attention; 0 for the rest. */
function passFlops(p: Pass, d: LlamaGpu['dims'], P: number): number {
  const name = p.kernel.def.name;
  // matmul params: [T, nRows, kChunks, Kp / 4, ...] (src/kernels/matmul.ts matmulPass).
  if (name === 'matmul') return 2 * p.params[0] * p.params[1] * p.params[3] * 4;
  // attention of one new row over P + 1 keys: q·k and p·v, 2 flops each per head element.
  if (name.startsWith('attention')) return 4 * d.H * d.D * (P + 1);
  return 0;
}

/**
 * Loads `model` (a URL) onto this thread's WebGPU and profiles one decode forward at KV position `P`
 * (see the file comment); `reps` measured repetitions of each measurement.
 */
export async function profileDecodeStep(gpu: GPU, model: string, P: number, reps = 7, log: (s: string) => void = () => {}): Promise<DecodeProfileRaw> {
  const ctx = await createGpuContext(gpu);
  const device = ctx.device;
  const desc = await describeModel(createModelSource(model));
  const cfg = desc.config;
  const m = new LlamaGpu(ctx, cfg, Math.min(cfg.maxPositionEmbeddings, 4096), TREE_ROOM, chooseKernelConfig(ctx.adapter), undefined, undefined, defaultKvDtype(cfg));
  try {
    await loadWeights(m, desc);
    device.queue.writeBuffer(m.b.ids, 0, Uint32Array.of(1));
    device.queue.writeBuffer(m.b.pos, 0, Uint32Array.of(P));
    const passes = m.forwardPasses(1, P, { base: 0, stride: m.dims.maxRows }, 'last', 1);
    const n = passes.length;
    const { offs, encode } = packPasses(m.arena, passes);
    const ts = device.features.has('timestamp-query');
    const qs = ts ? device.createQuerySet({ type: 'timestamp', count: 2 * n + 2 }) : null;
    const resolve = ts ? device.createBuffer({ size: (2 * n + 2) * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }) : null;
    const read = ts ? device.createBuffer({ size: (2 * n + 2) * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }) : null;
    const stamps = async (enc: GPUCommandEncoder, count: number): Promise<BigUint64Array> => {
      enc.resolveQuerySet(qs!, 0, count, resolve!, 0);
      enc.copyBufferToBuffer(resolve!, 0, read!, 0, count * 8);
      device.queue.submit([enc.finish()]);
      await read!.mapAsync(GPUMapMode.READ);
      const v = new BigUint64Array(read!.getMappedRange().slice(0, count * 8));
      read!.unmap();
      return v;
    };
    const span = (v: BigUint64Array, i: number) => Math.max(0, Number(v[2 * i + 1] - v[2 * i]) / 1e6);
    const perPass: number[][] = passes.map(() => []);
    const perSubmit: number[][] = passes.map(() => []);
    const fwdDevice: number[] = [];
    const fwdWall: number[] = [];
    const fwdReadback: number[] = [];
    for (let rep = 0; rep <= reps; rep++) {
      const keep = rep > 0; // rep 0: warm-up
      if (ts) {
        const enc = device.createCommandEncoder();
        passes.forEach((p, i) => {
          const cp = enc.beginComputePass({ timestampWrites: { querySet: qs!, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
          dispatch(cp, p, m.arena, offs[i]);
          cp.end();
        });
        const v = await stamps(enc, 2 * n);
        if (keep) passes.forEach((_, i) => perPass[i].push(span(v, i)));
      }
      for (let i = 0; i < n; i++) {
        const enc = device.createCommandEncoder();
        const cp = enc.beginComputePass();
        dispatch(cp, passes[i], m.arena, offs[i]);
        cp.end();
        const t0 = performance.now();
        device.queue.submit([enc.finish()]);
        await device.queue.onSubmittedWorkDone();
        if (keep) perSubmit[i].push(performance.now() - t0);
      }
      {
        const enc = device.createCommandEncoder();
        encode(enc, 1, ts ? { querySet: qs!, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } : undefined);
        const t0 = performance.now();
        if (ts) {
          enc.resolveQuerySet(qs!, 0, 2, resolve!, 0);
          enc.copyBufferToBuffer(resolve!, 0, read!, 0, 16);
        }
        device.queue.submit([enc.finish()]);
        await device.queue.onSubmittedWorkDone();
        if (keep) fwdWall.push(performance.now() - t0);
        if (ts) {
          await read!.mapAsync(GPUMapMode.READ);
          const v = new BigUint64Array(read!.getMappedRange().slice(0, 16));
          read!.unmap();
          if (keep) fwdDevice.push(span(v, 0));
        }
      }
      {
        // The executor's forward (src/worker/executor.ts forward): uploads, params, one submit, top-1 readback.
        const t0 = performance.now();
        device.queue.writeBuffer(m.b.ids, 0, Uint32Array.of(1));
        device.queue.writeBuffer(m.b.pos, 0, Uint32Array.of(P));
        const fwd = m.forwardPasses(1, P, { base: 0, stride: m.dims.maxRows }, 'last', 1);
        m.arena.reset();
        const enc = device.createCommandEncoder({ label: 'forward' });
        encodePasses(enc, m.arena, fwd);
        enc.copyBufferToBuffer(m.b.topIds, 0, m.b.readback, 0, 4);
        enc.copyBufferToBuffer(m.b.topVals, 0, m.b.readback, 4, 4);
        m.arena.flush();
        device.queue.submit([enc.finish()]);
        await m.b.readback.mapAsync(GPUMapMode.READ, 0, 8);
        m.b.readback.getMappedRange(0, 8);
        m.b.readback.unmap();
        if (keep) fwdReadback.push(performance.now() - t0);
      }
      log(`  profile rep ${rep}/${reps}`);
    }
    const passMs = ts ? perPass.map(median) : perSubmit.map(median);
    // Median over repetitions of the per-pass total: on a loaded machine the sum of per-pass medians drops each pass's outliers and reads lower.
    const totals = Array.from({ length: reps }, (_, r) => (ts ? perPass : perSubmit).reduce((s, x) => s + x[r], 0));
    const kinds = new Map<string, ProfileKind>();
    passes.forEach((p, i) => {
      const kind = kindOf(p);
      const e = kinds.get(kind) ?? { kind, dispatches: 0, ms: 0, flops: 0, bytes: 0 };
      e.dispatches++;
      e.ms += passMs[i];
      e.flops += passFlops(p, m.dims, P);
      e.bytes += p.reads ? p.reads.weights + p.reads.kv + p.reads.other : 0;
      kinds.set(kind, e);
    });
    qs?.destroy();
    resolve?.destroy();
    read?.destroy();
    return {
      P, dispatches: n, timing: ts ? 'timestamp' : 'wall', reps, kinds: [...kinds.values()],
      forwardDeviceMs: ts ? median(fwdDevice) : null, forwardWallMs: median(fwdWall), forwardReadbackMs: median(fwdReadback),
      passSubmitsWallMs: perSubmit.map(median).reduce((s, x) => s + x, 0), passTotalMedianMs: median(totals), rpcMs: 0,
    };
  } finally {
    m.destroy();
    device.destroy();
  }
}
