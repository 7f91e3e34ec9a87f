/**
 * Test-only: makes the executor's Node child process (`src/worker/node-worker.ts`) die or hang in
 * one of the ways a process can, so the tests can check that the host survives and every call
 * rejects with `WorkerLostError` (as `LoadOptions.faults` injects GPU faults). The fault comes from
 * the `MSN_TEST_EXECUTOR_FAULT` environment variable (JSON {@link ProcessFault}), which the child
 * inherits from its host; nothing else reads it.
 */
import type { ExecutorApi } from './api.js';

/** One injected fault. */
export interface ProcessFault {
  /**
   * - `throw`: an uncaught exception;
   * - `exit`: `process.exit(3)` from executor code;
   * - `kill`: SIGKILL, as the system's out-of-memory killer sends;
   * - `abort`: SIGABRT, as a native `abort()` raises (Dawn's "Promise not resolved" check);
   * - `oom`: allocates JavaScript memory until V8's heap limit ends the process (start the child
   *   with a small `--max-old-space-size` in `NodeEngineOptions.execArgv`, or it takes gigabytes);
   * - `hang`: an endless synchronous loop (the process lives but never answers again).
   */
  mode: 'throw' | 'exit' | 'kill' | 'abort' | 'oom' | 'hang';
  /**
   * When: `start` (as the process starts, before it answers anything), `load` (once a model load
   * has begun), or N ≥ 1: once the N-th `forward` call has begun (its GPU work in flight).
   */
  at: 'start' | 'load' | number;
}

const MODES = ['throw', 'exit', 'kill', 'abort', 'oom', 'hang'];

/**
 * The fault named by `env.MSN_TEST_EXECUTOR_FAULT`, or null.
 * @throws Error for a value that is not a {@link ProcessFault} (a test bug, so it must not pass silently).
 */
export function readProcessFault(env: NodeJS.ProcessEnv = process.env): ProcessFault | null {
  const raw = env.MSN_TEST_EXECUTOR_FAULT;
  if (!raw) return null;
  const f = JSON.parse(raw) as ProcessFault;
  const atOk = f.at === 'start' || f.at === 'load' || (Number.isInteger(f.at) && (f.at as number) >= 1);
  if (!MODES.includes(f.mode) || !atOk) throw new Error(`MSN_TEST_EXECUTOR_FAULT must be {"mode": ${MODES.join('|')}, "at": "start"|"load"|N≥1}, got ${raw}`);
  return f;
}

/** Fails this process now, as `mode` says. */
export function injectProcessFault(mode: ProcessFault['mode']): void {
  switch (mode) {
    case 'throw':
      throw new Error('injected fault: an uncaught error in the executor process');
    case 'exit':
      process.exit(3);
      break;
    case 'kill':
      process.kill(process.pid, 'SIGKILL');
      break;
    case 'abort':
      // The signal alone: process.abort() would also print V8's native stack trace.
      process.kill(process.pid, 'SIGABRT');
      break;
    case 'oom': {
      const keep: number[][] = [];
      for (;;) keep.push(new Array<number>(1 << 18).fill(keep.length + 0.5));
    }
    case 'hang':
      for (;;) { /* never answers again */ }
  }
}

/**
 * Arms `fault` on `api`, the object exposed to the host (so only the host's calls count, not the
 * executor's own warmup forwards): a `start` fault fires at once, the others once the matching call
 * has begun, from a fresh task so that the call is in flight when the process fails.
 */
export function armProcessFault(api: ExecutorApi, fault: ProcessFault): void {
  if (fault.at === 'start') {
    injectProcessFault(fault.mode);
    return;
  }
  const method = fault.at === 'load' ? 'load' : 'forward';
  const original = api[method].bind(api) as (...args: unknown[]) => Promise<unknown>;
  let calls = 0;
  (api as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
    const p = original(...args);
    if (++calls === (fault.at === 'load' ? 1 : fault.at)) setImmediate(() => injectProcessFault(fault.mode));
    return p;
  };
}
