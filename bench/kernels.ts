/**
 * Kernel microbenchmarks, with the runtime's own kernels (src/kernels wrappers over shaders/*.wgsl)
 * at the model's shapes and at large shapes, next to the adapter's measured ceilings:
 *   bandwidth = max(big buffer copy, best streaming read of bench/stream.wgsl),
 *   FLOP/s    = best matmul measured (bench/gemm_vec4.wgsl and the runtime's tiled matmul).
 *   GEMV      project matmul, T = 1, f32 and f16 weights: GB/s (weights + x + y) and % of bandwidth
 *   GEMM      project matmul, T = 69 (tree) and 128 (prefill chunk): GFLOP/s and % of FLOP/s
 *   attention T = 69 rows under the paper's tree mask (and T = 1) over P cached rows
 *   forward   the model's whole pass list (LlamaGpu), T = 1 and T = 69: dispatches, device time, and
 *             per kernel kind when timestamps exist
 * Timing: GpuTimer (timestamp queries when the adapter has them, else wall time).
 * Browser- and Node-compatible: pass a `GPU` (navigator.gpu, or Dawn's in Node).
 */
import { KernelCache, ParamArena, flatGrid, roundUp, type KernelDef, type Pass } from '../src/gpu/kernel.js';
import type { AdapterSummary } from '../src/gpu/context.js';
import { chooseKernelConfig, kernelConfigKey, type KernelConfigChoice } from '../src/gpu/kernel-config.js';
import { kernelFor, matmulPass, type MatmulConfig, type WeightFormat } from '../src/kernels/matmul.js';
import { attentionKernel, attentionPass, causalMask } from '../src/kernels/attention.js';
import { DraftTree, JACOBI_CANDIDATES } from '../src/decode/tree.js';
import type { LlamaConfig } from '../src/model/config.js';
import { describeModel } from '../src/model/loader.js';
import { createModelSource } from '../src/model/source.js';
import { TREE_ROOM } from '../src/worker/api.js';
import { LlamaGpu } from '../src/worker/llama.js';
import { MAX_TOPK } from '../src/kernels/topk.js';
import streamCode from './stream.wgsl';
import gemmCode from './gemm_vec4.wgsl';
import { GpuTimer, type Timing, type TimingMethod } from './gpu-timer.js';
import { benchContext, dispatch, loadWeights } from './context.js';
import { median, round, sig } from './stats.js';


/**
 * Packs the params of `passes` into `arena` once (reset + flush) and returns their offsets and an
 * encoder that records the passes `reps` times in one compute pass (optionally timestamped).
 */
export function packPasses(arena: ParamArena, passes: readonly Pass[]) {
  arena.reset();
  const offs = passes.map((p) => arena.push(p.kernel.def.params, p.params));
  arena.flush();
  const encode = (enc: GPUCommandEncoder, reps: number, timestampWrites?: GPUComputePassTimestampWrites) => {
    const cp = enc.beginComputePass(timestampWrites ? { timestampWrites } : {});
    for (let r = 0; r < reps; r++) passes.forEach((p, i) => dispatch(cp, p, arena, offs[i]));
    cp.end();
  };
  return { offs, encode };
}

const STREAM: KernelDef = { name: 'bench_stream', code: streamCode, bindings: ['read', 'rw'], params: 'uu' };
const GEMM_VEC4: KernelDef = { name: 'bench_gemm_vec4', code: gemmCode, bindings: ['read', 'read', 'rw'], params: 'uuu' };

export type KernelBenchSize = 'quick' | 'small' | 'cpu' | 'gpu';

interface SizePlan {
  copyMiB: number;
  gemvLarge: Array<[number, number]>;
  gemmLarge: Array<[number, number]>;
  gemmT: number[];
  gemmSquare: number[];
  attnLarge: { H: number; Hkv: number; D: number; P: number };
  attnModelP: number;
  sweep: [number, number] | null;
  targetMs: number;
}

