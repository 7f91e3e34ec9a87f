/** Fixture models (test/fixtures/models, written by test/fixtures/make_fixtures.py) and their goldens. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const FIXTURE_DIR = join(import.meta.dirname, '..', 'fixtures', 'models');
export const FIXTURES = ['tiny-gqa-f32', 'tiny-mha-tied-f16', 'tiny-llama3-bf16-sharded', 'tiny-gqa-f16-untied'] as const;
/**
 * The other families' fixtures (index.json "families"): Qwen2 (q/k/v biases, use_sliding_window
 * false beside a short sliding_window; and with the window on for layer 1 only), Qwen3 (q/k norms,
 * explicit head_dim), Mistral with a sliding window shorter than the golden sequence, Gemma 2
 * ((1 + w) norms, GeGLU, √C embeddings, post-norms, both soft-caps, a local and a global layer),
 * Gemma 3 (q/k norms, local and global RoPE bases) and a Gemma3ForConditionalGeneration folder holding
 * the Gemma 3 fixture's language model (its golden is that fixture's), Phi-3 (fused qkv_proj and
 * gate_up_proj, partial rotary 0.5, a sliding window shorter than the golden sequence) and Phi-3 with
 * longrope (original_max_position_embeddings 16: the golden's greedy steps cross to the long factors).
 */
export const FAMILY_FIXTURES = ['tiny-qwen2-bf16', 'tiny-qwen2-window-f32', 'tiny-qwen3-f16', 'tiny-mistral-window-f32', 'tiny-gemma2-f32', 'tiny-gemma3-f32', 'tiny-gemma3-mm-f32', 'tiny-phi3-f32', 'tiny-phi3-longrope-f32'] as const;

export interface Golden {
  dtype: string;
  prompt_text: string;
  prompt_ids: number[];
  prompt_logits: number[][];
  greedy_ids: number[];
  greedy_text: string;
  greedy_logits: number[][];
  min_margin: number;
  eos_token_ids: number[];
  chat?: { messages: Array<{ role: string; content: string }>; add_generation_prompt: boolean; text: string; ids: number[] };
}

export function fixturePath(name: string): string {
  return join(FIXTURE_DIR, name);
}

export function golden(name: string): Golden {
  return JSON.parse(readFileSync(join(FIXTURE_DIR, name, 'golden.json'), 'utf8')) as Golden;
}
