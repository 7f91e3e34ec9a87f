/**
 * Turns any error of the runtime into what a person reads: a title, the error's own message (it
 * already says what failed), and what to do next. Shared by the demo app and `<msn-chat>`.
 */
import { MsnError } from '../errors.js';

/** What the UI shows for an error. */
export interface ErrorView {
  /** Error class name, e.g. `NetworkError`. */
  name: string;
  /** Stable code (`MsnError.code`), e.g. `network`, `device-lost`, `worker-lost`, `aborted`; `unknown` otherwise. */
  code: string;
  /** One-line headline. */
  title: string;
  /** The error's message. */
  message: string;
  /** What to do next. */
  action: string;
  /** Whether the model must be loaded again before generating (device or worker lost, failed load). */
  needsReload: boolean;
}

const WEBGPU_HELP = 'Use a browser with WebGPU: Chrome or Edge 113+ on Windows, macOS, ChromeOS or Android; Safari 26+; Firefox 141+ on Windows. Open the page over https or from localhost. On Linux Chrome, enable chrome://flags/#enable-unsafe-webgpu. Blocklisted or missing GPU drivers also hide WebGPU: update them, or check chrome://gpu.';

/** The view of the error `e` thrown while `phase` was running. */
export function describeError(e: unknown, phase: 'load' | 'generate' = 'generate', online = typeof navigator === 'undefined' ? true : navigator.onLine): ErrorView {
  const err = e instanceof Error ? e : new Error(String(e));
  const name = err.name || 'Error';
  const code = e instanceof MsnError ? e.code : typeof (err as { code?: unknown }).code === 'string' ? String((err as { code?: unknown }).code) : 'unknown';
  const message = err.message || String(e);
  const view = (title: string, action: string, needsReload = phase === 'load'): ErrorView => ({ name, code, title, message, action, needsReload });
  switch (code) {
    case 'webgpu-unavailable':
      return view('WebGPU is not available in this browser', WEBGPU_HELP, true);
    case 'network':
      return online
        ? view('The model could not be downloaded', 'Check that the URL points at a model folder (the one holding config.json, tokenizer.json and the .safetensors files; on Hugging Face: https://huggingface.co/<owner>/<model>/resolve/main/), that the file exists, and that the server allows cross-origin requests (CORS). Offline, only models loaded once before (and not cleared) are available.', true)
        : view('You are offline and this model is not in the offline cache', 'Connect to the network and load the model once; it is then cached for offline use.', true);
    case 'gated-model':
      return view('This model\'s repository is gated or private', `Open ${/^[^/:]+\/[^/]+$/.test(String((e as MsnError).detail?.repo ?? '')) ? `https://huggingface.co/${String((e as MsnError).detail.repo)}` : 'its Hugging Face page'} while logged in and accept its license (or ask for access); then create a read token at https://huggingface.co/settings/tokens, paste it into the app's “Hugging Face token” setting (a page using the library passes it as hubToken), and load again. The app keeps the token in this browser only.`, true);
    case 'model-format':
      if ((e as MsnError).detail?.evicted) return view('A cached model file was damaged', 'The damaged copy was removed from the offline cache. Load the model again (or reload the page) to download it afresh.', true);
      return view('This folder does not hold a model the runtime can read', 'Use a Hugging Face folder of a supported model (README, “Supported models”) with config.json, tokenizer.json and safetensors weights (F32, F16 or BF16).', true);
    case 'storage-quota':
      return view('Not enough browser storage to cache this model', 'Press “Load without caching” to use it now (it downloads again on each visit), or free space and load it again, or open the folder from disk with “Open folder…”, or pick a q4 model.', true);
    case 'unsupported-model':
      return view('This model is not supported', 'Pick a model of a supported family (Llama, Mistral, Qwen2/2.5, Qwen3, Phi-3/3.5, Gemma 2, Gemma 3 text: README, “Supported models”), or one of the picker\'s suggestions.', true);
    case 'integrity':
      return view('A model file was corrupted', 'The bad copy was removed from the cache. Load the model again to download it afresh.', true);
    case 'device-lost':
      return view('The GPU stopped working (device lost)', 'Press “Reload model” to start again. If it happens again, close other GPU-heavy tabs, or use a smaller model or a shorter context.', true);
    case 'worker-lost':
      if ((e as MsnError).detail?.scriptFailed) return view('The page\'s files changed or could not be loaded', 'Reload the page. A new version of this site may have been deployed since the page was opened, or the network failed while it loaded the model\'s worker.', true);
      return view('The model stopped working (its worker was lost)', 'Press “Reload model” to start again. If it happens again, close other heavy tabs, or use a smaller model or a shorter context.', true);
    case 'out-of-memory':
      return view('Not enough GPU memory for this model', 'Use a smaller model or a shorter context length, or close other GPU-heavy tabs.', true);
    case 'limit-too-low':
      return view('This GPU is too limited for this model', 'Use a smaller model or a shorter context length.', true);
    case 'gpu-validation':
    case 'gpu-internal':
      return view('The GPU rejected a computation', 'Nothing it computed was used. Reload the model; if it happens again, update the browser or GPU driver, and please report the message.', true);
    case 'self-check':
      return view('This GPU computes wrong values for this model', 'A check after loading found that this GPU or its driver gives results that differ from the reference, so the generated text would be wrong. Try another browser, update the GPU driver, or use another device.', true);
    case 'context-overflow':
      return view('The prompt is too long', 'Shorten the prompt or lower “Max new tokens”.', false);
    case 'aborted':
      return view('Stopped', 'Generation was stopped; you can send another prompt.', false);
    case 'chat-template':
      return view('The model\'s chat template cannot be used for this conversation', 'Change the conversation (for example, without a system message, or without special-token text), or turn the chat template off and send a raw completion prompt: the app\'s “Use the chat template” switch, <msn-chat chat="off">, or chat: false in the API (no --chat in the CLI).', false);
    case 'invalid-argument':
      return view('Invalid input', 'Correct the value and try again.', phase === 'load');
    case 'busy':
      return view('The runtime is busy', 'Wait for the current request to finish.', false);
    case 'non-finite-logits':
      return view('The model computed invalid numbers (NaN or infinity)', 'This model cannot choose a next token: its weights or their conversion are probably broken. Check the model files with a reference implementation, or use another model.', phase === 'load');
    default:
      if (name === 'SecurityError') return view('The browser refused to start the model worker', 'Serve the script and the page from the same origin (workers must be same-origin), and allow worker-src \'self\' in the Content-Security-Policy.', true);
      return view(phase === 'load' ? 'The model could not be loaded' : 'Generation failed', 'Reload the model and try again. If it keeps failing, reload the page.', true);
  }
}
