/**
 * Forward-cost probe for the adaptive tree: times forwards of T rows (causal mask, pending rows,
 * top-10 logits like a tree step) for each size in PROBE_SIZES; median of `reps` after a warm-up.
 * Leaves only a pending block, which the next forward discards.
 */
import type { StepBackend } from './backend.js';
import { PROBE_SIZES, type CostTable } from './adaptive.js';

export async function probeForwardCost(backend: StepBackend, maxRows: number, vocabSize: number, reps = 3, now: () => number = () => performance.now()): Promise<CostTable> {
  const sizes = PROBE_SIZES.filter((T) => T <= maxRows);
  const ms: number[] = [];
  const topK = Math.min(10, vocabSize);
  for (const T of sizes) {
    const tokens = Array.from({ length: T }, (_, i) => i % vocabSize);
    const positions = Array.from({ length: T }, (_, i) => i);
    const times: number[] = [];
    for (let r = 0; r <= reps; r++) {
      const t0 = now();
      await backend.forward({ tokens, positions, mask: 'causal', topK, commit: false });
      if (r > 0) times.push(now() - t0);
    }
    times.sort((a, b) => a - b);
    ms.push(times[Math.floor(times.length / 2)]);
  }
  return { sizes, ms };
}
