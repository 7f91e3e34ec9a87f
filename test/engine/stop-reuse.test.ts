// The engine's stop sequences, chat truncation and KV prefix reuse over a fake executor (the fake
// model of test/helpers: exact KV bookkeeping, no GPU) and a fixture's real tokenizer.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine, type GenerateOptions } from '../../src/engine/engine.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { createModelSource } from '../../src/model/source.js';
import { parseLlamaConfig } from '../../src/model/config.js';
import { kernelConfigKey, kernelPreset } from '../../src/gpu/kernel-config.js';
import { AbortedError, ContextOverflowError, InvalidArgumentError } from '../../src/errors.js';
import type { DecodeMode } from '../../src/decode/scheduler.js';
import type { ExecutorApi, ForwardRequest, ForwardResult, ModelInfo } from '../../src/worker/api.js';
import type { ChatMessage } from '../../src/tokenizer/tokenizer.js';
import type { ChatCompletionMessageParam } from '../../src/engine/openai.js';
import { FakeModel } from '../helpers/fake-model.js';
import { fixturePath } from '../helpers/fixtures.js';

const MODES: DecodeMode[] = ['ar', 'jacobi', 'retrieval', 'tr-jacobi'];

interface Fake { engine: Engine; model: FakeModel; prefilled: number[]; failNext: { on: boolean } }

/** An engine over the fake model; `prefilled` records the rows of every committed causal forward. */
async function fakeEngine(fixture = 'tiny-gqa-f32', contextLength = 256, predictability = 0.9): Promise<Fake> {
  const dir = fixturePath(fixture);
  const config = parseLlamaConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));
  const tokenizer = await Tokenizer.load(createModelSource(dir));
  // The fake model speaks the ids of plain-text tokens only (no byte-fallback or special tokens),
  // so its output is readable text; other prompt ids are folded onto them.
  const text = Array.from({ length: config.vocabSize }, (_, id) => id).filter((id) => !tokenizer.isByteToken(id) && !tokenizer.isSilent(id) && /^[\x20-\x7e\n]+$/.test(tokenizer.decode([id])));
  const toFake = (id: number) => (text.indexOf(id) >= 0 ? text.indexOf(id) : id % text.length);
  const model = new FakeModel({ vocab: text.length, seed: 11, predictability });
  const prefilled: number[] = [];
  const failNext = { on: false };
  const api = {
    registerMask: (mask: Float32Array, T: number) => model.registerMask(mask, T),
    forward: async (req: ForwardRequest): Promise<ForwardResult> => {
      if (failNext.on) { failNext.on = false; throw new Error('injected executor failure'); }
      if (req.commit && req.topK === 0) prefilled.push(req.tokens.length);
      const r = await model.forward({ ...req, tokens: Array.from(req.tokens, toFake) });
      return { ...r, ids: r.ids.map((i) => text[i]) };
    },
    kvKeep: (rows: number[]) => model.kvKeep(rows),
    kvTruncate: async (n: number) => {
      if (n > model.kv.length) throw new InvalidArgumentError(`kvTruncate beyond ${model.kv.length}`);
      model.kv.length = n;
      model.pending = null;
      return n;
    },
    reset: async () => { model.kv = []; model.pending = null; },
    whenLost: () => new Promise<never>(() => {}),
    dispose: async () => {},
  };
  const info: ModelInfo = {
    config, eosTokenIds: [], contextLength, kvCapacity: contextLength + 69, maxRows: 128,
    adapter: { vendor: 'fake', architecture: '', device: '', description: '', isFallbackAdapter: true },
    features: { shaderF16: false, subgroups: false, timestampQuery: false },
    memory: { weightsBytes: 1, kvBytes: 2, scratchBytes: 3, weightBuffers: 1, kvBuffers: 2, peakJsHeapBytes: null },
    kvDtype: 'f32', memoryPlan: {} as ModelInfo['memoryPlan'], weightFormats: ['f32'], selfCheck: null,
    kernelConfig: { ...kernelPreset('cpu'), key: kernelConfigKey(kernelPreset('cpu')) },
    deviceLimits: {} as ModelInfo['deviceLimits'],
  };
  return { engine: new Engine(api as unknown as ExecutorApi, info, tokenizer), model, prefilled, failNext };
}

async function stream(e: Engine, prompt: string | ChatMessage[], o: GenerateOptions) {
  const pieces: string[] = [];
  const it = e.generate(prompt, o);
  let r = await it.next();
  while (!r.done) { pieces.push(r.value); r = await it.next(); }
  return { pieces, res: r.value };
}

