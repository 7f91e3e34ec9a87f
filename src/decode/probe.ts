/**
 * Forward-cost probe for the adaptive tree: times forwards of T rows (causal mask, pending rows,
 * top-10 logits like a tree step) for each size in PROBE_SIZES, median of `reps` (the executor
 * compiled its pipelines at load, so no warm-up is needed). Sizes stop once a forward costs more
 * than 6 single-row forwards — such a tree can never pay (at most 6 tokens per step) — and the rest
 * are extrapolated linearly. Leaves only a pending block, which the next forward discards.
 * @throws NonFiniteLogitsError (phase 'probe') when a probed row has no finite logit (its argmax
 * id is −1 or outside [0, vocabSize)): the model is broken, and decoding would fail the same way.
 */
import { NonFiniteLogitsError } from '../errors.js';
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
    for (let r = 0; r < reps; r++) {
      const t0 = now();
      const res = await backend.forward({ tokens, positions, mask: 'causal', topK, commit: false });
      times.push(now() - t0);
      for (let j = 0; j < res.rows; j++) {
        const id = res.ids[j * res.k];
        if (!(id >= 0 && id < vocabSize)) throw new NonFiniteLogitsError({ phase: 'probe', step: 0, row: j, position: positions[j], id });
      }
    }
    times.sort((a, b) => a - b);
    ms.push(times[Math.floor(times.length / 2)]);
    if (ms[ms.length - 1] > 6 * ms[0]) break;
  }
  const measured = ms.length;
  for (let i = measured; i < sizes.length; i++) ms.push((ms[measured - 1] * sizes[i]) / sizes[measured - 1]);
  return { sizes, ms };
}
