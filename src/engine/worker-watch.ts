/**
 * Main-thread side of the worker liveness protocol (worker side and messages:
 * `src/worker/heartbeat.ts`). A worker can stop answering in ways that Comlink never reports: it
 * exits or crashes, is terminated or killed for memory, fails to load its script, or hangs. Without
 * a watch, every pending call and every queued request would wait forever.
 *
 * The platform glue (`browser.ts`, `node.ts`) reports the events it has (a Web Worker's `error`
 * and `messageerror`; the `exit`, closed channel and `error` of Node's executor process) through
 * {@link WorkerWatch.fail}. A Web Worker has no exit event, so the watch
 * also pings the worker and calls it lost after {@link WorkerWatchOptions.timeoutMs} of silence.
 * {@link guardExecutor} then rejects every pending and later executor call with a
 * {@link WorkerLostError}.
 */
import { WorkerLostError } from '../errors.js';
import { isHeartbeat, type HeartbeatMessage } from '../worker/heartbeat.js';
import type { ExecutorApi } from '../worker/api.js';

/** Timing of the watch, in ms. */
export interface WorkerWatchOptions {
  /** Ping period (default 250). */
  intervalMs?: number;
  /**
   * Silence after which a running worker is lost (default 2000). A pong normally comes back within
   * a few ms: only announced steps (shader compilation) block the worker's event loop for longer.
   */
  timeoutMs?: number;
  /** Silence allowed inside an announced synchronous step (default 120 000). */
  busyTimeoutMs?: number;
  /**
   * Silence allowed before the worker's first message (default 60 000): its script may still be
   * downloading or compiling. Load failures are reported sooner by the worker's `error` event.
   */
  startTimeoutMs?: number;
  /** Clock (tests). */
  now?: () => number;
}

/** Watches one worker; see the module comment. */
export class WorkerWatch {
  /** Resolves (never rejects) with the error once the worker is known to be lost. */
  readonly lost: Promise<WorkerLostError>;
  #resolve!: (e: WorkerLostError) => void;
  #error: WorkerLostError | null = null;
  #timer: ReturnType<typeof setInterval> | null;
  #started = false;
  #busy: string | null = null;
  #lastSign: number;
  #silentTicks = 0;
  #seq = 0;
  /** Rejecters of the calls in flight. */
  readonly #pending = new Set<(e: WorkerLostError) => void>();
  readonly #opts: Required<WorkerWatchOptions>;

  /**
   * @param post Sends a heartbeat message to the worker (throwing counts as a lost worker).
   * @param onLost Called once when the worker is declared lost (terminate it there).
   */
  constructor(private readonly post: (m: HeartbeatMessage) => void, private readonly onLost: (e: WorkerLostError) => void, options: WorkerWatchOptions = {}) {
    this.#opts = { intervalMs: 250, timeoutMs: 2000, busyTimeoutMs: 120_000, startTimeoutMs: 60_000, now: () => performance.now(), ...options };
    this.lost = new Promise((r) => { this.#resolve = r; });
    this.#lastSign = this.#opts.now();
    this.#timer = setInterval(() => this.#tick(), this.#opts.intervalMs);
    // Node: a watch must not keep the process alive by itself.
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** The loss, once declared; null while the worker is alive. */
  get error(): WorkerLostError | null {
    return this.#error;
  }

  /** Feed every message that comes from the worker: any message proves that it runs. */
  receive(data: unknown): void {
    this.#lastSign = this.#opts.now();
    this.#silentTicks = 0;
    this.#started = true;
    if (isHeartbeat(data)) {
      if (data.msnHeartbeat === 'busy') this.#busy = data.label ?? 'a synchronous step';
      else if (data.msnHeartbeat === 'idle') this.#busy = null;
    }
  }

  #tick(): void {
    if (this.#error) return;
    // Silence counts only across our own ticks: a main thread that was itself blocked has not had
    // the chance to read the worker's answers yet.
    this.#silentTicks++;
    const silent = this.#opts.now() - this.#lastSign;
    const limit = !this.#started ? this.#opts.startTimeoutMs : this.#busy ? this.#opts.busyTimeoutMs : this.#opts.timeoutMs;
    if (silent > limit && this.#silentTicks >= 3) {
      const what = !this.#started ? 'it did not start' : `it stopped answering${this.#busy ? ` during ${this.#busy}` : ''}`;
      this.fail(`${what} (no sign of life for ${Math.round(silent)} ms)`);
      return;
    }
    if (!this.#started) return;
    try {
      this.post({ msnHeartbeat: 'ping', seq: ++this.#seq }); 
    } catch (e) {
      this.fail(`it cannot be reached (${(e as Error).message})`);
    }
  }

  /**
   * Declares the worker lost (idempotent): stops the watch, calls `onLost`, resolves {@link lost}.
   * @param cause What happened, e.g. `the executor process exited with code 1`.
   */
  fail(cause: string): WorkerLostError {
    if (this.#error) return this.#error;
    const e = new WorkerLostError(cause);
    this.#error = e;
    this.stop();
    for (const cancel of this.#pending) cancel(e);
    this.#pending.clear();
    this.onLost(e);
    this.#resolve(e);
    return e;
  }

  /** Stops pinging (the engine was disposed; a later `fail` still works). */
  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /**
   * Runs one call to the worker: settles as the call does, unless the worker is lost first, then
   * rejects with the {@link WorkerLostError} (at once when it is lost already).
   */
  guard<T>(call: () => Promise<T>): Promise<T> {
    if (this.#error) return Promise.reject(this.#error);
    return new Promise<T>((resolve, reject) => {
      const cancel = (e: WorkerLostError) => reject(e);
      this.#pending.add(cancel);
      const settle = () => this.#pending.delete(cancel);
      Promise.resolve().then(call).then((v) => { settle(); resolve(v); }, (e: unknown) => { settle(); reject(e); });
    });
  }
}

/**
 * Wraps the Comlink proxy of a worker's executor so that no call outlives the worker: each method
 * call goes through {@link WorkerWatch.guard}. `dispose()` of a lost worker resolves (there is
 * nothing left to free).
 */
export function guardExecutor(api: ExecutorApi, watch: WorkerWatch): ExecutorApi {
  return new Proxy(api, {
    get(target, prop) {
      // Not a thenable (Comlink proxies answer every property).
      if (typeof prop !== 'string' || prop === 'then') return undefined;
      const method = Reflect.get(target, prop) as (...args: unknown[]) => Promise<unknown>;
      // Reflect.apply: `method.apply` would be one more Comlink property.
      if (prop === 'dispose') return () => (watch.error ? Promise.resolve() : watch.guard(() => Reflect.apply(method, target, [])));
      return (...args: unknown[]) => watch.guard(() => Reflect.apply(method, target, args));
    },
  });
}
