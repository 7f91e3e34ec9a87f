/**
 * The benchmarks' GPU context (shared by the kernel and cost-curve sections, which build their own
 * device rather than an engine) and the one-pass dispatch helper.
 */
import type { AdapterSummary, GpuContext } from '../src/gpu/context.js';
import type { ParamArena, Pass } from '../src/gpu/kernel.js';
import { kernelLimits } from '../src/gpu/needs.js';
import { streamWeights, type ModelDescription } from '../src/model/loader.js';
import type { LlamaGpu } from '../src/worker/llama.js';

/** Records `p` into `cp` with its params slot `off` of `arena`. */
export function dispatch(cp: GPUComputePassEncoder, p: Pass, arena: ParamArena, off: number): void {
  cp.setPipeline(p.kernel.pipeline);
  cp.setBindGroup(0, p.bindGroup);
  cp.setBindGroup(1, arena.bindGroup, [off]);
  cp.dispatchWorkgroups(...p.workgroups);
}

/**
 * The bench's device and engine-like context on the best adapter of `gpu`: every optional feature it
 * has (timestamps, f16, subgroups) and bindings up to 1 GiB; weights are still split at 128 MiB like
 * the engine's (which requests default limits).
 * @throws Error when there is no adapter.
 */
export async function benchContext(gpu: GPU): Promise<{ ctx: GpuContext; summary: AdapterSummary; features: GPUFeatureName[] }> {
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('No WebGPU adapter.');
  const info = adapter.info;
  const summary: AdapterSummary = {
    vendor: info?.vendor ?? '', architecture: info?.architecture ?? '', device: info?.device ?? '', description: info?.description ?? '',
    isFallbackAdapter: Boolean((info as GPUAdapterInfo & { isFallbackAdapter?: boolean })?.isFallbackAdapter ?? (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter),
  };
  const features = (['timestamp-query', 'shader-f16', 'subgroups'] as GPUFeatureName[]).filter((f) => adapter.features.has(f));
  const cap = 2 ** 30;
  const device = await adapter.requestDevice({
    requiredFeatures: features,
    requiredLimits: {
      maxStorageBufferBindingSize: Math.min(adapter.limits.maxStorageBufferBindingSize, cap),
      maxBufferSize: Math.min(adapter.limits.maxBufferSize, cap),
    },
  });
  const maxBinding = device.limits.maxStorageBufferBindingSize;
  const maxPerDim = device.limits.maxComputeWorkgroupsPerDimension;
  const ctx: GpuContext = {
    gpu: gpu, device, adapter: summary,
    features: { shaderF16: device.features.has('shader-f16'), subgroups: device.features.has('subgroups'), timestampQuery: device.features.has('timestamp-query') },
    limits: {
      // The engine requests default limits: weights are split at 128 MiB there, so here too.
      maxBindingBytes: Math.min(134217728, maxBinding), maxBufferBytes: device.limits.maxBufferSize,
      maxWorkgroupStorageBytes: device.limits.maxComputeWorkgroupStorageSize, maxWorkgroupsPerDimension: maxPerDim,
      maxInvocationsPerWorkgroup: device.limits.maxComputeInvocationsPerWorkgroup, minUniformOffsetAlignment: device.limits.minUniformBufferOffsetAlignment,
      kernel: kernelLimits(device.limits),
    },
    lost: new Promise(() => {}),
    buffers: { count: 0, bytes: 0 },
    uncaptured: [],
  };
  return { ctx, summary, features };
}


/**
 * Streams every weight of `desc` that `model` wants into it (whole tensors) and finishes the load, as
 * the executor does (src/worker/executor.ts) without its progress and quantization options.
 * @throws what streamWeights and LlamaGpu.finish throw (ModelFormatError, UnsupportedModelError).
 */
export async function loadWeights(model: LlamaGpu, desc: ModelDescription): Promise<void> {
  const seen = await streamWeights(desc, (n) => model.target(n) !== null, (name, dtype, shape, bytes, block) => model.addTensor(name, dtype, shape, bytes, block));
  await model.finish(seen);
}
