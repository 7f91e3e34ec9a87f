/**
 * Typed errors of the runtime. Every message says what failed, the observed versus the required
 * value where there is one, and what to do next. Errors keep their class across the worker boundary
 * (see `src/worker/transfer.ts`), so callers can use `instanceof`.
 */

/** Base class of every error the runtime throws on purpose. */
export class MsnError extends Error {
  /** Stable machine-readable code, e.g. `model-format`. */
  readonly code: string;
  /** Extra structured detail (observed/required values, file or tensor names). */
  readonly detail: Record<string, unknown>;
  constructor(code: string, message: string, detail: Record<string, unknown> = {}) {
    super(message);
    this.name = 'MsnError';
    this.code = code;
    this.detail = detail;
  }
}

/** `navigator.gpu` is missing or no adapter/device could be obtained. */
export class WebGpuUnavailableError extends MsnError {
  constructor(message: string, detail: Record<string, unknown> = {}) {
    super('webgpu-unavailable', message, detail);
    this.name = 'WebGpuUnavailableError'; // explicit: class names do not survive minification
  }
}

/** The GPU device was lost (driver reset, tab backgrounded, out of memory, `destroy()`). */
export class DeviceLostError extends MsnError {
  /**
   * @param reason `GPUDeviceLostInfo.reason` (`destroyed`, `unknown`, …).
   * @param message The device's own message (kept raw in `detail.deviceMessage`).
   * @param own Subclasses only: their code and full message instead of the device-lost ones.
   */
  constructor(reason: string, message: string, own?: { code: string; message: string }) {
    super(own?.code ?? 'device-lost', own?.message ?? `The GPU device was lost (${reason}): ${message || 'no message'}. Create a new engine to continue; if it happens again, try a smaller model or context length.`, { reason, deviceMessage: message });
    this.name = 'DeviceLostError'; // explicit: class names do not survive minification
  }
}

/**
 * The worker that runs the executor is gone: it exited, crashed, was terminated or killed for
 * memory, failed to load its script, or stopped answering the liveness heartbeat
 * (`src/engine/worker-watch.ts`). Its GPU device went with it, so this is a {@link DeviceLostError}
 * (reason `worker-lost`, code `worker-lost`): code that creates a new engine after a device loss
 * handles this too.
 */
export class WorkerLostError extends DeviceLostError {
  /** @param cause What happened to the worker, e.g. `the worker thread exited with code 1`. */
  constructor(cause: string) {
    super('worker-lost', cause, { code: 'worker-lost', message: `The model's worker stopped: ${cause}. Its pending calls were cancelled. Create a new engine to continue; if it happens again, try a smaller model or context length.` });
    this.name = 'WorkerLostError'; // explicit: class names do not survive minification
  }
}

/** A GPU allocation failed. */
export class OutOfMemoryError extends MsnError {
  constructor(what: string, bytes: number) {
    super('out-of-memory', `Out of GPU memory while allocating ${what} (${bytes} bytes). Use a smaller model or a shorter contextLength.`, { what, bytes });
    this.name = 'OutOfMemoryError'; // explicit: class names do not survive minification
  }
}

/** An adapter limit is below what the model or kernel needs. */
export class LimitTooLowError extends MsnError {
  constructor(limit: string, observed: number, required: number, hint = 'Use a smaller model or context length.') {
    super('limit-too-low', `GPU limit ${limit} is ${observed}, but ${required} is required. ${hint}`, { limit, observed, required });
    this.name = 'LimitTooLowError'; // explicit: class names do not survive minification
  }
}

/** A model file is malformed (safetensors header, JSON, offsets, dtypes, missing tensors). */
export class ModelFormatError extends MsnError {
  constructor(message: string, detail: Record<string, unknown> = {}) {
    super('model-format', message, detail);
    this.name = 'ModelFormatError'; // explicit: class names do not survive minification
  }
}

/** A model config asks for something this runtime does not implement. */
export class UnsupportedModelError extends MsnError {
  constructor(field: string, observed: unknown, supported: string) {
    super('unsupported-model', `Unsupported model config: ${field} = ${JSON.stringify(observed)}; supported: ${supported}. Use a Llama-family model (LlamaForCausalLM, MistralForCausalLM without sliding window).`, { field, observed });
    this.name = 'UnsupportedModelError'; // explicit: class names do not survive minification
  }
}

/** A file's digest does not match the manifest. */
export class IntegrityError extends MsnError {
  constructor(file: string, expected: string, observed: string) {
    super('integrity', `Integrity check failed for ${file}: expected sha256 ${expected}, got ${observed}. The cached copy was evicted; reload to download it again.`, { file, expected, observed });
    this.name = 'IntegrityError'; // explicit: class names do not survive minification
  }
}

/** Prompt plus requested new tokens do not fit the context. */
export class ContextOverflowError extends MsnError {
  constructor(promptTokens: number, maxNewTokens: number, contextLength: number) {
    super('context-overflow', `Prompt (${promptTokens} tokens) plus maxNewTokens (${maxNewTokens}) exceeds the context length (${contextLength}). Shorten the prompt, lower maxNewTokens, or create the engine with a larger contextLength.`, { promptTokens, maxNewTokens, contextLength });
    this.name = 'ContextOverflowError'; // explicit: class names do not survive minification
  }
}

/** The caller aborted the request. */
export class AbortedError extends MsnError {
  constructor(message = 'Generation was aborted.') {
    super('aborted', message);
    this.name = 'AbortedError'; // explicit: class names do not survive minification
  }
}

/** Invalid arguments to a public function. */
export class InvalidArgumentError extends MsnError {
  constructor(message: string, detail: Record<string, unknown> = {}) {
    super('invalid-argument', message, detail);
    this.name = 'InvalidArgumentError'; // explicit: class names do not survive minification
  }
}

/** A file or URL could not be read. */
export class NetworkError extends MsnError {
  constructor(url: string, status: number | string) {
    super('network', /^[a-z]+:\/\//i.test(url)
      ? `Could not read ${url} (${status}). Check the model URL, and that its server allows this page to fetch it (CORS).`
      : `Could not read ${url} (${status}). Check the model folder path.`, { url, status });
    this.name = 'NetworkError'; // explicit: class names do not survive minification
  }
}

/** The executor is already running a forward (calls must be awaited one at a time). */
export class BusyError extends MsnError {
  constructor(what: string) {
    super('busy', `${what} was called while another call is still running. Await each call (the Engine queues requests for you).`);
    this.name = 'BusyError'; // explicit: class names do not survive minification
  }
}

/** All error classes by name, used to rebuild them after crossing the worker boundary. */
export const ERROR_CLASSES: Record<string, new (...args: never[]) => MsnError> = {
  MsnError, WebGpuUnavailableError, DeviceLostError, WorkerLostError, OutOfMemoryError, LimitTooLowError, ModelFormatError,
  UnsupportedModelError, IntegrityError, ContextOverflowError, AbortedError, InvalidArgumentError, NetworkError, BusyError,
};