describe('engine: stop sequences (fake model)', () => {
  it('cuts exactly at a stop spanning token boundaries, in every decode mode, with held-back streaming', async () => {
    const { engine: e, model } = await fakeEngine();
    const prompt = 'x = 1\ny = ';
    const cold = await e.complete(prompt, { maxNewTokens: 40, decode: 'ar' });
    const tok = e.tokenizer;
    const full = tok.decode(cold.tokenIds);
    // Stops made of the text of 2-3 consecutive tokens (starting mid-token), well into the output.
    const stops: string[] = [];
    for (let i = 5; i < 36 && stops.length < 6; i += 3) {
      const before = tok.decode(cold.tokenIds.slice(0, i)).length;
      const after = tok.decode(cold.tokenIds.slice(0, i + 2)).length;
      const s = full.slice(Math.max(0, before - 1), after);
      if (s.length >= 2 && !s.includes('\uFFFD') && !stops.includes(s)) stops.push(s);
    }
    expect(stops.length).toBeGreaterThan(3);
    let multiTokenSteps = 0;
    for (const stop of stops) {
      // Reference: the shortest token prefix whose streamed (stable) text contains the stop.
      const sd = tok.streamDecoder();
      let n = 0;
      while (!sd.text.includes(stop)) sd.push(cold.tokenIds[n++]);
      const text = sd.text;
      const want = text.slice(0, text.indexOf(stop));
      for (const mode of MODES) {
        const { pieces, res } = await stream(e, prompt, { maxNewTokens: 40, decode: mode, tree: 'fixed', stop: ['never-there', stop] });
        expect(res.tokenIds, `${mode} ${JSON.stringify(stop)}`).toEqual(cold.tokenIds.slice(0, n));
        expect(res.newTokens).toBe(n);
        expect(res.text).toBe(want);
        expect(pieces.join('')).toBe(want);
        expect(res.stopReason).toBe('stop');
        expect(res.stopSequence).toBe(stop);
        // What was streamed never contained the beginning of the stop ahead of time.
        for (let k = 1; k <= pieces.length; k++) expect(want.startsWith(pieces.slice(0, k).join(''))).toBe(true);
        if (mode === 'tr-jacobi' && res.acceptedHistogram.findLastIndex((c) => c > 0) > 1) multiTokenSteps++;
      }
    }
    expect(model.forwards).toBeGreaterThan(0);
    expect(multiTokenSteps).toBeGreaterThan(0);
  });

  it('holds back text that could begin a stop and releases it when it cannot', async () => {
    const { engine: e } = await fakeEngine();
    const prompt = 'x = 1\ny = ';
    const cold = await e.complete(prompt, { maxNewTokens: 20, decode: 'ar' });
    // A stop = the first 4 characters of the output + a character that never follows them.
    const head = cold.text.slice(0, 4);
    const { pieces, res } = await stream(e, prompt, { maxNewTokens: 20, decode: 'ar', stop: [`${head}\u0007`] });
    expect(res.text).toBe(cold.text);
    expect(res.stopReason).toBe('length');
    expect(res.stopSequence).toBeNull();
    // The first piece waited until the held text could no longer begin the stop.
    expect(pieces[0].length).toBeGreaterThan(head.length);
    expect(pieces.join('')).toBe(cold.text);
  });

  it('a stop that is a prefix of another ends at the shorter one; bad stops are refused before any work', async () => {
    const { engine: e, model } = await fakeEngine();
    const prompt = 'x = 1\ny = ';
    const cold = await e.complete(prompt, { maxNewTokens: 30, decode: 'ar' });
    const a = cold.text.slice(6, 9);
    const res = await e.complete(prompt, { maxNewTokens: 30, decode: 'tr-jacobi', stop: [`${a}${cold.text.slice(9, 14)}`, a] });
    expect(res.stopSequence).toBe(a);
    expect(res.text).toBe(cold.text.slice(0, cold.text.indexOf(a)));
    const before = model.forwards;
    for (const stop of [['a', 'b', 'c', 'd', 'e'], [''], 'END' as unknown as string[]]) {
      await expect(e.complete(prompt, { stop })).rejects.toThrow(InvalidArgumentError);
    }
    await expect(e.complete(prompt, { truncate: 'newest' as 'oldest' })).rejects.toThrow(InvalidArgumentError);
    expect(model.forwards).toBe(before);
  });
});

