// KV prefix reuse on the real kernels (Dawn in Node): a second turn that reuses the committed rows
// gives the same tokens as a cold start, in every decode mode, and stops cut the same everywhere.
import { afterAll, describe, expect, it } from 'vitest';
import { createNodeEngine } from '../../src/engine/node.js';
import type { Engine } from '../../src/engine/engine.js';
import type { DecodeMode } from '../../src/decode/scheduler.js';
import { fixturePath, golden } from '../helpers/fixtures.js';
import { disabledFeatures } from '../helpers/gpu.js';

const MODES: DecodeMode[] = ['ar', 'jacobi', 'retrieval', 'tr-jacobi'];
const engines: Engine[] = [];
afterAll(async () => { for (const e of engines) await e.dispose(); });

async function engine(name: string): Promise<Engine> {
  const e = await createNodeEngine({ model: fixturePath(name), contextLength: 96, inline: true, disableFeatures: disabledFeatures() });
  engines.push(e);
  return e;
}

describe('KV prefix reuse on the GPU', () => {
  it('second turn, same prompt again and a diverging prompt equal a cold start in every mode', async () => {
    const g = golden('tiny-gqa-f32');
    const warm = await engine('tiny-gqa-f32');
    const cold = await engine('tiny-gqa-f32');
    for (const mode of MODES) {
      const first = await warm.complete(g.prompt_text, { maxNewTokens: 12, decode: mode, tree: 'fixed' });
      expect(first.tokenIds).toEqual(g.greedy_ids.slice(0, 12));
      const prompt2 = `${g.prompt_text}${first.text} and then`;
      const prompts = [prompt2, prompt2, `${g.prompt_text.slice(0, 8)}Z${g.prompt_text.slice(9)}`];
      for (const p of prompts) {
        const reused = await warm.complete(p, { maxNewTokens: 12, decode: mode, tree: 'fixed' });
        cold.clearKvCache();
        const fresh = await cold.complete(p, { maxNewTokens: 12, decode: 'ar' });
        expect(reused.tokenIds, `${mode} ${JSON.stringify(p)}`).toEqual(fresh.tokenIds);
        expect(reused.cachedPromptTokens).toBeGreaterThan(0);
      }
    }
  });

  it('a stop cuts at the same token in every mode', async () => {
    const g = golden('tiny-gqa-f16-untied');
    const e = await engine('tiny-gqa-f16-untied');
    const full = await e.complete(g.prompt_text, { maxNewTokens: 16, decode: 'ar' });
    const stop = full.text.slice(Math.floor(full.text.length / 2), Math.floor(full.text.length / 2) + 3);
    const results = [];
    for (const mode of MODES) results.push(await e.complete(g.prompt_text, { maxNewTokens: 16, decode: mode, stop: [stop] }));
    for (const r of results) {
      expect(r.tokenIds).toEqual(results[0].tokenIds);
      expect(r.text).toBe(full.text.slice(0, full.text.indexOf(stop)));
      expect(r.stopReason).toBe('stop');
    }
    expect(results[0].tokenIds.length).toBeLessThan(16);
  });
});
