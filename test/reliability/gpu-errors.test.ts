// GPU validation and out-of-memory errors reach JavaScript as typed errors, never as a result
// (issue 16, item 7): kernel needs are checked against the device limits at load, pipelines the
// device rejects fail the load, a rejected forward fails the forward, errors no scope caught fail
// the next call.
import { afterAll, describe, expect, it } from 'vitest';
import { Executor } from '../../src/worker/executor.js';
import { createNodeGpu } from '../../src/gpu/node.js';
import { createGpuContext } from '../../src/gpu/context.js';
import { KernelCache } from '../../src/gpu/kernel.js';
import { checkKernelNeeds, kernelNeeds, type KernelLimits } from '../../src/gpu/needs.js';
import { GpuInternalError, GpuValidationError, LimitTooLowError, SelfCheckError } from '../../src/errors.js';
import { describeError } from '../../src/component/describe-error.js';
import { allocBuffer } from '../../src/model/weights.js';
import { ATTENTION, attentionConstants } from '../../src/kernels/attention.js';
import { EMBED } from '../../src/kernels/embed.js';
import { KV_COMPACT } from '../../src/kernels/kv_compact.js';
import { MATMUL, matmulConstants } from '../../src/kernels/matmul.js';
import { RMSNORM } from '../../src/kernels/rmsnorm.js';
import { ROPE_KV_APPEND } from '../../src/kernels/rope_kv_append.js';
import { SWIGLU } from '../../src/kernels/swiglu.js';
import { GEGLU } from '../../src/kernels/geglu.js';
import { RMSNORM_ADD } from '../../src/kernels/rmsnorm_add.js';
import { SOFTCAP } from '../../src/kernels/softcap.js';
import { TOPK } from '../../src/kernels/topk.js';
import type { LoadOptions } from '../../src/worker/api.js';
import { fixturePath, golden } from '../helpers/fixtures.js';
import { disabledFeatures } from '../helpers/gpu.js';

/** WebGPU's default limits (what the engine requests). */
const DEFAULTS: KernelLimits = {
  maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupSizeY: 256, maxComputeWorkgroupSizeZ: 64,
  maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupStorageSize: 16384,
  maxStorageBuffersPerShaderStage: 8, maxUniformBuffersPerShaderStage: 12,
};

