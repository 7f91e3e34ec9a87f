/**
 * Comlink over a Node IPC channel. In Node the executor runs in a child process of its own
 * (`child_process.fork` of the bundled `node-worker.mjs`, `serialization: 'advanced'`, so typed
 * arrays and plain objects cross as the structured clone algorithm copies them), so that a native
 * abort, a crash, an exit, an out-of-memory kill or a hang ends that process and never the host.
 * Both ends have the same channel API: `ChildProcess.send` / `on('message')` on the host,
 * `process.send` / `process.on('message')` in the child. {@link ipcEndpoint} turns it into the
 * `postMessage`/`addEventListener` endpoint Comlink expects (Comlink's own `node-adapter` does the same
 * for a worker thread's `MessagePort`).
 *
 * An IPC channel cannot carry a `MessagePort`, so `Comlink.proxy()` (callbacks) does not work over
 * it. What the executor reports on its own goes as {@link SideMessage}s on the same channel, beside
 * Comlink's messages and the heartbeat's (`src/worker/heartbeat.ts`); Comlink ignores them because
 * they carry no Comlink `id` or `type`. One channel keeps them in order: the load's progress
 * messages all arrive before the load's own answer.
 */
import type { Endpoint } from 'comlink';
import type { LoadProgress } from '../model/loader.js';

/** What `ChildProcess` (host side) and `process` (in a forked child) both offer. */
export interface IpcChannel {
  send?(message: unknown, callback?: (error: Error | null) => void): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

/**
 * A Comlink endpoint over `channel`. A message that cannot be sent because the channel is closed
 * goes to `onSendError` (the other side is gone: the caller's watch reports that); a value that
 * cannot be serialized throws from `postMessage`, so the Comlink call that sent it rejects.
 * @throws Error when `channel` has no IPC channel (`process.send` is undefined outside a forked child).
 */
export function ipcEndpoint(channel: IpcChannel, onSendError: (e: Error) => void = () => {}): Endpoint {
  if (typeof channel.send !== 'function') throw new Error('No IPC channel: this module must run in a process started with child_process.fork().');
  const send = channel.send.bind(channel);
  const listeners = new Map<EventListenerOrEventListenerObject, (message: unknown) => void>();
  return {
    postMessage(message: unknown) {
      send(message, (e) => { if (e) onSendError(e); });
    },
    addEventListener(_type: string, listener: EventListenerOrEventListenerObject) {
      const l = (data: unknown) => {
        if ('handleEvent' in listener) listener.handleEvent({ data } as MessageEvent);
        else listener({ data } as MessageEvent);
      };
      listeners.set(listener, l);
      channel.on('message', l);
    },
    removeEventListener(_type: string, listener: EventListenerOrEventListenerObject) {
      const l = listeners.get(listener);
      if (!l) return;
      channel.off('message', l);
      listeners.delete(listener);
    },
  };
}

/**
 * A message the executor's process sends on its own (child → host):
 * - `msnProgress`: load progress (what `LoadOptions`' `onProgress` gets), sent during every load;
 * - `msnFatal`: the message of an uncaught error, just before the process exits because of it.
 */
export type SideMessage = { msnProgress: LoadProgress } | { msnFatal: string };

/** Whether `data` is a {@link SideMessage}. */
export function isSideMessage(data: unknown): data is SideMessage {
  if (typeof data !== 'object' || data === null) return false;
  const m = data as Record<string, unknown>;
  return (typeof m.msnProgress === 'object' && m.msnProgress !== null) || typeof m.msnFatal === 'string';
}
