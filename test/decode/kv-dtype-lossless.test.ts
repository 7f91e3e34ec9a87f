// Issue 12 item 4: decoding stays lossless with an f16 KV cache. On the fixtures and the shipped
// default model, for random prompts (fast-check) and both KV dtypes: tr-jacobi (fixed and adaptive
// tree) and jacobi give exactly AR's tokens. The f16 cache is half the f32 one, and the f32 path runs
// the unchanged default kernels.
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { createNodeEngine } from '../../src/engine/node.js';
import type { Engine } from '../../src/engine/engine.js';
import { ATTENTION } from '../../src/kernels/attention.js';
import { KV_COMPACT } from '../../src/kernels/kv_compact.js';
import { kvKernels } from '../../src/kernels/kv-format.js';
import { ROPE_KV_APPEND } from '../../src/kernels/rope_kv_append.js';
import { FIXTURES, fixturePath, golden } from '../helpers/fixtures.js';
import { disabledFeatures } from '../helpers/gpu.js';

const engines: Engine[] = [];
afterAll(async () => { for (const e of engines) await e.dispose(); });

const heldOut = JSON.parse(readFileSync('train/data/test_prompts.jsonl', 'utf8').split('\n')[0]).prompt as string;
const MODELS = [...FIXTURES.map((n) => ({ name: n, path: fixturePath(n), prompt: golden(n).prompt_text })), { name: 'msn-code-tiny', path: 'public/models/msn-code-tiny', prompt: heldOut }];

it('the f32 KV kernels are the default kernels (the f32 path is unchanged)', () => {
  const f32 = kvKernels('f32', 24);
  expect([f32.attention, f32.ropeKvAppend, f32.kvCompact]).toEqual([ATTENTION, ROPE_KV_APPEND, KV_COMPACT]);
  const f16 = kvKernels('f16', 24);
  expect(f16.attention.name).toBe('attention.kvf16');
  expect(f16.attention.code).toContain('unpack2x16float(Kc[i / 2u])[i % 2u]');
});

describe.each(MODELS.flatMap((m) => (['f16', 'f32'] as const).map((kv) => [m.name, kv, m] as const)))('%s, %s KV cache', (_name, kvDtype, m) => {
  it('tr-jacobi (fixed, adaptive) and jacobi equal ar on random prompts', { timeout: 400_000 }, async () => {
    const e = await createNodeEngine({ model: m.path, contextLength: 192, inline: true, kvDtype, disableFeatures: disabledFeatures(), kernelConfig: 'cpu' });
    engines.push(e);
    expect(e.info.kvDtype).toBe(kvDtype);
    const c = e.info.config;
    expect(e.info.memory.kvBytes).toBe(2 * c.numLayers * e.info.kvCapacity * c.numKvHeads * c.headDim * (kvDtype === 'f16' ? 2 : 4));
    let drafted = 0;
    const check = async (prompt: string, seed: number) => {
      const ar = await e.complete(prompt, { decode: 'ar', maxNewTokens: 24 });
      const tr = await e.complete(prompt, { decode: 'tr-jacobi', tree: 'fixed', maxNewTokens: 24, seed });
      expect(tr.tokenIds, `tr-jacobi on ${JSON.stringify(prompt)}`).toEqual(ar.tokenIds);
      drafted += tr.newTokens - tr.steps;
      expect((await e.complete(prompt, { decode: 'tr-jacobi', tree: 'adaptive', maxNewTokens: 24, seed })).tokenIds).toEqual(ar.tokenIds);
      expect((await e.complete(prompt, { decode: 'jacobi', maxNewTokens: 24, seed })).tokenIds).toEqual(ar.tokenIds);
    };
    await check(m.prompt, 1);
    await fc.assert(fc.asyncProperty(fc.string({ minLength: 1, maxLength: 40, unit: fc.constantFrom(...'def x(): return 1 + 2\n\tabcxyz_=()[],.:'.split('')) }), fc.nat(1000), check), { numRuns: 3, seed: 12 });
    // The tree accepts drafts somewhere (a verifier that never accepts would be trivially lossless).
    expect(drafted).toBeGreaterThan(0);
  });
});
