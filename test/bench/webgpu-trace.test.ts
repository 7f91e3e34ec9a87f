// The WebGPU trace's pure side (bench/webgpu-trace-report.ts): counter arithmetic across contexts,
// per-token figures, the off-WebGPU label, the table and its place in the peers README block.
import { describe, expect, it } from 'vitest';
import { addCounters, diffScopes, labelOffWebGpu, perToken, renderTraceSection, renderTraceTable, subCounters, usedWebGpu, zeroCounters, type RuntimeTrace, type TraceCounters } from '../../bench/webgpu-trace-report.ts';
import { BASELINE, renderPeersReadme, summarize, type PeerRuntimeResult, type PeersResults } from '../../bench/peers-report.ts';

const c = (o: Partial<TraceCounters>): TraceCounters => ({ ...zeroCounters(), ...o });

/** 15 decode tokens over 1500 ms; 10 dispatches, 1 submit, 1 readback (20 ms pending) per token. */
const gpuTrace: RuntimeTrace = {
  scopes: ['worker msn-executor worker.ts abc123'],
  load: c({ requestAdapter: 1, requestDevice: 1, computePipelines: 4, computePipelinesAsync: 2, shaderModules: 6 }),
  warmup: c({ dispatches: 200, submits: 20 }),
  runs: c({ dispatches: 400, submits: 40 }),
  decode: c({ dispatches: 150, submits: 15, mapAsyncCalls: 15, mapAsyncWallMs: 300, writeBufferCalls: 30, writeBufferBytes: 15 * 2048, copyBufferToBuffer: 15 }),
  decodeTokens: 15, decodeMs: 1500,
  total: c({ dispatches: 600, submits: 60, mapAsyncCalls: 32, computePipelines: 4, computePipelinesAsync: 2, shaderModules: 6, requestAdapter: 1, requestDevice: 1 }),
};
/** A "webgpu" runtime that got a null adapter and dispatched nothing. */
const cpuTrace: RuntimeTrace = { ...gpuTrace, scopes: ['worker blob x1y2z3'], load: c({ requestAdapter: 1, requestAdapterNull: 1 }), warmup: c({}), runs: c({}), decode: c({}), total: c({ requestAdapter: 1, requestAdapterNull: 1 }) };

describe('counter arithmetic', () => {
  it('adds and subtracts field by field and sees any call as WebGPU use', () => {
    expect(addCounters(c({ dispatches: 2, mapAsyncWallMs: 1.5 }), c({ dispatches: 3, submits: 1 }))).toEqual(c({ dispatches: 5, submits: 1, mapAsyncWallMs: 1.5 }));
    expect(subCounters(c({ dispatches: 5 }), c({ dispatches: 3 }))).toEqual(c({ dispatches: 2 }));
    expect(usedWebGpu(zeroCounters())).toBe(false);
    expect(usedWebGpu(c({ requestAdapterNull: 1 }))).toBe(true);
  });

  it('sums now − base over contexts, a context new since the base counting from 0 and an ended one not at all', () => {
    const base = new Map([['page a', c({ dispatches: 10 })], ['worker gone', c({ dispatches: 99 })]]);
    const now = new Map([['page a', c({ dispatches: 12, submits: 1 })], ['worker new', c({ dispatches: 7 })]]);
    expect(diffScopes(now, base)).toEqual(c({ dispatches: 9, submits: 1 }));
  });
});

describe('perToken', () => {
  it('divides the decode counters by the decode tokens', () => {
    expect(perToken(gpuTrace)).toEqual({ decodeTokens: 15, msPerToken: 100, dispatches: 10, submits: 1, readbacks: 1, readbackMs: 20, writeBufferCalls: 2, writeBufferBytes: 2048, copies: 1 });
  });
  it('is null without a decode token', () => {
    expect(perToken({ ...gpuTrace, decodeTokens: 0 })).toBeNull();
  });
});

describe('labelOffWebGpu', () => {
  it('renames a webgpu runtime whose decode dispatched nothing, and nothing else', () => {
    expect(labelOffWebGpu('wllama webgpu', cpuTrace)).toBe('wllama webgpu build (ran on CPU: 0 dispatches)');
    expect(labelOffWebGpu('wllama webgpu', gpuTrace)).toBe('wllama webgpu');
    expect(labelOffWebGpu('wllama wasm 1 thread', cpuTrace)).toBe('wllama wasm 1 thread');
    expect(labelOffWebGpu('wllama webgpu', undefined)).toBe('wllama webgpu');
    expect(labelOffWebGpu('wllama webgpu', { ...cpuTrace, decodeTokens: 0 })).toBe('wllama webgpu');
  });
});

