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
 * How a {@link WorkerLostError}'s cause starts when the worker's script did not load (a missing
 * file, e.g. a chunk that a new deployment removed; a failed import; a syntax error): the page's
 * files, not the model or the device, are at fault.
 */
export const WORKER_SCRIPT_FAILED = 'its script failed to load';

/**
 * The worker that runs the executor is gone: it exited, crashed, was terminated or killed for
 * memory, failed to load its script, or stopped answering the liveness heartbeat
 * (`src/engine/worker-watch.ts`). Its GPU device went with it, so this is a {@link DeviceLostError}
 * (reason `worker-lost`, code `worker-lost`): code that creates a new engine after a device loss
 * handles this too.
 */
export class WorkerLostError extends DeviceLostError {
  /**
   * @param cause What happened to the worker, e.g. `the executor process exited with code 1`. A cause
   *   that starts with {@link WORKER_SCRIPT_FAILED} is a script that did not load: the message then
   *   says to reload the page, and `detail.scriptFailed` is true.
   */
  constructor(cause: string) {
    const scriptFailed = cause.startsWith(WORKER_SCRIPT_FAILED);
    const advice = scriptFailed
      ? "The page's files changed (a new version of the site was deployed) or could not be downloaded: reload the page."
      : 'Create a new engine to continue; if it happens again, try a smaller model or context length.';
    super('worker-lost', cause, { code: 'worker-lost', message: `The model's worker stopped: ${cause}. Its pending calls were cancelled. ${advice}` });
    this.detail.scriptFailed = scriptFailed;
    this.name = 'WorkerLostError'; // explicit: class names do not survive minification
  }
}

/** A GPU allocation failed, or the device ran out of memory during `what` (bytes unknown then). */
export class OutOfMemoryError extends MsnError {
  /**
   * @param what what was being allocated (a buffer's label, or the whole model).
   * @param bytes its size, bytes.
   * @param plan the memory plan's numbers (src/model/memory-plan.ts): the model's required bytes, the
   *   bytes allowed (`gpuMemoryBytes`; null when the GPU itself ran out), its parts and what to do;
   *   all land in `detail` (`requiredBytes`, `allowedBytes`, `weightsBytes`, `kvBytes`, `scratchBytes`,
   *   `contextLength`, `advice`).
   */
  constructor(what: string, bytes?: number, plan?: OutOfMemoryPlan) {
    const where = bytes === undefined ? `during ${what}` : `while allocating ${what} (${bytes} bytes)`;
    const message = plan
      ? `Out of GPU memory${plan.allowedBytes === null ? ` ${where}: the model needs ${plan.requiredBytes} bytes and the GPU could not provide them` : `: the model needs ${plan.requiredBytes} bytes, but ${plan.allowedBytes} are allowed`} (weights ${plan.weightsBytes} + KV cache ${plan.kvBytes} + scratch ${plan.scratchBytes} bytes at ${plan.contextLength} tokens of context). Use ${plan.advice.join(', or ')}.`
      : `Out of GPU memory ${where}. Use a smaller model or a shorter contextLength.`;
    super('out-of-memory', message, { what, bytes, ...plan });
    this.name = 'OutOfMemoryError'; // explicit: class names do not survive minification
  }
}

/** The memory plan's numbers carried by an {@link OutOfMemoryError}. */
export interface OutOfMemoryPlan {
  requiredBytes: number;
  /** The budget (`gpuMemoryBytes`), or null when a real allocation failed without one. */
  allowedBytes: number | null;
  weightsBytes: number;
  kvBytes: number;
  scratchBytes: number;
  contextLength: number;
  /** What to do, most effective first, e.g. "4-bit weights (quantize: 'q4', --quantize q4)". */
  advice: string[];
}

/** An adapter limit is below what the model or kernel needs. */
export class LimitTooLowError extends MsnError {
  constructor(limit: string, observed: number, required: number, hint = 'Use a smaller model or context length.') {
    super('limit-too-low', `GPU limit ${limit} is ${observed}, but ${required} is required. ${hint}`, { limit, observed, required });
    this.name = 'LimitTooLowError'; // explicit: class names do not survive minification
  }
}

