/**
 * The executor's API: what the main thread may ask of the worker (through Comlink). Everything here
 * is structured-clone friendly. Shapes use the glossary of ARCHITECTURE.md.
 */
import { PAPER_TREE_SIZE } from '../decode/tree.js';
import type { AdapterSummary } from '../gpu/context.js';
import type { KernelConfig, KernelConfigChoice, KernelOverrides } from '../gpu/kernel-config.js';
import type { KernelFaults } from '../gpu/kernel.js';
import type { LlamaConfig } from '../model/config.js';
import type { LoadProgress } from '../model/loader.js';
import type { KvDtype, MemoryPlan } from '../model/memory-plan.js';
import type { ModelLocation } from '../model/local-folder.js';

/** Options for {@link ExecutorApi.load}. */
export interface LoadOptions {
  /**
   * Tokens the KV cache holds for prompt + generation (default min(max_position_embeddings, 4096)).
   * The cache gets {@link TREE_ROOM} more rows for draft-tree verification.
   */
  contextLength?: number;
  /**
   * Largest row block (bytes) in which a dense tensor travels from the weight stream to the GPU and
   * the quantizer (default 64 MiB: a 1 GB embedding never sits in JS memory whole). A test option
   * lowers it so the block path runs on small fixtures.
   */
  loadBlockBytes?: number;
  /**
   * Hugging Face access token for gated or private repositories, sent as `Authorization: Bearer`
   * only to the Hub (and {@link hubTokenOrigins}), never to another origin: see `sendsHubToken` in
   * src/model/source.ts. `createNodeEngine` defaults it to the `HF_TOKEN` environment variable. A
   * 401/403 from the Hub is a GatedModelError.
   */
  hubToken?: string;
  /** Origins trusted with {@link hubToken} besides the Hub's (e.g. an `HF_ENDPOINT` mirror). */
  hubTokenOrigins?: string[];
  /** Test option: lower the storage-binding limit (bytes) so tensor splitting and chunked prefill run. */
  maxBindingBytes?: number;
  /** Optional features never to request (`'all'` for none). */
  disableFeatures?: string[];
  /** Compile every pipeline at load with throw-away forwards (default true). */
  warmup?: boolean;
  /** Cap on rows per forward (prefill chunk size); default and maximum 128. */
  maxRows?: number;
  /**
   * GPU memory the model may take in all (weights + KV cache + scratch), bytes; WebGPU cannot report
   * free memory, so this is the user's word for it. Checked by the memory plan
   * (src/model/memory-plan.ts) before anything is allocated: when the model does not fit and
   * `contextLength` was not given, the largest context that fits is used (`ModelInfo.memoryPlan.reason`
   * says so); otherwise the load fails with OutOfMemoryError naming required and allowed bytes.
   * Default: no budget (only the device's buffer limits are checked).
   */
  gpuMemoryBytes?: number;
  /** @deprecated Use {@link gpuMemoryBytes} (same meaning; ignored when both are given). */
  memoryBudgetBytes?: number;
  /**
   * Load-time weight quantization (issue 12): `q4` or `q8` quantizes every weight matrix on the CPU
   * while it streams in (in the worker, tensor by tensor, in row blocks) to the GPU group format of
   * src/model/quantize.ts, by MLC-LLM's q4f16_1 rule (symmetric, max-abs scale per group of
   * {@link quantizeGroupSize} input features, f16 scales); `none` (default) keeps the file dtype.
   * Matmuls then dequantize in registers with f32 accumulation, in the same reduction order for every
   * row count, so TR-Jacobi stays token-for-token identical to AR. A pre-quantized checkpoint
   * (compressed-tensors, GPTQ) keeps its own format; this option then applies to its dense matrices (e.g. an lm_head the checkpoint left unquantized).
   */
  quantize?: 'q4' | 'q8' | 'none';
  /** Input features per quantization group for {@link quantize}: 32 (default, q4f16_1), 64 or 128. */
  quantizeGroupSize?: 32 | 64 | 128;
  /**
   * With {@link quantize}: quantize the embedding table and lm_head too (default true); false keeps
   * them dense (16-bit files keep their dtype, f32 files are rounded to f16).
   */
  quantizeEmbeddings?: boolean;
  /**
   * Element type of the KV cache: `f16` (two halves per u32 word; `shader-f16` is not needed; K
   * rounded after RoPE, V as projected) or `f32`. Default: f16 for models above 100M parameters
   * (counted from config.json), f32 below. Decoding stays lossless (TR-Jacobi = AR) in both.
   */
  kvDtype?: KvDtype;
  /**
   * Kernel configuration (src/gpu/kernel-config.ts): `auto` (default) follows the adapter (`cpu` on
   * a fallback adapter, else `gpu`); `gpu` forces what a GPU gets, on any adapter.
   */
  kernelConfig?: KernelConfigChoice;
  /** Override: matmul reduction lanes (power of two); default that of the kernel configuration (1 cpu, 16 gpu). */
  matmulLanes?: number;
  /**
   * Overrides of single fields of the kernel configuration, on top of the preset `kernelConfig`
   * picks (`KernelOverrides` in src/gpu/kernel-config.ts: matmul lanes, columns, columns per thread,
   * row tiles; attention block and queries per workgroup). Each field is validated, and the result
   * is part of `ModelInfo.kernelConfig.key`. Bad values fail the load with InvalidArgumentError.
   */
  kernelOverrides?: KernelOverrides;
  /**
   * Run the load-time self-check (default true): after warmup, layer 0 of the model runs on a few
   * tokens on the GPU and in float64 on the CPU from the same weights; a disagreement beyond the
   * kernels' tolerance fails the load with SelfCheckError naming the adapter. Costs about 1/L of a
   * forward on the GPU plus the CPU layer (see `ModelInfo.selfCheck.ms`).
   */
  selfCheck?: boolean;
  /** Test-only fault injection: kernels the device rejects or warns about, corrupted weights, a destroyed buffer. */
  faults?: GpuFaults;
}