const PLANS: Record<KernelBenchSize, SizePlan> = {
  quick: { copyMiB: 16, gemvLarge: [[1024, 1024]], gemmLarge: [], gemmT: [69], gemmSquare: [128], attnLarge: { H: 8, Hkv: 2, D: 64, P: 128 }, attnModelP: 64, sweep: null, targetMs: 5 },
  small: { copyMiB: 32, gemvLarge: [[4096, 4096]], gemmLarge: [[512, 512]], gemmT: [69], gemmSquare: [256], attnLarge: { H: 32, Hkv: 8, D: 128, P: 256 }, attnModelP: 256, sweep: [1024, 1024], targetMs: 60 },
  cpu: { copyMiB: 64, gemvLarge: [[4096, 4096], [14336, 4096]], gemmLarge: [[1024, 1024]], gemmT: [69, 128], gemmSquare: [256, 512], attnLarge: { H: 32, Hkv: 8, D: 128, P: 256 }, attnModelP: 256, sweep: [4096, 4096], targetMs: 60 },
  gpu: { copyMiB: 1024, gemvLarge: [[4096, 4096], [14336, 4096], [32768, 8192]], gemmLarge: [[4096, 4096], [14336, 4096]], gemmT: [69, 128], gemmSquare: [2048, 4096], attnLarge: { H: 32, Hkv: 8, D: 128, P: 4096 }, attnModelP: 1024, sweep: [14336, 4096], targetMs: 25 },
};

export interface KernelRow {
  kernel: string;
  shape: string;
  fmt?: string;
  ms: number;
  method: TimingMethod;
  /** Wall time per dispatch of the same trials (submit → onSubmittedWorkDone), ms. */
  wallMs?: number;
  /** Unique bytes moved (read + written) / time. */
  gbps?: number;
  gflops?: number;
  /** % of the bandwidth ceiling (GEMV, attention) */
  pctBandwidth?: number;
  /** % of the FLOP/s ceiling (GEMM, attention) */
  pctFlops?: number;
  note?: string;
}

export interface ForwardProfile {
  T: number;
  P: number;
  logits: 'last' | 'all';
  dispatches: number;
  /** The whole pass list in one compute pass (as the engine encodes it). */
  ms: number;
  method: TimingMethod;
  /** Per kernel kind, summed over the forward, from one compute pass per dispatch (timestamps only). */
  byKernel: Array<{ kernel: string; dispatches: number; ms: number; pct: number }> | null;
}

export interface KernelBenchResult {
  adapter: AdapterSummary;
  features: string[];
  limits: { maxStorageBufferBindingSize: number; maxBufferSize: number };
  size: KernelBenchSize;
  timing: TimingMethod;
  matmul: MatmulConfig;
  attnBlock: number;
  /** The kernel configuration measured (its preset and `kernelConfigKey`). */
  kernelConfig: { preset: 'gpu' | 'cpu'; key: string };
  ceilings: {
    copyGBps: number;
    streamGBps: number;
    bandwidthGBps: number;
    bandwidthSource: string;
    gemmGFlops: number;
    flopsGFlops: number;
    flopsSource: string;
  };
  ceilingRows: KernelRow[];
  gemv: KernelRow[];
  gemvLanesSweep: KernelRow[];
  gemm: KernelRow[];
  attention: KernelRow[];
  dispatchesPerForward: { ar: number; tree69: number; prefill128: number } | null;
  forward: ForwardProfile[];
  skipped: string[];
  wallMs: number;
}

export interface KernelBenchOptions {
  gpu: GPU;
  /** Model folder (URL or local path): shapes, dispatch counts and the forward profile. */
  model: string;
  size?: KernelBenchSize;
  /** Kernel configuration to measure (`--kernel-config`; default `auto`: the adapter's). */
  kernelConfig?: KernelConfigChoice;
  log?: (line: string) => void;
}

