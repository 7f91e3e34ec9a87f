/**
 * The decoding scheduler: prefill, then decode steps until EOS or `maxNewTokens`, yielding the
 * tokens each step accepts. Definitions used everywhere (README, stats, benchmarks):
 *   - prefill covers the prompt minus its last token (committed to the KV cache in chunks);
 *   - every decode step starts from the current last token (the "root");
 *   - steps = decode forwards; newTokens includes a generated EOS; MAT = newTokens / steps.
 * Mode `ar` is plain greedy autoregressive decoding (one token per step).
 */
import { AbortedError, ContextOverflowError, InvalidArgumentError } from '../errors.js';
import type { StepBackend } from './backend.js';

export type DecodeMode = 'ar';

export interface DecodeOptions {
  mode: DecodeMode;
  maxNewTokens: number;
  /** Token ids that end generation (the EOS token is emitted, then decoding stops). */
  eosTokenIds: ReadonlySet<number>;
  /** Rows of one forward (prefill chunk size). */
  maxRows: number;
  /** Tokens the KV cache can hold for prompt + generation. */
  contextLength: number;
  signal?: AbortSignal;
  /** Milliseconds clock (injected for tests). */
  now?: () => number;
}

/** Counters of one generation. */
export interface DecodeStats {
  promptTokens: number;
  newTokens: number;
  steps: number;
  prefillMs: number;
  /** From the start of the call to the first new token. */
  ttftMs: number;
  decodeMs: number;
  /** histogram[n] = steps that produced n new tokens. */
  acceptedHistogram: number[];
  stopReason: 'eos' | 'length' | null;
}

function abortCheck(signal?: AbortSignal): void {
  if (signal?.aborted) throw new AbortedError();
}

/**
 * Runs prefill + decode; yields the new tokens of each step. The generator's return value is the
 * stats. @throws ContextOverflowError before any GPU work when prompt + maxNewTokens > context;
 * AbortedError when `signal` aborts (between steps).
 */
export async function* decode(backend: StepBackend, promptIds: readonly number[], opts: DecodeOptions): AsyncGenerator<number[], DecodeStats> {
  const now = opts.now ?? (() => performance.now());
  if (promptIds.length === 0) throw new InvalidArgumentError('The prompt has no tokens.');
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 1) throw new InvalidArgumentError(`maxNewTokens must be a positive integer, got ${opts.maxNewTokens}.`);
  if (promptIds.length + opts.maxNewTokens > opts.contextLength) throw new ContextOverflowError(promptIds.length, opts.maxNewTokens, opts.contextLength);
  const stats: DecodeStats = { promptTokens: promptIds.length, newTokens: 0, steps: 0, prefillMs: 0, ttftMs: 0, decodeMs: 0, acceptedHistogram: [], stopReason: null };
  const t0 = now();
  // Prefill: prompt[:-1] in chunks, no logits.
  const pre = promptIds.length - 1;
  for (let s = 0; s < pre; s += opts.maxRows) {
    abortCheck(opts.signal);
    const n = Math.min(opts.maxRows, pre - s);
    await backend.forward({
      tokens: promptIds.slice(s, s + n),
      positions: Array.from({ length: n }, (_, i) => s + i),
      mask: 'causal', topK: 0, commit: true,
    });
  }
  stats.prefillMs = now() - t0;
  const tDecode = now();
  let root = promptIds[promptIds.length - 1];
  let pos = promptIds.length - 1;
  while (true) {
    abortCheck(opts.signal);
    const r = await backend.forward({ tokens: [root], positions: [pos], mask: 'causal', topK: 1, commit: true });
    stats.steps++;
    const next = r.ids[0];
    stats.newTokens++;
    stats.acceptedHistogram[1] = (stats.acceptedHistogram[1] ?? 0) + 1;
    if (stats.newTokens === 1) stats.ttftMs = now() - t0;
    stats.decodeMs = now() - tDecode;
    yield [next];
    if (opts.eosTokenIds.has(next)) { stats.stopReason = 'eos'; break; }
    if (stats.newTokens >= opts.maxNewTokens) { stats.stopReason = 'length'; break; }
    root = next;
    pos++;
  }
  for (let i = 0; i < stats.acceptedHistogram.length; i++) stats.acceptedHistogram[i] ??= 0;
  return stats;
}
