// The worker liveness watch (pure TS, fake timers): heartbeat deadlines, announced synchronous
// steps, a stalled main thread, failures reported by events, and the guarded executor.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { guardExecutor, WorkerWatch } from '../../src/engine/worker-watch.js';
import { WorkerLostError } from '../../src/errors.js';
import { announceSyncStep, answerHeartbeat, type HeartbeatMessage } from '../../src/worker/heartbeat.js';
import { KernelCache, setCompileHooks } from '../../src/gpu/kernel.js';
import type { ExecutorApi } from '../../src/worker/api.js';

beforeEach(() => { vi.useFakeTimers(); });
afterEach(() => { vi.useRealTimers(); });

/** A watch over a fake worker that answers pings while `alive.answering`. */
function rig(options = {}) {
  const alive = { answering: true };
  const lostCalls: WorkerLostError[] = [];
  const pings: number[] = [];
  const watch: WorkerWatch = new WorkerWatch((m: HeartbeatMessage) => {
    pings.push(m.seq!);
    if (alive.answering) queueMicrotask(() => watch.receive({ msnHeartbeat: 'pong', seq: m.seq }));
  }, (e) => lostCalls.push(e), { now: () => Date.now(), ...options });
  return { watch, alive, lostCalls, pings };
}

describe('WorkerWatch', () => {
  it('keeps a worker that answers alive, and calls it lost 2-2.5 s after its last answer', async () => {
    const { watch, alive, lostCalls } = rig();
    watch.receive({ msnHeartbeat: 'ready' });
    await vi.advanceTimersByTimeAsync(30_000);
    expect(watch.error).toBeNull();
    alive.answering = false;
    const call = watch.guard(() => new Promise<number>(() => {}));
    const outcome = call.then(() => 'resolved', (e: unknown) => e);
    await vi.advanceTimersByTimeAsync(2000);
    expect(watch.error).toBeNull();
    await vi.advanceTimersByTimeAsync(500);
    expect(watch.error).toBeInstanceOf(WorkerLostError);
    expect(watch.error!.message).toMatch(/^The model's worker stopped: it stopped answering \(no sign of life for 2\d{3} ms\)/);
    expect(await outcome).toBe(watch.error);
    expect(lostCalls).toEqual([watch.error]);
    expect(await watch.lost).toBe(watch.error);
    // Later calls fail at once; a second failure changes nothing.
    await expect(watch.guard(() => Promise.resolve(1))).rejects.toBe(watch.error);
    expect(watch.fail('again')).toBe(watch.error);
    expect(lostCalls).toHaveLength(1);
  });

  it('waits up to busyTimeoutMs inside an announced synchronous step (shader compilation), then 2 s again', async () => {
    const { watch, alive } = rig();
    watch.receive({ msnHeartbeat: 'ready' });
    watch.receive({ msnHeartbeat: 'busy', label: 'compiling matmul' });
    alive.answering = false; // blocked: pings queue up unanswered
    await vi.advanceTimersByTimeAsync(60_000);
    expect(watch.error).toBeNull();
    watch.receive({ msnHeartbeat: 'idle' });
    await vi.advanceTimersByTimeAsync(2500);
    expect(watch.error?.message).toMatch(/it stopped answering \(/);
  });

  it('a step that never ends is lost after busyTimeoutMs, naming the step', async () => {
    const { watch, alive } = rig({ busyTimeoutMs: 10_000 });
    watch.receive({ msnHeartbeat: 'ready' });
    watch.receive({ msnHeartbeat: 'busy', label: 'compiling topk' });
    alive.answering = false;
    await vi.advanceTimersByTimeAsync(9_900);
    expect(watch.error).toBeNull();
    await vi.advanceTimersByTimeAsync(500);
    expect(watch.error?.message).toMatch(/it stopped answering during compiling topk/);
  });

  it('before its first message a worker gets startTimeoutMs (its script may still be loading) and is not pinged', async () => {
    const { watch, pings } = rig({ startTimeoutMs: 20_000 });
    await vi.advanceTimersByTimeAsync(19_900);
    expect(watch.error).toBeNull();
    expect(pings).toEqual([]);
    await vi.advanceTimersByTimeAsync(500);
    expect(watch.error?.message).toMatch(/it did not start \(no sign of life for 20\d{3} ms\)/);
  });

  it('a main thread that was itself stalled does not call a live worker lost', async () => {
    const { watch } = rig();
    watch.receive({ msnHeartbeat: 'ready' });
    await vi.advanceTimersByTimeAsync(1000);
    // The clock jumps 10 s with no timer run (a long task on the main thread); answers are queued.
    vi.setSystemTime(Date.now() + 10_000);
    await vi.advanceTimersByTimeAsync(250); // one tick sees 10 s of silence but waits for answers
    expect(watch.error).toBeNull();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(watch.error).toBeNull();
  });

  it('fail() (an exit or error event) rejects the calls in flight at once; stop() ends the pings', async () => {
    const { watch, pings } = rig();
    watch.receive({ msnHeartbeat: 'ready' });
    const settled = watch.guard(() => Promise.resolve('done'));
    expect(await settled).toBe('done');
    const inFlight = watch.guard(() => new Promise(() => {})).catch((e: unknown) => e);
    const e = watch.fail('the executor process exited with code 1');
    expect(await inFlight).toBe(e);
    expect(e.message).toMatch(/^The model's worker stopped: the executor process exited with code 1\./);
    expect(e.code).toBe('worker-lost');
    expect(e.detail.reason).toBe('worker-lost');
    const n = pings.length;
    await vi.advanceTimersByTimeAsync(5000);
    expect(pings.length).toBe(n);
  });

  it('a post that throws (worker gone) is a lost worker', async () => {
    const watch = new WorkerWatch(() => { throw new Error('port closed'); }, () => {}, { now: () => Date.now() });
    watch.receive({ msnHeartbeat: 'ready' });
    await vi.advanceTimersByTimeAsync(300);
    expect(watch.error?.message).toMatch(/it cannot be reached \(port closed\)/);
  });
});

describe('guardExecutor', () => {
  it('passes calls through while the worker lives; afterwards rejects them at once and dispose() resolves', async () => {
    const calls: unknown[][] = [];
    const api = {
      forward: async (...args: unknown[]) => { calls.push(['forward', ...args]); return { rows: 1 }; },
      kvTruncate: async (n: number) => { calls.push(['kvTruncate', n]); return n; },
      dispose: async () => { calls.push(['dispose']); },
      whenLost: () => new Promise(() => {}),
    } as unknown as ExecutorApi;
    const watch = new WorkerWatch(() => {}, () => {}, { now: () => Date.now() });
    const ex = guardExecutor(api, watch);
    expect(await ex.kvTruncate(3)).toBe(3);
    expect(await ex.forward({ tokens: [1], positions: [0], mask: 'causal', topK: 1, commit: true })).toEqual({ rows: 1 });
    expect(calls).toEqual([['kvTruncate', 3], ['forward', { tokens: [1], positions: [0], mask: 'causal', topK: 1, commit: true }]]);
    expect((ex as unknown as { then?: unknown }).then).toBeUndefined(); // not a thenable
    const lost = ex.whenLost().catch((e: unknown) => e);
    const e = watch.fail('it threw an uncaught error: boom');
    expect(await lost).toBe(e);
    await expect(ex.kvTruncate(1)).rejects.toBe(e);
    await expect(ex.dispose()).resolves.toBeUndefined();
    expect(calls).toHaveLength(2);
    watch.stop();
  });
});

describe('heartbeat (worker side)', () => {
  it('announces ready, answers pings with their number, and brackets each pipeline compilation with busy/idle', () => {
    const posted: unknown[] = [];
    const listeners: Array<(ev: { data: unknown }) => void> = [];
    answerHeartbeat({ postMessage: (m) => posted.push(m), addEventListener: (_, l) => listeners.push(l) });
    expect(posted).toEqual([{ msnHeartbeat: 'ready' }]);
    for (const l of listeners) l({ data: { msnHeartbeat: 'ping', seq: 7 } });
    for (const l of listeners) l({ data: { id: 'comlink-call', type: 'APPLY' } }); // not ours
    expect(posted.slice(1)).toEqual([{ msnHeartbeat: 'pong', seq: 7 }]);

    vi.stubGlobal('GPUShaderStage', { COMPUTE: 4 });
    const compiled: string[] = [];
    const device = {
      createBindGroupLayout: () => ({}),
      createPipelineLayout: () => ({}),
      createShaderModule: () => ({}),
      createComputePipeline: (d: { label: string }) => { compiled.push(d.label); posted.push('compiled'); return {}; },
    } as unknown as GPUDevice;
    setCompileHooks(announceSyncStep);
    try {
      const cache = new KernelCache(device);
      const def = { name: 'k', code: '', bindings: ['read' as const], params: 'u' };
      cache.get(def, { ROWS: 8 });
      cache.get(def, { ROWS: 8 }); // cached: no compilation, no announcement
      expect(compiled).toEqual(['k:ROWS=8']);
      expect(posted.slice(2)).toEqual([{ msnHeartbeat: 'busy', label: 'compiling k:ROWS=8' }, 'compiled', { msnHeartbeat: 'idle' }]);
    } finally {
      setCompileHooks(null);
      vi.unstubAllGlobals();
    }
  });
});