/** Deterministic fill of `words` u32 with values in ±[0.125, 0.25) (f32) or two such halves (f16). */
function fillRandom(u32: Uint32Array, fmt: 'f32' | 'f16', seed: number): void {
  let x = seed >>> 0 || 1;
  const mask = fmt === 'f32' ? 0x807fffff : 0x83ff83ff;
  const base = fmt === 'f32' ? 0x3e000000 : 0x30003000;
  for (let i = 0; i < u32.length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    u32[i] = ((x >>> 0) & mask) | base;
  }
}

export async function runKernelBench(o: KernelBenchOptions): Promise<KernelBenchResult> {
  const t0 = performance.now();
  const log = o.log ?? (() => {});
  const { ctx, summary, features } = await benchContext(o.gpu);
  const device = ctx.device;
  const size: KernelBenchSize = o.size ?? (summary.isFallbackAdapter ? 'cpu' : 'gpu');
  const plan = PLANS[size];
  const maxBinding = device.limits.maxStorageBufferBindingSize;
  const maxPerDim = device.limits.maxComputeWorkgroupsPerDimension;
  const timer = new GpuTimer(device, plan.targetMs);
  const cache = new KernelCache(device);
  const arena = new ParamArena(device, cache.paramsLayout, 64);
  const skipped: string[] = [];
  const live: GPUBuffer[] = [];
  const S = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const buffer = (bytes: number, fill?: 'f32' | 'f16', seed = 1): GPUBuffer => {
    const size = Math.max(16, roundUp(bytes, 16));
    const b = device.createBuffer({ size, usage: S, mappedAtCreation: fill !== undefined });
    if (fill) {
      fillRandom(new Uint32Array(b.getMappedRange()), fill, seed);
      b.unmap();
    }
    live.push(b);
    return b;
  };
  const free = () => {
    for (const b of live.splice(0)) b.destroy();
  };
  /** Encoder of `passes` repeated `reps` times in one compute pass (params packed once). */
  const timePasses = (passes: Pass[]): Promise<Timing> => timer.time(packPasses(arena, passes).encode);

  // Model: config for shapes, and the runtime's matmul configuration on this adapter.
  const desc = await describeModel(createModelSource(o.model));
  const cfg: LlamaConfig = desc.config;
  const kernels = chooseKernelConfig(ctx.adapter, o.kernelConfig);
  const matmulFor = (lanes?: number) => chooseKernelConfig(ctx.adapter, o.kernelConfig, { matmulLanes: lanes }).matmul;
  const mm = kernels.matmul;
  const attnBlock = kernels.attention.block;
  log(`  adapter ${summary.vendor}/${summary.architecture} ${summary.description}; timing ${timer.timestamps ? 'timestamp-query' : 'wall'}; matmul ${JSON.stringify(mm)}, attention block ${attnBlock}`);

  // ---------------------------------------------------------------- ceilings
  const ceilingRows: KernelRow[] = [];
  const bufBytes = Math.min(plan.copyMiB * 2 ** 20, maxBinding, Math.floor(device.limits.maxBufferSize / 2 / 16) * 16);
  {
    const a = buffer(bufBytes, 'f32', 7);
    const b = buffer(bufBytes);
    const copy = await timer.time((enc, reps) => {
      for (let r = 0; r < reps; r++) enc.copyBufferToBuffer(r % 2 ? b : a, 0, r % 2 ? a : b, 0, bufBytes);
    }, false);
    ceilingRows.push({ kernel: 'buffer copy', shape: `${(bufBytes / 2 ** 20).toFixed(0)} MiB`, ms: round(copy.ms, 4), method: copy.method, wallMs: round(copy.wallMs, 4), gbps: sig((2 * bufBytes) / copy.ms / 1e6), note: 'read + write bytes' });
    const sink = buffer(16);
    const n4 = bufBytes / 16;
    let best: KernelRow | null = null;
    for (const wg of [64, 256]) {
      const k = cache.get(STREAM, { WG: wg });
      const bg = cache.bind(k, [a, sink]);
      for (const perLane of [4, 16, 64, 256]) {
        const chunk4 = wg * perLane;
        const groups = Math.ceil(n4 / chunk4);
        if (groups > maxPerDim * maxPerDim || (perLane > 4 && groups < 8)) continue;
        const [gx, gy] = flatGrid(groups, maxPerDim);
        const t = await timePasses([{ kernel: k, bindGroup: bg, params: [n4, chunk4], workgroups: [gx, gy, 1], label: 'stream' }]);
        const row: KernelRow = { kernel: 'stream read', shape: `${(bufBytes / 2 ** 20).toFixed(0)} MiB, WG ${wg}, ${perLane} vec4/lane`, ms: round(t.ms, 4), method: t.method, wallMs: round(t.wallMs, 4), gbps: sig(bufBytes / t.ms / 1e6) };
        if (!best || row.gbps! > best.gbps!) best = row;
      }
    }
    ceilingRows.push(best!);
    free();
  }
  const copyGBps = ceilingRows[0].gbps!;
  const streamGBps = ceilingRows[1].gbps!;
  const bandwidth = Math.max(copyGBps, streamGBps);
  log(`  bandwidth: copy ${copyGBps} GB/s, stream read ${streamGBps} GB/s (${ceilingRows[1].shape})`);
  let gemmBest = 0;
  for (const n of plan.gemmSquare) {
    for (const tm of [4, 8]) {
      const A = buffer(n * n * 4, 'f32', 3);
      const B = buffer(n * n * 4, 'f32', 4);
      const C = buffer(n * n * 4);
      const k = cache.get(GEMM_VEC4, { TM: tm });
      const t = await timePasses([{ kernel: k, bindGroup: cache.bind(k, [A, B, C]), params: [n, n / 4, n / 4], workgroups: [Math.ceil(n / 4 / 8), Math.ceil(n / tm / 8), 1], label: 'gemm' }]);
      const gflops = (2 * n ** 3) / t.ms / 1e6;
      ceilingRows.push({ kernel: `gemm_vec4 f32 (bench, ${tm}x4/thread)`, shape: `${n}³`, ms: round(t.ms, 4), method: t.method, wallMs: round(t.wallMs, 4), gflops: sig(gflops) });
      gemmBest = Math.max(gemmBest, gflops);
      free();
    }
  }

  // ---------------------------------------------------------------- GEMV / GEMM (runtime matmul)
  const C = cfg.hiddenSize; const F = cfg.intermediateSize; const V = cfg.vocabSize;
  const QKV = (cfg.numHeads + 2 * cfg.numKvHeads) * cfg.headDim; const HD = cfg.numHeads * cfg.headDim;
  const modelShapes: Array<[string, number, number]> = [['qkv', QKV, C], ['o', C, HD], ['gate_up', 2 * F, C], ['down', C, F], ['lm_head', V, C]];
  const shapes: Array<[string, number, number]> = [...modelShapes.map(([n, N, K]) => [`model ${n}`, N, K] as [string, number, number]), ...plan.gemvLarge.map(([N, K]) => ['large', N, K] as [string, number, number])];
  const bpe = (fmt: WeightFormat) => (fmt === 'f32' ? 4 : 2);
  const matmulRun = async (label: string, N: number, K: number, fmt: 'f32' | 'f16', T: number, cfgM: MatmulConfig): Promise<Timing | null> => {
    const Kp = roundUp(K, 8);
    const wBytes = N * Kp * bpe(fmt);
    if (wBytes > maxBinding) {
      skipped.push(`${label} ${N}×${K} ${fmt}: ${(wBytes / 2 ** 20).toFixed(0)} MiB weight exceeds maxStorageBufferBindingSize ${(maxBinding / 2 ** 20).toFixed(0)} MiB`);
      return null;
    }
    const W = buffer(wBytes, fmt, N + K);
    const X = buffer(T * Kp * 4, 'f32', 11);
    const Y = buffer(T * N * 4);
    const bg = cache.bind(kernelFor(cache, cfgM, fmt, T), [W, X, Y]);
    const t = await timePasses([matmulPass(cache, cfgM, bg, { T, nRows: N, Kp, fmt, yStride: N })]);
    free();
    return t;
  };
  const gemv: KernelRow[] = [];
  for (const [label, N, K] of shapes) {
    for (const fmt of ['f32', 'f16'] as const) {
      const t = await matmulRun(label, N, K, fmt, 1, mm);
      if (!t) continue;
      const bytes = N * roundUp(K, 8) * bpe(fmt) + roundUp(K, 8) * 4 + N * 4;
      const gbps = bytes / t.ms / 1e6;
      gemv.push({ kernel: `gemv ${label}`, shape: `${N}×${K}`, fmt, ms: round(t.ms, 4), method: t.method, wallMs: round(t.wallMs, 4), gbps: sig(gbps), gflops: sig((2 * N * K) / t.ms / 1e6), pctBandwidth: round((100 * gbps) / bandwidth, 1) });
    }
  }
  log(`  gemv: ${gemv.map((r) => `${r.shape} ${r.fmt} ${r.gbps} GB/s`).join(', ')}`);
  const gemvLanesSweep: KernelRow[] = [];
  if (plan.sweep) {
    const [N, K] = plan.sweep;
    for (const lanes of [1, 4, 8, 16, 32, 64]) {
      const t = await matmulRun('sweep', N, K, 'f16', 1, matmulFor(lanes));
      if (!t) continue;
      const bytes = N * K * 2 + K * 4 + N * 4;
      const gbps = bytes / t.ms / 1e6;
      gemvLanesSweep.push({ kernel: `gemv lanes ${lanes}${lanes === mm.lanes ? ' (engine)' : ''}`, shape: `${N}×${K}`, fmt: 'f16', ms: round(t.ms, 4), method: t.method, wallMs: round(t.wallMs, 4), gbps: sig(gbps), pctBandwidth: round((100 * gbps) / bandwidth, 1) });
    }
  }
  const gemmRaw: Array<{ row: KernelRow; gflops: number }> = [];
  const gemmShapes: Array<[string, number, number]> = [...modelShapes.map(([n, N, K]) => [`model ${n}`, N, K] as [string, number, number]), ...plan.gemmLarge.map(([N, K]) => ['large', N, K] as [string, number, number])];
  for (const T of plan.gemmT) {
    for (const [label, N, K] of gemmShapes) {
      for (const fmt of ['f32', 'f16'] as const) {
        const t = await matmulRun(label, N, K, fmt, T, mm);
        if (!t) continue;
        const gflops = (2 * T * N * K) / t.ms / 1e6;
        const bytes = N * roundUp(K, 8) * bpe(fmt) + T * roundUp(K, 8) * 4 + T * N * 4;
        gemmRaw.push({ gflops, row: { kernel: `gemm ${label}`, shape: `T ${T} × ${N}×${K}`, fmt, ms: round(t.ms, 4), method: t.method, wallMs: round(t.wallMs, 4), gbps: sig(bytes / t.ms / 1e6), gflops: sig(gflops) } });
      }
    }
  }
  const runtimeGemmBest = Math.max(0, ...gemmRaw.map((g) => g.gflops));
  const flops = Math.max(gemmBest, runtimeGemmBest);
  const gemm = gemmRaw.map(({ row, gflops }) => ({ ...row, pctFlops: round((100 * gflops) / flops, 1) }));
  log(`  gemm: best runtime ${runtimeGemmBest.toFixed(1)} GFLOP/s, bench gemm_vec4 ${gemmBest.toFixed(1)} GFLOP/s`);

  // ---------------------------------------------------------------- attention
  const attention: KernelRow[] = [];
  const tree = DraftTree.paper();
  const attnCases: Array<{ label: string; H: number; Hkv: number; D: number; P: number }> = [
    { label: 'model', H: cfg.numHeads, Hkv: cfg.numKvHeads, D: cfg.headDim, P: plan.attnModelP },
    { label: 'large', ...plan.attnLarge },
  ];
  for (const a of attnCases) {
    for (const T of [1, tree.size]) {
      const mask = T === 1 ? causalMask(1) : tree.mask();
      const visible = Array.from({ length: T }, (_, i) => (T === 1 ? 1 : tree.depth[i] + 1));
      const Smax = a.P + T;
      const QKVp = roundUp((a.H + 2 * a.Hkv) * a.D, 8);
      const HDp = roundUp(a.H * a.D, 8);
      const rowF = a.Hkv * a.D;
      const q = buffer(T * QKVp * 4, 'f32', 5);
      const k = buffer(Smax * rowF * 4, 'f32', 6);
      const v = buffer(Smax * rowF * 4, 'f32', 8);
      const m = buffer(mask.byteLength);
      device.queue.writeBuffer(m, 0, mask as Float32Array<ArrayBuffer>);
      const out = buffer(T * HDp * 4);
      const bg = cache.bind(attentionKernel(cache, kernels.attention), [q, k, v, m, out]);
      const t = await timePasses([attentionPass(cache, bg, { T, P: a.P, H: a.H, Hkv: a.Hkv, D: a.D, qStride: QKVp, outStride: HDp, kBase: 0, vBase: 0, maskBase: 0, maskStride: T, Smax }, kernels.attention)]);
      free();
      const keys = visible.reduce((s, n) => s + a.P + n, 0);
      const fl = 4 * a.H * a.D * keys;
      const bytes = 2 * Smax * rowF * 4 + T * QKVp * 4 + T * HDp * 4;
      const gbps = bytes / t.ms / 1e6;
      const gflops = fl / t.ms / 1e6;
      attention.push({
        kernel: `attention ${a.label} ${T === 1 ? 'T 1 (AR)' : `T ${T} (tree)`}`, shape: `H ${a.H}/${a.Hkv}, D ${a.D}, P ${a.P}`, ms: round(t.ms, 4), method: t.method, wallMs: round(t.wallMs, 4),
        gbps: sig(gbps), gflops: sig(gflops), pctBandwidth: round((100 * gbps) / bandwidth, 1), pctFlops: round((100 * gflops) / flops, 1),
      });
    }
  }
  log(`  attention: ${attention.map((r) => `${r.kernel} ${r.ms} ms`).join(', ')}`);

  // ---------------------------------------------------------------- the model's forward
  const model = new LlamaGpu(ctx, cfg, Math.min(cfg.maxPositionEmbeddings, 4096), TREE_ROOM, kernels);
  await loadWeights(model, desc);
  const dispatchesPerForward = { ar: model.dispatchCount(1, 'last'), tree69: model.dispatchCount(Math.min(69, model.dims.maxRows), 'all'), prefill128: model.dispatchCount(model.dims.maxRows, 'none') };
  const forward: ForwardProfile[] = [];
  const R = model.dims.maxRows;
  const P = 64;
  for (const T of [1, Math.min(tree.size, R)]) {
    const logits = T === 1 ? 'last' : 'all';
    device.queue.writeBuffer(model.b.ids, 0, Uint32Array.from({ length: T }, (_, i) => (i * 37) % cfg.vocabSize));
    const tr = T === tree.size ? tree : null;
    device.queue.writeBuffer(model.b.pos, 0, Uint32Array.from({ length: T }, (_, i) => P + (tr ? tr.depth[i] : i)));
    let maskRef = { base: 0, stride: R };
    if (tr) {
      maskRef = { base: R * R, stride: T };
      device.queue.writeBuffer(model.b.masks, R * R * 4, tr.mask() as Float32Array<ArrayBuffer>);
    }
    const passes = model.forwardPasses(T, P, maskRef, logits, Math.min(JACOBI_CANDIDATES, MAX_TOPK));
    const { offs, encode: encodeAll } = packPasses(model.arena, passes);
    const whole = await timer.time(encodeAll);
    let byKernel: ForwardProfile['byKernel'] = null;
    if (timer.timestamps && passes.length * 2 <= 4096) {
      const qs = device.createQuerySet({ type: 'timestamp', count: passes.length * 2 });
      const resolve = device.createBuffer({ size: passes.length * 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
      const read = device.createBuffer({ size: passes.length * 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      const per: number[][] = passes.map(() => []);
      for (let trial = 0; trial < 4; trial++) {
        const enc = device.createCommandEncoder();
        passes.forEach((p, i) => {
          const cp = enc.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
          dispatch(cp, p, model.arena, offs[i]);
          cp.end();
        });
        enc.resolveQuerySet(qs, 0, passes.length * 2, resolve, 0);
        enc.copyBufferToBuffer(resolve, 0, read, 0, passes.length * 16);
        device.queue.submit([enc.finish()]);
        await read.mapAsync(GPUMapMode.READ);
        const v = new BigUint64Array(read.getMappedRange().slice(0));
        read.unmap();
        if (trial > 0) passes.forEach((_, i) => per[i].push(Math.max(0, Number(v[2 * i + 1] - v[2 * i]) / 1e6)));
      }
      const kinds = new Map<string, { dispatches: number; ms: number }>();
      passes.forEach((p, i) => {
        const kind = kindOf(p);
        const e = kinds.get(kind) ?? { dispatches: 0, ms: 0 };
        e.dispatches++;
        e.ms += median(per[i]);
        kinds.set(kind, e);
      });
      const total = [...kinds.values()].reduce((s, e) => s + e.ms, 0);
      byKernel = [...kinds.entries()].map(([kernel, e]) => ({ kernel, dispatches: e.dispatches, ms: round(e.ms, 4), pct: round((100 * e.ms) / total, 1) })).sort((a, b) => b.ms - a.ms);
      qs.destroy(); resolve.destroy(); read.destroy();
    }
    forward.push({ T, P, logits, dispatches: passes.length, ms: round(whole.ms, 4), method: whole.method, byKernel });
  }
  log(`  forward: ${forward.map((f) => `T ${f.T}: ${f.dispatches} dispatches, ${f.ms} ms`).join('; ')}`);
  model.destroy();
  timer.destroy();
  arena.buffer.destroy();
  device.destroy();

  return {
    adapter: summary, features, limits: { maxStorageBufferBindingSize: maxBinding, maxBufferSize: device.limits.maxBufferSize }, size,
    timing: timer.timestamps ? 'timestamp' : 'wall', matmul: mm, attnBlock, kernelConfig: { preset: kernels.preset, key: kernelConfigKey(kernels) },
    ceilings: {
      copyGBps, streamGBps, bandwidthGBps: sig(bandwidth), bandwidthSource: copyGBps >= streamGBps ? 'buffer copy' : 'stream read',
      gemmGFlops: round(gemmBest, 2), flopsGFlops: round(flops, 2), flopsSource: gemmBest >= runtimeGemmBest ? 'bench gemm_vec4' : 'runtime matmul (tiled)',
    },
    ceilingRows, gemv, gemvLanesSweep, gemm, attention, dispatchesPerForward, forward, skipped, wallMs: performance.now() - t0,
  };
}

/** Kernel kind of a forward pass: the matmul's weight name without the layer index, else the kernel. */
export function kindOf(p: Pass): string {
  if (p.kernel.def.name === 'matmul') return `matmul ${p.label.replace(/\d+$/, '')}`;
  return p.kernel.def.name;
}
