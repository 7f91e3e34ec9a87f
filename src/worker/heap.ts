/**
 * Peak JavaScript memory while a model loads (`ModelInfo.memory.peakJsHeapBytes`, the CLI's `--json`
 * `memory.peakJsHeapBytes`). Node: `process.memoryUsage()` heapUsed + external (ArrayBuffers, such as
 * the streamed shard chunks and the CPU copies of tensors, live outside V8's heap and count in
 * `external`). Browser: Chromium's non-standard `performance.memory.usedJSHeapSize` where it exists;
 * elsewhere null. Sampled every 25 ms and at each {@link HeapSampler.sample} call.
 */

/** The current JS memory in bytes, or null where the platform does not report it. */
export function jsHeapBytes(): number | null {
  const proc = (globalThis as { process?: { memoryUsage?: () => { heapUsed: number; external: number } } }).process;
  if (typeof proc?.memoryUsage === 'function') {
    const m = proc.memoryUsage();
    return m.heapUsed + m.external;
  }
  const mem = (globalThis.performance as Performance & { memory?: { usedJSHeapSize?: number } } | undefined)?.memory;
  return typeof mem?.usedJSHeapSize === 'number' ? mem.usedJSHeapSize : null;
}

/** Tracks the peak of {@link jsHeapBytes} from construction until {@link HeapSampler.stop}. */
export class HeapSampler {
  #peak: number | null = null;
  #timer: ReturnType<typeof setInterval> | null;

  constructor(intervalMs = 25) {
    this.sample();
    this.#timer = setInterval(() => this.sample(), intervalMs);
  }

  /** Takes one sample now (call it where memory peaks, e.g. with a tensor's bytes in hand). */
  sample(): void {
    const b = jsHeapBytes();
    if (b !== null) this.#peak = Math.max(this.#peak ?? 0, b);
  }

  /** Stops sampling; returns the peak bytes (null where the platform reports none). */
  stop(): number | null {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.sample();
    return this.#peak;
  }
}