describe('renderTraceTable', () => {
  it('renders one row per traced runtime: per-token figures, whole-run totals, the contexts without their random suffix', () => {
    const t = renderTraceTable([{ name: 'ours ar', trace: gpuTrace }, { name: 'transformers.js wasm' }, { name: 'wllama webgpu', trace: cpuTrace }]).split('\n');
    expect(t).toHaveLength(5);
    expect(t[0]).toBe('| runtime | decode ms/token | dispatches/token | submits/token | readbacks/token | ms awaiting readback/token | writeBuffer/token (calls, KiB) | whole run: dispatches, submits, readbacks | pipelines (async), shader modules | adapters (null), devices | WebGPU contexts |');
    expect(t[2]).toBe('| ours ar | 100.0 | 10 | 1 | 1 | 20.0 (20%) | 2, 2.0 | 600, 60, 32 | 6 (2), 6 | 1 (0), 1 | worker msn-executor worker.ts |');
    expect(t[3]).toBe('| wllama webgpu | 100.0 | 0 | 0 | 0 | 0.0 (0%) | 0, 0.0 | 0, 0, 0 | 0 (0), 0 | 1 (1), 0 | worker blob |');
    expect(t[4]).toBe('');
  });
  it('is empty when no runtime has a trace', () => {
    expect(renderTraceTable([{ name: 'x' }])).toBe('');
    expect(renderTraceSection([{ name: 'x' }], '##')).toEqual([]);
  });
  it('shows fractional per-token counts with their decimals', () => {
    const t = renderTraceTable([{ name: 'x', trace: { ...gpuTrace, decodeTokens: 4, decodeMs: 10 } }]).split('\n');
    expect(t[2]).toBe('| x | 2.5 | 37.5 | 3.75 | 3.75 | 75.0 (3000%) | 7.5, 7.5 | 600, 60, 32 | 6 (2), 6 | 1 (0), 1 | worker msn-executor worker.ts |');
  });
});

describe('the trace in the peers README block', () => {
  const run = (tps: number) => ({ prompt: 'a', rep: 1, ids: [1, 2, 3], newTokens: 3, ttftMs: 10, decodeMs: 2000 / tps, decodeTokensPerSecond: tps });
  const runtimes: PeerRuntimeResult[] = [
    { name: 'ours ar', ok: true, loadMs: 100, runs: [run(10)], trace: gpuTrace },
    { name: BASELINE, ok: true, loadMs: 50, runs: [run(2)] },
  ];
  const r: PeersResults = {
    schema: 1, kind: 'peers', date: '2026-12-02T00:00:00Z', commit: 'abc1234', adapter: { vendor: 'google', architecture: 'swiftshader', device: '', description: 'SwiftShader', isFallbackAdapter: false },
    cpuAdapter: true, model: 'm', plan: { name: 'quick', prompts: ['a'], maxNewTokens: 16, runs: 1 }, versions: {},
    machine: { cpus: 2, cpuModel: 'cpu', chromium: '140' }, prompts: [{ id: 'a', ids: [7] }], runtimes, summary: summarize(runtimes, new Map([['a', [1, 2, 3]]]), BASELINE), baseline: BASELINE, notes: [], wallMs: 1,
  };

  it('carries the per-token table under its heading, inside the markers', () => {
    const block = renderPeersReadme(r, 'f.json');
    const h = block.indexOf('#### WebGPU calls per generated token');
    expect(h).toBeGreaterThan(block.indexOf('| ours ar | 100 |'));
    expect(block).toContain('| ours ar | 100.0 | 10 | 1 | 1 | 20.0 (20%) |');
    expect(block.indexOf('<!-- peers:end -->')).toBeGreaterThan(h);
  });

  it('has no trace heading for results saved without traces', () => {
    const block = renderPeersReadme({ ...r, runtimes: runtimes.map(({ trace: _t, ...x }) => x) }, 'f.json');
    expect(block).not.toContain('WebGPU calls per generated token');
  });
});

