// Cross-check of the runtime's `jacobi` mode against train/evaluate.py's PyTorch Jacobi reference:
// same draft initialisation (XorShift32(1 + prompt id), random tokens from the context, slot order),
// same verification — so on prompts where both produce the same greedy tokens, the numbers of verify
// forwards recorded in public/models/msn-code-tiny/training_metrics.json must match exactly.
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createNodeEngine } from '../../src/engine/node.js';
import type { Engine } from '../../src/engine/engine.js';
import { decode } from '../../src/decode/scheduler.js';
import type { Rng } from '../../src/decode/rng.js';

/** train/evaluate.py's XorShift32; choice(pool) = pool[x % |pool|] after one step. */
function xorshift32(seed: number): Rng {
  let x = (seed >>> 0) || 1;
  const step = () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
  return { next: () => step() / 4294967296, int: (n) => step() % n };
}

const metrics = JSON.parse(readFileSync('public/models/msn-code-tiny/training_metrics.json', 'utf8'));
const prompts = readFileSync('train/data/test_prompts.jsonl', 'utf8').trim().split('\n').map((l) => JSON.parse(l));
let engine: Engine | undefined;
afterAll(async () => { await engine?.dispose(); });

describe('jacobi mode vs the PyTorch reference (train/evaluate.py)', () => {
  it('same verify-forward counts on the first 12 held-out prompts', { timeout: 300_000 }, async () => {
    engine = await createNodeEngine({ model: 'public/models/msn-code-tiny', contextLength: 1024, inline: true });
    let compared = 0;
    for (const p of prompts.slice(0, 12)) {
      const ref = metrics.per_prompt.msn.find((x: { id: number }) => x.id === p.id);
      const ids = engine.encodePrompt(p.prompt);
      await engine.executor.reset();
      const out: number[] = [];
      const gen = decode(engine.executor, ids, { mode: 'jacobi', maxNewTokens: metrics.new_tokens, eosTokenIds: new Set(engine.info.eosTokenIds), maxRows: engine.info.maxRows, contextLength: 1024, rng: xorshift32(1 + p.id), vocabSize: engine.info.config.vocabSize });
      let r = await gen.next();
      while (!r.done) { out.push(...r.value); r = await gen.next(); }
      expect(out.length).toBe(ref.tokens);
      expect(r.value.steps, `prompt ${p.id}`).toBe(ref.jacobi_steps);
      compared++;
    }
    expect(compared).toBe(12);
  });
});
