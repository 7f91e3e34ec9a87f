/**
 * Kernel plumbing shared by every WGSL kernel: pipeline cache, bind groups, the uniform "params
 * arena" and pass encoding.
 *
 * Binding convention (every kernel): group 0 = the kernel's storage buffers, in the order of its
 * WGSL `@binding`s; group 1 binding 0 = its `Params` uniform struct, bound with a dynamic offset
 * into one per-forward arena buffer (256-byte slots). A forward is a flat list of {@link Pass}
 * records encoded into one compute pass of one command encoder.
 *
 * Before a pipeline is made, the kernel's needs (workgroup size, invocations, workgroup memory,
 * buffers per stage) are read from its WGSL and checked against the device limits
 * (`src/gpu/needs.ts`), so an adapter that cannot run a kernel fails at load with a
 * LimitTooLowError naming the limit. {@link KernelCache.prepare} compiles with
 * `createComputePipelineAsync`, whose rejection becomes a GpuValidationError naming the kernel.
 */
import { GpuInternalError, GpuValidationError } from '../errors.js';
import { checkKernelNeeds, kernelNeeds, type KernelLimits, type KernelNeeds } from './needs.js';
import { withErrorScopes } from './scope.js';

/** How a kernel binds each storage buffer of group 0. */
export type BindingKind = 'read' | 'rw';

/** A WGSL kernel: source text, entry point `main`, group-0 bindings and its params layout. */
export interface KernelDef {
  name: string;
  code: string;
  bindings: BindingKind[];
  /** One letter per 4-byte `Params` field: `u` = u32, `f` = f32; `U` = vec4<u32> array element. */
  params: string;
}

/**
 * Global-memory bytes one pass reads, by kind (the traffic model of ARCHITECTURE.md): `weights`
 * (weight matrices, embedding rows, norm gains), `kv` (K/V cache rows), `other` (activations, masks, tables).
 * Each counts every fetch the pass issues, repeats included: a weight tile fetched by three row
 * blocks counts three times. Computed by the kernel wrapper from the same geometry it dispatches.
 */
export interface PassReads {
  weights: number;
  kv: number;
  other: number;
}

/** One dispatch: which compiled kernel, its data bind group, uniform values and grid. */
export interface Pass {
  kernel: CompiledKernel;
  bindGroup: GPUBindGroup;
  params: ArrayLike<number>;
  workgroups: readonly [number, number, number];
  label: string;
  /** Bytes the pass reads from global memory (set by every kernel wrapper of src/kernels). */
  reads?: PassReads;
}

/** A pipeline specialised by override constants, with its group-0 layout. */
export class CompiledKernel {
  constructor(
    readonly def: KernelDef,
    readonly pipeline: GPUComputePipeline,
    readonly layout0: GPUBindGroupLayout,
    readonly key: string,
  ) {}
}

/**
 * Test-only faults (`LoadOptions.faults`): each makes the real device react as a faulty kernel or
 * driver would, so tests can see that the runtime turns the reaction into a typed error.
 */
export interface KernelFaults {
  /** Compile kernel `kernel` (a {@link KernelDef.name}) with `@workgroup_size(size)` instead of its own. */
  workgroupSize?: { kernel: string; size: number };
  /** Do not check kernel needs against the device limits, so the device itself rejects such a kernel. */
  skipLimitCheck?: boolean;
  /**
   * Add an unreachable statement to this kernel's entry point (results unchanged): the WGSL compiler
   * logs a warning, which Dawn prints on the process's stdout.
   */
  shaderWarning?: string;
}

/** Options of {@link KernelCache}. */
export interface KernelCacheOptions {
  /** Device limits the kernels' needs are checked against (default: none checked). */
  limits?: KernelLimits;
  /** The adapter, as named in error messages. */
  adapter?: string;
  faults?: KernelFaults;
}

/** Size of one uniform slot in the params arena, bytes (≥ minUniformBufferOffsetAlignment). */
export const PARAM_SLOT_BYTES = 256;

/** Told before and after each pipeline compilation (see {@link setCompileHooks}). */
export interface CompileHooks {
  start(label: string): void;
  end(): void;
}

let compileHooks: CompileHooks | null = null;

/**
 * Sets what is told before and after each pipeline compilation, a synchronous call that can block
 * the thread for 1-2 s (SwiftShader in Node). A worker announces it to the main thread's liveness
 * watch (src/worker/heartbeat.ts).
 */
export function setCompileHooks(hooks: CompileHooks | null): void {
  compileHooks = hooks;
}

/** Compilations running now (synchronous, or async ones at load that may run in parallel). */
let compiling = 0;

/** Runs `f` (which compiles `label`) inside the compile hooks' start/end; nested or parallel calls announce once. */
async function announced<T>(label: string, f: () => T | Promise<T>): Promise<T> {
  if (compiling++ === 0) compileHooks?.start(label);
  try {
    return await f();
  } finally {
    if (--compiling === 0) compileHooks?.end();
  }
}

