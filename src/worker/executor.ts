/**
 * The worker-side executor: loads a model onto the GPU and runs forwards. One command encoder and
 * one submit per forward; the only readback is the top-k ids and values of the requested rows.
 * The same code runs in a browser Web Worker (navigator.gpu) and a Node child process (Dawn, `node-worker.ts`).
 *
 * GPU errors fail the call, never yield a result: each forward's GPU calls run inside error scopes
 * (validation, out-of-memory, internal) and errors no scope caught are collected by the device's
 * `uncapturederror` handler; either becomes GpuValidationError, OutOfMemoryError or GpuInternalError
 * (`src/gpu/scope.ts`). Kernel needs are checked against the device limits when the pipelines are
 * made at load, and the load ends with the self-check (`selfcheck.ts`).
 */
import { BusyError, ContextOverflowError, DeviceLostError, InvalidArgumentError, KvLengthMismatchError, MsnError, OutOfMemoryError, UnknownMaskError } from '../errors.js';
import { adapterName, createGpuContext, type GpuContext } from '../gpu/context.js';
import { encodePasses } from '../gpu/kernel.js';
import { openErrorScopes, toMsnError, type CaughtGpuError } from '../gpu/scope.js';
import { MASKED, maskVisibility } from '../kernels/attention.js';
import { MAX_TOPK } from '../kernels/topk.js';
import { describeModel, streamWeights, type LoadProgress } from '../model/loader.js';
import { createModelSource } from '../model/source.js';
import { QUANT_GROUPS, type WeightQuantization } from '../model/quantize.js';
import type { ModelLocation } from '../model/local-folder.js';
import { chooseKernelConfig, kernelConfigKey } from '../gpu/kernel-config.js';
import { DEVICE_LIMIT_NAMES, TREE_ROOM, type DeviceLimits, type ExecutorApi, type ForwardRequest, type ForwardResult, type LoadOptions, type ModelInfo } from './api.js';
import { JACOBI_CANDIDATES } from '../decode/tree.js';
import { LlamaGpu } from './llama.js';
import { HeapSampler } from './heap.js';
import { KV_DTYPES } from '../kernels/kv-format.js';
import { defaultKvDtype, denseFormat, fileWeightDtype, memoryAdvice, planMemory, qgroupFormat, type MatrixFormat, type MemoryPlan } from '../model/memory-plan.js';
import type { PrequantScheme } from '../model/prequant.js';
import type { TensorDtype } from '../model/dtype.js';
import { runSelfCheck, SelfCheckCapture, SELF_CHECK_LAYER } from './selfcheck.js';

function checkMaskDiagonal(mask: ArrayLike<number>, T: number): void {
  for (let i = 0; i < T; i++) {
    if (!(mask[i * T + i] > -1e30)) throw new InvalidArgumentError(`mask row ${i} must see itself (diagonal not masked).`);
  }
}

/**
 * The memory plan's format of a pre-quantized folder: its group format (f16 scales, no g_idx: an
 * estimate within a few per cent; `ModelInfo.memory` reports what was allocated) for every layer
 * matrix, and for the embedding and lm_head too when the index names their quantized parts
 * (`<prefix>.weight_packed` / `.qweight`: `npm run quantize` writes them); else those are dense
 * tensors, planned as `dense` (the load-time format of the dense parts).
 */
export function prequantPlanFormat(pre: PrequantScheme, tensorNames: string[] | null, dense: MatrixFormat): MatrixFormat {
  const q = qgroupFormat(pre.bits, pre.group ?? 128, 'f16');
  const quantized = (prefix: string) => !!tensorNames?.some((n) => n === `${prefix}.weight_packed` || n === `${prefix}.qweight`);
  return (key, N, K, maxBindingBytes) => {
    if (key === 'embed') return (quantized('model.embed_tokens') ? q : dense)(key, N, K, maxBindingBytes);
    if (key === 'lm_head') return (quantized('lm_head') ? q : dense)(key, N, K, maxBindingBytes);
    return q(key, N, K, maxBindingBytes);
  };
}

