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
import { IndexedDbCostCache } from './cost-cache.js';

/**
 * Creates an engine whose model runs in a Web Worker. `options.model` takes every location form of
 * `src/model/location.ts` (`hf:owner/name[@rev]`, huggingface.co links, http(s) URLs, paths on this
 * site), resolved against the page URL.
 * @throws InvalidArgumentError (not a model location), WebGpuUnavailableError, ModelFormatError, UnsupportedModelError, NetworkError, OutOfMemoryError.
 */
export async function createEngine(options: EngineOptions): Promise<Engine> {
  installErrorTransfer();
  options = { ...options, model: resolveModelLocation(options.model, { base: location.href }) };
  const worker = new Worker(new URL('../worker/worker.ts', import.meta.url), { type: 'module', name: 'msn-executor' });
  const executor = Comlink.wrap<ExecutorApi>(worker) as unknown as ExecutorApi;
  const model = new URL(options.model, location.href).href;
  return createEngineWith(executor, { costCache: new IndexedDbCostCache(), ...options, model }, () => worker.terminate(), (f) => Comlink.proxy(f as object) as typeof f);
}
