/**
 * Host-side cost of the decoding scheduler alone (no GPU, no worker): `decode()` of
 * src/decode/scheduler.ts against a backend that answers instantly, so the time per step is the
 * scheduler's own work for a given tree — building the step's tokens from the candidate table,
 * verification, the next Jacobi candidates, the retrieval pool. Target: < 1 ms per step for the
 * paper's 69-node tree. Two synthetic models bracket the cost: `reject` (random top-k: nothing is
 * accepted, 1 token per step) and `accept` (the top-1 of a row at position p is a fixed function of
 * p + 1, so Jacobi drafts are right and long paths are accepted).
 */
import { decode, type DecodeMode } from '../src/decode/scheduler.js';
import type { ForwardRequest, ForwardResult, StepBackend } from '../src/decode/backend.js';
import { round } from './stats.js';

class InstantBackend implements StepBackend {
  masks = 0;
  ms = 0;
  #state = 0x9e3779b9;
  constructor(readonly vocab: number, readonly accept: boolean) {}
  #rand(): number {
    let x = this.#state;
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    this.#state = x >>> 0;
    return this.#state;
  }
  async registerMask(): Promise<number> {
    return ++this.masks;
  }
  async forward(req: ForwardRequest): Promise<ForwardResult> {
    const t0 = performance.now();
    const T = req.tokens.length;
    const k = req.topK;
    const ids = new Int32Array(T * k);
    const values = new Float32Array(T * k);
    for (let j = 0; j < T; j++) {
      for (let c = 0; c < k; c++) {
        ids[j * k + c] = this.accept && c === 0 ? (Math.imul(req.positions[j] + 1, 2654435761) >>> 0) % this.vocab : this.#rand() % this.vocab;
        values[j * k + c] = -c;
      }
    }
    this.ms += performance.now() - t0;
    return { ids, values, rows: k ? T : 0, k, kvLength: 0, gpuMs: 0, gpuTiming: 'wall' };
  }
}

export interface HostBenchRow {
  mode: string;
  model: 'reject' | 'accept';
  steps: number;
  mat: number;
  meanTreeSize: number;
  /** Scheduler time per step, ms (backend time subtracted). */
  msPerStep: number;
}

/** Times the scheduler for `steps` steps per (mode, synthetic model); vocabulary as the model's. */
export async function runHostBench(vocab = 4096, steps = 300): Promise<HostBenchRow[]> {
  const out: HostBenchRow[] = [];
  const prompt = Array.from({ length: 200 }, (_, i) => (i * 7919) % vocab);
  const modes: Array<[string, DecodeMode]> = [['ar', 'ar'], ['jacobi', 'jacobi'], ['retrieval', 'retrieval'], ['tr-jacobi-fixed', 'tr-jacobi']];
  for (const [name, mode] of modes) {
    for (const model of ['reject', 'accept'] as const) {
      const run = async (maxNewTokens: number) => {
        const be = new InstantBackend(vocab, model === 'accept');
        const g = decode(be, prompt, { mode, maxNewTokens, eosTokenIds: new Set([-1]), maxRows: 128, contextLength: 100_000, vocabSize: vocab });
        const t0 = performance.now();
        let r = await g.next();
        while (!r.done) r = await g.next();
        const wall = performance.now() - t0;
        return { stats: r.value, ms: wall - be.ms - r.value.prefillMs };
      };
      await run(50); // warm the JIT
      const { stats, ms } = await run(model === 'accept' ? steps * 6 : steps);
      out.push({ mode: name, model, steps: stats.steps, mat: round(stats.newTokens / stats.steps), meanTreeSize: round(stats.meanTreeSize, 1), msPerStep: round(ms / stats.steps, 4) });
    }
  }
  return out;
}
