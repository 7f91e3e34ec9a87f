/**
 * Browser entry: `createEngine` starts the executor in a module Web Worker (one per engine) and
 * talks to it through Comlink.
 */
import * as Comlink from 'comlink';
import { installErrorTransfer } from '../worker/transfer.js';
import type { ExecutorApi } from '../worker/api.js';
import { createEngineWith, type EngineOptions } from './create.js';
import type { Engine } from './engine.js';
import { resolveModelLocation } from '../model/location.js';
import { isLocalFolder } from '../model/local-folder.js';
import { IndexedDbCostCache } from './cost-cache.js';
import { guardExecutor, WorkerWatch } from './worker-watch.js';
import { WORKER_SCRIPT_FAILED } from '../errors.js';

/**
 * Creates an engine whose model runs in a Web Worker. `options.model` takes every location form of
 * `src/model/location.ts` (`hf:owner/name[@rev]`, huggingface.co links, http(s) URLs, paths on this
 * site), resolved against the page URL, or a folder opened from disk (`LocalFolder`, src/model/local-folder.ts).
 * @throws InvalidArgumentError (not a model location), WebGpuUnavailableError, ModelFormatError, UnsupportedModelError, NetworkError, OutOfMemoryError.
 */
export async function createEngine(options: EngineOptions): Promise<Engine> {
  installErrorTransfer();
  // A folder opened from disk goes to the worker as it is (its handle or Files are structured-cloneable).
  const model = isLocalFolder(options.model) ? options.model : new URL(resolveModelLocation(options.model, { base: location.href }), location.href).href;
  const worker = new Worker(new URL('../worker/worker.ts', import.meta.url), { type: 'module', name: 'msn-executor' });
  const watch = watchWebWorker(worker);
  const executor = guardExecutor(Comlink.wrap<ExecutorApi>(worker) as unknown as ExecutorApi, watch);
  return createEngineWith(executor, { costCache: new IndexedDbCostCache(), ...options, model }, () => {
    watch.stop();
    worker.terminate();
  }, (f) => Comlink.proxy(f));
}

/**
 * A {@link WorkerWatch} over a Web Worker. A Web Worker has no exit event: its `error` event covers
 * a script that fails to load (missing file, syntax error, failed import: the event comes before
 * the worker's first message, which it sends once its script has run) and uncaught errors,
 * `messageerror` an unreadable reply, and the heartbeat a worker that was terminated, crashed or
 * hangs. A lost worker is terminated. A script that did not load is a {@link WORKER_SCRIPT_FAILED}
 * cause, whose error says to reload the page (the page's files changed or could not be downloaded).
 */
function watchWebWorker(worker: Worker): WorkerWatch {
  const watch = new WorkerWatch((m) => worker.postMessage(m), () => worker.terminate());
  let started = false;
  worker.addEventListener('message', (ev) => {
    started = true;
    watch.receive(ev.data);
  });
  worker.addEventListener('error', (ev) => {
    ev.preventDefault();
    const message = (ev as ErrorEvent).message;
    if (started) watch.fail(`it threw an uncaught error${message ? `: ${message}` : ''}`);
    else watch.fail(`${WORKER_SCRIPT_FAILED} ${message ? `(${message})` : '(missing file, syntax error or failed import)'}`);
  });
  worker.addEventListener('messageerror', () => watch.fail('a message from it could not be read'));
  return watch;
}