describe('engine: KV prefix reuse (fake model)', () => {
  it('a second turn reuses the committed prefix and gives the cold-start tokens in every mode', async () => {
    for (const mode of MODES) {
      const { engine: e, prefilled } = await fakeEngine();
      const first = await e.complete('a = 1\nb = ', { maxNewTokens: 12, decode: mode });
      expect(first.cachedPromptTokens).toBe(0);
      const prompt2 = `a = 1\nb = ${first.text}\nc = `;
      const ids2 = e.encodePrompt(prompt2);
      const rows0 = prefilled.reduce((s, n) => s + n, 0);
      const second = await e.complete(prompt2, { maxNewTokens: 12, decode: mode });
      const rows = prefilled.reduce((s, n) => s + n, 0) - rows0;
      const { engine: coldEngine } = await fakeEngine();
      const cold = await coldEngine.complete(prompt2, { maxNewTokens: 12, decode: mode });
      expect(second.tokenIds, mode).toEqual(cold.tokenIds);
      expect(second.cachedPromptTokens).toBeGreaterThan(5);
      expect(rows).toBe(ids2.length - 1 - second.cachedPromptTokens);
      // The same prompt again: everything but its last token is reused.
      const again = await e.complete(prompt2, { maxNewTokens: 12, decode: mode });
      expect(again.tokenIds).toEqual(cold.tokenIds);
      expect(again.cachedPromptTokens).toBe(ids2.length - 1);
      // A prompt that diverges mid-way reuses only the common part.
      const diverged = await e.complete('a = 2\nb = ', { maxNewTokens: 12, decode: mode });
      const { engine: cold2 } = await fakeEngine();
      expect(diverged.tokenIds).toEqual((await cold2.complete('a = 2\nb = ', { maxNewTokens: 12, decode: mode })).tokenIds);
      const common = e.encodePrompt('a = 2').findIndex((id, i) => id !== e.encodePrompt('a = 1')[i]);
      expect(diverged.cachedPromptTokens).toBe(common);
    }
  });

  it('after an abort and after an error the next request still gives the cold-start tokens', async () => {
    const { engine: e, failNext } = await fakeEngine();
    const prompt = 'def f(x):\n    return ';
    const { engine: coldEngine } = await fakeEngine();
    const cold = await coldEngine.complete(prompt, { maxNewTokens: 16, decode: 'tr-jacobi' });
    // Abort after the first streamed piece.
    const ac = new AbortController();
    const it = e.generate(prompt, { maxNewTokens: 16, decode: 'tr-jacobi', signal: ac.signal });
    await it.next();
    ac.abort();
    await expect(it.next()).rejects.toThrow(AbortedError);
    const afterAbort = await e.complete(prompt, { maxNewTokens: 16, decode: 'tr-jacobi' });
    expect(afterAbort.tokenIds).toEqual(cold.tokenIds);
    expect(afterAbort.cachedPromptTokens).toBe(e.encodePrompt(prompt).length - 1);
    // An executor failure mid-generation: the cache is dropped, the next request prefills from scratch.
    const it2 = e.generate(`${prompt}${cold.text}`, { maxNewTokens: 16, decode: 'ar' });
    failNext.on = true;
    await expect(it2.next()).rejects.toThrow('injected executor failure');
    const afterError = await e.complete(prompt, { maxNewTokens: 16, decode: 'tr-jacobi' });
    expect(afterError.tokenIds).toEqual(cold.tokenIds);
    expect(afterError.cachedPromptTokens).toBe(0);
  });
});

describe('engine: a request refused before any GPU work keeps the KV prefix cache', () => {
  it('bad sampling options, a bad maxNewTokens and a context overflow leave the cache as it was', async () => {
    const { engine: e, model } = await fakeEngine();
    const prompt = 'def f(x):\n    return ';
    const first = await e.complete(prompt, { maxNewTokens: 8, decode: 'ar' });
    const cache = [...e.kvCacheTokens];
    expect(cache.length).toBeGreaterThan(0);
    const forwards = model.forwards;
    for (const bad of [{ temperature: -1 }, { temperature: 1, seed: 0.5 }, { topP: 0 }, { maxNewTokens: 0 }, { maxNewTokens: 1e6 }] as GenerateOptions[]) {
      await expect(e.complete(prompt, { decode: 'ar', ...bad }), JSON.stringify(bad)).rejects.toThrow(bad.maxNewTokens === 1e6 ? ContextOverflowError : InvalidArgumentError);
      expect(e.kvCacheTokens, JSON.stringify(bad)).toEqual(cache);
    }
    expect(model.forwards).toBe(forwards);
    const again = await e.complete(prompt, { maxNewTokens: 8, decode: 'ar' });
    expect(again.cachedPromptTokens).toBe(first.promptTokens - 1);
    expect(again.tokenIds).toEqual(first.tokenIds);
  });
});

