// Page used by the Chromium route of the CLI and by e2e tests: exposes window.msnRun / msnReady.
import { createEngine } from '../src/engine/browser.js';
import type { Engine } from '../src/engine/engine.js';
import type { LoadOptions } from '../src/worker/api.js';
import type { DecodeMode } from '../src/decode/scheduler.js';

interface RunOptions extends LoadOptions {
  model: string;
  prompt: string;
  maxNewTokens?: number;
  decode?: DecodeMode;
  tree?: 'fixed' | 'adaptive';
  draftSeed?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  seed?: number;
  stop?: string[];
  chat?: boolean;
  allowSpecialInContent?: boolean;
}

const engines = new Map<string, Engine>();

async function engineFor(o: RunOptions): Promise<Engine> {
  const key = JSON.stringify([o.model, o.contextLength, o.maxBindingBytes, o.maxRows, o.selfCheck, o.kernelConfig, o.kvDtype, o.gpuMemoryBytes, o.quantize, o.quantizeGroupSize, o.quantizeEmbeddings]);
  let e = engines.get(key);
  if (!e) {
    e = await createEngine({ model: o.model, contextLength: o.contextLength, maxBindingBytes: o.maxBindingBytes, maxRows: o.maxRows, selfCheck: o.selfCheck, kernelConfig: o.kernelConfig, kvDtype: o.kvDtype, gpuMemoryBytes: o.gpuMemoryBytes, quantize: o.quantize, quantizeGroupSize: o.quantizeGroupSize, quantizeEmbeddings: o.quantizeEmbeddings });
    engines.set(key, e);
  }
  return e;
}

async function msnRun(o: RunOptions) {
  try {
    const engine = await engineFor(o);
    const pieces: string[] = [];
    const it = engine.generate(o.prompt, { maxNewTokens: o.maxNewTokens ?? 64, decode: o.decode ?? 'tr-jacobi', tree: o.tree, draftSeed: o.draftSeed, temperature: o.temperature, topK: o.topK, topP: o.topP, minP: o.minP, seed: o.seed, stop: o.stop, chat: o.chat, allowSpecialInContent: o.allowSpecialInContent });
    let r = await it.next();
    while (!r.done) { pieces.push(r.value); r = await it.next(); }
    const res = r.value;
    return {
      ok: true as const,
      result: { ...res, pieces, runtime: 'chromium', model: o.model, memory: engine.info.memory, weightFormats: engine.info.weightFormats, kvDtype: engine.info.kvDtype, context: { length: engine.info.contextLength, reason: engine.info.memoryPlan.reason }, selfCheck: engine.info.selfCheck, kernelConfig: { preset: engine.info.kernelConfig.preset, key: engine.info.kernelConfig.key }, deviceLimits: engine.info.deviceLimits, adapter: { ...res.adapter } },
    };
  } catch (e) {
    const err = e as Error & { code?: string };
    return { ok: false as const, error: { name: err.name, message: err.message, code: err.code } };
  }
}

/** Logits of every prompt position (one causal forward), for golden comparisons. */
async function msnLogits(o: RunOptions) {
  const engine = await engineFor(o);
  const ids = engine.encodePrompt(o.prompt);
  await engine.executor.reset();
  const r = await engine.executor.forward({ tokens: ids, positions: ids.map((_, i) => i), mask: 'causal', topK: 1, commit: true, returnLogits: true });
  await engine.executor.reset();
  return { ids, vocab: engine.info.config.vocabSize, logits: Array.from(r.logits!), adapter: engine.info.adapter, kernelConfig: engine.info.kernelConfig.preset };
}

Object.assign(window, { msnRun, msnLogits, msnReady: true });
