/**
 * Node entry: `createNodeEngine` runs the executor in a worker thread (Comlink's node adapter) over
 * Dawn's `webgpu` package, or in-process with `inline: true`.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { createNodeGpu, prepareNodeGpuEnv } from '../gpu/node.js';
import { WebGpuUnavailableError } from '../errors.js';
import { Executor } from '../worker/executor.js';
import { installErrorTransfer } from '../worker/transfer.js';
import type { ExecutorApi } from '../worker/api.js';
import { createEngineWith, type EngineOptions } from './create.js';
import { resolveNodeModelLocation } from '../model/location-node.js';
import type { Engine } from './engine.js';
import { FileCostCache } from './cost-cache-node.js';
import { guardExecutor, WorkerWatch } from './worker-watch.js';

export interface NodeEngineOptions extends EngineOptions {
  /** Run the executor on this thread instead of a worker thread. */
  inline?: boolean;
  /** Use Chromium's SwiftShader Vulkan driver instead of lavapipe. */
  preferSwiftShader?: boolean;
}

/** The package root (folder of package.json), from this module's location. */
export function packageRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json')) && dirname(d) !== d) d = dirname(d);
  return d;
}

/** Path of the bundled worker-thread entry (built by scripts/build-node.mjs). */
export function nodeWorkerPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const p of [join(here, 'node-worker.mjs'), join(packageRoot(), 'dist-node', 'node-worker.mjs')]) if (existsSync(p)) return p;
  throw new Error('dist-node/node-worker.mjs is missing: run `npm run build:node` first.');
}

/**
 * Creates an engine in Node. `options.model` takes every location form of `src/model/location.ts`
 * (a local folder relative to the current directory, a `file:` or http(s) URL, `hf:owner/name[@rev]`
 * resolved against `MSN_HF_ENDPOINT` / `HF_ENDPOINT`, a huggingface.co link). When no adapter is
 * found on the default Vulkan driver (Mesa lavapipe), retries on Chromium's SwiftShader;
 * `engine.info.adapter` says which one ran.
 * @throws InvalidArgumentError for a model location that is none; NetworkError naming the file or
 *   URL that could not be read; and the errors of `Executor.load`.
 */
export async function createNodeEngine(options: NodeEngineOptions): Promise<Engine> {
  try {
    return await createNodeEngineOnce(options);
  } catch (e) {
    if (e instanceof WebGpuUnavailableError && !options.preferSwiftShader && !process.env.MSN_NO_FALLBACK) {
      return createNodeEngineOnce({ ...options, preferSwiftShader: true });
    }
    throw e;
  }
}

async function createNodeEngineOnce(options: NodeEngineOptions): Promise<Engine> {
  installErrorTransfer();
  prepareNodeGpuEnv(options.preferSwiftShader);
  const model = resolveNodeModelLocation(options.model);
  if (options.inline) {
    const ex = new Executor(() => createNodeGpu({ preferSwiftShader: options.preferSwiftShader }));
    return createEngineWith(ex, { costCache: new FileCostCache(), ...options, model }, () => {});
  }
  const worker = new Worker(nodeWorkerPath(), { env: { ...process.env, MSN_PREFER_SWIFTSHADER: options.preferSwiftShader ? '1' : '' } });
  const executor = guardExecutor(Comlink.wrap<ExecutorApi>(nodeEndpoint(worker)) as unknown as ExecutorApi, watchNodeWorker(worker));
  return createEngineWith(executor, { costCache: new FileCostCache(), ...options, model }, async () => {
    closing.add(worker);
    await worker.terminate();
  }, (f) => Comlink.proxy(f as object) as typeof f);
}

/** Workers being terminated by their engine's dispose (their exit is expected). */
const closing = new WeakSet<Worker>();

/**
 * A {@link WorkerWatch} over a worker thread: its `exit` (code), `error` (an uncaught exception,
 * e.g. a failed import or ERR_WORKER_OUT_OF_MEMORY; the thread then exits) and `messageerror`
 * events, plus the heartbeat for a hung thread (10 s of silence outside announced compilations). A
 * lost worker is terminated.
 */
function watchNodeWorker(worker: Worker): WorkerWatch {
  // A dead thread is reported by `exit` at once; the heartbeat only has to catch a hung one, so it
  // can wait longer than a browser's (CPU contention delays answers by several hundred ms).
  const watch = new WorkerWatch((m) => worker.postMessage(m), () => { void worker.terminate(); }, { timeoutMs: 10_000 });
  worker.on('message', (data: unknown) => watch.receive(data));
  worker.on('error', (e: Error) => watch.fail(`it threw an uncaught error: ${e.message}`));
  worker.on('messageerror', (e: Error) => watch.fail(`a message from it could not be read (${e.message})`));
  worker.on('exit', (code: number) => {
    if (closing.has(worker)) watch.stop();
    else watch.fail(`the worker thread exited with code ${code}`);
  });
  return watch;
}