/**
 * The GPU device rejected a command (a WebGPU validation error): an invalid pipeline, bind group,
 * dispatch or submit. Nothing the command should have computed was computed, so no result is
 * returned. `detail`: what was running, the adapter and the device's own message.
 */
export class GpuValidationError extends MsnError {
  constructor(what: string, adapter: string, gpuMessage: string) {
    super('gpu-validation', `The GPU${adapter ? ` (${adapter})` : ''} rejected ${what}: ${gpuMessage.trim()}. This is a bug in msn-webgpu or in this WebGPU implementation; please report it with this message.`, { what, adapter, gpuMessage });
    this.name = 'GpuValidationError'; // explicit: class names do not survive minification
  }
}

/** The WebGPU implementation failed internally (a GPUInternalError) while running `what`; no result is returned. */
export class GpuInternalError extends MsnError {
  constructor(what: string, adapter: string, gpuMessage: string) {
    super('gpu-internal', `The GPU${adapter ? ` (${adapter})` : ''} failed internally during ${what}: ${gpuMessage.trim()}. Retry; if it persists, update the browser or GPU driver, or use a smaller model.`, { what, adapter, gpuMessage });
    this.name = 'GpuInternalError'; // explicit: class names do not survive minification
  }
}

/**
 * The load-time self-check failed: one layer of the model computed on the GPU differs from the same
 * layer computed in float64 on the CPU by more than the kernels' tolerance, so the GPU driver or a
 * kernel computes wrong values and the model's output would be silently wrong on this adapter.
 */
export class SelfCheckError extends MsnError {
  constructor(adapter: string, detail: { layer: number; maxAbsErr: number; tolerance: number; row: number; channel: number }) {
    super('self-check', `Self-check failed on ${adapter}: layer ${detail.layer} computed on the GPU differs from float64 on the CPU by ${detail.maxAbsErr.toPrecision(3)} (tolerance ${detail.tolerance.toPrecision(3)}; token row ${detail.row}, channel ${detail.channel}). This GPU driver or a kernel computes wrong values, so generated text would be wrong. Try another browser or GPU driver, or load with selfCheck: false (CLI --no-self-check) to skip the check at your own risk.`, { adapter, ...detail });
    this.name = 'SelfCheckError'; // explicit: class names do not survive minification
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
    super('unsupported-model', `Unsupported model config: ${field} = ${JSON.stringify(observed)}; supported: ${supported}. Supported architectures: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM (README, "Supported models").`, { field, observed });
    this.name = 'UnsupportedModelError'; // explicit: class names do not survive minification
  }
}

/**
 * A checkpoint's weight format (config.json's `quantization_config`, or its weight files) is one this
 * runtime cannot load: AWQ, bitsandbytes, fp8, 2/3-bit, marlin/exllama-packed GPTQ, PyTorch pickles, …
 * Thrown by `describeModel` before any weight byte is read. `detail`: format (what was found),
 * supported (what is), field (the config field that decided, when there is one).
 */