/** Test-only faults of {@link LoadOptions.faults}: each makes the real device misbehave in one way. */
export interface GpuFaults extends KernelFaults {
  /** Before the self-check: overwrite one word of layer 0's q/k/v weights on the GPU. */
  corruptWeight?: boolean;
  /** At the end of load: destroy a scratch buffer, so the device rejects every later forward. */
  destroyScratch?: boolean;
}

/** Outcome of the load-time self-check (it throws SelfCheckError instead of returning `ok: false`). */
export interface SelfCheckReport {
  ok: true;
  /** The layer compared (0). */
  layer: number;
  /** Token rows compared (forwards of 9, 5, 2 and 1 rows: one per matmul pipeline). */
  tokens: number;
  /** Largest |GPU − float64| over the layer's output [tokens, C]. */
  maxAbsErr: number;
  /** The bound it was held to: `SELF_CHECK_RTOL` × the largest finite |float64| value. */
  tolerance: number;
  /**
   * Output elements that are not finite in float64 too (the model's own NaN or infinity, e.g. a NaN
   * weight): they must be non-finite on the GPU as well, and are not held to the tolerance. Such a
   * model then fails in decoding with NonFiniteLogitsError, not here: this check judges the GPU.
   */
  nonFinite: number;
  /** Wall time of the check (GPU forwards, readback, CPU layer), ms. */
  ms: number;
}

/** Extra KV rows beyond the context for the verification tree (the paper's 69-node tree). */
export const TREE_ROOM = PAPER_TREE_SIZE;

