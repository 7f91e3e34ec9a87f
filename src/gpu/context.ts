/**
 * GPU device creation and capability probes.
 *
 * We request the default limits (so every adapter that runs the suite behaves alike), except the two
 * buffer-size limits, `maxBufferSize` and `maxStorageBufferBindingSize`, which are raised to what the
 * adapter offers ({@link REQUESTED_BUFFER_LIMITS}): large models need large buffers, and no kernel's
 * shape depends on them (tensors are split across bindings by rows). The
 * optional features `shader-f16`, `subgroups` and `timestamp-query` are requested when present and
 * not disabled, and recorded in `GpuContext.features`. No kernel requires any of them.
 *
 * GPU errors that no error scope catches are collected in `GpuContext.uncaptured` (the default
 * action, a console message, is prevented: Dawn in Node prints it on stdout), so the executor can
 * fail the call that caused them (see `src/gpu/scope.ts`).
 */
import { DeviceLostError, WebGpuUnavailableError } from '../errors.js';
import { kernelLimits, type KernelLimits } from './needs.js';
import { errorFilter, type CaughtGpuError } from './scope.js';

/** Adapter identity as reported by `GPUAdapter.info`. */
export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
}

/** Options for {@link createGpuContext}. */
export interface GpuOptions {
  /** Features never to request, e.g. `['shader-f16']`, or `['all']` for none. */
  disableFeatures?: string[];
  /**
   * Test option: pretend `maxStorageBufferBindingSize` is this many bytes (must be ≤ the real one),
   * so the tensor-splitting and chunked-prefill paths run on small fixtures.
   */
  maxBindingBytes?: number;
}

/** The device plus what the runtime may use of it. */
export interface GpuContext {
  /** The `GPU` the device came from. Kept referenced: in Node, a collected `GPU` tears down Dawn under a live device. */
  gpu: GPU;
  device: GPUDevice;
  adapter: AdapterSummary;
  features: { shaderF16: boolean; subgroups: boolean; timestampQuery: boolean };
  limits: {
    /** Largest storage buffer binding, bytes (possibly lowered by `maxBindingBytes`). */
    maxBindingBytes: number;
    /** Largest buffer, bytes. */
    maxBufferBytes: number;
    maxWorkgroupStorageBytes: number;
    maxWorkgroupsPerDimension: number;
    maxInvocationsPerWorkgroup: number;
    minUniformOffsetAlignment: number;
    /** What a kernel may need (checked when its pipeline is made, `src/gpu/needs.ts`). */
    kernel: KernelLimits;
  };
  /** Resolves when the device is lost (never rejects). */
  lost: Promise<DeviceLostError>;
  /** Live GPU buffers created through this device (count and bytes), for leak checks and reports. */
  buffers: { count: number; bytes: number };
  /**
   * GPU errors no error scope caught, oldest first (at most {@link MAX_UNCAPTURED}); the executor
   * empties it and fails the call that was running.
   */
  uncaptured: CaughtGpuError[];
}

/** Uncaptured GPU errors kept per device (the first ones name the cause; the rest follow from it). */
export const MAX_UNCAPTURED = 16;

/** The adapter as one readable phrase for messages, e.g. `mesa software (llvmpipe: Mesa 25.0.7 (LLVM 15.0.6))`. */
export function adapterName(a: AdapterSummary): string {
  const name = [a.vendor, a.architecture].filter(Boolean).join(' ') || 'unknown adapter';
  const more = a.description || a.device;
  return more ? `${name} (${more})` : name;
}

/** Wraps `device.createBuffer` so live buffers (created, not yet destroyed) are counted. */
function trackBuffers(device: GPUDevice): { count: number; bytes: number } {
  const live = { count: 0, bytes: 0 };
  const create = device.createBuffer.bind(device);
  device.createBuffer = (desc: GPUBufferDescriptor) => {
    const buf = create(desc);
    live.count++;
    live.bytes += desc.size;
    const destroy = buf.destroy.bind(buf);
    let gone = false;
    buf.destroy = () => {
      if (!gone) {
        gone = true;
        live.count--;
        live.bytes -= desc.size;
      }
      destroy();
    };
    return buf;
  };
  return live;
}

