/**
 * Node entry of the executor: a child process forked by `createNodeEngine` (src/engine/node.ts),
 * exposing an {@link Executor} on Dawn over Comlink on the IPC channel (`src/worker/ipc.ts`). A
 * process of its own, not a worker thread: Dawn's native binding aborts the whole process when the
 * thread that holds a device dies with a readback pending (SIGABRT, "Promise not resolved or
 * rejected: mapAsync()"), so a crash here must not be the host's.
 *
 * Its stdout is the host's stderr (Dawn `printf`s its log to file descriptor 1). The host ends it
 * with SIGTERM on dispose; it ends itself when the host goes away (its channel closes).
 */
import * as Comlink from 'comlink';
import { createNodeGpu } from '../gpu/node.js';
import { setCompileHooks } from '../gpu/kernel.js';
import { setLoaderSyncHooks } from '../model/loader.js';
import type { ExecutorApi } from './api.js';
import { Executor } from './executor.js';
import { announceSyncStep, answerHeartbeat } from './heartbeat.js';
import { ipcEndpoint, type SideMessage } from './ipc.js';
import { armProcessFault, readProcessFault } from './process-faults.js';
import { installErrorTransfer } from './transfer.js';

/** Sends now, without waiting (a closed channel means that the host is gone: nothing to tell). */
const sendSide = (m: SideMessage) => process.send?.(m, () => {});

// An uncaught error ends this process, as it would by default, after telling the host what it was
// (Node would print its stack on the host's stderr; the host names it in WorkerLostError instead).
process.on('uncaughtException', (e: unknown) => {
  const exit = () => process.exit(1);
  // The callback runs once the message is written, or with an error when the channel is closed.
  if (process.send) process.send({ msnFatal: e instanceof Error ? e.message : String(e) } satisfies SideMessage, exit);
  else exit();
  setTimeout(exit, 1000);
});
// The host is gone (it exited or was killed): nothing is left to answer.
process.on('disconnect', () => process.exit(0));

installErrorTransfer();
const executor = new Executor(() => createNodeGpu({ preferSwiftShader: process.env.MSN_PREFER_SWIFTSHADER === '1' }));
/**
 * What the host may call: the executor's API, except that the load's progress goes out as side
 * messages (a `Comlink.proxy()` callback needs a MessagePort, which IPC cannot carry).
 */
const api: ExecutorApi = {
  load: (model, options) => executor.load(model, options, (p) => sendSide({ msnProgress: p })),
  registerMask: (mask, T) => executor.registerMask(mask, T),
  forward: (req) => executor.forward(req),
  kvKeep: (rows) => executor.kvKeep(rows),
  kvTruncate: (length) => executor.kvTruncate(length),
  reset: () => executor.reset(),
  gpuStats: () => executor.gpuStats(),
  whenLost: () => executor.whenLost(),
  simulateDeviceLoss: () => executor.simulateDeviceLoss(),
  dispose: () => executor.dispose(),
};
const fault = readProcessFault();
if (fault) armProcessFault(api, fault);
Comlink.expose(api, ipcEndpoint(process));
setCompileHooks(announceSyncStep);
setLoaderSyncHooks(announceSyncStep);
answerHeartbeat({ postMessage: (m) => process.send?.(m, () => {}), addEventListener: (_, listener) => process.on('message', (data: unknown) => listener({ data })) });