describe('kernel needs, read from the WGSL', () => {
  it('match each kernel\'s workgroup, workgroup memory and bindings', () => {
    const gpu = { lanes: 16, gemvCols: 16, tiledCols: 4, tiledCpt: 2, tiledRows: [4, 8, 32] as const };
    const cpu = { lanes: 1, gemvCols: 64, tiledCols: 16, tiledCpt: 4 };
    // matmul: workgroup (LANES, COLS, RG); red: array<f32, LANES·COLS·RG·CPT·RED_ROWS>; wtile: array<vec4<f32>, WTILE>
    expect(kernelNeeds('matmul', MATMUL.code, matmulConstants(gpu, 'f16', 1))).toEqual({ workgroupSize: [16, 16, 1], invocations: 256, workgroupBytes: 16 * 16 * 4 + 16, storageBuffers: 3, uniformBuffers: 1 });
    expect(kernelNeeds('matmul', MATMUL.code, matmulConstants(gpu, 'f16', 8))).toEqual({ workgroupSize: [16, 4, 1], invocations: 64, workgroupBytes: 16 * 4 * 8 * 2 * 4 + 16, storageBuffers: 3, uniformBuffers: 1 });
    expect(kernelNeeds('matmul', MATMUL.code, matmulConstants(gpu, 'f16', 69))).toEqual({ workgroupSize: [16, 4, 4], invocations: 256, workgroupBytes: 16 * 4 * 4 * 2 * 4 * 4 + 2 * 16 * 4 * 2 * 16, storageBuffers: 3, uniformBuffers: 1 });
    expect(kernelNeeds('matmul', MATMUL.code, matmulConstants(cpu, 'f32', 8)).workgroupSize).toEqual([1, 16, 1]);
    // topk: WG = 32; sv, si: array<f32|u32, WG·MAXK = 32·64 = 2048>: exactly the 16 KiB default
    expect(kernelNeeds('topk', TOPK.code)).toEqual({ workgroupSize: [32, 1, 1], invocations: 32, workgroupBytes: 2 * 32 * 64 * 4, storageBuffers: 3, uniformBuffers: 1 });
    // attention (block 64, 16 queries): tile 64×16, qc 16×16, prob 16×64, red 16×16, slotRow 16×64, slotBits 64×4,
    // qm 16×4, tileRow 64, rangeStart 65 (→ 272 B), rU 4, rPre 4, 5 scalars (16 B each): under 16 KiB
    expect(kernelNeeds('attention', ATTENTION.code, attentionConstants({ block: 64, queries: 16 }))).toEqual({ workgroupSize: [256, 1, 1], invocations: 256, workgroupBytes: 4 * (1024 + 256 + 1024 + 256 + 1024 + 256 + 64 + 64) + 272 + 16 + 16 + 5 * 16, storageBuffers: 5, uniformBuffers: 1 });
    expect(kernelNeeds('attention', ATTENTION.code, attentionConstants({ block: 64, queries: 16 })).workgroupBytes).toBeLessThanOrEqual(16384);
    expect(kernelNeeds('attention', ATTENTION.code, attentionConstants({ block: 16, queries: 4 })).workgroupSize).toEqual([64, 1, 1]);
    expect(kernelNeeds('rmsnorm', RMSNORM.code).workgroupBytes).toBe(256);
    expect(kernelNeeds('rmsnorm_add', RMSNORM_ADD.code)).toEqual({ workgroupSize: [64, 1, 1], invocations: 64, workgroupBytes: 256, storageBuffers: 3, uniformBuffers: 1 });
    for (const def of [EMBED, KV_COMPACT, ROPE_KV_APPEND, SWIGLU, GEGLU, SOFTCAP]) {
      const n = kernelNeeds(def.name, def.code);
      expect(n.workgroupSize).toEqual([64, 1, 1]);
      expect(n.workgroupBytes).toBe(0);
      expect(n.storageBuffers).toBe(def.bindings.length);
    }
  });

  it('lay out workgroup variables by the WGSL rules and ignore comments', () => {
    const code = `
      override A: u32 = 2u;
      const B = (A + 1u) * 4u; // 12
      // var<workgroup> ignored: array<f32, 100000>;
      /* var<workgroup> ignored2: array<f32, 100000>; */
      var<workgroup> v3: array<vec3<f32>, B>;   // stride 16 → 192
      var<workgroup> s: vec3f;                  // 12 → 16
      var<workgroup> m: array<array<u32, 3>, 2>; // 24 → 32
      var<workgroup> h: atomic<u32>;            // 4 → 16
      @compute @workgroup_size(B / 4u, A, 1) fn main() {}`;
    expect(kernelNeeds('t', code)).toEqual({ workgroupSize: [3, 2, 1], invocations: 6, workgroupBytes: 192 + 16 + 32 + 16, storageBuffers: 0, uniformBuffers: 0 });
    expect(kernelNeeds('t', code, { A: 4 }).workgroupBytes).toBe(5 * 4 * 16 + 16 + 32 + 16);
    expect(() => kernelNeeds('t', code, { NOPE: 1 })).toThrow(/NOPE is not declared/);
    expect(() => kernelNeeds('t', 'var<workgroup> s: S; @compute @workgroup_size(1) fn main() {}')).toThrow(/unsupported workgroup variable type S/);
  });

  it('over a device limit are a LimitTooLowError naming the limit, observed and required', () => {
    const topk = kernelNeeds('topk', TOPK.code);
    for (const [limit, value, need] of [
      ['maxComputeWorkgroupSizeX', 16, 32], ['maxComputeInvocationsPerWorkgroup', 16, 32],
      ['maxComputeWorkgroupStorageSize', 8192, 16384], ['maxStorageBuffersPerShaderStage', 2, 3], ['maxUniformBuffersPerShaderStage', 0, 1],
    ] as const) {
      const err = (() => { try { checkKernelNeeds('topk:', topk, { ...DEFAULTS, [limit]: value }); return null; } catch (e) { return e as LimitTooLowError; } })();
      expect(err).toBeInstanceOf(LimitTooLowError);
      expect(err!.detail).toEqual({ limit, observed: value, required: need });
      expect(err!.message).toContain('Kernel topk:');
    }
    expect(() => checkKernelNeeds('topk:', topk, DEFAULTS)).not.toThrow();
    expect(() => checkKernelNeeds('x', { ...topk, workgroupSize: [1, 1, 65] }, DEFAULTS)).toThrow(/maxComputeWorkgroupSizeZ is 64, but 65/);
  });
});

