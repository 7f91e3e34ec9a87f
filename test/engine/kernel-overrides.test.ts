// LoadOptions.kernelOverrides (issue 11 item 4) on the GPU: a configuration that no preset gives
// reaches ModelInfo.kernelConfig and its key, and decoding in it stays lossless (tr-jacobi with the
// fixed tree gives exactly ar's tokens); a bad override fails the load with
// InvalidArgumentError.
import { afterAll, describe, expect, it } from 'vitest';
import { createNodeEngine } from '../../src/engine/node.js';
import type { Engine } from '../../src/engine/engine.js';
import { kernelConfigKey, kernelPreset } from '../../src/gpu/kernel-config.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { fixturePath, golden } from '../helpers/fixtures.js';
import { disabledFeatures } from '../helpers/gpu.js';

const engines: Engine[] = [];
afterAll(async () => { for (const e of engines) await e.dispose(); });

describe('LoadOptions.kernelOverrides', () => {
  it('an overridden configuration is the one that runs, and tr-jacobi equals ar in it', { timeout: 240_000 }, async () => {
    const e = await createNodeEngine({ model: fixturePath('tiny-gqa-f32'), contextLength: 160, inline: true, disableFeatures: disabledFeatures(), kernelConfig: 'cpu', kernelOverrides: { matmul: { lanes: 4, tiledCpt: 1, tiledRows: [2, 16, 24] }, attention: { block: 32, queries: 3 } } });
    engines.push(e);
    const k = e.info.kernelConfig;
    expect(k.preset).toBe('cpu');
    expect(k.matmul).toEqual({ lanes: 4, gemvCols: 16, tiledCols: 4, tiledCpt: 1, tiledRows: [2, 16, 24] });
    expect(k.attention).toEqual({ block: 32, queries: 3 });
    expect(k.key).toBe('cpu/l4.g16.t4x1.r2-16-24/b32.q3');
    expect(k.key).not.toBe(kernelConfigKey(kernelPreset('cpu')));
    const prompt = golden('tiny-gqa-f32').prompt_text;
    const ar = await e.complete(prompt, { decode: 'ar', maxNewTokens: 24 });
    expect(ar.newTokens).toBe(24);
    const tr = await e.complete(prompt, { decode: 'tr-jacobi', tree: 'fixed', maxNewTokens: 24 });
    expect(tr.tokenIds).toEqual(ar.tokenIds);
  });

  it('a bad override fails the load with InvalidArgumentError naming the field', async () => {
    const err = await createNodeEngine({ model: fixturePath('tiny-gqa-f32'), contextLength: 64, inline: true, disableFeatures: disabledFeatures(), kernelOverrides: { attention: { block: 48 } } }).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toBe('kernelOverrides.attention.block must be 16, 32 or 64, got 48.');
    const err2 = await createNodeEngine({ model: fixturePath('tiny-gqa-f32'), contextLength: 64, inline: true, disableFeatures: disabledFeatures(), matmulLanes: 3 }).catch((x: unknown) => x);
    expect(err2).toBeInstanceOf(InvalidArgumentError);
    expect((err2 as Error).message).toBe('matmulLanes must be a power of two in [1, 64], got 3.');
  });
});