const OPTIONAL_FEATURES: GPUFeatureName[] = ['shader-f16', 'subgroups', 'timestamp-query'];

/** The limits requested above the WebGPU defaults, each at the adapter's maximum. Every other limit stays at its default. */
export const REQUESTED_BUFFER_LIMITS = ['maxBufferSize', 'maxStorageBufferBindingSize'] as const;

/**
 * Creates a device on the best adapter of `gpu`.
 * @throws WebGpuUnavailableError when `gpu` is missing or gives no adapter/device.
 */
export async function createGpuContext(gpu: GPU | undefined, options: GpuOptions = {}): Promise<GpuContext> {
  if (!gpu) {
    throw new WebGpuUnavailableError('WebGPU is not available here (navigator.gpu is missing). Use a browser with WebGPU (Chrome/Edge 113+, or start Chromium with --enable-unsafe-webgpu) and serve the page over https or localhost.');
  }
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    throw new WebGpuUnavailableError('No WebGPU adapter was found. Check that the GPU driver (or a software Vulkan driver such as Mesa lavapipe) is installed and WebGPU is enabled.');
  }
  const disabled = new Set(options.disableFeatures ?? []);
  const requiredFeatures = disabled.has('all') ? [] : OPTIONAL_FEATURES.filter((f) => adapter.features.has(f) && !disabled.has(f));
  let device: GPUDevice;
  try {
    const requiredLimits = Object.fromEntries(REQUESTED_BUFFER_LIMITS.map((k) => [k, adapter.limits[k]]));
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  } catch (e) {
    throw new WebGpuUnavailableError(`requestDevice failed: ${(e as Error).message}. Close other GPU-heavy tabs and retry.`);
  }
  const info = adapter.info;
  const realBinding = device.limits.maxStorageBufferBindingSize;
  const maxBindingBytes = options.maxBindingBytes ? Math.min(options.maxBindingBytes, realBinding) : realBinding;
  const lost = device.lost.then((i) => new DeviceLostError(i.reason, i.message));
  const buffers = trackBuffers(device);
  const uncaptured: CaughtGpuError[] = [];
  device.addEventListener('uncapturederror', (ev) => {
    const e = (ev as GPUUncapturedErrorEvent).error;
    ev.preventDefault();
    if (uncaptured.length < MAX_UNCAPTURED) uncaptured.push({ filter: errorFilter(e), message: e.message });
  });
  return {
    gpu,
    device,
    adapter: {
      vendor: info?.vendor ?? '',
      architecture: info?.architecture ?? '',
      device: info?.device ?? '',
      description: info?.description ?? '',
      isFallbackAdapter: Boolean((info as GPUAdapterInfo & { isFallbackAdapter?: boolean })?.isFallbackAdapter ?? (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter),
    },
    features: {
      shaderF16: device.features.has('shader-f16'),
      subgroups: device.features.has('subgroups'),
      timestampQuery: device.features.has('timestamp-query'),
    },
    limits: {
      maxBindingBytes,
      maxBufferBytes: device.limits.maxBufferSize,
      maxWorkgroupStorageBytes: device.limits.maxComputeWorkgroupStorageSize,
      maxWorkgroupsPerDimension: device.limits.maxComputeWorkgroupsPerDimension,
      maxInvocationsPerWorkgroup: device.limits.maxComputeInvocationsPerWorkgroup,
      minUniformOffsetAlignment: device.limits.minUniformBufferOffsetAlignment,
      kernel: kernelLimits(device.limits),
    },
    lost,
    buffers,
    uncaptured,
  };
}
