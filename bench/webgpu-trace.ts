/**
 * WebGPU call trace for the peers benchmark page (bench/peers-page.ts imports this first). It counts
 * WebGPU calls (see {@link TraceCounters}) in the page and in every Worker the page creates: the
 * page's `Worker` constructor is replaced by one that starts each worker on a small blob: script,
 * which installs the same counting code and then runs the original script (`import(url)` for module
 * workers, `importScripts(url)` for classic ones; blob: URLs too). Our engine and wllama make their
 * WebGPU calls in such workers; ONNX Runtime Web (transformers.js) makes them in the page.
 *
 * Each context answers snapshot requests on the BroadcastChannel {@link CHANNEL} (a channel the
 * runtimes do not use, so their own messages are untouched). Between a `clear` request and the next
 * one, a context keeps its cumulative counters at each submit and each mapAsync completion with the
 * absolute time (performance.timeOrigin + now), so a later request can ask for the counters as they
 * were at a past time: the first token's arrival splits a generation into prefill and decode.
 *
 * Limits: workers created inside workers (Emscripten pthreads of the multi-thread wasm builds) are
 * not wrapped; they make no WebGPU calls here (wllama's and ORT's WebGPU calls are made in the thread
 * that owns the device). A snapshot waits {@link REPLY_MS} ms for the workers' replies: taken between
 * generations, when the workers are idle.
 */
import { diffScopes, subCounters, usedWebGpu, zeroCounters, addCounters, type RuntimeTrace, type TraceCounters } from './webgpu-trace-report.js';

/** BroadcastChannel name of the trace. */
export const CHANNEL = 'msn-webgpu-trace';
/** How long a snapshot waits for the workers' replies, ms. */
export const REPLY_MS = 250;

interface TraceRequest { t: 'collect'; id: number; clear?: boolean; at?: number }
interface TraceReply { t: 'trace'; id: number; scope: string; counters: TraceCounters; at?: TraceCounters }

/**
 * Installs the counters in this global scope (once). Self-contained: its source text is also run
 * as the first statement of every wrapped worker, so it must not refer to anything outside itself.
 */