describe('engine: a chat that outgrows the context', () => {
  const chat = (n: number): ChatMessage[] => [
    { role: 'system', content: 'You are terse.' },
    ...Array.from({ length: n }, (_, i) => [{ role: 'user', content: `question number ${i} about things` }, { role: 'assistant', content: `answer ${i} with some words` }]).flat(),
    { role: 'user', content: 'last question' },
  ];

  it('is refused with ContextOverflowError, or trimmed by whole turns keeping the system message', async () => {
    const { engine: e, model } = await fakeEngine('tiny-mha-tied-f16', 160);
    const messages = chat(6);
    expect(e.encodePrompt(messages).length + 16).toBeGreaterThan(160);
    const before = model.forwards;
    await expect(e.complete(messages, { maxNewTokens: 16 })).rejects.toThrow(ContextOverflowError);
    await expect(e.complete(messages, { maxNewTokens: 16, truncate: 'error' })).rejects.toThrow(ContextOverflowError);
    expect(model.forwards).toBe(before);
    const res = await e.complete(messages, { maxNewTokens: 16, truncate: 'oldest', decode: 'ar' });
    expect(res.droppedMessages % 2).toBe(0);
    expect(res.droppedMessages).toBeGreaterThan(0);
    const kept = [messages[0], ...messages.slice(1 + res.droppedMessages)];
    expect(res.promptTokens).toBe(e.encodePrompt(kept).length);
    expect(res.promptTokens + 16).toBeLessThanOrEqual(160);
    // One more turn would not have fitted: the fewest turns were dropped.
    expect(e.encodePrompt([messages[0], ...messages.slice(res.droppedMessages - 1)]).length + 16).toBeGreaterThan(160);
    const same = await e.complete(kept, { maxNewTokens: 16, decode: 'ar' });
    expect(same.tokenIds).toEqual(res.tokenIds);
    // The last turn alone too long: refused even with 'oldest'.
    const huge: ChatMessage[] = [{ role: 'system', content: 'x' }, { role: 'user', content: 'word '.repeat(200) }];
    await expect(e.complete(huge, { maxNewTokens: 16, truncate: 'oldest' })).rejects.toThrow(ContextOverflowError);
  });

  it('maxNewTokens "context" fills what the context leaves after the prompt as trimmed (the chat API\'s default)', async () => {
    const { engine: e } = await fakeEngine('tiny-mha-tied-f16', 160);
    const messages = chat(6);
    const full = e.encodePrompt(messages).length;
    expect(full).toBeGreaterThan(160);
    const res = await e.complete(messages, { maxNewTokens: 'context', truncate: 'oldest', decode: 'ar' });
    expect(res.droppedMessages).toBeGreaterThan(0);
    // The fewest turns were dropped for at least one new token, and the rest of the context is the budget.
    expect(e.encodePrompt([messages[0], ...messages.slice(res.droppedMessages - 1)]).length).toBeGreaterThanOrEqual(160);
    expect(res.newTokens).toBe(160 - res.promptTokens);
    expect(res.newTokens).toBeGreaterThan(1);
    expect(res.stopReason).toBe('length');
    await expect(e.complete(messages, { maxNewTokens: 'context' })).rejects.toThrow(ContextOverflowError);
    // A prompt that fits: C − prompt new tokens.
    const short = await e.complete('x = ', { maxNewTokens: 'context', decode: 'ar' });
    expect(short.newTokens).toBe(160 - short.promptTokens);
    await expect(e.complete('x = ', { maxNewTokens: 'all' as 'context' })).rejects.toThrow(InvalidArgumentError);
    // The OpenAI chat API without max_tokens: the same budget, finish_reason length.
    const api = await e.chat.completions.create({ messages: messages as ChatCompletionMessageParam[], msn: { truncate: 'oldest', decode: 'ar' } });
    expect(api.usage.completion_tokens).toBe(res.newTokens);
    expect(api.usage.prompt_tokens).toBe(res.promptTokens);
    expect(api.choices[0].message.content).toBe(res.text);
  });
});