const executors: Executor[] = [];
afterAll(async () => { for (const e of executors) await e.dispose(); });

/**
 * An executor on lavapipe whose GPU devices the test can reach (to cause errors outside any scope).
 * `pipelines` counts asynchronous pipeline creations still pending, and how many were pending when
 * a device was destroyed.
 */
function executor(devices: GPUDevice[] = [], pipelines = { pending: 0, pendingAtDestroy: -1 }): Executor {
  const ex = new Executor(async () => {
    const gpu = await createNodeGpu();
    return {
      ...gpu,
      getPreferredCanvasFormat: () => gpu.getPreferredCanvasFormat(),
      wgslLanguageFeatures: gpu.wgslLanguageFeatures,
      requestAdapter: async (o?: GPURequestAdapterOptions) => {
        const a = await gpu.requestAdapter(o);
        if (!a) return a;
        return new Proxy(a, {
          get(t, k) {
            if (k === 'requestDevice') {
              return async (d?: GPUDeviceDescriptor) => {
                const dev = await t.requestDevice(d);
                devices.push(dev);
                const create = dev.createComputePipelineAsync.bind(dev);
                dev.createComputePipelineAsync = (desc) => {
                  pipelines.pending++;
                  const p = create(desc);
                  p.then(() => pipelines.pending--, () => pipelines.pending--);
                  return p;
                };
                const destroy = dev.destroy.bind(dev);
                dev.destroy = () => { pipelines.pendingAtDestroy = pipelines.pending; destroy(); };
                return dev;
              };
            }
            const v = Reflect.get(t, k);
            return typeof v === 'function' ? v.bind(t) : v;
          },
        });
      },
    } as GPU;
  });
  executors.push(ex);
  return ex;
}

const load = (ex: Executor, options: LoadOptions = {}) => ex.load(fixturePath('tiny-gqa-f32'), { contextLength: 64, disableFeatures: disabledFeatures(), ...options });