/** What a loaded model looks like to the main thread. */
export interface ModelInfo {
  config: LlamaConfig;
  eosTokenIds: number[];
  contextLength: number;
  /** KV rows allocated [Smax] = contextLength + TREE_ROOM. */
  kvCapacity: number;
  /** Largest T of one forward (prefill chunk size, tree size bound). */
  maxRows: number;
  adapter: AdapterSummary;
  features: { shaderF16: boolean; subgroups: boolean; timestampQuery: boolean };
  /**
   * GPU bytes allocated, and the peak JavaScript memory of the worker during the load
   * (`peakJsHeapBytes`: Node heapUsed + external; Chromium `performance.memory`; null elsewhere).
   */
  memory: { weightsBytes: number; kvBytes: number; scratchBytes: number; weightBuffers: number; kvBuffers: number; peakJsHeapBytes: number | null };
  /** Element type of the KV cache (`LoadOptions.kvDtype` or its default). */
  kvDtype: KvDtype;
  /**
   * The memory plan the load followed (src/model/memory-plan.ts): planned bytes, the budget, the
   * context chosen and, when it is shorter than the one requested, `reason`.
   */
  memoryPlan: MemoryPlan;
  /** Weight formats found, e.g. ['f16']. */
  weightFormats: string[];
  /** The load-time self-check's result; null when it was skipped (`selfCheck: false`). */
  selfCheck: SelfCheckReport | null;
  /**
   * The kernel configuration every forward of this engine runs in (`LoadOptions.kernelConfig`
   * resolved by `chooseKernelConfig`), with its stable `key` (`kernelConfigKey`: part of the
   * adaptive tree's cost-cache key).
   */
  kernelConfig: KernelConfig & { key: string };
  /**
   * The device limits the kernels run under (names as in `GPUSupportedLimits`). The device is
   * requested with the WebGPU default limits except `maxBufferSize` and
   * `maxStorageBufferBindingSize`, which are raised to what the adapter offers (src/gpu/context.ts):
   * the kernels stay within the defaults (e.g. 16384 bytes of workgroup memory, 256 invocations per
   * workgroup), only larger buffers are allowed.
   */
  deviceLimits: DeviceLimits;
}

/** The compute-relevant limits of a device (bytes for sizes, counts otherwise). */
export interface DeviceLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupSizeY: number;
  maxComputeWorkgroupSizeZ: number;
  maxComputeWorkgroupsPerDimension: number;
  maxStorageBuffersPerShaderStage: number;
  maxUniformBuffersPerShaderStage: number;
  maxUniformBufferBindingSize: number;
  maxBindGroups: number;
  minStorageBufferOffsetAlignment: number;
  minUniformBufferOffsetAlignment: number;
}

/**
 * The WebGPU spec's default limits ("GPUSupportedLimits", Limits table) for the fields of
 * {@link DeviceLimits}. The engine requests no limit (src/gpu/context.ts), so whatever the adapter
 * supports, its device has exactly these; the kernel configuration is validated against them.
 */
export const WEBGPU_DEFAULT_LIMITS: Readonly<DeviceLimits> = {
  maxStorageBufferBindingSize: 134217728,
  maxBufferSize: 268435456,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupSizeY: 256,
  maxComputeWorkgroupSizeZ: 64,
  maxComputeWorkgroupsPerDimension: 65535,
  maxStorageBuffersPerShaderStage: 8,
  maxUniformBuffersPerShaderStage: 12,
  maxUniformBufferBindingSize: 65536,
  maxBindGroups: 4,
  minStorageBufferOffsetAlignment: 256,
  minUniformBufferOffsetAlignment: 256,
};

/** The names of {@link DeviceLimits}, in order. */
export const DEVICE_LIMIT_NAMES: readonly (keyof DeviceLimits)[] = [
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupSizeZ', 'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage', 'maxUniformBuffersPerShaderStage', 'maxUniformBufferBindingSize', 'maxBindGroups',
  'minStorageBufferOffsetAlignment', 'minUniformBufferOffsetAlignment',
];