/** Synchronous form of {@link announced}. */
function announcedSync<T>(label: string, f: () => T): T {
  if (compiling++ === 0) compileHooks?.start(label);
  try {
    return f();
  } finally {
    if (--compiling === 0) compileHooks?.end();
  }
}

/** Compiles and caches kernels; owns the shared group-1 layout. */
export class KernelCache {
  readonly paramsLayout: GPUBindGroupLayout;
  readonly #cache = new Map<string, CompiledKernel>();
  readonly #pending = new Map<string, Promise<CompiledKernel>>();
  readonly #layouts = new Map<string, GPUBindGroupLayout>();

  constructor(readonly device: GPUDevice, readonly options: KernelCacheOptions = {}) {
    this.paramsLayout = device.createBindGroupLayout({
      label: 'params',
      entries: [{ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: PARAM_SLOT_BYTES } }],
    });
  }

  /** Number of distinct pipelines compiled so far. */
  get size(): number {
    return this.#cache.size;
  }

  /** The WGSL of `def` as compiled (test faults applied). */
  #code(def: KernelDef): string {
    const f = this.options.faults;
    let code = def.code;
    if (f?.workgroupSize?.kernel === def.name) code = code.replace(/@workgroup_size\s*\(([^()]|\([^()]*\))*\)/, `@workgroup_size(${f.workgroupSize.size})`);
    if (f?.shaderWarning === def.name) code = code.replace(/(@compute[^{]*\{)/, '$1 if (false) { return; _ = 0u; }');
    return code;
  }

  /** What `def` specialised with `constants` needs from the device (read from its WGSL). */
  needs(def: KernelDef, constants: Record<string, number> = {}): KernelNeeds {
    return kernelNeeds(def.name, this.#code(def), constants);
  }

  /**
   * Returns the pipeline of `def` specialised with `constants`, compiled once: made synchronously
   * here unless {@link prepare} made it. A device error in a synchronous creation is reported to
   * the caller's error scope (the executor's, around the forward that first uses it).
   * @throws LimitTooLowError when the kernel needs more than the device limits allow.
   */
  get(def: KernelDef, constants: Record<string, number> = {}): CompiledKernel {
    const key = kernelKey(def, constants);
    let k = this.#cache.get(key);
    if (k) return k;
    const pipeline = announcedSync(`compiling ${key}`, () => {
      const { layout, module } = this.#begin(def, constants, key);
      return this.device.createComputePipeline({ label: key, layout, compute: { module, entryPoint: 'main', constants } });
    });
    k = new CompiledKernel(def, pipeline, this.#layouts.get(def.bindings.join(','))!, key);
    this.#cache.set(key, k);
    return k;
  }

  /**
   * Compiles the pipeline of `def` specialised with `constants` with `createComputePipelineAsync`
   * (once; later {@link get} calls return it).
   * @throws LimitTooLowError when the kernel needs more than the device limits allow;
   *   GpuValidationError (or GpuInternalError) naming the kernel when the device rejects it.
   */
  async prepare(def: KernelDef, constants: Record<string, number> = {}): Promise<CompiledKernel> {
    const key = kernelKey(def, constants);
    const done = this.#cache.get(key);
    if (done) return done;
    let p = this.#pending.get(key);
    if (!p) {
      p = this.#prepare(def, constants, key);
      this.#pending.set(key, p);
      p.finally(() => this.#pending.delete(key)).catch(() => {});
    }
    return p;
  }

  async #prepare(def: KernelDef, constants: Record<string, number>, key: string): Promise<CompiledKernel> {
    const adapter = this.options.adapter ?? 'this adapter';
    const what = `kernel ${key}`;
    const { layout, module } = await withErrorScopes(this.device, what, adapter, () => this.#begin(def, constants, key));
    let pipeline: GPUComputePipeline;
    try {
      pipeline = await announced(`compiling ${key}`, () => this.device.createComputePipelineAsync({ label: key, layout, compute: { module, entryPoint: 'main', constants } }));
    } catch (e) {
      const reason = (e as { reason?: string }).reason;
      const msg = (e as Error).message ?? String(e);
      throw reason === 'internal' ? new GpuInternalError(what, adapter, msg) : new GpuValidationError(what, adapter, msg);
    }
    const k = new CompiledKernel(def, pipeline, this.#layouts.get(def.bindings.join(','))!, key);
    this.#cache.set(key, k);
    return k;
  }

  /** Checks the kernel's needs, then makes (or reuses) its layouts and shader module. */
  #begin(def: KernelDef, constants: Record<string, number>, key: string): { layout: GPUPipelineLayout; module: GPUShaderModule } {
    if (this.options.limits && !this.options.faults?.skipLimitCheck) checkKernelNeeds(key, this.needs(def, constants), this.options.limits);
    const layoutKey = def.bindings.join(',');
    let layout0 = this.#layouts.get(layoutKey);
    if (!layout0) {
      layout0 = this.device.createBindGroupLayout({
        label: `data:${layoutKey}`,
        entries: def.bindings.map((b, i) => ({
          binding: i,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: b === 'read' ? 'read-only-storage' : 'storage' } as GPUBufferBindingLayout,
        })),
      });
      this.#layouts.set(layoutKey, layout0);
    }
    const module = this.device.createShaderModule({ label: def.name, code: this.#code(def) });
    return { layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout0, this.paramsLayout] }), module };
  }

  /** Bind group for `kernel`'s group 0 (buffers in binding order). */
  bind(kernel: CompiledKernel, buffers: Array<GPUBuffer | GPUBufferBinding>): GPUBindGroup {
    if (buffers.length !== kernel.def.bindings.length) {
      throw new Error(`${kernel.def.name}: expected ${kernel.def.bindings.length} buffers, got ${buffers.length}`);
    }
    return this.device.createBindGroup({
      label: kernel.def.name,
      layout: kernel.layout0,
      entries: buffers.map((b, i) => ({ binding: i, resource: b instanceof GPUBuffer ? { buffer: b } : b })),
    });
  }
}

/** Cache key of `def` specialised with `constants`, e.g. `matmul:LANES=1,COLS=64`. */
export function kernelKey(def: KernelDef, constants: Record<string, number>): string {
  return `${def.name}:${Object.entries(constants).map(([k, v]) => `${k}=${v}`).join(',')}`;
}

/** Per-forward uniform storage: one 256-byte slot per pass, uploaded with one writeBuffer. */
export class ParamArena {
  readonly buffer: GPUBuffer;
  readonly bindGroup: GPUBindGroup;
  readonly #data: ArrayBuffer;
  readonly #view: DataView;
  #used = 0;

  constructor(readonly device: GPUDevice, layout: GPUBindGroupLayout, readonly slots: number) {
    this.buffer = device.createBuffer({ label: 'params-arena', size: slots * PARAM_SLOT_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.bindGroup = device.createBindGroup({ label: 'params', layout, entries: [{ binding: 0, resource: { buffer: this.buffer, size: PARAM_SLOT_BYTES } }] });
    this.#data = new ArrayBuffer(slots * PARAM_SLOT_BYTES);
    this.#view = new DataView(this.#data);
  }

  reset(): void {
    this.#used = 0;
  }

  /** Packs `values` by the layout string `spec` into the next slot; returns its byte offset. */
  push(spec: string, values: ArrayLike<number>): number {
    if (this.#used >= this.slots) throw new Error(`ParamArena: more than ${this.slots} passes in one forward`);
    const base = this.#used * PARAM_SLOT_BYTES;
    let vi = 0;
    let o = base;
    for (const ch of spec) {
      if (ch === 'u' || ch === 'U') this.#view.setUint32(o, values[vi++] >>> 0, true);
      else if (ch === 'f') this.#view.setFloat32(o, values[vi++], true);
      else throw new Error(`ParamArena: bad spec letter ${ch}`);
      o += 4;
    }
    if (vi !== values.length) throw new Error(`ParamArena: spec '${spec}' takes ${vi} values, got ${values.length}`);
    this.#used++;
    return base;
  }

  /** Uploads the used slots (call once, before submitting the forward's command buffer). */
  flush(): void {
    if (this.#used > 0) this.device.queue.writeBuffer(this.buffer, 0, this.#data, 0, this.#used * PARAM_SLOT_BYTES);
  }
}

/** Encodes `passes` into one compute pass; params are packed into `arena` (caller flushes). */
export function encodePasses(encoder: GPUCommandEncoder, arena: ParamArena, passes: readonly Pass[], timestampWrites?: GPUComputePassTimestampWrites): void {
  const cp = encoder.beginComputePass({ label: 'forward', ...(timestampWrites ? { timestampWrites } : {}) });
  for (const p of passes) {
    const off = arena.push(p.kernel.def.params, p.params);
    cp.setPipeline(p.kernel.pipeline);
    cp.setBindGroup(0, p.bindGroup);
    cp.setBindGroup(1, arena.bindGroup, [off]);
    const [x, y, z] = p.workgroups;
    if (x > 0 && y > 0 && z > 0) cp.dispatchWorkgroups(x, y, z);
  }
  cp.end();
}

/** ceil(a / b) for positive integers. */
export function ceilDiv(a: number, b: number): number {
  return Math.floor((a + b - 1) / b);
}

/** Rounds `n` up to a multiple of `m`. */
export function roundUp(n: number, m: number): number {
  return ceilDiv(n, m) * m;
}

/**
 * Flattens a 1-D grid of `workgroups` into (x, y) within `maxPerDim` (kernels compute
 * `id = gid.x + gid.y · gridX · WG`). Returns [gridX, gridY].
 */
export function flatGrid(workgroups: number, maxPerDim: number): [number, number] {
  if (workgroups <= maxPerDim) return [Math.max(workgroups, 1), 1];
  const y = ceilDiv(workgroups, maxPerDim);
  return [ceilDiv(workgroups, y), y];
}
