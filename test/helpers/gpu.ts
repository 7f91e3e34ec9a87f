/** Test helpers: one GPU context per test file (Dawn + lavapipe in Node), buffers, readback, compare. */
import { createNodeGpu } from '../../src/gpu/node.js';
import { createGpuContext, type GpuContext } from '../../src/gpu/context.js';
import { KernelCache, ParamArena, encodePasses, type Pass } from '../../src/gpu/kernel.js';
import { WEBGPU_DEFAULT_LIMITS as API_DEFAULT_LIMITS } from '../../src/worker/api.js';
import { expect } from 'vitest';

let ctxPromise: Promise<GpuContext> | undefined;

/** Features disabled for this run: MSN_DISABLE_FEATURES=all (or a comma list). */
export function disabledFeatures(): string[] {
  return (process.env.MSN_DISABLE_FEATURES ?? '').split(',').filter(Boolean);
}

export function testContext(): Promise<GpuContext> {
  ctxPromise ??= createNodeGpu().then((gpu) => createGpuContext(gpu, { disableFeatures: disabledFeatures() }));
  return ctxPromise;
}

export interface Rig {
  ctx: GpuContext;
  device: GPUDevice;
  cache: KernelCache;
  arena: ParamArena;
  maxPerDim: number;
}

let rig: Rig | undefined;
export async function testRig(): Promise<Rig> {
  if (rig) return rig;
  const ctx = await testContext();
  const cache = new KernelCache(ctx.device);
  rig = { ctx, device: ctx.device, cache, arena: new ParamArena(ctx.device, cache.paramsLayout, 64), maxPerDim: ctx.limits.maxWorkgroupsPerDimension };
  return rig;
}

export function storage(device: GPUDevice, data: ArrayBufferView | number, label = 'test'): GPUBuffer {
  const size = typeof data === 'number' ? data : data.byteLength;
  const buf = device.createBuffer({ label, size: Math.max(16, Math.ceil(size / 4) * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  if (typeof data !== 'number') device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, Math.ceil(data.byteLength / 4) * 4);
  return buf;
}

export async function readF32(device: GPUDevice, buf: GPUBuffer, count?: number): Promise<Float32Array> {
  return new Float32Array(await readBytes(device, buf, count === undefined ? undefined : count * 4));
}

export async function readU32(device: GPUDevice, buf: GPUBuffer, count?: number): Promise<Uint32Array> {
  return new Uint32Array(await readBytes(device, buf, count === undefined ? undefined : count * 4));
}

async function readBytes(device: GPUDevice, buf: GPUBuffer, bytes = buf.size): Promise<ArrayBuffer> {
  const rb = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buf, 0, rb, 0, bytes);
  device.queue.submit([enc.finish()]);
  await rb.mapAsync(GPUMapMode.READ);
  const out = rb.getMappedRange().slice(0);
  rb.destroy();
  return out;
}

/** Runs passes in one submit. */
export async function run(r: Rig, passes: Pass[]): Promise<void> {
  r.arena.reset();
  const enc = r.device.createCommandEncoder();
  encodePasses(enc, r.arena, passes);
  r.arena.flush();
  r.device.queue.submit([enc.finish()]);
  await r.device.queue.onSubmittedWorkDone();
}

/** |got − ref| ≤ atol + rtol·|ref|; reports the first mismatches and the worst index. */
export function expectClose(got: ArrayLike<number>, ref: ArrayLike<number>, atol: number, rtol: number, what = 'values'): void {
  if (got.length !== ref.length) throw new Error(`${what}: length ${got.length} != ${ref.length}`);
  const bad: string[] = [];
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < ref.length; i++) {
    if (!Number.isFinite(ref[i])) continue;
    const err = Math.abs(got[i] - ref[i]);
    const tol = atol + rtol * Math.abs(ref[i]);
    if (!(err <= tol)) {
      if (bad.length < 5) bad.push(`[${i}] got ${got[i]} ref ${ref[i]}`);
      if (err > worstErr || Number.isNaN(err)) { worstErr = err; worst = i; }
    }
  }
  if (bad.length) throw new Error(`${what}: mismatches (atol ${atol}, rtol ${rtol}): ${bad.join('; ')}; worst [${worst}] err ${worstErr}`);
}

/** Deterministic PRNG (mulberry32) for test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform values in [-1, 1) with a few adversarial outliers. */
export function randomData(n: number, seed: number, outliers = true): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = 2 * r() - 1;
  if (outliers && n > 8) for (let j = 0; j < 3; j++) a[Math.floor(r() * n)] *= 8;
  return a;
}

/**
 * The kernel configurations the whole-model suites run in (src/gpu/kernel-config.ts): `cpu`, what
 * this machine's software adapters get by default, and `gpu`, what a real GPU gets, forced here.
 */
export const KERNEL_CONFIGS = ['cpu', 'gpu'] as const;

/**
 * The limits every engine's device must report: the WebGPU spec's defaults (src/worker/api.ts),
 * except `maxBufferSize` and `maxStorageBufferBindingSize`, which are the adapter's own (raised at
 * device creation, src/gpu/context.ts; test/model/memory-plan.test.ts checks their exact values).
 */
export const WEBGPU_DEFAULT_LIMITS = { ...API_DEFAULT_LIMITS, maxBufferSize: expect.any(Number), maxStorageBufferBindingSize: expect.any(Number) };