export function webGpuTraceInstall(label: string, channel: string): void {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const g = globalThis as any;
  if (g.__webgpuTrace) return;
  const now = () => performance.timeOrigin + performance.now();
  const c = {
    submits: 0, commandBuffers: 0, dispatches: 0, dispatchesIndirect: 0, writeBufferCalls: 0, writeBufferBytes: 0, copyBufferToBuffer: 0,
    mapAsyncCalls: 0, mapAsyncWallMs: 0, computePipelines: 0, computePipelinesAsync: 0, shaderModules: 0, requestAdapter: 0, requestAdapterNull: 0, requestDevice: 0,
  };
  let records: Array<[number, typeof c]> | null = null;
  let base = { ...c };
  const rec = () => { if (records) records.push([now(), { ...c }]); };
  let pending = 0;
  let pendingSince = 0;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const wrap = (cls: any, name: string, f: (orig: (...a: any[]) => any) => (...a: any[]) => any) => {
    const proto = cls?.prototype;
    if (proto && typeof proto[name] === 'function') proto[name] = f(proto[name]);
  };
  wrap(g.GPUQueue, 'submit', (o) => function (this: unknown, ...a) { c.submits++; c.commandBuffers += a[0]?.length ?? 0; const r = o.apply(this, a); rec(); return r; });
  wrap(g.GPUComputePassEncoder, 'dispatchWorkgroups', (o) => function (this: unknown, ...a) { c.dispatches++; return o.apply(this, a); });
  wrap(g.GPUComputePassEncoder, 'dispatchWorkgroupsIndirect', (o) => function (this: unknown, ...a) { c.dispatches++; c.dispatchesIndirect++; return o.apply(this, a); });
  wrap(g.GPUQueue, 'writeBuffer', (o) => function (this: unknown, ...a) {
    const data = a[2];
    const bpe: number = data?.BYTES_PER_ELEMENT ?? 1;
    c.writeBufferCalls++;
    c.writeBufferBytes += a[4] !== undefined ? a[4] * bpe : (data?.byteLength ?? 0) - (a[3] ?? 0) * bpe;
    return o.apply(this, a);
  });
  wrap(g.GPUCommandEncoder, 'copyBufferToBuffer', (o) => function (this: unknown, ...a) { c.copyBufferToBuffer++; return o.apply(this, a); });
  wrap(g.GPUBuffer, 'mapAsync', (o) => function (this: unknown, ...a) {
    c.mapAsyncCalls++;
    if (pending++ === 0) pendingSince = performance.now();
    const p: Promise<void> = o.apply(this, a);
    const done = () => { if (--pending === 0) c.mapAsyncWallMs += performance.now() - pendingSince; rec(); };
    p.then(done, done);
    return p;
  });
  wrap(g.GPUDevice, 'createComputePipeline', (o) => function (this: unknown, ...a) { c.computePipelines++; return o.apply(this, a); });
  wrap(g.GPUDevice, 'createComputePipelineAsync', (o) => function (this: unknown, ...a) { c.computePipelinesAsync++; return o.apply(this, a); });
  wrap(g.GPUDevice, 'createShaderModule', (o) => function (this: unknown, ...a) { c.shaderModules++; return o.apply(this, a); });
  wrap(g.GPU, 'requestAdapter', (o) => function (this: unknown, ...a) {
    c.requestAdapter++;
    const p: Promise<unknown> = o.apply(this, a);
    p.then((ad) => { if (!ad) c.requestAdapterNull++; }, () => { c.requestAdapterNull++; });
    return p;
  });
  wrap(g.GPUAdapter, 'requestDevice', (o) => function (this: unknown, ...a) { c.requestDevice++; return o.apply(this, a); });
  const scope = `${label} ${Math.random().toString(36).slice(2, 8).padEnd(6, '0')}`;
  const handle = (m: { id: number; clear?: boolean; at?: number }) => {
    let at: typeof c | undefined;
    if (m.at !== undefined && records) {
      at = base;
      for (const [t, s] of records) { if (t <= m.at) at = s; else break; }
    }
    if (m.clear) { records = []; base = { ...c }; }
    return { t: 'trace', id: m.id, scope, counters: { ...c }, ...(at ? { at } : {}) };
  };
  g.__webgpuTrace = { handle, scope };
  if (label !== 'page' && typeof BroadcastChannel !== 'undefined') {
    const ch = new BroadcastChannel(channel);
    ch.onmessage = (e: MessageEvent) => { if (e.data?.t === 'collect') ch.postMessage(handle(e.data)); };
  }
}

/** The blob: script that starts a wrapped worker: the trace, then the original script at `url`. */
export function workerBootstrap(url: string, module: boolean, label: string): string {
  const install = `(${webGpuTraceInstall.toString()})(${JSON.stringify(label)}, ${JSON.stringify(CHANNEL)});\n`;
  if (!module) return `${install}importScripts(${JSON.stringify(url)});\n`;
  // Messages that arrive while the original module loads are held and then re-dispatched in order
  // (a module worker's own onmessage only exists once its import has run).
  return `${install}const q = []; const h = (e) => { q.push(e); e.stopImmediatePropagation(); };
self.addEventListener('message', h);
try { await import(${JSON.stringify(url)}); } finally {
  self.removeEventListener('message', h);
  for (const e of q) self.dispatchEvent(new MessageEvent('message', { data: e.data, ports: [...e.ports] }));
}
`;
}

/** Installs the trace in the page and wraps `Worker` (idempotent). */
export function installPageTrace(): void {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const g = globalThis as any;
  if (g.__webgpuTraceWorkers) return;
  webGpuTraceInstall('page', CHANNEL);
  const Original: typeof Worker = g.Worker;
  class TracedWorker extends Original {
    constructor(url: string | URL, options?: WorkerOptions) {
      const abs = new URL(String(url), location.href).href;
      const file = abs.startsWith('blob:') ? 'blob' : new URL(abs).pathname.split('/').pop()!.split('?')[0];
      const label = `worker${options?.name ? ` ${options.name}` : ''} ${file}`;
      const boot = URL.createObjectURL(new Blob([workerBootstrap(abs, options?.type === 'module', label)], { type: 'text/javascript' }));
      super(boot, options);
    }
  }
  g.Worker = TracedWorker;
  g.__webgpuTraceWorkers = true;
}