describe('GPU errors become typed errors', () => {
  it('a kernel with a workgroup larger than the device allows fails the load with LimitTooLowError before compiling', async () => {
    const err = await load(executor(), { faults: { workgroupSize: { kernel: 'swiglu', size: 4096 } } }).then(() => null, (e) => e);
    expect(err).toBeInstanceOf(LimitTooLowError);
    expect(err.detail).toEqual({ limit: 'maxComputeWorkgroupSizeX', observed: 256, required: 4096 });
    expect(err.message).toMatch(/Kernel swiglu:/);
  });

  it('a kernel the device rejects fails the load with GpuValidationError naming the kernel (limit check skipped)', async () => {
    const pipelines = { pending: 0, pendingAtDestroy: -1 };
    const ex = executor([], pipelines);
    const err = await load(ex, { faults: { workgroupSize: { kernel: 'swiglu', size: 4096 }, skipLimitCheck: true } }).then(() => null, (e) => e);
    // Every other pipeline creation settled before the failed load destroyed the device (Dawn's
    // Node binding aborts the process on a createComputePipelineAsync promise left pending).
    expect(pipelines.pendingAtDestroy).toBe(0);
    expect(err).toBeInstanceOf(GpuValidationError);
    expect(err.code).toBe('gpu-validation');
    expect(err.detail.what).toBe('kernel swiglu:');
    expect(err.detail.adapter).toMatch(/llvmpipe/);
    expect(err.detail.gpuMessage).toMatch(/workgroup_size\(4096, 1, 1\).*exceeds/);
    expect(ex.info).toBeNull();
    await expect(ex.forward({ tokens: [1], positions: [0], mask: 'causal', topK: 1, commit: true })).rejects.toThrow(/No model is loaded/);
  });

  it('a forward the device rejects (a destroyed buffer) fails with GpuValidationError, never a result', async () => {
    const ex = executor();
    await load(ex, { faults: { destroyScratch: true } });
    const req = { tokens: [5, 6, 7], positions: [0, 1, 2], mask: 'causal' as const, topK: 2, commit: true };
    const err = await ex.forward(req).then(() => null, (e) => e);
    expect(err).toBeInstanceOf(GpuValidationError);
    expect(err.detail.what).toBe('a forward');
    expect(err.detail.gpuMessage).toMatch(/[Dd]estroyed/);
    // no KV rows were committed by the failed forward; the next one fails the same way
    expect((await ex.gpuStats()).kvLength).toBe(0);
    await expect(ex.forward({ ...req, topK: 0 })).rejects.toBeInstanceOf(GpuValidationError);
  });

  it('a GPU error no scope caught fails the next call, once; the executor then works again', async () => {
    const devices: GPUDevice[] = [];
    const ex = executor(devices);
    await load(ex);
    const g = golden('tiny-gqa-f32');
    const req = { tokens: g.prompt_ids, positions: g.prompt_ids.map((_, i) => i), mask: 'causal' as const, topK: 1, commit: false };
    const ok = await ex.forward(req);
    // an invalid buffer (MAP_READ with STORAGE), made outside any error scope
    devices[0].createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
    await new Promise((r) => setTimeout(r, 20));
    const err = await ex.forward(req).then(() => null, (e) => e);
    expect(err).toBeInstanceOf(GpuValidationError);
    expect(err.detail.gpuMessage).toMatch(/usage/i);
    const again = await ex.forward(req);
    expect(Array.from(again.ids)).toEqual(Array.from(ok.ids));
  });

  it('the device\'s uncaptured errors are collected (not printed) with their kind', async () => {
    const ctx = await createGpuContext(await createNodeGpu());
    ctx.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
    await ctx.device.queue.onSubmittedWorkDone();
    await new Promise((r) => setTimeout(r, 20));
    expect(ctx.uncaptured.map((e) => e.filter)).toEqual(['validation']);
    expect(ctx.uncaptured[0].message).toMatch(/usage/i);
    ctx.device.destroy();
  });

  it('a buffer the device refuses is a typed error naming it, and the buffer is not kept', async () => {
    const ctx = await createGpuContext(await createNodeGpu());
    const before = ctx.buffers.count;
    const err = await allocBuffer(ctx.device, { label: 'huge', size: ctx.limits.maxBufferBytes + 1024, usage: GPUBufferUsage.STORAGE }).then(() => null, (e) => e);
    // larger than maxBufferSize: Dawn reports a validation error (a real allocation failure would be OutOfMemoryError)
    expect(err).toBeInstanceOf(GpuValidationError);
    expect(err.message).toMatch(/rejected allocating huge \(\d+ bytes\): Buffer size .* exceeds the max buffer size/);
    expect(ctx.buffers.count).toBe(before);
    expect(ctx.uncaptured).toEqual([]);
    ctx.device.destroy();
  });

  it('KernelCache.prepare compiles with createComputePipelineAsync; get() then reuses that pipeline', async () => {
    const ctx = await createGpuContext(await createNodeGpu());
    const cache = new KernelCache(ctx.device, { limits: ctx.limits.kernel });
    const k = await cache.prepare(SWIGLU);
    expect(cache.get(SWIGLU)).toBe(k);
    expect(cache.size).toBe(1);
    const bad = new KernelCache(ctx.device, { limits: ctx.limits.kernel, faults: { workgroupSize: { kernel: 'swiglu', size: 512 } } });
    expect(() => bad.get(SWIGLU)).toThrow(LimitTooLowError);
    await expect(bad.prepare(SWIGLU)).rejects.toBeInstanceOf(LimitTooLowError);
    expect(bad.size).toBe(0);
    ctx.device.destroy();
  });

  it('the UI explains the new errors and asks for a reload', () => {
    for (const [e, title] of [
      [new GpuValidationError('a forward', 'mesa llvmpipe', 'Destroyed buffer used in a submit.'), 'The GPU rejected a computation'],
      [new GpuInternalError('a forward', 'mesa llvmpipe', 'lost'), 'The GPU rejected a computation'],
      [new SelfCheckError('mesa llvmpipe', { layer: 0, maxAbsErr: 0.3, tolerance: 4e-4, row: 5, channel: 37 }), 'This GPU computes wrong values for this model'],
    ] as const) {
      const v = describeError(e, 'generate');
      expect(v.title).toBe(title);
      expect(v.needsReload).toBe(true);
      expect(v.message).toContain('mesa llvmpipe');
    }
  });
});
