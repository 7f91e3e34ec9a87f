/** Shared engine construction: load the model in the executor, the tokenizer on this thread. */
import type { LoadProgress } from '../model/loader.js';
import { createModelSource } from '../model/source.js';
import { isLocalFolder, type ModelLocation } from '../model/local-folder.js';
import { evictUnparsable, openCheckedSource } from '../model/integrity.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import type { ExecutorApi, LoadOptions } from '../worker/api.js';
import { Engine } from './engine.js';
import { MemoryCostCache, type CostCache } from './cost-cache.js';

/** Options of `createEngine` (browser) and `createNodeEngine` (Node). */
export interface EngineOptions extends LoadOptions {
  /**
   * Model folder: URL (browser, Node), local path (Node), or a folder opened from disk (browser:
   * a `LocalFolder` of src/model/local-folder.ts, sent to the worker as it is).
   */
  model: ModelLocation;
  /** Load progress `{loadedBytes, totalBytes, file}`. */
  onProgress?: (p: LoadProgress) => void;
  /** Cache of the adaptive tree's forward-cost table (default: IndexedDB in browsers, a folder in Node). */
  costCache?: CostCache;
}

/**
 * Loads `options.model` into `executor` and wraps both in an {@link Engine}.
 * @param onDispose Frees what the platform glue holds (the worker); also called when the load fails.
 * @param progressArg What to pass to `executor.load` for `options.onProgress`: the callback itself
 *   (in-process), a `Comlink.proxy` of it (Web Worker), or undefined when the glue delivers progress
 *   by other means (Node's executor process sends it as side messages).
 */
export async function createEngineWith(executor: ExecutorApi, options: EngineOptions, onDispose: () => void | Promise<void>, progressArg: (f: (p: LoadProgress) => void) => ((p: LoadProgress) => void) | undefined = (f) => f): Promise<Engine> {
  const { model, onProgress, costCache, ...load } = options;
  try {
    // Model first: its errors (missing folder, bad config) are the ones worth reporting.
    const info = await executor.load(model, load, onProgress ? progressArg(onProgress) : undefined);
    const { source } = await openCheckedSource(createModelSource(model, { hubToken: load.hubToken, hubTokenOrigins: load.hubTokenOrigins }));
    // A cached tokenizer file that fails to parse is evicted, so a reload downloads it again.
    const tokenizer = await Tokenizer.load(source).catch(async (e: unknown) => { throw await evictUnparsable(source, e); });
    return new Engine(executor, info, tokenizer, onDispose, costCache ?? new MemoryCostCache(), isLocalFolder(model) ? `local-folder:${model.name}/` : model);
  } catch (e) {
    await onDispose();
    throw e;
  }
}
