/**
 * Pure side of the WebGPU call trace of the peers benchmark (bench/webgpu-trace.ts counts the calls
 * in the page and in every Worker; this file adds, subtracts and summarizes the counters and renders
 * the "per token" table). Tested in test/bench/webgpu-trace.test.ts.
 */

/**
 * WebGPU calls counted in one JavaScript context (the page or one Worker), cumulative since the
 * context started. Counts are calls; bytes are bytes; `mapAsyncWallMs` is wall-clock ms during which
 * at least one GPUBuffer.mapAsync promise of that context was pending (overlapping maps count once).
 */
export interface TraceCounters {
  /** GPUQueue.submit calls. */
  submits: number;
  /** Command buffers passed to submit. */
  commandBuffers: number;
  /** Compute dispatches: dispatchWorkgroups + dispatchWorkgroupsIndirect. */
  dispatches: number;
  /** Of those, dispatchWorkgroupsIndirect. */
  dispatchesIndirect: number;
  /** GPUQueue.writeBuffer calls and the bytes they wrote. */
  writeBufferCalls: number;
  writeBufferBytes: number;
  /** GPUCommandEncoder.copyBufferToBuffer calls. */
  copyBufferToBuffer: number;
  /** GPUBuffer.mapAsync calls (readbacks) and the wall ms spent with one pending. */
  mapAsyncCalls: number;
  mapAsyncWallMs: number;
  /** GPUDevice.createComputePipeline, createComputePipelineAsync, createShaderModule calls. */
  computePipelines: number;
  computePipelinesAsync: number;
  shaderModules: number;
  /** GPU.requestAdapter calls, of which resolved to null; GPUAdapter.requestDevice calls. */
  requestAdapter: number;
  requestAdapterNull: number;
  requestDevice: number;
}

export const COUNTER_KEYS: ReadonlyArray<keyof TraceCounters> = [
  'submits', 'commandBuffers', 'dispatches', 'dispatchesIndirect', 'writeBufferCalls', 'writeBufferBytes', 'copyBufferToBuffer',
  'mapAsyncCalls', 'mapAsyncWallMs', 'computePipelines', 'computePipelinesAsync', 'shaderModules', 'requestAdapter', 'requestAdapterNull', 'requestDevice',
];

/** All counters 0. */
export function zeroCounters(): TraceCounters {
  return Object.fromEntries(COUNTER_KEYS.map((k) => [k, 0])) as unknown as TraceCounters;
}

/** a + b, field by field. */
export function addCounters(a: TraceCounters, b: TraceCounters): TraceCounters {
  return Object.fromEntries(COUNTER_KEYS.map((k) => [k, a[k] + b[k]])) as unknown as TraceCounters;
}

/** a − b, field by field (b earlier than a, so each field ≥ 0 for one context). */
export function subCounters(a: TraceCounters, b: TraceCounters): TraceCounters {
  return Object.fromEntries(COUNTER_KEYS.map((k) => [k, a[k] - b[k]])) as unknown as TraceCounters;
}

/** Any WebGPU call at all (an adapter request included). */
export function usedWebGpu(c: TraceCounters): boolean {
  return COUNTER_KEYS.some((k) => c[k] !== 0);
}

/**
 * Σ over contexts of (now − base): the calls made between two snapshots. A context absent from
 * `base` started after it (its base is 0); one absent from `now` had ended (it contributes nothing).
 */
export function diffScopes(now: ReadonlyMap<string, TraceCounters>, base: ReadonlyMap<string, TraceCounters>): TraceCounters {
  let s = zeroCounters();
  for (const [scope, c] of now) s = addCounters(s, subCounters(c, base.get(scope) ?? zeroCounters()));
  return s;
}

/** One runtime's trace (stored as the runtime's `trace` in the peers results JSON). */
export interface RuntimeTrace {
  /** Contexts that made a WebGPU call ("page", "worker <name> <file>"), with a random suffix per context. */
  scopes: string[];
  /** From before the model load to after it (adapter, device, pipelines, weight upload). */
  load: TraceCounters;
  /** The warm-up generation. */
  warmup: TraceCounters;
  /** The measured generations, prefill and decode. */
  runs: TraceCounters;
  /**
   * The measured generations after their first token: calls made after the first token arrived
   * (attributed by the time each context recorded at its submits and mapAsync completions).
   */
  decode: TraceCounters;
  /** Σ (newTokens − 1) over the measured generations: the tokens `decode` produced. */
  decodeTokens: number;
  /** Σ decodeMs over the measured generations. */
  decodeMs: number;
  /** From before the load to the end of the last generation. */
  total: TraceCounters;
}

