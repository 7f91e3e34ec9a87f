// The real GPU path (Dawn in Node): every decode mode gives exactly the tokens of `ar` on the
// fixture models, over several prompts, with the tree verified in one forward per step.
import { afterAll, describe, expect, it } from 'vitest';
import { createNodeEngine } from '../../src/engine/node.js';
import type { Engine } from '../../src/engine/engine.js';
import { DECODE_MODES } from '../../src/decode/scheduler.js';
import { FIXTURES, fixturePath, golden } from '../helpers/fixtures.js';
import { disabledFeatures } from '../helpers/gpu.js';

const engines: Engine[] = [];
afterAll(async () => { for (const e of engines) await e.dispose(); });

const EXTRA_PROMPTS = ['for i in range(10):\n    for j in range(10):\n        for k in range(', 'aaaa bbbb aaaa bbbb aaaa', 'x'];

describe.each(FIXTURES)('%s: lossless decoding on the GPU', (name) => {
  it('jacobi, retrieval, tr-jacobi (fixed tree) equal ar token for token', async () => {
    const e = await createNodeEngine({ model: fixturePath(name), contextLength: 160, inline: true, disableFeatures: disabledFeatures() });
    engines.push(e);
    const prompts = [golden(name).prompt_text, ...EXTRA_PROMPTS];
    for (const prompt of prompts) {
      const ar = await e.complete(prompt, { decode: 'ar', maxNewTokens: 40 });
      expect(ar.steps).toBe(ar.newTokens);
      for (const mode of DECODE_MODES.filter((m) => m !== 'ar')) {
        for (const seed of [1, 2]) {
          const r = await e.complete(prompt, { decode: mode, tree: 'fixed', maxNewTokens: 40, seed });
          expect(r.tokenIds, `${mode} seed ${seed} on ${JSON.stringify(prompt)}`).toEqual(ar.tokenIds);
          expect(r.text).toBe(ar.text);
          expect(r.steps).toBeLessThanOrEqual(r.newTokens);
          if (mode === 'tr-jacobi') expect(r.meanTreeSize).toBeGreaterThan(30);
        }
      }
    }
  });
});
