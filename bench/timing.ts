/**
 * A timing proxy around the executor (the engine's StepBackend): it measures, on the engine's thread,
 * how long each call waits for the worker, so a decode step's wall time splits into
 *   forward  — waiting for `forward` (worker round trip + encoding + GPU + readback),
 *   mask     — waiting for `registerMask` (once per new tree shape),
 *   host     — everything else: the scheduler (tree, candidates, verification, retrieval pool),
 *              the adaptive policy and the engine's streaming detokenizer.
 * Forwards are classified by their request: prefill (topK 0), the adaptive cost probe (causal mask,
 * not committed; the scheduler never sends that), decode (the rest).
 * Every other executor method passes through unchanged (a Proxy, so API additions need no change
 * here; works over a Comlink remote and over an in-thread Executor alike).
 * Browser- and Node-compatible (no Node imports).
 */
import type { ExecutorApi, ForwardRequest, ForwardResult } from '../src/worker/api.js';

export interface CallTimes {
  decodeForwards: number;
  /** Wall ms waiting for decode forwards, seen from the engine's thread. */
  decodeForwardMs: number;
  /** The executor's time for those forwards (`ForwardResult.gpuMs`: device time with timestamp queries, else encode → readback wall time; see `gpuTiming`). */
  decodeExecutorMs: number;
  /** Rows of all decode forwards. */
  decodeRows: number;
  prefillForwards: number;
  prefillMs: number;
  probeForwards: number;
  maskCalls: number;
  maskMs: number;
}

export function emptyTimes(): CallTimes {
  return { decodeForwards: 0, decodeForwardMs: 0, decodeExecutorMs: 0, decodeRows: 0, prefillForwards: 0, prefillMs: 0, probeForwards: 0, maskCalls: 0, maskMs: 0 };
}

export class TimingExecutor {
  times: CallTimes = emptyTimes();
  /** The wrapped executor, to hand to an Engine. */
  readonly executor: ExecutorApi;

  constructor(readonly inner: ExecutorApi, readonly now: () => number = () => performance.now()) {
    const overrides: Partial<Record<keyof ExecutorApi, unknown>> = {
      forward: (req: ForwardRequest) => this.#forward(req),
      registerMask: (mask: Float32Array, T: number) => this.#registerMask(mask, T),
    };
    this.executor = new Proxy(inner, {
      get(target, prop) {
        if (prop === 'then') return undefined; // never a thenable
        if (typeof prop === 'string' && prop in overrides) return overrides[prop as keyof ExecutorApi];
        // Call as `target[prop](...)` each time (this = target): a Comlink remote resolves the method
        // per property path, so `.apply`/`.bind` on it would become remote calls themselves.
        const t = target as unknown as Record<string | symbol, (...a: unknown[]) => unknown>;
        return typeof t[prop] === 'function' ? (...args: unknown[]) => t[prop](...args) : t[prop];
      },
    });
  }

  /** Returns the counters since the last call and starts new ones. */
  take(): CallTimes {
    const t = this.times;
    this.times = emptyTimes();
    return t;
  }

  async #registerMask(mask: Float32Array, T: number): Promise<number> {
    const t0 = this.now();
    try {
      return await this.inner.registerMask(mask, T);
    } finally {
      this.times.maskCalls++;
      this.times.maskMs += this.now() - t0;
    }
  }

  async #forward(req: ForwardRequest): Promise<ForwardResult> {
    const t0 = this.now();
    const r = await this.inner.forward(req);
    const dt = this.now() - t0;
    const t = this.times;
    if (req.topK === 0) {
      t.prefillForwards++;
      t.prefillMs += dt;
    } else if (req.mask === 'causal' && !req.commit) {
      t.probeForwards++;
    } else {
      t.decodeForwards++;
      t.decodeForwardMs += dt;
      t.decodeExecutorMs += r.gpuMs;
      t.decodeRows += req.tokens.length;
    }
    return r;
  }
}