/** Per generated token (decode, after the first token) figures of one runtime. */
export interface TracePerToken {
  decodeTokens: number;
  /** Decode wall ms per token. */
  msPerToken: number;
  dispatches: number;
  submits: number;
  /** mapAsync calls per token. */
  readbacks: number;
  /** Wall ms per token with a mapAsync pending. */
  readbackMs: number;
  writeBufferCalls: number;
  writeBufferBytes: number;
  copies: number;
}

/** Decode counters divided by the decode tokens; null when no decode token was produced. */
export function perToken(t: RuntimeTrace): TracePerToken | null {
  const n = t.decodeTokens;
  if (n <= 0) return null;
  const d = t.decode;
  return {
    decodeTokens: n, msPerToken: t.decodeMs / n, dispatches: d.dispatches / n, submits: d.submits / n, readbacks: d.mapAsyncCalls / n,
    readbackMs: d.mapAsyncWallMs / n, writeBufferCalls: d.writeBufferCalls / n, writeBufferBytes: d.writeBufferBytes / n, copies: d.copyBufferToBuffer / n,
  };
}

/**
 * The row name of a runtime that asked for WebGPU (its name says "webgpu") but whose decode made no
 * compute dispatch: it ran on the CPU, and the name says so. Other names are returned unchanged.
 */
export function labelOffWebGpu(name: string, trace: RuntimeTrace | undefined): string {
  if (!trace || !/webgpu/i.test(name) || trace.decodeTokens <= 0 || trace.decode.dispatches > 0) return name;
  return `${name}${OFF_WEBGPU}`;
}

/** What {@link labelOffWebGpu} appends. */
export const OFF_WEBGPU = ' build (ran on CPU: 0 dispatches)';

const f = (x: number, d: number) => (Number.isInteger(x) ? String(x) : x.toFixed(d));

/**
 * The Markdown "per token" table: one row per runtime with a trace. Per decode token (after the
 * first): dispatches, submits, mapAsync readbacks, ms with a readback pending (and its share of the
 * decode ms), writeBuffer calls and KiB; then whole-run totals (load included) of dispatches,
 * pipelines + shader modules, adapter and device requests, and the contexts that used WebGPU.
 */
export function renderTraceTable(runtimes: ReadonlyArray<{ name: string; trace?: RuntimeTrace }>): string {
  const rows = runtimes.filter((r) => r.trace);
  if (!rows.length) return '';
  const lines = [
    '| runtime | decode ms/token | dispatches/token | submits/token | readbacks/token | ms awaiting readback/token | writeBuffer/token (calls, KiB) | whole run: dispatches, submits, readbacks | pipelines (async), shader modules | adapters (null), devices | WebGPU contexts |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of rows) {
    const t = r.trace!;
    const p = perToken(t);
    const tot = t.total;
    const ctx = t.scopes.length ? t.scopes.map((s) => s.replace(/ [a-z0-9]{6}$/, '')).join(', ') : 'none';
    const per = p
      ? `${p.msPerToken.toFixed(1)} | ${f(p.dispatches, 1)} | ${f(p.submits, 2)} | ${f(p.readbacks, 2)} | ${p.readbackMs.toFixed(1)} (${t.decodeMs > 0 ? Math.round((100 * t.decode.mapAsyncWallMs) / t.decodeMs) : 0}%) | ${f(p.writeBufferCalls, 1)}, ${(p.writeBufferBytes / 1024).toFixed(1)}`
      : '— | — | — | — | — | —';
    lines.push(`| ${r.name} | ${per} | ${tot.dispatches}, ${tot.submits}, ${tot.mapAsyncCalls} | ${tot.computePipelines + tot.computePipelinesAsync} (${tot.computePipelinesAsync}), ${tot.shaderModules} | ${tot.requestAdapter} (${tot.requestAdapterNull}), ${tot.requestDevice} | ${ctx} |`);
  }
  return lines.join('\n') + '\n';
}

/** What the trace table counts (shown above it). */
export const TRACE_NOTE = 'Counted by wrapping the WebGPU API in the page and in every worker it starts (bench/webgpu-trace.ts). Per token: the measured generations after their first token, divided by those tokens; readback = GPUBuffer.mapAsync, its ms = wall time with one pending (% of the decode ms). Whole run: load, warm-up and the measured generations.';

/**
 * The "WebGPU calls per generated token" section as lines (heading at `level`, e.g. "##", the note,
 * the table); no lines when no runtime has a trace (results saved before the trace existed).
 */
export function renderTraceSection(runtimes: ReadonlyArray<{ name: string; trace?: unknown }>, level: string): string[] {
  const t = renderTraceTable(runtimes as ReadonlyArray<{ name: string; trace?: RuntimeTrace }>);
  return t ? ['', `${level} WebGPU calls per generated token`, '', TRACE_NOTE, '', t.trimEnd()] : [];
}