let nextId = 1;
/** Snapshot of every live context: its cumulative counters, and where `at` is given its counters at that absolute time. */
export async function traceSnapshot(o: { clear?: boolean; at?: number } = {}): Promise<TraceReply[]> {
  const id = nextId++;
  const ch = new BroadcastChannel(CHANNEL);
  const replies: TraceReply[] = [];
  ch.onmessage = (e: MessageEvent) => { const d = e.data as TraceReply; if (d?.t === 'trace' && d.id === id) replies.push(d); };
  const req: TraceRequest = { t: 'collect', id, ...o };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const page = (globalThis as any).__webgpuTrace as { handle: (m: TraceRequest) => TraceReply } | undefined;
  if (page) replies.push(page.handle(req));
  ch.postMessage(req);
  await new Promise((r) => setTimeout(r, REPLY_MS));
  ch.close();
  return replies;
}

const byScope = (rs: TraceReply[], pick: (r: TraceReply) => TraceCounters | undefined = (r) => r.counters) =>
  new Map(rs.flatMap((r) => { const c = pick(r); return c ? [[r.scope, c] as const] : []; }));

/** One runtime's trace: begin before its load, then {@link loaded}, then each generation between {@link beforeGen} and {@link afterGen}. */
export class TraceSession {
  #start = new Map<string, TraceCounters>();
  #gen = new Map<string, TraceCounters>();
  #scopes = new Set<string>();
  #t: RuntimeTrace = { scopes: [], load: zeroCounters(), warmup: zeroCounters(), runs: zeroCounters(), decode: zeroCounters(), decodeTokens: 0, decodeMs: 0, total: zeroCounters() };

  static async begin(): Promise<TraceSession> {
    const s = new TraceSession();
    s.#start = byScope(await traceSnapshot());
    return s;
  }

  #seen(now: Map<string, TraceCounters>) {
    for (const [k, v] of now) if (usedWebGpu(subCounters(v, this.#start.get(k) ?? zeroCounters()))) this.#scopes.add(k);
    this.#t.total = diffScopes(now, this.#start);
    this.#t.scopes = [...this.#scopes];
  }

  /** After the model load. */
  async loaded(): Promise<void> {
    const now = byScope(await traceSnapshot());
    this.#t.load = diffScopes(now, this.#start);
    this.#seen(now);
  }

  /** Just before a generation: each context starts recording its counters over time. */
  async beforeGen(): Promise<void> {
    this.#gen = byScope(await traceSnapshot({ clear: true }));
  }

  /**
   * Just after a generation whose first token arrived at absolute time `firstTokenAt`
   * (performance.timeOrigin-based ms), with `newTokens` tokens over `decodeMs`.
   */
  async afterGen(o: { warmup: boolean; firstTokenAt: number; newTokens: number; decodeMs: number }): Promise<void> {
    const rs = await traceSnapshot({ at: o.firstTokenAt, clear: true });
    const now = byScope(rs);
    const whole = diffScopes(now, this.#gen);
    this.#seen(now);
    if (o.warmup) {
      this.#t.warmup = addCounters(this.#t.warmup, whole);
      return;
    }
    this.#t.runs = addCounters(this.#t.runs, whole);
    this.#t.decode = addCounters(this.#t.decode, diffScopes(now, byScope(rs, (r) => r.at ?? this.#gen.get(r.scope))));
    this.#t.decodeTokens += Math.max(0, o.newTokens - 1);
    this.#t.decodeMs += o.decodeMs;
  }

  result(): RuntimeTrace {
    return structuredClone(this.#t);
  }
}