/** Largest row block of a dense tensor handed from the weight stream to the GPU upload (bytes). */
export const LOAD_BLOCK_BYTES = 64 * 1024 * 1024;

/**
 * The load-time quantization `options` ask for (null for none).
 * @throws InvalidArgumentError for an unknown `quantize`, `quantizeGroupSize` or `quantizeEmbeddings` value.
 */
export function weightQuantization(options: LoadOptions): WeightQuantization | null {
  const q = options.quantize ?? 'none';
  if (q !== 'none' && q !== 'q4' && q !== 'q8') throw new InvalidArgumentError(`quantize must be 'q4', 'q8' or 'none', got ${JSON.stringify(q)}.`);
  const group = options.quantizeGroupSize ?? 32;
  if (!(QUANT_GROUPS as readonly number[]).includes(group)) throw new InvalidArgumentError(`quantizeGroupSize must be 32, 64 or 128, got ${JSON.stringify(group)}.`);
  if (options.quantizeEmbeddings !== undefined && typeof options.quantizeEmbeddings !== 'boolean') throw new InvalidArgumentError(`quantizeEmbeddings must be true or false, got ${JSON.stringify(options.quantizeEmbeddings)}.`);
  if (q === 'none') return null;
  return { bits: q === 'q4' ? 4 : 8, group, embeddings: options.quantizeEmbeddings ?? true };
}

/** Obtains the platform's `GPU` (navigator.gpu in browsers, Dawn in Node). */
export type GpuProvider = () => Promise<GPU | undefined>;

export class Executor implements ExecutorApi {
  #ctx: GpuContext | null = null;
  #model: LlamaGpu | null = null;
  #info: ModelInfo | null = null;
  #lost: DeviceLostError | null = null;
  #kvLen = 0;
  #timer: { device: GPUDevice; querySet: GPUQuerySet; resolve: GPUBuffer; read: GPUBuffer } | null = null;
  #pending = 0;
  /** Registered masks: where they lie in the mask library, and each row's visible new rows (attention traffic figures). */
  #masks = new Map<number, { base: number; stride: number; T: number; visible: number[][] }>();
  #maskNext = 0;
  #nextMaskId = 1;
  #busy = false;

  constructor(readonly gpuProvider: GpuProvider) {}