export class UnsupportedQuantizationError extends MsnError {
  constructor(format: string, supported: string, field?: string) {
    super('unsupported-quantization', `Unsupported weight format: ${format}${field ? ` (${field})` : ''}. Supported: ${supported}. Convert the model to one of these (e.g. \`npm run quantize\` from the unquantized safetensors weights).`, { format, supported, field });
    this.name = 'UnsupportedQuantizationError'; // explicit: class names do not survive minification
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

/**
 * An OpenAI-style request (`engine.chat.completions.create`, `engine.completions.create`, `npm run
 * serve`) set a parameter this runtime does not support to a value other than its default, or a
 * parameter the API does not have. `detail`: param (its name, e.g. `n` or `messages[0].name`), value.
 */
export class UnsupportedParameterError extends MsnError {
  constructor(param: string, value: unknown, why: string) {
    super('unsupported-parameter', `Unsupported parameter "${param}" (${JSON.stringify(value) ?? String(value)}): ${why}`, { param, value });
    this.name = 'UnsupportedParameterError'; // explicit: class names do not survive minification
  }
}

/**
 * An OpenAI-style request named a model this engine has not loaded. `detail`: param (`model`),
 * model (asked for), available (the engine's model id).
 */
export class ModelNotFoundError extends MsnError {
  constructor(model: string, available: string) {
    super('model-not-found', `The model "${model}" is not loaded here; this engine serves "${available}". Use that id (GET /v1/models lists it) or omit "model".`, { param: 'model', model, available });
    this.name = 'ModelNotFoundError'; // explicit: class names do not survive minification
  }
}

/**
 * A forward named a mask id the executor does not hold: never registered, registered for another
 * tree size, or forgotten when the executor's mask library filled up and was cleared. Register the
 * mask again with `registerMask()` (the decode scheduler does so once, on this error's code
 * `unknown-mask`). `detail`: mask (the id), T (rows of the forward), registeredT (the T the id was
 * registered with, or null when the id is unknown).
 */
export class UnknownMaskError extends MsnError {
  constructor(mask: number, T: number, registeredT: number | null) {
    super('unknown-mask', registeredT === null
      ? `forward: mask ${mask} is unknown (never registered, or forgotten when the mask library filled up); register it with registerMask().`
      : `forward: mask ${mask} was registered for ${registeredT}×${registeredT} rows, not ${T}×${T}; register the ${T}-row mask with registerMask().`, { mask, T, registeredT });
    this.name = 'UnknownMaskError'; // explicit: class names do not survive minification
  }
}

/**
 * The caller's idea of the KV cache length disagrees with the executor's, which is the only source of
 * truth: a forward's `expectedKvLength` (the committed rows, after the requested `keep` compaction,
 * that its first new row follows) is not what the executor holds. Nothing ran. A decode scheduler
 * that gets this has lost track of the cache (e.g. another caller used the same executor):
 * start the generation again. `detail`: expected, actual.
 */
export class KvLengthMismatchError extends MsnError {
  constructor(expected: number, actual: number) {
    super('kv-length-mismatch', `forward: the caller expects ${expected} KV rows before this forward, but the executor holds ${actual}. Nothing ran; the caller's bookkeeping is out of step with the executor (another caller may share it): reset and start the generation again.`, { expected, actual });
    this.name = 'KvLengthMismatchError'; // explicit: class names do not survive minification
  }
}

/** A file or URL could not be read. */
export class NetworkError extends MsnError {
  constructor(url: string, status: number | string) {
    // CORS only exists in a page (a document or its workers); Node's fetch has no such rule.
    const inPage = typeof (globalThis as { location?: unknown }).location === 'object';
    super('network', /^[a-z]+:\/\//i.test(url)
      ? `Could not read ${url} (${status}). Check the model URL${inPage ? ', and that its server allows this page to fetch it (CORS)' : ' and the network connection'}.`
      : `Could not read ${url} (${status}). Check the model folder path.`, { url, status });
    this.name = 'NetworkError'; // explicit: class names do not survive minification
  }
}

/**
 * The Hugging Face Hub (or an origin trusted with its token) answered 401 or 403 for a model file:
 * the repository is gated (Llama, Gemma, …: its license must be accepted on its Hub page first),
 * private, or does not exist. Thrown by the model source before any weight is read. The token is
 * never part of the message or detail. `detail`: repo (`owner/name`, or the folder URL off the Hub),
 * url (the file), status (401 or 403), tokenSent (whether a token went with the request).
 */
export class GatedModelError extends MsnError {
  constructor(repo: string, url: string, status: number, tokenSent: boolean) {
    const hub = /^[^/:]+\/[^/]+$/.test(repo) ? `https://huggingface.co/${repo}` : repo;
    const why = tokenSent
      ? `with the Hugging Face token given, so that token has no access to it (its license not accepted yet, or a token without read access)`
      : 'without a Hugging Face token';
    super('gated-model', `The Hugging Face repository ${repo} is gated or private (or does not exist): ${url} answered ${status} ${why}. Open ${hub} while logged in and accept its license (or ask for access), then create a read token at https://huggingface.co/settings/tokens and give it: the HF_TOKEN environment variable (CLI, npm run serve) or the app's "Hugging Face token" setting.`, { repo, url, status, tokenSent });
    this.name = 'GatedModelError'; // explicit: class names do not survive minification
  }
}

/** The executor is already running a forward (calls must be awaited one at a time). */
export class BusyError extends MsnError {
  constructor(what: string) {
    super('busy', `${what} was called while another call is still running. Await each call (the Engine queues requests for you).`);
    this.name = 'BusyError'; // explicit: class names do not survive minification
  }
}

/**
 * A row of logits has no finite value (every logit NaN or ±infinity), so no token can be chosen.
 * Thrown by the decode scheduler at the row greedy AR decoding would use. `detail`: step (1-based
 * decode step), row (row of that forward), position (the row's KV position), id (what the backend
 * returned as the row's argmax: −1 when no finite logit, or an id outside the vocabulary).
 */
export class NonFiniteLogitsError extends MsnError {
  constructor(where: { step: number; row: number; position: number; id: number }) {
    const got = where.id === -1 ? '' : ` (the backend returned token id ${where.id}, outside the vocabulary)`;
    super('non-finite-logits', `The model's logits are not finite at decode step ${where.step}, row ${where.row} (position ${where.position}): every logit is NaN or ±infinity${got}, so there is no next token. The weights or the activations hold NaN or infinity: check the model files (a NaN weight, a bad dtype conversion) with a reference implementation.`, { ...where });
    this.name = 'NonFiniteLogitsError'; // explicit: class names do not survive minification
  }
}

/**
 * The model's chat template cannot be applied: it uses a construct this runtime cannot render exactly
 * as transformers' `apply_chat_template` does, it failed to parse, or it refused the conversation
 * itself (`raise_exception`, e.g. "System role not supported"). Thrown before any GPU work.
 * `detail.construct` names the construct (`raise_exception` for the template's own refusal).
 */
export class ChatTemplateError extends MsnError {
  constructor(message: string, detail: Record<string, unknown> & { construct: string }) {
    super('chat-template', message, detail);
    this.name = 'ChatTemplateError'; // explicit: class names do not survive minification
  }
}

/**
 * The browser's storage for this site (the Cache API the offline copy of a model goes into) has
 * less room than the model needs, found before any of its weights were cached
 * (`navigator.storage.estimate()`: available = quota − usage). `detail`: folder, neededBytes,
 * availableBytes, quotaBytes, usageBytes.
 */
export class StorageQuotaError extends MsnError {
  constructor(folder: string, needed: number, quota: number, usage: number) {
    const available = Math.max(0, quota - usage);
    const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
    super('storage-quota', `Not enough browser storage to cache ${folder} for offline use: it needs ${needed} bytes (${mb(needed)}), but only ${available} bytes (${mb(available)}) are available (quota ${quota} − used ${usage}). Free space (clear cached models, or other sites' data, or disk space), allow this site persistent storage, use a q4 model, open the folder from disk ("Open folder…"), or load it without caching ("Load without caching": it then downloads again on each visit).`, { folder, neededBytes: needed, availableBytes: available, quotaBytes: quota, usageBytes: usage });
    this.name = 'StorageQuotaError'; // explicit: class names do not survive minification
  }
}

/** All error classes by name, used to rebuild them after crossing the worker boundary. */
export const ERROR_CLASSES: Record<string, new (...args: never[]) => MsnError> = {
  MsnError, WebGpuUnavailableError, DeviceLostError, WorkerLostError, OutOfMemoryError, LimitTooLowError, ModelFormatError,
  UnsupportedModelError, UnsupportedQuantizationError, IntegrityError, ContextOverflowError, AbortedError, InvalidArgumentError, NetworkError, BusyError,
  NonFiniteLogitsError, UnknownMaskError, KvLengthMismatchError,
  GpuValidationError, GpuInternalError, SelfCheckError,
  ChatTemplateError, StorageQuotaError, UnsupportedParameterError, ModelNotFoundError, GatedModelError,
};
