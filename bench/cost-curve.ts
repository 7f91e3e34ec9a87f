/**
 * The forward's cost curve and traffic model (issue 11): for one model in one kernel configuration,
 * the device (or wall) time c(T) of a whole forward of T rows over P cached rows, and the global-memory
 * bytes it fetches, from the `Pass.reads` that the kernel wrappers compute from the geometry they
 * dispatch.
 *
 * Rows of a forward: T = 1 is an AR step (logits of the last row); 1 < T ≤ 69 the first T nodes of the
 * paper's 69-node tree (a sub-tree closed under ancestors, as the adaptive tree verifies; logits of
 * every row, its ancestor mask); T > 69 a causal prefill chunk with logits of every row.
 *
 * Ratios (repeats that a cache would serve get no credit):
 *   weightFetchRatio = Σ matmul `reads.weights` ÷ {@link LlamaGpu.matmulWeightBytes}
 *   kvFetchRatio     = Σ attention `reads.kv` ÷ (L · (P + T) · Hkv · D · 4 · 2), the K and V rows that exist.
 */
import type { AdapterSummary, GpuContext } from '../src/gpu/context.js';
import { ParamArena, type Pass } from '../src/gpu/kernel.js';
import { kernelConfigKey, kernelPreset, type KernelConfig } from '../src/gpu/kernel-config.js';
import { DraftTree, JACOBI_CANDIDATES } from '../src/decode/tree.js';
import { causalMask } from '../src/kernels/attention.js';
import { MAX_TOPK } from '../src/kernels/topk.js';
import type { ModelDescription } from '../src/model/loader.js';
import { describeModel } from '../src/model/loader.js';
import { createModelSource } from '../src/model/source.js';
import { TREE_ROOM } from '../src/worker/api.js';
import { LlamaGpu } from '../src/worker/llama.js';
import { GpuTimer, type TimingMethod } from './gpu-timer.js';
import { benchContext, dispatch, loadWeights } from './context.js';
import { round } from './stats.js';

/** Rows per forward of the curve (the list). */
export const COST_T = [1, 2, 4, 8, 16, 32, 69, 128];

export interface CostPoint {
  T: number;
  P: number;
  /** What the T rows are: `ar`, `tree` (sub-tree of the paper's tree) or `causal` (prefill chunk). */
  rows: 'ar' | 'tree' | 'causal';
  dispatches: number;
  ms: number;
  method: TimingMethod;
  /** c(T) / c(1). */
  ratio: number;
}

export interface TrafficPoint {
  T: number;
  P: number;
  weightFetchRatio: number | null;
  kvFetchRatio: number | null;
  weightBytesFetched: number | null;
  kvBytesFetched: number | null;
}

export interface CostCurve {
  model: string;
  kernelConfig: string;
  preset: KernelConfig['preset'];
  weightFormats: string[];
  weightBytes: number;
  curve: CostPoint[];
  traffic: TrafficPoint[];
}

export interface CostCurveOptions {
  ctx: GpuContext;
  desc: ModelDescription;
  model: string;
  kernels: KernelConfig;
  timer: GpuTimer;
  /** Cached rows P (default 512). */
  P?: number;
  Ts?: number[];
  /** Skip timing (traffic only). */
  noTiming?: boolean;
  dispatch: (cp: GPUComputePassEncoder, p: Pass, arena: ParamArena, off: number) => void;
  log?: (line: string) => void;
}

