// The decoding benchmark's bookkeeping without a GPU: an Engine over the fake model (test/helpers),
// the fixture tokenizer. Checks the lossless check (a lossy backend must be caught), the summaries and
// the repetition metric.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import { parseLlamaConfig } from '../../src/model/config.js';
import { createModelSource } from '../../src/model/source.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import type { ExecutorApi, ForwardRequest, ForwardResult, ModelInfo } from '../../src/worker/api.js';
import { kernelConfigKey, kernelPreset } from '../../src/gpu/kernel-config.js';
import { MODES, runDecodeBench } from '../../bench/decode.js';
import { repetitionRate } from '../../bench/stats.js';
import { FakeModel } from '../helpers/fake-model.js';
import { fixturePath } from '../helpers/fixtures.js';

const FIXTURE = fixturePath('tiny-gqa-f32');

/** The fake model as an executor; `lossy` corrupts the root row's argmax of every tree step. */
function fakeExecutor(vocab: number, lossy: boolean): ExecutorApi {
  const m = new FakeModel({ vocab, seed: 3, predictability: 0.7 });
  const api = {
    load: async () => { throw new Error('not used'); },
    registerMask: (mask: Float32Array, T: number) => m.registerMask(mask, T),
    forward: async (req: ForwardRequest): Promise<ForwardResult> => {
      const r = await m.forward(req);
      if (lossy && req.mask !== 'causal' && r.ids.length) r.ids[0] = (r.ids[0] + 1) % vocab;
      return r;
    },
    kvKeep: (rows: number[]) => m.kvKeep(rows),
    kvTruncate: async (n: number) => { m.kv.length = n; return n; },
    reset: async () => { m.kv = []; m.pending = null; },
    gpuStats: async () => ({ liveBuffers: 0, liveBytes: 0, kvLength: m.kv.length }),
    simulateDeviceLoss: async () => {},
    whenLost: () => new Promise<never>(() => {}),
    dispose: async () => {},
  };
  return api as unknown as ExecutorApi;
}

async function engine(lossy: boolean): Promise<Engine> {
  const config = parseLlamaConfig(JSON.parse(readFileSync(join(FIXTURE, 'config.json'), 'utf8')));
  const info: ModelInfo = {
    config, eosTokenIds: [], contextLength: 256, kvCapacity: 256 + 69, maxRows: 128,
    adapter: { vendor: 'fake', architecture: '', device: '', description: '', isFallbackAdapter: true },
    features: { shaderF16: false, subgroups: false, timestampQuery: false },
    memory: { weightsBytes: 1, kvBytes: 2, scratchBytes: 3, weightBuffers: 1, kvBuffers: 2, peakJsHeapBytes: null },
    kvDtype: 'f32', memoryPlan: {} as ModelInfo['memoryPlan'],
    weightFormats: ['f32'],
    selfCheck: null,
    kernelConfig: { ...kernelPreset('cpu'), key: kernelConfigKey(kernelPreset('cpu')) },
    deviceLimits: {} as ModelInfo['deviceLimits'],
  };
  const tokenizer = await Tokenizer.load(createModelSource(FIXTURE));
  return new Engine(fakeExecutor(config.vocabSize, lossy), info, tokenizer);
}

const prompts = [
  { id: 'a', suite: 'code-completion', prompt: 'def add(a, b):\n    """Add."""' },
  { id: 'b', suite: 'code-repetition', prompt: 'def f(x):\n    """Twice: x = x + 1; x = x + 1"""' },
];

describe('bench/decode.ts', () => {
  it('summarises every mode per suite and finds no mismatch on a lossless backend', async () => {
    const r = await runDecodeBench(await engine(false), 'fake', { prompts, maxNewTokens: 12, runs: 2 });
    expect(r.mismatches).toEqual([]);
    expect(Object.keys(r.suites)).toEqual(['code-completion', 'code-repetition', 'all']);
    const all = r.suites.all;
    expect(all.map((m) => m.mode)).toEqual(MODES.map((m) => m.name));
    expect(all[0].speedup).toBe(1);
    expect(all[0].mat).toBe(1);
    for (const m of all) {
      expect(m.runs).toBe(4);
      expect(m.newTokens).toBe(2 * 2 * 12);
      expect(m.acceptedHistogram.reduce((s, c, n) => s + c * n, 0)).toBe(m.newTokens);
      expect(m.acceptedHistogram.reduce((s, c) => s + c, 0)).toBe(m.steps);
      expect(m.tokensPerSecondPerRep).toHaveLength(2);
      expect(m.hostMsPerStep).toBeGreaterThanOrEqual(0);
    }
    expect(all.find((m) => m.mode === 'tr-jacobi-fixed')!.mat).toBeGreaterThan(1);
    expect(r.adaptive?.cost?.sizes.length).toBeGreaterThan(0);
    expect(r.prompts.map((p) => p.newTokens)).toEqual([12, 12]);
    expect(r.records).toHaveLength(2 * MODES.length * 2);
  });

  it('catches a lossy decoder (tokens differ from ar)', async () => {
    const r = await runDecodeBench(await engine(true), 'fake', { prompts: prompts.slice(0, 1), modes: [MODES[0], MODES[3]], maxNewTokens: 12, runs: 1 });
    expect(r.mismatches.length).toBeGreaterThan(0);
    expect(r.mismatches[0].mode).toBe('tr-jacobi-fixed');
    expect(r.suites['code-completion'][1].mismatches).toBe(1);
  });

  it('repetition rate: copies from the prompt and loops', () => {
    expect(repetitionRate([1, 2, 3, 4], [])).toBe(0);
    expect(repetitionRate([5, 6, 7, 8], [5, 6, 7, 8])).toBe(0.25);
    expect(repetitionRate([1, 2, 3, 4, 1, 2, 3, 4], [])).toBe(1 / 8);
    expect(repetitionRate([1, 2, 1, 2, 1, 2, 1, 2])).toBe(3 / 8);
  });
});