  async load(model: ModelLocation, options: LoadOptions = {}, onProgress?: (p: LoadProgress) => void): Promise<ModelInfo> {
    await this.dispose();
    this.#lost = null;
    const ctx = await createGpuContext(await this.gpuProvider(), { disableFeatures: options.disableFeatures, maxBindingBytes: options.maxBindingBytes });
    this.#ctx = ctx;
    ctx.lost.then((e) => {
      if (this.#ctx === ctx) this.#lost = e;
    });
    const heap = new HeapSampler();
    let plan: MemoryPlan | null = null;
    try {
      const src = createModelSource(model, { hubToken: options.hubToken, hubTokenOrigins: options.hubTokenOrigins });
      const desc = await describeModel(src);
      const cfg = desc.config;
      if (options.contextLength !== undefined && (!Number.isInteger(options.contextLength) || options.contextLength < 2)) throw new InvalidArgumentError(`contextLength must be an integer ≥ 2, got ${options.contextLength}.`);
      const kvDtype = options.kvDtype ?? defaultKvDtype(cfg);
      if (!KV_DTYPES.includes(kvDtype)) throw new InvalidArgumentError(`kvDtype must be one of ${KV_DTYPES.join(', ')}, got ${JSON.stringify(kvDtype)}.`);
      const budget = options.gpuMemoryBytes ?? options.memoryBudgetBytes;
      if (budget !== undefined && !(Number.isSafeInteger(budget) && budget > 0)) throw new InvalidArgumentError(`gpuMemoryBytes must be a positive integer (bytes), got ${budget}.`);
      const faults = options.faults ?? {};
      const kernels = chooseKernelConfig(ctx.adapter, options.kernelConfig, { ...options.kernelOverrides, matmulLanes: options.matmulLanes });
      // The memory plan, before anything is allocated: it may shorten a context the user did not fix.
      const quant = weightQuantization(options);
      const fileDtype = fileWeightDtype(cfg, desc.totalBytes);
      const denseEmbed: TensorDtype = fileDtype === 'F32' ? 'F16' : fileDtype;
      const pre = desc.quantization;
      const loadTime = quant ? qgroupFormat(quant.bits, quant.group, 'f16', quant.embeddings ? null : denseEmbed) : denseFormat(fileDtype);
      const format: MatrixFormat = pre ? prequantPlanFormat(pre, desc.tensorNames, loadTime) : loadTime;
      plan = planMemory({
        config: cfg, format, kvDtype, contextLength: options.contextLength, treeRoom: TREE_ROOM, q4: quant?.bits === 4 || pre?.bits === 4,
        maxRows: options.maxRows, limits: { maxBindingBytes: ctx.limits.maxBindingBytes, maxBufferBytes: ctx.limits.maxBufferBytes }, budgetBytes: budget,
      });
      const contextLength = plan.contextLength;
      const m = new LlamaGpu(ctx, cfg, contextLength, TREE_ROOM, kernels, options.maxRows, faults, kvDtype, quant);
      this.#model = m;
      const capture = options.selfCheck === false ? null : new SelfCheckCapture(cfg, quant);
      // Dense tensors arrive in row blocks of at most 64 MiB, so a large embedding never sits in JS memory whole.
      const seen = await streamWeights(desc, (n) => m.target(n) !== null, async (name, dtype, shape, bytes, block) => {
        heap.sample();
        await m.addTensor(name, dtype, shape, bytes, block);
        capture?.offer(name, dtype, shape, bytes, block);
      }, onProgress, undefined, async (t) => {
        heap.sample();
        await m.addQuantized(t.name, t.matrix, 0, t.gidx ?? null);
        capture?.offerQuantized(t);
      }, options.loadBlockBytes ?? LOAD_BLOCK_BYTES);
      await m.finish(seen);
      const peakJsHeapBytes = heap.stop();
      await ctx.device.queue.onSubmittedWorkDone();
      this.#throwUncaptured('the model load');
      this.#model = m;
      this.#masks.clear();
      this.#maskNext = 2 * m.dims.maxRows * m.dims.maxRows; // [causal | per-step inline | registered ...]
      this.#kvLen = 0;
      this.#pending = 0;
      this.#info = {
        config: cfg,
        eosTokenIds: desc.eosTokenIds,
        contextLength,
        kvCapacity: m.dims.Smax,
        maxRows: m.dims.maxRows,
        adapter: ctx.adapter,
        features: ctx.features,
        memory: { weightsBytes: m.weightsBytes, kvBytes: m.kvBytes, scratchBytes: m.scratchBytes, weightBuffers: m.weightBuffers, kvBuffers: m.kvBuffers, peakJsHeapBytes },
        kvDtype,
        memoryPlan: plan,
        weightFormats: m.weightFormats,
        selfCheck: null,
        kernelConfig: { ...kernels, key: kernelConfigKey(kernels) },
        deviceLimits: Object.fromEntries(DEVICE_LIMIT_NAMES.map((k) => [k, ctx.device.limits[k]])) as unknown as DeviceLimits,
      };
      if (options.warmup !== false) await this.#warmup();
      if (faults.corruptWeight) m.corruptWeight(SELF_CHECK_LAYER);
      if (capture) {
        this.#info.selfCheck = await runSelfCheck(capture, m.dims.Cp, m.dims.maxRows, (tokens, positions, P) => this.#runLayers(tokens, positions, P, SELF_CHECK_LAYER + 1), adapterName(ctx.adapter), kvDtype);
        await this.reset();
      }
      if (faults.destroyScratch) m.b.act.destroy();
      return this.#info;
    } catch (e) {
      heap.stop();
      await this.dispose();
      // A real allocation failure is the same typed error as the plan's, with the plan's numbers.
      if (e instanceof OutOfMemoryError && plan && e.detail.requiredBytes === undefined) {
        throw new OutOfMemoryError(String(e.detail.what), e.detail.bytes as number | undefined, {
          requiredBytes: plan.totalBytes, allowedBytes: plan.budgetBytes, weightsBytes: plan.weightsBytes, kvBytes: plan.kvBytes, scratchBytes: plan.scratchBytes,
          contextLength: plan.contextLength, advice: memoryAdvice(plan),
        });
      }
      throw e;
    }
  }

