/**
 * One engine (one Web Worker, one GPU device, one copy of the weights) per model URL per page,
 * shared by every `<msn-chat>` and the demo app. Requests of all sharers run in the engine's FIFO
 * queue. An engine is disposed a moment after its last user releases it (so moving an element in the
 * DOM keeps it), or at once with `release({ immediate: true })`.
 */
import { createEngine } from '../engine/browser.js';
import type { Engine } from '../engine/engine.js';
import type { LoadProgress } from '../model/loader.js';
import { locationKey, type ModelLocation } from '../model/local-folder.js';

/** Options of {@link acquireEngine}; the first acquirer of a URL decides them. */
export interface AcquireOptions {
  /** Load progress, replayed to late subscribers (the last record, then the rest as it comes). */
  onProgress?: (p: LoadProgress) => void;
  /**
   * Called when the shared engine is dropped after a device or worker loss (see
   * {@link invalidateEngine}), also when it is lost while idle (`engine.lost`).
   */
  onInvalidate?: (reason: unknown) => void;
  /** KV-cache context length (default: the engine's). */
  contextLength?: number;
  /** Hugging Face token for gated repositories, and origins trusted with it besides the Hub's (`LoadOptions.hubToken`). */
  hubToken?: string;
  hubTokenOrigins?: string[];
  /**
   * Load-time weight quantization (`LoadOptions.quantize`, default `none`). An engine of the same URL
   * loaded with another setting is replaced when nobody else holds it; while it is shared, the first
   * acquirer's setting stands.
   */
  quantize?: 'q4' | 'q8' | 'none';
  /** GPU memory budget in bytes (`LoadOptions.gpuMemoryBytes`); replaces an unshared engine loaded with another, like {@link quantize}. */
  gpuMemoryBytes?: number;
}

/** A share of an engine. */
export interface EngineLease {
  /** The registry key: the absolute model folder URL, or `locationKey` of a folder opened from disk. */
  readonly model: string;
  /** Resolves when the model is loaded; rejects with the load error (a later acquire retries). */
  readonly ready: Promise<Engine>;
  /** Gives the share back; the engine is disposed when no share is left. */
  release(options?: { immediate?: boolean }): void;
}

interface Entry {
  model: string;
  /** The load settings it was made with (quantize, GPU memory), compared on acquire. */
  settings: string;
  ready: Promise<Engine>;
  engine: Engine | null;
  refs: number;
  last: LoadProgress | null;
  progress: Set<(p: LoadProgress) => void>;
  invalidate: Set<(reason: unknown) => void>;
  timer: ReturnType<typeof setTimeout> | null;
}

/** How long an unused engine is kept, in ms. */
export const IDLE_DISPOSE_MS = 2000;

const entries = new Map<string, Entry>();

function drop(entry: Entry): void {
  if (entries.get(entry.model) === entry) entries.delete(entry.model);
  if (entry.timer) clearTimeout(entry.timer);
  entry.ready.then((e) => e.dispose()).catch(() => {});
}

/**
 * Takes a share of the engine of `location` (an absolute URL, or a folder opened from disk: one
 * engine per LocalFolder object), loading it on first use.
 */
export function acquireEngine(location: ModelLocation, options: AcquireOptions = {}): EngineLease {
  const model = locationKey(location);
  const quantize = options.quantize ?? 'none';
  const settings = JSON.stringify([quantize, options.gpuMemoryBytes ?? null]);
  let entry = entries.get(model);
  if (entry && entry.refs === 0 && entry.settings !== settings) {
    drop(entry);
    entry = undefined;
  }
  if (!entry) {
    const e: Entry = { model, settings, ready: null as unknown as Promise<Engine>, engine: null, refs: 0, last: null, progress: new Set(), invalidate: new Set(), timer: null };
    e.ready = createEngine({
      model: location,
      contextLength: options.contextLength,
      hubToken: options.hubToken,
      hubTokenOrigins: options.hubTokenOrigins,
      ...(quantize === 'none' ? {} : { quantize }),
      ...(options.gpuMemoryBytes === undefined ? {} : { gpuMemoryBytes: options.gpuMemoryBytes }),
      onProgress: (p) => {
        e.last = p;
        for (const f of e.progress) f(p);
      },
    }).then((engine) => {
      e.engine = engine;
      // A device or worker lost while idle is reported at once, not at the next request.
      void engine.lost.then((err) => {
        if (entries.get(model) === e) invalidateEngine(model, err);
      });
      return engine;
    }, (err) => {
      // A failed load is not cached: the next acquire tries again.
      if (entries.get(model) === e) entries.delete(model);
      throw err;
    });
    entries.set(model, e);
    entry = e;
  }
  const en = entry;
  if (en.timer) {
    clearTimeout(en.timer);
    en.timer = null;
  }
  en.refs++;
  const onProgress = options.onProgress;
  if (onProgress) {
    en.progress.add(onProgress);
    if (en.last) onProgress(en.last);
  }
  if (options.onInvalidate) en.invalidate.add(options.onInvalidate);
  let released = false;
  return {
    model,
    ready: en.ready,
    release({ immediate = false } = {}) {
      if (released) return;
      released = true;
      if (onProgress) en.progress.delete(onProgress);
      if (options.onInvalidate) en.invalidate.delete(options.onInvalidate);
      if (--en.refs > 0 || entries.get(model) !== en) return;
      if (immediate) drop(en);
      else en.timer = setTimeout(() => en.refs === 0 && drop(en), IDLE_DISPOSE_MS);
    },
  };
}

/**
 * Drops the shared engine of `model` (after a device loss it is unusable): it is disposed, its
 * sharers hear `onInvalidate`, and the next acquire loads a fresh one.
 */
export function invalidateEngine(model: string, reason: unknown): void {
  const entry = entries.get(model);
  if (!entry) return;
  entries.delete(model);
  drop(entry);
  for (const f of [...entry.invalidate]) f(reason);
}

/** Model URLs with a live (loading or loaded) engine on this page. */
export function sharedEngineModels(): string[] {
  return [...entries.keys()];
}