describe('webGpuTraceInstall (bench/webgpu-trace.ts) on stand-in WebGPU classes', () => {
  it('counts the calls, the writeBuffer bytes, the readbacks, and gives the counters as they were at a past time', async () => {
    const { webGpuTraceInstall, workerBootstrap } = await import('../../bench/webgpu-trace.ts');
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const g = globalThis as any;
    let resolveMap: () => void = () => {};
    class GPUQueue { submit() {} writeBuffer() {} }
    class GPUComputePassEncoder { dispatchWorkgroups() {} dispatchWorkgroupsIndirect() {} }
    class GPUCommandEncoder { copyBufferToBuffer() {} }
    class GPUBuffer { mapAsync() { return new Promise<void>((r) => { resolveMap = r; }); } }
    class GPUDevice { createComputePipeline() {} createComputePipelineAsync() {} createShaderModule() {} }
    class GPU { requestAdapter() { return Promise.resolve(null); } }
    class GPUAdapter { requestDevice() {} }
    Object.assign(g, { GPUQueue, GPUComputePassEncoder, GPUCommandEncoder, GPUBuffer, GPUDevice, GPU, GPUAdapter });
    try {
      webGpuTraceInstall('page', 'test-channel');
      const h = g.__webgpuTrace.handle as (m: { id: number; clear?: boolean; at?: number }) => { scope: string; counters: TraceCounters; at?: TraceCounters };
      expect(h({ id: 1, clear: true }).scope).toMatch(/^page [a-z0-9]{6}$/);
      const q = new GPUQueue();
      const pass = new GPUComputePassEncoder();
      pass.dispatchWorkgroups(); pass.dispatchWorkgroups(); pass.dispatchWorkgroupsIndirect();
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const wb = q.writeBuffer as (...a: any[]) => void;
      wb.call(q, {}, 0, new Float32Array(8)); // 32 bytes
      wb.call(q, {}, 0, new Float32Array(8), 2, 3); // 3 elements: 12 bytes
      wb.call(q, {}, 0, new ArrayBuffer(10), 4); // from byte 4: 6 bytes
      new GPUCommandEncoder().copyBufferToBuffer();
      (q.submit as (b: unknown[]) => void).call(q, [1, 2]);
      await new Promise((r) => setTimeout(r, 5));
      const between = performance.timeOrigin + performance.now();
      await new Promise((r) => setTimeout(r, 5));
      const p = new GPUBuffer().mapAsync();
      await new Promise((r) => setTimeout(r, 30));
      resolveMap();
      await p;
      await new GPU().requestAdapter();
      const d = new GPUDevice();
      d.createComputePipeline(); d.createComputePipelineAsync(); d.createShaderModule(); new GPUAdapter().requestDevice();
      const r = h({ id: 2, at: between });
      expect(r.counters).toMatchObject({ submits: 1, commandBuffers: 2, dispatches: 3, dispatchesIndirect: 1, writeBufferCalls: 3, writeBufferBytes: 50, copyBufferToBuffer: 1, mapAsyncCalls: 1, computePipelines: 1, computePipelinesAsync: 1, shaderModules: 1, requestAdapter: 1, requestAdapterNull: 1, requestDevice: 1 });
      expect(r.counters.mapAsyncWallMs).toBeGreaterThanOrEqual(25);
      // At `between`: the submit had been recorded, the readback not yet.
      expect(r.at).toMatchObject({ submits: 1, dispatches: 3, mapAsyncCalls: 0, mapAsyncWallMs: 0 });
      // Before the first record: the counters at the clear.
      expect(h({ id: 3, at: 0 }).at).toEqual(zeroCounters());
    } finally {
      for (const k of ['GPUQueue', 'GPUComputePassEncoder', 'GPUCommandEncoder', 'GPUBuffer', 'GPUDevice', 'GPU', 'GPUAdapter', '__webgpuTrace']) delete g[k];
    }
    expect(workerBootstrap('blob:x/1', false, 'worker blob')).toContain('importScripts("blob:x/1");');
    const m = workerBootstrap('http://h/w.js', true, 'worker w.js');
    expect(m).toContain('await import("http://h/w.js");');
    expect(m.startsWith('(function webGpuTraceInstall(') || m.startsWith('(function(')).toBe(true);
  });
});
