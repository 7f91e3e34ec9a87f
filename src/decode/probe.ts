/**
 * Forward-cost probe for the adaptive tree: times forwards of T rows (causal mask, pending rows,
 * top-10 logits like a tree step) for each size in PROBE_SIZES, median of `reps` (the executor
 * compiled its pipelines at load, so no warm-up is needed). Sizes stop once a forward costs more
 * than 6 single-row forwards — such a tree can never pay (at most 6 tokens per step) — and the rest
 * are extrapolated linearly. Leaves only a pending block, which the next forward discards.
 * Only times are used: the probe's made-up tokens (ids 0..T−1) may give rows that no real prompt
 * gives, e.g. non-finite logits from a NaN in an embedding row the prompt never uses, so their
 * values are never checked here; decoding checks the rows that decide tokens.
 *
 * The rows sit at positions 0..T−1, so the backend's committed cache must be empty (the engine
 * resets it first); every forward says so (`expectedKvLength: 0`), as the scheduler's do.
 * @param maxRows largest T of one forward: sizes above it are not probed.
 * @param reps forwards per size (the median is kept).
 * @param now clock in ms.
 * @returns forward times in ms for each probed size (PROBE_SIZES up to maxRows).
 * @throws KvLengthMismatchError (from the backend) when its committed cache is not empty.
 */
import type { StepBackend } from './backend.js';
import { PROBE_SIZES, type CostTable } from './adaptive.js';
import { JACOBI_CANDIDATES } from './tree.js';

export async function probeForwardCost(backend: StepBackend, maxRows: number, vocabSize: number, reps = 3, now: () => number = () => performance.now()): Promise<CostTable> {
  const sizes = PROBE_SIZES.filter((T) => T <= maxRows);
  const ms: number[] = [];
  const topK = Math.min(JACOBI_CANDIDATES, vocabSize);
  for (const T of sizes) {
    const tokens = Array.from({ length: T }, (_, i) => i % vocabSize);
    const positions = Array.from({ length: T }, (_, i) => i);
    const times: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t0 = now();
      await backend.forward({ tokens, positions, mask: 'causal', topK, commit: false, expectedKvLength: 0 });
      times.push(now() - t0);
    }
    times.sort((a, b) => a - b);
    ms.push(times[Math.floor(times.length / 2)]);
    if (ms[ms.length - 1] > 6 * ms[0]) break;
  }
  const measured = ms.length;
  for (let i = measured; i < sizes.length; i++) ms.push((ms[measured - 1] * sizes[i]) / sizes[measured - 1]);
  return { sizes, ms };
}
