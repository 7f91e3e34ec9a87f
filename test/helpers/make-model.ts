// scripts/make-model.py from the real-shape tests (real-shape*.test.ts, family-shapes*.test.ts).
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
export const PYTHON = join(ROOT, '.venv', 'bin', 'python');
export const MAKE_MODEL = join(ROOT, 'scripts', 'make-model.py');
/** Made models are reused across runs from here (MSN_MODEL_CACHE, else $TMPDIR/msn-models). */
export const MODEL_CACHE = process.env.MSN_MODEL_CACHE ?? join(tmpdir(), 'msn-models');

/** make-model.py's --golden file: transformers' greedy tokens per prompt (see the script's docstring). */
export interface Golden {
  shape: string; layers: number; seed: number;
  prompts: Array<{ text: string; ids: number[]; greedy_ids: number[]; min_margin: number; decided_tokens?: number }>;
  quantize?: { bits: number; group: number; embeddings: boolean };
  kv_dtype?: 'float32' | 'float16';
}

/** Runs make-model.py with `args` (its output on this process's stdout/stderr); throws on failure or after `timeoutMs`. */
export function makeModel(args: string[], timeoutMs: number): void {
  execFileSync(PYTHON, [MAKE_MODEL, ...args], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'], timeout: timeoutMs });
}