/** Measures the cost curve and traffic of one model in one kernel configuration. */
export async function runCostCurve(o: CostCurveOptions): Promise<CostCurve> {
  const { ctx, desc, kernels, timer } = o;
  const device = ctx.device;
  const cfg = desc.config;
  const P = o.P ?? 512;
  const Ts = o.Ts ?? COST_T;
  const model = new LlamaGpu(ctx, cfg, Math.max(P + 1, Math.min(cfg.maxPositionEmbeddings, P + 128)), TREE_ROOM, kernels, Math.max(...Ts));
  try {
    await loadWeights(model, desc);
    const d = model.dims;
    const paper = DraftTree.paper();
    const curve: CostPoint[] = [];
    const traffic: TrafficPoint[] = [];
    const arena = model.arena;
    for (const T of Ts.filter((t) => t <= d.maxRows)) {
      const rows: CostPoint['rows'] = T === 1 ? 'ar' : T <= paper.size ? 'tree' : 'causal';
      const tree = rows === 'tree' ? (T === paper.size ? paper : paper.subtree(Array.from({ length: T - 1 }, (_, i) => i + 1))) : null;
      const mask = tree ? tree.mask() : causalMask(T);
      device.queue.writeBuffer(model.b.ids, 0, Uint32Array.from({ length: T }, (_, i) => (i * 37 + 11) % cfg.vocabSize));
      device.queue.writeBuffer(model.b.pos, 0, Uint32Array.from({ length: T }, (_, i) => P + (tree ? tree.depth[i] : i)));
      const maskRef = { base: d.maxRows * d.maxRows, stride: T, visible: visibleRows(tree, T) };
      device.queue.writeBuffer(model.b.masks, maskRef.base * 4, mask as Float32Array<ArrayBuffer>);
      const passes = model.forwardPasses(T, P, maskRef, T === 1 ? 'last' : 'all', Math.min(JACOBI_CANDIDATES, MAX_TOPK));
      const wFetched = sumReads(passes, 'weights', (p) => p.kernel.def.name.startsWith('matmul'));
      const kvFetched = sumReads(passes, 'kv', (p) => p.kernel.def.name.startsWith('attention'));
      const kvExists = d.L * (P + T) * d.rowF * 4 * 2;
      traffic.push({
        T, P,
        weightFetchRatio: wFetched === null ? null : round(wFetched / model.matmulWeightBytes, 3),
        kvFetchRatio: kvFetched === null ? null : round(kvFetched / kvExists, 3),
        weightBytesFetched: wFetched, kvBytesFetched: kvFetched,
      });
      if (o.noTiming) continue;
      arena.reset();
      const offs = passes.map((p) => arena.push(p.kernel.def.params, p.params));
      arena.flush();
      const t = await timer.time((enc, reps, timestampWrites) => {
        const cp = enc.beginComputePass(timestampWrites ? { timestampWrites } : {});
        for (let r = 0; r < reps; r++) passes.forEach((p, i) => o.dispatch(cp, p, arena, offs[i]));
        cp.end();
      });
      curve.push({ T, P, rows, dispatches: passes.length, ms: round(t.ms, 4), method: t.method, ratio: 0 });
      o.log?.(`    ${o.model} [${kernels.preset}] T ${T}: ${round(t.ms, 3)} ms`);
    }
    const c1 = curve.find((c) => c.T === 1)?.ms;
    for (const c of curve) c.ratio = c1 ? round(c.ms / c1, 3) : 0;
    return { model: o.model, kernelConfig: kernelConfigKey(kernels), preset: kernels.preset, weightFormats: model.weightFormats, weightBytes: model.matmulWeightBytes, curve, traffic };
  } finally {
    model.destroy();
  }
}

/**
 * Visible new rows of each of the T rows, ascending: a tree node's ancestors and itself, else causal.
 * Read from the tree rather than with attention.ts's maskVisibility, so that bench/cost-at.sh can run
 * this file on commits that predate that function.
 */
function visibleRows(tree: DraftTree | null, T: number): number[][] {
  return Array.from({ length: T }, (_, t) => {
    if (!tree) return Array.from({ length: t + 1 }, (_, j) => j);
    const rows: number[] = [];
    for (let a = t; a >= 0; a = tree.parent[a]) rows.unshift(a);
    return rows;
  });
}

/** Σ `reads[kind]` over the passes `which` selects; null when a selected pass reports no reads. */
function sumReads(passes: Pass[], kind: 'weights' | 'kv', which: (p: Pass) => boolean): number | null {
  let n = 0;
  for (const p of passes.filter(which)) {
    if (!p.reads) return null;
    n += p.reads[kind];
  }
  return n;
}

export interface CostBenchResult {
  adapter: AdapterSummary;
  timing: TimingMethod;
  /** Cached rows of every forward. */
  P: number;
  curves: CostCurve[];
  wallMs: number;
}

/**
 * The cost-curve section of `npm run bench` (`--cost`): every model in both kernel configurations
 * (`cpu` and `gpu` presets, whatever the adapter), on the best adapter of `gpu`.
 */
export async function runCostBench(o: { gpu: GPU; models: Array<{ name: string; location: string }>; presets?: Array<'cpu' | 'gpu'>; P?: number; Ts?: number[]; log?: (line: string) => void }): Promise<CostBenchResult> {
  const t0 = performance.now();
  const { ctx, summary } = await benchContext(o.gpu);
  const timer = new GpuTimer(ctx.device, summary.isFallbackAdapter ? 40 : 20, 200);
  const curves: CostCurve[] = [];
  try {
    for (const m of o.models) {
      const desc = await describeModel(createModelSource(m.location));
      for (const preset of o.presets ?? ['cpu', 'gpu']) {
        o.log?.(`  cost curve: ${m.name}, ${preset} configuration`);
        curves.push(await runCostCurve({ ctx, desc, model: m.name, kernels: kernelPreset(preset), timer, P: o.P, Ts: o.Ts, dispatch, log: o.log }));
      }
    }
  } finally {
    timer.destroy();
    ctx.device.destroy();
  }
  return { adapter: summary, timing: timer.timestamps ? 'timestamp' : 'wall', P: o.P ?? 512, curves, wallMs: performance.now() - t0 };
}
