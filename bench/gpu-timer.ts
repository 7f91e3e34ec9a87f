/**
 * GPU timing for the kernel microbenchmarks. With `timestamp-query`, a compute pass carries
 * beginning/end timestamps (device time of the pass: the dispatches inside it, back to back);
 * without it, wall time from submit to `onSubmittedWorkDone` (includes the submit round trip).
 * Each measurement: one warm-up submit (pipeline compilation), one calibration submit, then reps
 * chosen so one submit lasts about `targetMs`, three trials (one when a submit takes over SLOW_MS),
 * median per dispatch.
 */

export type TimingMethod = 'timestamp' | 'wall';

export interface Timing {
  /** Per dispatch (or per copy), ms, by `method`. */
  ms: number;
  /** Per dispatch, ms, wall time of the same trials. */
  wallMs: number;
  method: TimingMethod;
  reps: number;
}

/** Encodes `reps` repetitions; creates its compute pass(es) with `timestampWrites` when given. */
export type Encode = (enc: GPUCommandEncoder, reps: number, timestampWrites?: GPUComputePassTimestampWrites) => void;

/** Submits slower than this (ms) are timed by one trial (see {@link GpuTimer.time}). */
export const SLOW_MS = 2000;

export class GpuTimer {
  readonly timestamps: boolean;
  readonly #querySet: GPUQuerySet | null;
  readonly #resolve: GPUBuffer | null;
  readonly #read: GPUBuffer | null;

  constructor(readonly device: GPUDevice, readonly targetMs: number, readonly maxReps = 500) {
    this.timestamps = device.features.has('timestamp-query');
    if (this.timestamps) {
      this.#querySet = device.createQuerySet({ type: 'timestamp', count: 2 });
      this.#resolve = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
      this.#read = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    } else {
      this.#querySet = this.#resolve = this.#read = null;
    }
  }

  /** One submit of `reps` repetitions: device ms (null without timestamps) and wall ms. */
  async once(encode: Encode, reps: number, useTimestamps = true): Promise<{ gpuMs: number | null; wallMs: number }> {
    const ts = useTimestamps && this.#querySet;
    const enc = this.device.createCommandEncoder();
    encode(enc, reps, ts ? { querySet: this.#querySet!, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } : undefined);
    if (ts) {
      enc.resolveQuerySet(this.#querySet!, 0, 2, this.#resolve!, 0);
      enc.copyBufferToBuffer(this.#resolve!, 0, this.#read!, 0, 16);
    }
    const t0 = performance.now();
    this.device.queue.submit([enc.finish()]);
    await this.device.queue.onSubmittedWorkDone();
    const wallMs = performance.now() - t0;
    let gpuMs: number | null = null;
    if (ts) {
      await this.#read!.mapAsync(GPUMapMode.READ);
      const v = new BigUint64Array(this.#read!.getMappedRange().slice(0));
      this.#read!.unmap();
      const ns = Number(v[1] - v[0]);
      // Reject timestamps that cannot be right (zero, negative, far above the wall time).
      gpuMs = ns > 0 && ns / 1e6 <= wallMs * 1.5 + 1 ? ns / 1e6 : null;
    }
    return { gpuMs, wallMs };
  }

  /** Median per-repetition time of `encode` (see the file comment). */
  async time(encode: Encode, useTimestamps = true): Promise<Timing> {
    await this.once(encode, 1, useTimestamps);
    const first = await this.once(encode, 1, useTimestamps);
    const est = first.gpuMs ?? first.wallMs;
    const reps = Math.max(1, Math.min(this.maxReps, Math.round(this.targetMs / Math.max(est, 1e-4))));
    const trials = reps === 1 ? [first] : [];
    // A submit over SLOW_MS (whole forwards of the `gpu` configuration on a CPU adapter) is timed
    // once: three trials of such a forward would take minutes and say little more on a shared CPU.
    const want = reps === 1 && est > SLOW_MS ? 1 : 3;
    while (trials.length < want) trials.push(await this.once(encode, reps, useTimestamps));
    const ts = trials.every((t) => t.gpuMs !== null);
    const per = trials.map((t) => (ts ? t.gpuMs! : t.wallMs) / reps).sort((a, b) => a - b);
    const wall = trials.map((t) => t.wallMs / reps).sort((a, b) => a - b);
    const mid = Math.floor(per.length / 2);
    return { ms: per[mid], wallMs: wall[mid], method: ts ? 'timestamp' : 'wall', reps };
  }

  destroy(): void {
    this.#querySet?.destroy();
    this.#resolve?.destroy();
    this.#read?.destroy();
  }
}
