/**
 * Worker side of the liveness protocol that lets the main thread notice a dead or hung worker
 * (the main side is `src/engine/worker-watch.ts`). The messages ride on the worker's own channel
 * beside Comlink's, which ignores them (they carry no Comlink `id` or `type`):
 *
 * - `ready` (worker → main): the worker's script has loaded and it answers from now on;
 * - `ping` / `pong`: the main thread pings every few hundred ms; the worker answers from its event
 *   loop, so a pong proves that the thread runs and is not blocked;
 * - `busy` / `idle` (worker → main): brackets a synchronous step that blocks this thread for a
 *   while (shader compilation: 1-2 s per pipeline on SwiftShader in Node), so that the main thread
 *   waits longer before calling the worker hung.
 */

/** One liveness message. */
export interface HeartbeatMessage {
  msnHeartbeat: 'ready' | 'ping' | 'pong' | 'busy' | 'idle';
  /** Ping number, echoed by the pong. */
  seq?: number;
  /** What the worker is busy with (`busy` only). */
  label?: string;
}

/** Whether `data` is a {@link HeartbeatMessage}. */
export function isHeartbeat(data: unknown): data is HeartbeatMessage {
  return typeof data === 'object' && data !== null && typeof (data as HeartbeatMessage).msnHeartbeat === 'string';
}

/** The worker's end of its channel: `self` in a Web Worker, the IPC channel (`process`) of Node's executor process. */
export interface HeartbeatEndpoint {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (ev: { data: unknown }) => void): void;
}

let post: ((m: HeartbeatMessage) => void) | null = null;

/** Answers the main thread's pings on `endpoint` and announces `ready`. Call once, at worker start. */
export function answerHeartbeat(endpoint: HeartbeatEndpoint): void {
  post = (m) => endpoint.postMessage(m);
  endpoint.addEventListener('message', (ev) => {
    if (isHeartbeat(ev.data) && ev.data.msnHeartbeat === 'ping') post?.({ msnHeartbeat: 'pong', seq: ev.data.seq });
  });
  post({ msnHeartbeat: 'ready' });
}

/**
 * Announces a synchronous step that may block this thread for seconds (`busy`), then its end
 * (`idle`). Outside a worker (inline executor) nothing is sent. Shaped as `CompileHooks` of
 * src/gpu/kernel.ts.
 */
export const announceSyncStep = {
  start(label: string): void {
    post?.({ msnHeartbeat: 'busy', label });
  },
  end(): void {
    post?.({ msnHeartbeat: 'idle' });
  },
};