  /**
   * Compiles every pipeline a generation can use (GEMV, the 4- and 8-row tiles, attention, top-k)
   * with throw-away forwards, so the first tree step of a generation does not pay for compilation
   * (tens of ms on lavapipe, 1-2 s per pipeline on SwiftShader).
   */
  async #warmup(): Promise<void> {
    const d = this.#model!.dims;
    for (const T of [1, 4, 8].filter((t) => t <= d.maxRows)) {
      await this.forward({ tokens: new Array<number>(T).fill(0), positions: Array.from({ length: T }, (_, i) => i), mask: 'causal', topK: Math.min(JACOBI_CANDIDATES, d.V), commit: false });
    }
    await this.reset();
  }

  get info(): ModelInfo | null {
    return this.#info;
  }

  #check(): LlamaGpu {
    if (this.#lost) throw this.#lost;
    if (!this.#model) throw new InvalidArgumentError('No model is loaded: call load() first.');
    return this.#model;
  }

  async registerMask(mask: Float32Array, T: number): Promise<number> {
    const m = this.#check();
    if (!Number.isInteger(T) || T < 1 || T > m.dims.maxRows || mask.length !== T * T) {
      throw new InvalidArgumentError(`registerMask: need a T×T mask with 1 ≤ T ≤ ${m.dims.maxRows}; got T=${T}, ${mask.length} values.`);
    }
    checkMaskDiagonal(mask, T);
    if (this.#maskNext + T * T > m.maskCapacity) {
      // Library full: forget every registered mask (ids stay unique; stale ids are rejected).
      this.#masks.clear();
      this.#maskNext = 2 * m.dims.maxRows * m.dims.maxRows;
    }
    const base = this.#maskNext;
    const clean = mask.map((v) => (v > -1e30 ? v : MASKED));
    this.#ctx!.device.queue.writeBuffer(m.b.masks, base * 4, clean);
    this.#maskNext += T * T;
    const id = this.#nextMaskId++;
    this.#masks.set(id, { base, stride: T, T, visible: maskVisibility(clean, T) });
    return id;
  }

  async forward(req: ForwardRequest): Promise<ForwardResult> {
    const m = this.#check();
    if (this.#busy) throw new BusyError('forward()');
    const d = m.dims;
    const T = req.tokens.length;
    if (T < 1 || T > d.maxRows || req.positions.length !== T) throw new InvalidArgumentError(`forward: need 1 ≤ T ≤ ${d.maxRows} tokens with as many positions; got ${T} tokens, ${req.positions.length} positions.`);
    const k = req.topK;
    if (!Number.isInteger(k) || k < 0 || k > Math.min(MAX_TOPK, d.V)) throw new InvalidArgumentError(`forward: topK must be in [0, ${Math.min(MAX_TOPK, d.V)}], got ${k}.`);
    for (let i = 0; i < T; i++) {
      const t = req.tokens[i];
      if (!Number.isInteger(t) || t < 0 || t >= d.V) throw new InvalidArgumentError(`forward: token id ${t} at row ${i} is outside the vocabulary [0, ${d.V}).`);
      const p = req.positions[i];
      if (!Number.isInteger(p) || p < 0 || p >= d.Smax) throw new InvalidArgumentError(`forward: position ${p} at row ${i} is outside [0, ${d.Smax}).`);
    }
    let mask: { base: number; stride: number; visible?: number[][] };
    let inlineMask: Float32Array<ArrayBuffer> | null = null;
    if (req.mask === 'causal') mask = { base: 0, stride: d.maxRows };
    else if (typeof req.mask !== 'number') {
      if (req.mask.length !== T * T) throw new InvalidArgumentError(`forward: an inline mask must have T×T = ${T * T} values, got ${req.mask.length}.`);
      checkMaskDiagonal(req.mask, T);
      inlineMask = Float32Array.from(req.mask, (v) => (v > -1e30 ? v : MASKED));
      mask = { base: d.maxRows * d.maxRows, stride: T, visible: maskVisibility(inlineMask, T) };
    } else {
      const mm = this.#masks.get(req.mask);
      if (!mm || mm.T !== T) throw new UnknownMaskError(req.mask, T, mm ? mm.T : null);
      mask = mm;
    }
    // KV bookkeeping: keep listed pending rows, else drop the pending block.
    let keepSrc: number[] | null = null;
    let kvLen = this.#kvLen;
    if (req.keep) {
      keepSrc = this.#keepRows(req.keep);
      kvLen += req.keep.length;
    }
    const P = kvLen;
    if (req.expectedKvLength !== undefined && req.expectedKvLength !== P) throw new KvLengthMismatchError(req.expectedKvLength, P);
    if (P + T > d.Smax) throw new ContextOverflowError(P, T, d.Smax);

    const dev = this.#ctx!.device;
    this.#busy = true;
    const t0 = performance.now();
    const scopes = openErrorScopes(dev);
    let gpuError: Promise<CaughtGpuError | null> | null = null;
    try {
      dev.queue.writeBuffer(m.b.ids, 0, Uint32Array.from(req.tokens));
      dev.queue.writeBuffer(m.b.pos, 0, Uint32Array.from(req.positions));
      if (inlineMask) dev.queue.writeBuffer(m.b.masks, mask.base * 4, inlineMask);
      const logits = k === 0 ? 'none' : req.logitRows === 'last' ? 'last' : 'all';
      const passes = [...(keepSrc ? m.compactPasses(keepSrc, this.#kvLen) : []), ...m.forwardPasses(T, P, mask, logits, Math.max(k, 1))];
      m.arena.reset();
      const enc = dev.createCommandEncoder({ label: 'forward' });
      const timer = this.#forwardTimer();
      encodePasses(enc, m.arena, passes, timer ? { querySet: timer.querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } : undefined);
      if (timer) {
        enc.resolveQuerySet(timer.querySet, 0, 2, timer.resolve, 0);
        enc.copyBufferToBuffer(timer.resolve, 0, timer.read, 0, 16);
      }
      const rows = logits === 'none' ? 0 : logits === 'all' ? T : 1;
      const n = rows * k;
      if (n > 0) {
        enc.copyBufferToBuffer(m.b.topIds, 0, m.b.readback, 0, n * 4);
        enc.copyBufferToBuffer(m.b.topVals, 0, m.b.readback, n * 4, n * 4);
      }
      let logitsRb: GPUBuffer | null = null;
      if (req.returnLogits && rows > 0) {
        logitsRb = dev.createBuffer({ label: 'logits-readback', size: rows * d.Vp * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
        enc.copyBufferToBuffer(m.b.logits, 0, logitsRb, 0, rows * d.Vp * 4);
      }
      m.arena.flush();
      dev.queue.submit([enc.finish()]);
      gpuError = scopes.close();
      let logitsOut: Float32Array | undefined;
      if (logitsRb) {
        await this.#guardLost(logitsRb.mapAsync(GPUMapMode.READ));
        const all = new Float32Array(logitsRb.getMappedRange());
        logitsOut = new Float32Array(rows * d.V);
        for (let r = 0; r < rows; r++) logitsOut.set(all.subarray(r * d.Vp, r * d.Vp + d.V), r * d.V);
        logitsRb.destroy();
      }
      let ids = new Int32Array(0);
      let values = new Float32Array(0);
      if (n > 0) {
        await this.#guardLost(m.b.readback.mapAsync(GPUMapMode.READ, 0, 8 * n));
        const r = m.b.readback.getMappedRange(0, 8 * n);
        ids = new Int32Array(r.slice(0, 4 * n));
        values = new Float32Array(r.slice(4 * n, 8 * n));
        m.b.readback.unmap();
        // A slot that no finite logit filled (topk.wgsl: id 0xffffffff, read here as −1) gets value
        // NaN; any other id outside [0, V) is treated the same, so none ever leaves the executor.
        for (let i = 0; i < n; i++) {
          if (!(ids[i] >= 0 && ids[i] < d.V)) { ids[i] = -1; values[i] = NaN; }
        }
      } else {
        await this.#guardLost(dev.queue.onSubmittedWorkDone());
      }
      const wallMs = performance.now() - t0;
      let deviceMs: number | null = null;
      if (timer) {
        await this.#guardLost(timer.read.mapAsync(GPUMapMode.READ));
        const ts = new BigUint64Array(timer.read.getMappedRange().slice(0));
        timer.read.unmap();
        const ns = Number(ts[1] - ts[0]);
        // A driver may write zeros (or quantise coarsely): only a positive span counts as measured.
        if (ns > 0) deviceMs = ns / 1e6;
      }
      await this.#throwGpuError(gpuError, 'a forward');
      this.#kvLen = req.commit ? P + T : P;
      this.#pending = req.commit ? 0 : T;
      return { ids, values, rows, k, kvLength: this.#kvLen, gpuMs: deviceMs ?? wallMs, gpuTiming: deviceMs === null ? 'wall' : 'timestamp', logits: logitsOut };
    } finally {
      if (!gpuError) void scopes.close();
      this.#busy = false;
    }
  }

  /**
   * Throws the typed error of the first GPU error caught for `what` (by `caught`, the forward's
   * error scopes, or by the device's uncaptured-error handler); the device stays usable.
   */
  /**
   * The timestamp queries around a forward's compute pass (begin, end), their resolve buffer and a
   * mapped copy; made on first use, null when the device has no `timestamp-query`.
   */
  #forwardTimer(): { querySet: GPUQuerySet; resolve: GPUBuffer; read: GPUBuffer } | null {
    const ctx = this.#ctx!;
    if (!ctx.features.timestampQuery) return null;
    if (!this.#timer || this.#timer.device !== ctx.device) {
      const dev = ctx.device;
      this.#timer = {
        device: dev,
        querySet: dev.createQuerySet({ label: 'forward-timestamps', type: 'timestamp', count: 2 }),
        resolve: dev.createBuffer({ label: 'forward-timestamps-resolve', size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }),
        read: dev.createBuffer({ label: 'forward-timestamps-read', size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
      };
    }
    return this.#timer;
  }

  async #throwGpuError(caught: Promise<CaughtGpuError | null> | null, what: string): Promise<void> {
    const err = caught ? await caught : null;
    if (err) {
      this.#ctx?.uncaptured.splice(0);
      throw toMsnError(err, what, adapterName(this.#ctx!.adapter));
    }
    this.#throwUncaptured(what);
  }

  /** Throws (and clears) the first GPU error no error scope caught since the last call. */
  #throwUncaptured(what: string): void {
    const ctx = this.#ctx;
    if (!ctx || ctx.uncaptured.length === 0) return;
    const err = ctx.uncaptured[0];
    ctx.uncaptured.splice(0);
    throw toMsnError(err, what, adapterName(ctx.adapter));
  }

  /**
   * Runs the first `layers` layers on T tokens appended at KV row P (causal) and returns the
   * residual stream after them, [T, Cp] f32. Used by the self-check; the KV rows stay uncommitted.
   */
  async #runLayers(tokens: number[], positions: number[], P: number, layers: number): Promise<Float32Array> {
    const m = this.#check();
    const dev = this.#ctx!.device;
    const T = tokens.length;
    const bytes = T * m.dims.Cp * 4;
    const rb = dev.createBuffer({ label: 'self-check-readback', size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    try {
      const scopes = openErrorScopes(dev);
      let caught: Promise<CaughtGpuError | null>;
      try {
        dev.queue.writeBuffer(m.b.ids, 0, Uint32Array.from(tokens));
        dev.queue.writeBuffer(m.b.pos, 0, Uint32Array.from(positions));
        m.arena.reset();
        const enc = dev.createCommandEncoder({ label: 'self-check' });
        encodePasses(enc, m.arena, m.forwardPasses(T, P, { base: 0, stride: m.dims.maxRows }, 'none', 1, layers));
        enc.copyBufferToBuffer(m.b.x, 0, rb, 0, bytes);
        m.arena.flush();
        dev.queue.submit([enc.finish()]);
      } finally {
        caught = scopes.close();
      }
      await this.#guardLost(rb.mapAsync(GPUMapMode.READ));
      const out = new Float32Array(rb.getMappedRange().slice(0));
      rb.unmap();
      await this.#throwGpuError(caught, 'the self-check');
      return out;
    } finally {
      rb.destroy();
    }
  }

  async #guardLost<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (e) {
      if (this.#lost) throw this.#lost;
      if (this.#ctx) {
        const lost = await Promise.race([this.#ctx.lost, new Promise<null>((r) => setTimeout(() => r(null), 50))]);
        if (lost) {
          this.#lost = lost;
          throw lost;
        }
      }
      throw e instanceof MsnError ? e : new DeviceLostError('unknown', (e as Error).message);
    }
  }

  /** Validates `keep` against the pending block; returns absolute source rows. */
  #keepRows(keep: number[]): number[] {
    if (keep.length === 0 || keep.length > 16) throw new InvalidArgumentError(`keep: 1 to 16 rows, got ${keep.length}.`);
    for (let i = 0; i < keep.length; i++) {
      if (!Number.isInteger(keep[i]) || keep[i] < 0 || keep[i] >= this.#pending || (i > 0 && keep[i] <= keep[i - 1])) {
        throw new InvalidArgumentError(`keep: rows must ascend within the ${this.#pending} pending rows; got ${JSON.stringify(keep)}.`);
      }
    }
    return keep.map((r) => this.#kvLen + r);
  }

  async kvKeep(rows: number[]): Promise<number> {
    const m = this.#check();
    const src = this.#keepRows(rows);
    const passes = m.compactPasses(src, this.#kvLen);
    if (passes.length) {
      const dev = this.#ctx!.device;
      const scopes = openErrorScopes(dev);
      let caught: Promise<CaughtGpuError | null>;
      try {
        m.arena.reset();
        const enc = dev.createCommandEncoder();
        encodePasses(enc, m.arena, passes);
        m.arena.flush();
        dev.queue.submit([enc.finish()]);
      } finally {
        caught = scopes.close();
      }
      await this.#guardLost(dev.queue.onSubmittedWorkDone());
      await this.#throwGpuError(caught, 'the KV compaction');
    }
    this.#kvLen += rows.length;
    this.#pending = 0;
    return this.#kvLen;
  }

  async kvTruncate(length: number): Promise<number> {
    this.#check();
    if (!Number.isInteger(length) || length < 0 || length > this.#kvLen) throw new InvalidArgumentError(`kvTruncate: length must be in [0, ${this.#kvLen}], got ${length}.`);
    this.#kvLen = length;
    this.#pending = 0;
    return length;
  }

  async reset(): Promise<void> {
    this.#kvLen = 0;
    this.#pending = 0;
  }

  /** Committed KV rows. */
  get kvLength(): number {
    return this.#kvLen;
  }

  async gpuStats(): Promise<{ liveBuffers: number; liveBytes: number; kvLength: number }> {
    return { liveBuffers: this.#ctx?.buffers.count ?? 0, liveBytes: this.#ctx?.buffers.bytes ?? 0, kvLength: this.#kvLen };
  }

  async whenLost(): Promise<{ reason: string; message: string }> {
    const ctx = this.#ctx;
    if (!ctx) return new Promise(() => {});
    const e = await ctx.lost;
    // The device's own message: the main thread builds its DeviceLostError (and prefix) from it.
    return { reason: String(e.detail.reason ?? 'unknown'), message: String(e.detail.deviceMessage ?? e.message) };
  }

  async simulateDeviceLoss(): Promise<void> {
    this.#ctx?.device.destroy();
    if (this.#ctx) this.#lost = await this.#ctx.lost;
  }

  async dispose(): Promise<void> {
    this.#model?.destroy();
    this.#model = null;
    this.#info = null;
    const ctx = this.#ctx;
    this.#ctx = null;
    if (ctx) {
      ctx.device.destroy();
    }
  }
}
