// The model picker's Hub suggestions (src/app/suggestions.ts): every family has one, the names are
// Hub repository ids that resolve, large models load with q4, gated ones say they need a token.
import { describe, expect, it } from 'vitest';
import { describeSuggestion, FAMILIES, SUGGESTIONS, suggestionLocation } from '../../src/app/suggestions.js';
import { resolveModelLocation } from '../../src/model/location.js';

describe('model picker suggestions', () => {
  it('cover every supported family', () => {
    expect([...new Set(SUGGESTIONS.map((s) => s.family))].sort()).toEqual([...FAMILIES].sort());
    expect(FAMILIES).toEqual(['llama', 'mistral', 'qwen2', 'qwen3', 'phi3', 'gemma2', 'gemma3_text']);
  });

  it('are well-formed Hub repository ids, each once, resolving to their resolve/main folder', () => {
    expect(new Set(SUGGESTIONS.map((s) => s.repo.toLowerCase())).size).toBe(SUGGESTIONS.length);
    for (const s of SUGGESTIONS) {
      expect(s.repo).toMatch(/^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/);
      expect(suggestionLocation(s)).toBe(`hf:${s.repo}`);
      expect(resolveModelLocation(suggestionLocation(s), { base: 'https://app.example/' })).toBe(`https://huggingface.co/${s.repo}/resolve/main/`);
    }
  });

  it('suggest q4 for every model above 3 GB at 16 bits, and sizes agree with 2 bytes per parameter', () => {
    for (const s of SUGGESTIONS) {
      if (s.downloadGB > 3) expect(s.weights, s.repo).toBe('q4');
      expect(s.downloadGB / s.paramsB, s.repo).toBeGreaterThan(1.8);
      expect(s.downloadGB / s.paramsB, s.repo).toBeLessThan(2.6); // Qwen3-0.6B: 0.75B with embeddings
    }
  });

  it('mark the Gemma and Mistral repositories gated, and say what a gated one needs', () => {
    const gated = SUGGESTIONS.filter((s) => s.gated).map((s) => s.repo);
    expect(gated).toEqual(['google/gemma-2-2b-it', 'google/gemma-3-1b-it', 'mistralai/Mistral-7B-Instruct-v0.3']);
    const g = SUGGESTIONS.find((s) => s.repo === 'google/gemma-3-1b-it')!;
    expect(describeSuggestion(g)).toContain('Gated on Hugging Face: accept its license on https://huggingface.co/google/gemma-3-1b-it');
    expect(describeSuggestion(g)).toContain('Hugging Face token');
    const q = SUGGESTIONS.find((s) => s.repo === 'Qwen/Qwen3-1.7B')!;
    expect(describeSuggestion(q)).toBe('Qwen3, with 4-bit weights. 1.7B parameters, about 4.1 GB to download, downloaded from the Hugging Face Hub when you press Load (online only). Loads with 4-bit weights (q4).');
    expect(describeSuggestion(SUGGESTIONS[0])).toContain('135M parameters');
  });
});
