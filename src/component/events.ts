/**
 * The DOM events of `<msn-chat>`. All bubble and cross the shadow boundary (`composed`); `detail`
 * is typed by {@link MsnChatEventMap}, so `el.addEventListener('token', (e) => e.detail.text)`
 * type-checks.
 */
import type { GenerationResult } from '../engine/engine.js';
import type { ModelInfo } from '../worker/api.js';

/** `progress`: model download progress (weights), several times per second while loading. */
export interface MsnProgressDetail {
  /** Absolute model folder URL. */
  model: string;
  /** Weight bytes read so far. */
  loadedBytes: number;
  /** Total weight bytes, or null when the server does not say. */
  totalBytes: number | null;
  /** loadedBytes / totalBytes in [0, 1], or null when the total is unknown. */
  fraction: number | null;
  /** File being read, e.g. `model.safetensors`. */
  file: string;
}

/** `ready`: the model is loaded (also fired for an element that joins an already loaded engine). */
export interface MsnReadyDetail {
  model: string;
  /** Config, adapter, GPU memory of the shared engine. */
  info: ModelInfo;
  /** Whether prompts are wrapped in the model's chat template. */
  chat: boolean;
}

/** `token`: a new piece of generated text (one or more tokens; never a split character). */
export interface MsnTokenDetail {
  /** Request number of this element (1, 2, …), as returned in `done`. */
  requestId: number;
  /** The new text. The pieces of a request concatenate exactly to `done`'s `result.text`. */
  text: string;
  /** 0-based index of this piece within the request. */
  index: number;
  /** All text of this request so far. */
  output: string;
}

/** `done`: a request finished (EOS or max-new-tokens). */
export interface MsnDoneDetail {
  requestId: number;
  prompt: string;
  /** Text, token ids and statistics: newTokens, steps, meanAcceptedTokens, tokensPerSecond, prefillMs, ttftMs, decodeMs, … */
  result: GenerationResult;
}

/**
 * `error`: loading or a request failed, or a request was stopped (`code === 'aborted'`; a queued
 * request that is stopped is removed from the queue at once).
 */
export interface MsnErrorDetail {
  /** The failed request, or null for a load error. */
  requestId: number | null;
  phase: 'load' | 'generate';
  /** Error class, e.g. `NetworkError`, `DeviceLostError`, `AbortedError`. */
  name: string;
  /** Stable code: `network`, `model-format`, `unsupported-model`, `webgpu-unavailable`, `device-lost`, `aborted`, … */
  code: string;
  /** What failed (from the runtime). */
  message: string;
  /** What to do next, in plain words. */
  action: string;
  /** The error object itself. */
  error: unknown;
}

/** Event name → detail type of `<msn-chat>`. */
export interface MsnChatEventMap {
  progress: CustomEvent<MsnProgressDetail>;
  ready: CustomEvent<MsnReadyDetail>;
  token: CustomEvent<MsnTokenDetail>;
  done: CustomEvent<MsnDoneDetail>;
  error: CustomEvent<MsnErrorDetail>;
}