/** One forward of T tokens at the current end of the KV cache. */
export interface ForwardRequest {
  /** [T] token ids. */
  tokens: ArrayLike<number>;
  /** [T] absolute RoPE positions (P + depth for tree nodes). */
  positions: ArrayLike<number>;
  /**
   * `'causal'`, the id returned by {@link ExecutorApi.registerMask} (a static T×T additive mask,
   * uploaded once), or the T×T mask itself (small per-step trees, e.g. adaptive sub-trees; it rides
   * along with the step instead of costing a registration round trip).
   */
  mask: 'causal' | number | Float32Array;
  /** Top-k per row to return (0: no logits at all, e.g. prefill), k ≤ 64 (`MAX_TOPK`). */
  topK: number;
  /** Which rows get logits: `'all'` (tree) or `'last'`. Default `'all'`. */
  logitRows?: 'all' | 'last';
  /**
   * Before this forward: rows (indices into the previous *pending* block) to keep and compact to the
   * end of the committed cache. Omitted: a pending block is discarded.
   */
  keep?: number[];
  /**
   * The committed KV rows the caller expects this forward to follow, after the `keep` compaction
   * (= the position of its first new row in AR and prefill). The executor's length is the only
   * source of truth; when given and different, the forward throws KvLengthMismatchError before doing
   * anything. The decode scheduler sends it on every step.
   */
  expectedKvLength?: number;
  /** true: commit the T new KV rows (prefill, AR); false: leave them pending (tree). */
  commit: boolean;
  /** Also return the full logits rows (tests, logprobs); costs a [rows, V] readback. */
  returnLogits?: boolean;
}

/**
 * Per-row results of a forward: ids and logits of the top-k, row-major [T', k]. Only finite logits
 * are ranked (NaN and ±infinity never are); a slot that no finite logit fills has id −1 and value
 * NaN, so a row with no finite logit at all has argmax −1. Every other id is in [0, V).
 */
export interface ForwardResult {
  ids: Int32Array;
  values: Float32Array;
  /** Rows returned (T for 'all', 1 for 'last', 0 when topK = 0). */
  rows: number;
  k: number;
  /** Committed KV rows after the call. */
  kvLength: number;
  /** [rows, V] f32 logits when `returnLogits` was set. */
  logits?: Float32Array;
  /**
   * Time of the forward, ms: device time between the start and the end of its compute pass when the
   * device has `timestamp-query` (`gpuTiming: 'timestamp'`), else the wall time from encoding to
   * the readback (`gpuTiming: 'wall'`: includes submit, queueing and the map).
   */
  gpuMs: number;
  /** What {@link gpuMs} measured: GPU timestamps or wall time. */
  gpuTiming: 'timestamp' | 'wall';
}

/** The worker-side executor, as seen through Comlink. */
export interface ExecutorApi {
  /**
   * Loads a model folder (URL, local path, or a folder opened from disk in a browser) and runs the self-check.
   * @throws ModelFormatError, UnsupportedModelError, NetworkError, WebGpuUnavailableError, OutOfMemoryError,
   *   LimitTooLowError, GpuValidationError, GpuInternalError, SelfCheckError.
   */
  load(model: ModelLocation, options: LoadOptions, onProgress?: (p: LoadProgress) => void): Promise<ModelInfo>;
  /** Uploads a T×T additive mask once; returns its id for {@link ForwardRequest.mask}. */
  registerMask(mask: Float32Array, T: number): Promise<number>;
  /**
   * Runs one forward (one submit, one readback).
   * @throws ContextOverflowError, DeviceLostError; GpuValidationError, GpuInternalError or
   *   OutOfMemoryError when the device reports an error for it (no result is returned then).
   */
  forward(req: ForwardRequest): Promise<ForwardResult>;
  /** Keeps the listed pending rows (see {@link ForwardRequest.keep}); returns the committed length. */
  kvKeep(rows: number[]): Promise<number>;
  /** Drops committed rows beyond `length`. */
  kvTruncate(length: number): Promise<number>;
  /** Empties the KV cache. */
  reset(): Promise<void>;
  /** Live GPU buffers of this executor (count, bytes) and committed KV rows; for leak checks. */
  gpuStats(): Promise<{ liveBuffers: number; liveBytes: number; kvLength: number }>;
  /** Resolves (with the reason and message) when the current GPU device is lost. */
  whenLost(): Promise<{ reason: string; message: string }>;
  /**
   * Fault injection for tests and demos: destroys the GPU device as a driver reset would. The next
   * call fails with DeviceLostError; create a new engine to continue.
   */
  simulateDeviceLoss(): Promise<void>;
  /** Frees every GPU resource. */
  dispose(): Promise<void>;
}
