// The engine end to end in Node: executor process + Comlink over IPC, streaming, stats, errors across the boundary.
import { afterAll, describe, expect, it } from 'vitest';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { createNodeEngine } from '../../src/engine/node.js';
import type { LoadProgress } from '../../src/model/loader.js';
import type { Engine } from '../../src/engine/engine.js';
import { AbortedError, ContextOverflowError, InvalidArgumentError, ModelFormatError, NetworkError } from '../../src/errors.js';
import { fixturePath, golden } from '../helpers/fixtures.js';
import { disabledFeatures } from '../helpers/gpu.js';

const engines: Engine[] = [];
afterAll(async () => { for (const e of engines) await e.dispose(); });

async function engine(name: string, inline = false, onProgress?: (p: LoadProgress) => void): Promise<Engine> {
  const e = await createNodeEngine({ model: fixturePath(name), contextLength: 64, inline, disableFeatures: disabledFeatures(), onProgress });
  engines.push(e);
  return e;
}

describe('engine (Node executor process)', () => {
  it('streams the golden greedy tokens with consistent stats', async () => {
    const g = golden('tiny-gqa-f16-untied');
    const progress: LoadProgress[] = [];
    const e = await engine('tiny-gqa-f16-untied', false, (p) => progress.push(p));
    const pieces: string[] = [];
    const live: number[] = [];
    const it = e.generate(g.prompt_text, { maxNewTokens: 16, decode: 'ar', onStep: (s) => live.push(s.newTokens) });
    let r = await it.next();
    while (!r.done) { pieces.push(r.value); r = await it.next(); }
    const res = r.value;
    expect(res.tokenIds).toEqual(g.greedy_ids);
    expect(pieces.join('')).toBe(res.text);
    expect(res.text).toBe(e.tokenizer.decode(g.greedy_ids));
    expect(res.promptTokens).toBe(g.prompt_ids.length);
    expect(res.newTokens).toBe(16);
    expect(res.steps).toBe(16);
    expect(res.meanAcceptedTokens).toBe(1);
    expect(res.stopReason).toBe('length');
    expect(res.tokensPerSecond).toBeGreaterThan(0);
    expect(res.ttftMs).toBeGreaterThanOrEqual(res.prefillMs);
    expect(res.adapter.vendor.length).toBeGreaterThan(0);
    // Load progress crossed the worker boundary: from 0 to the weight file's size on disk, never backwards.
    const size = statSync(join(fixturePath('tiny-gqa-f16-untied'), 'model.safetensors')).size;
    expect(progress.length).toBeGreaterThan(1);
    expect(progress[0]).toEqual({ loadedBytes: 0, totalBytes: size, file: 'model.safetensors' });
    expect(progress.at(-1)).toEqual({ loadedBytes: size, totalBytes: size, file: 'model.safetensors' });
    for (let i = 1; i < progress.length; i++) expect(progress[i].loadedBytes).toBeGreaterThanOrEqual(progress[i - 1].loadedBytes);
    expect(live).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
  });

  it('reports load progress {loadedBytes, totalBytes, file} up to the total', async () => {
    const seen: Array<{ loadedBytes: number; totalBytes: number | null; file: string }> = [];
    const e = await createNodeEngine({ model: fixturePath('tiny-llama3-bf16-sharded'), contextLength: 32, onProgress: (p) => seen.push(p) });
    engines.push(e);
    expect(seen.length).toBeGreaterThan(2);
    const shards = [1, 2, 3].map((i) => `model-0000${i}-of-00003.safetensors`);
    const total = shards.reduce((s, f) => s + statSync(join(fixturePath('tiny-llama3-bf16-sharded'), f)).size, 0);
    expect(seen.every((p) => p.totalBytes === total)).toBe(true);
    expect(seen.at(-1)!.loadedBytes).toBe(total);
    expect([...new Set(seen.map((s) => s.file))]).toEqual(shards);
    for (let i = 1; i < seen.length; i++) expect(seen[i].loadedBytes).toBeGreaterThanOrEqual(seen[i - 1].loadedBytes);
  });

  it('stops at EOS, includes it in tokenIds and excludes it from the text', async () => {
    const g = golden('tiny-gqa-f32');
    const e = await engine('tiny-gqa-f32', true);
    // Make the 5th greedy token an EOS by treating it as one.
    const eosId = g.greedy_ids[4];
    const first = g.greedy_ids.indexOf(eosId);
    (e.info.eosTokenIds as number[]).push(eosId);
    const res = await e.complete(g.prompt_text, { maxNewTokens: 16 });
    expect(res.tokenIds).toEqual(g.greedy_ids.slice(0, first + 1));
    expect(res.stopReason).toBe('stop');
    expect(res.text).toBe(e.tokenizer.decode(g.greedy_ids.slice(0, first)));
  });

  it('typed errors cross the worker boundary and the engine stays usable', async () => {
    const g = golden('tiny-gqa-f16-untied');
    const e = await engine('tiny-gqa-f16-untied');
    await expect(e.complete(g.prompt_text, { maxNewTokens: 60 })).rejects.toBeInstanceOf(ContextOverflowError);
    await expect(e.executor.forward({ tokens: [99999], positions: [0], mask: 'causal', topK: 1, commit: true })).rejects.toBeInstanceOf(InvalidArgumentError);
    const ac = new AbortController();
    ac.abort();
    await expect(e.complete(g.prompt_text, { maxNewTokens: 4, signal: ac.signal })).rejects.toBeInstanceOf(AbortedError);
    const res = await e.complete(g.prompt_text, { maxNewTokens: 16 });
    expect(res.tokenIds).toEqual(g.greedy_ids);
  });

  it('rejects a missing folder and a malformed model with typed errors', async () => {
    await expect(createNodeEngine({ model: '/nonexistent/model' })).rejects.toBeInstanceOf(NetworkError);
    await expect(createNodeEngine({ model: fixturePath('..') })).rejects.toBeInstanceOf(NetworkError);
  });

  it('chat prompts use the model chat template', async () => {
    const g = golden('tiny-mha-tied-f16');
    const e = await engine('tiny-mha-tied-f16', true);
    expect(e.encodePrompt(g.chat!.messages)).toEqual(g.chat!.ids);
    expect(e.encodePrompt('def sq(x):', true)).toEqual(e.tokenizer.encode(e.tokenizer.applyChatTemplate([{ role: 'user', content: 'def sq(x):' }]), false));
    await expect(createNodeEngine({ model: fixturePath('tiny-gqa-f32'), contextLength: 16, inline: true }).then(async (x) => { engines.push(x); return x.complete('a', { chat: true, maxNewTokens: 1 }); })).rejects.toBeInstanceOf(ModelFormatError);
  });
});

describe('engine queue', () => {
  it('runs concurrent generate calls in FIFO order; aborting a queued call removes it', async () => {
    const g = golden('tiny-gqa-f32');
    const e = await engine('tiny-gqa-f32', true);
    const order: string[] = [];
    const ac = new AbortController();
    const a = e.complete(g.prompt_text, { maxNewTokens: 8, decode: 'ar' }).then((r) => { order.push('a'); return r; });
    const b = e.complete(g.prompt_text, { maxNewTokens: 8, decode: 'ar', signal: ac.signal }).then(() => order.push('b'), (err) => { order.push(`b:${err.name}`); });
    const c = e.complete(g.prompt_text, { maxNewTokens: 4, decode: 'tr-jacobi', tree: 'fixed' }).then((r) => { order.push('c'); return r; });
    ac.abort();
    const [ra, , rc] = await Promise.all([a, b, c]);
    expect(order).toEqual(['b:AbortedError', 'a', 'c']);
    expect(ra.tokenIds).toEqual(g.greedy_ids.slice(0, 8));
    expect(rc.tokenIds).toEqual(g.greedy_ids.slice(0, 4));
  });
});
