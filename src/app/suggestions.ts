/**
 * Public Hugging Face Hub folders the app's model picker suggests: one or more per supported family
 * (README, "Supported models"), small enough for a browser (with 4-bit weights where suggested).
 * Names only: nothing is downloaded until the user presses Load, and they load only when online.
 * The one place this list lives; test/app/suggestions.test.ts checks it.
 *
 * Sizes are approximate download sizes of the folder's safetensors weights as published (16-bit),
 * in GB, from the parameter counts on the models' Hub pages (2 bytes per parameter): a hint for the
 * user, not a measurement.
 */

/** The model families of the runtime, by `config.json` `model_type`. */
export type SuggestionFamily = 'llama' | 'mistral' | 'qwen2' | 'qwen3' | 'phi3' | 'gemma2' | 'gemma3_text';

/** Every family the runtime loads, each with at least one suggestion (checked by the unit test). */
export const FAMILIES: readonly SuggestionFamily[] = ['llama', 'mistral', 'qwen2', 'qwen3', 'phi3', 'gemma2', 'gemma3_text'];

/** A suggested Hub folder. */
export interface ModelSuggestion {
  /** Hub repository id `owner/name` (loaded as `hf:owner/name`). */
  repo: string;
  family: SuggestionFamily;
  /** Approximate parameter count, billions. */
  paramsB: number;
  /** Approximate download of its 16-bit weights, GB. */
  downloadGB: number;
  /** The Weights setting to load it with: `q4` for models too large for most browsers at 16 bits. */
  weights: 'q4' | 'none';
  /** Whether the repository is gated: its license must be accepted on the Hub, and a token given. */
  gated: boolean;
  /** A short note shown under the picker. */
  note: string;
}

export const SUGGESTIONS: readonly ModelSuggestion[] = [
  { repo: 'HuggingFaceTB/SmolLM2-135M-Instruct', family: 'llama', paramsB: 0.135, downloadGB: 0.27, weights: 'none', gated: false, note: 'SmolLM2 (a Llama), the smallest chat model here.' },
  { repo: 'HuggingFaceTB/SmolLM2-360M-Instruct', family: 'llama', paramsB: 0.36, downloadGB: 0.72, weights: 'none', gated: false, note: 'SmolLM2 (a Llama).' },
  { repo: 'TinyLlama/TinyLlama-1.1B-Chat-v1.0', family: 'llama', paramsB: 1.1, downloadGB: 2.2, weights: 'q4', gated: false, note: 'TinyLlama (a Llama with grouped-query attention).' },
  { repo: 'Qwen/Qwen2.5-0.5B-Instruct', family: 'qwen2', paramsB: 0.49, downloadGB: 0.99, weights: 'none', gated: false, note: 'Qwen2.5 (q/k/v biases).' },
  { repo: 'Qwen/Qwen2.5-1.5B-Instruct', family: 'qwen2', paramsB: 1.5, downloadGB: 3.1, weights: 'q4', gated: false, note: 'Qwen2.5, with 4-bit weights.' },
  { repo: 'Qwen/Qwen3-0.6B', family: 'qwen3', paramsB: 0.6, downloadGB: 1.5, weights: 'none', gated: false, note: 'Qwen3 (q/k norms; thinks in <think> blocks).' },
  { repo: 'Qwen/Qwen3-1.7B', family: 'qwen3', paramsB: 1.7, downloadGB: 4.1, weights: 'q4', gated: false, note: 'Qwen3, with 4-bit weights.' },
  { repo: 'microsoft/Phi-3.5-mini-instruct', family: 'phi3', paramsB: 3.8, downloadGB: 7.6, weights: 'q4', gated: false, note: 'Phi-3.5 mini (fused projections, longrope), with 4-bit weights.' },
  { repo: 'google/gemma-2-2b-it', family: 'gemma2', paramsB: 2.6, downloadGB: 5.2, weights: 'q4', gated: true, note: 'Gemma 2 (soft-capping, local and global layers), with 4-bit weights.' },
  { repo: 'google/gemma-3-1b-it', family: 'gemma3_text', paramsB: 1.0, downloadGB: 2.0, weights: 'none', gated: true, note: 'Gemma 3 text model.' },
  { repo: 'mistralai/Mistral-7B-Instruct-v0.3', family: 'mistral', paramsB: 7.25, downloadGB: 14.5, weights: 'q4', gated: true, note: 'Mistral 7B: large even at 4 bits (about 4 GB of GPU memory); a desktop GPU.' },
];

/** The model location the picker fills in for `s`. */
export function suggestionLocation(s: ModelSuggestion): string {
  return `hf:${s.repo}`;
}

/** What the picker says about `s`: its size, the weights it loads with, and the token a gated one needs. */
export function describeSuggestion(s: ModelSuggestion): string {
  const size = `${s.paramsB < 1 ? `${Math.round(s.paramsB * 1000)}M` : `${s.paramsB}B`} parameters, about ${s.downloadGB} GB to download`;
  const weights = s.weights === 'q4' ? ' Loads with 4-bit weights (q4).' : '';
  const gated = s.gated ? ` Gated on Hugging Face: accept its license on https://huggingface.co/${s.repo} and paste a read token into “Hugging Face token” first.` : '';
  return `${s.note} ${size}, downloaded from the Hugging Face Hub when you press Load (online only).${weights}${gated}`;
}
