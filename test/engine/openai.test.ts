// The OpenAI-style API: the library's engine.chat.completions.create / engine.completions.create, and
// `npm run serve` driven by the official `openai` client (v6): same text as engine.generate, stream
// shapes, parameter refusal, HTTP errors, client disconnect.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import OpenAI from 'openai';
import { createNodeEngine } from '../../src/engine/node.js';
import type { Engine, GenerationResult } from '../../src/engine/engine.js';
import { apiModelId, finishReason, type ChatCompletionChunk, type Completion } from '../../src/engine/openai.js';
import { errorResponse, formatRecord, startServer, type RequestRecord, type RunningServer } from '../../src/cli/serve.js';
import { ContextOverflowError, InvalidArgumentError, ModelFormatError, ModelNotFoundError, UnsupportedParameterError } from '../../src/errors.js';
import { fixturePath } from '../helpers/fixtures.js';
import { disabledFeatures } from '../helpers/gpu.js';

const FIXTURE = 'tiny-mha-tied-f16'; // has a chat template
const MESSAGES = [{ role: 'system' as const, content: 'You are terse.' }, { role: 'user' as const, content: 'Say hi' }];
let engine: Engine;
let server: RunningServer;
const records: RequestRecord[] = [];
let client: OpenAI;

beforeAll(async () => {
  engine = await createNodeEngine({ model: fixturePath(FIXTURE), contextLength: 128, disableFeatures: disabledFeatures() });
  server = await startServer({ engine, port: 0, bodyLimitBytes: 4096, onRequest: (r) => records.push(r) });
  client = new OpenAI({ baseURL: server.url, apiKey: 'unused', maxRetries: 0 });
});
afterAll(async () => {
  await server?.close();
  await engine?.dispose();
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const c of it) out.push(c);
  return out;
}

describe('library: engine.chat.completions.create / engine.completions.create', () => {
  it('a chat completion has the text, tokens and stats of engine.generate with the same options', async () => {
    // AR then the fixed tree: neither runs the adaptive probe, so the second reuses the first's KV rows.
    const ref = await engine.complete(MESSAGES, { chat: true, maxNewTokens: 12, decode: 'ar' });
    const r = await engine.chat.completions.create({ messages: MESSAGES, max_tokens: 12, msn: { decode: 'tr-jacobi', tree: 'fixed' } });
    expect(r.object).toBe('chat.completion');
    expect(r.id).toMatch(/^chatcmpl-[0-9a-f]{32}$/);
    expect(r.model).toBe(FIXTURE);
    expect(r.choices).toEqual([{ index: 0, message: { role: 'assistant', content: ref.text, refusal: null }, logprobs: null, finish_reason: 'length' }]);
    // The same prompt again: the engine reuses the KV rows of all but its last token (multi-turn reuse).
    expect(r.usage).toEqual({ prompt_tokens: ref.promptTokens, completion_tokens: 12, total_tokens: ref.promptTokens + 12, prompt_tokens_details: { cached_tokens: ref.promptTokens - 1 } });
    expect(r.msn.cachedPromptTokens).toBe(ref.promptTokens - 1);
    expect(r.msn.decode).toBe('tr-jacobi');
    expect(r.msn.tree).toBe('fixed');
    expect(r.msn.steps).toBeLessThanOrEqual(12);
  });

  it('a streamed chat: role chunk, pieces that concatenate to the text, finish_reason, then the usage chunk', async () => {
    const ref = await engine.complete(MESSAGES, { chat: true, maxNewTokens: 10, decode: 'ar' });
    const chunks: ChatCompletionChunk[] = await collect(await engine.chat.completions.create({ messages: MESSAGES, max_completion_tokens: 10, stream: true, stream_options: { include_usage: true } }));
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    const fin = chunks.at(-2)!;
    // The default adaptive tree may run its one-time probe first, which empties the KV cache: the
    // cached count is the generation's own (the first test checks reuse where it is deterministic).
    expect(last.usage).toEqual({ prompt_tokens: ref.promptTokens, completion_tokens: 10, total_tokens: ref.promptTokens + 10, prompt_tokens_details: { cached_tokens: fin.msn?.cachedPromptTokens } });
    expect([0, ref.promptTokens - 1]).toContain(fin.msn?.cachedPromptTokens);
    expect(fin.choices[0]).toEqual({ index: 0, delta: {}, logprobs: null, finish_reason: 'length' });
    expect(fin.msn?.steps).toBeGreaterThan(0);
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    expect(chunks.slice(0, -2).every((c) => c.choices[0].finish_reason === null)).toBe(true);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(ref.text);
  });

  it('completions continue the raw prompt (no template); a stream without include_usage has no usage field', async () => {
    const ref = await engine.complete('x = ', { maxNewTokens: 6, decode: 'ar' });
    const r = await engine.completions.create({ prompt: 'x = ', max_tokens: 6 });
    expect(r.object).toBe('text_completion');
    expect(r.choices).toEqual([{ index: 0, text: ref.text, logprobs: null, finish_reason: 'length' }]);
    expect(r.usage?.completion_tokens).toBe(6);
    const chunks: Completion[] = await collect(await engine.completions.create({ prompt: ['x = '], max_tokens: 6, stream: true }));
    expect(chunks.map((c) => c.choices[0].text).join('')).toBe(ref.text);
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe('length');
    expect(chunks.every((c) => !('usage' in c))).toBe(true);
    // OpenAI's default of 16 new tokens.
    expect((await engine.completions.create({ prompt: 'x = ' })).usage?.completion_tokens).toBe(16);
  });

  it('refuses a parameter we do not support only when it differs from its default, and names it', async () => {
    const ok = await engine.chat.completions.create({ messages: MESSAGES, max_tokens: 2, n: 1, logprobs: false, frequency_penalty: 0, presence_penalty: null, logit_bias: {}, user: 'u', model: FIXTURE });
    expect(ok.usage.completion_tokens).toBe(2);
    const refused = async (body: object, cls: new (...a: never[]) => Error, param: string) => {
      const e = await engine.chat.completions.create({ messages: MESSAGES, max_tokens: 2, ...body }).then(() => null, (x: unknown) => x);
      expect(e).toBeInstanceOf(cls);
      expect((e as UnsupportedParameterError).detail.param).toBe(param);
    };
    await refused({ n: 2 }, UnsupportedParameterError, 'n');
    await refused({ logprobs: true }, UnsupportedParameterError, 'logprobs');
    await refused({ presence_penalty: 0.5 }, UnsupportedParameterError, 'presence_penalty');
    await refused({ tools: [{ type: 'function', function: { name: 'f' } }] }, UnsupportedParameterError, 'tools');
    await refused({ frobnicate: 1 }, UnsupportedParameterError, 'frobnicate');
    await refused({ messages: [{ role: 'user', content: 'a', name: 'bob' }] }, UnsupportedParameterError, 'messages[0].name');
    await refused({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }, UnsupportedParameterError, 'messages[0].content[0].type');
    await refused({ temperature: 2.5 }, InvalidArgumentError, 'temperature');
    await refused({ seed: 2 ** 53 }, InvalidArgumentError, 'seed');
    await refused({ top_p: 0 }, InvalidArgumentError, 'top_p');
    await refused({ stop: ['a', 'b', 'c', 'd', 'e'] }, InvalidArgumentError, 'stop');
    await refused({ max_tokens: 2, max_completion_tokens: 3 }, InvalidArgumentError, 'max_completion_tokens');
    await refused({ msn: { decode: 'fast' } }, InvalidArgumentError, 'msn.decode');
    await refused({ model: 'gpt-4o' }, ModelNotFoundError, 'model');
    await expect(engine.completions.create({ prompt: 'x', max_tokens: 500 })).rejects.toBeInstanceOf(ContextOverflowError);
    // A streamed request's errors come from its first next(), before any chunk.
    const stream = await engine.completions.create({ prompt: 'x', max_tokens: 500, stream: true });
    await expect(stream[Symbol.asyncIterator]().next()).rejects.toBeInstanceOf(ContextOverflowError);
  });

  it('finish_reason: length for max_tokens, stop for EOS or a stop string; model id from the location', () => {
    const r = (stopReason: string | null) => ({ stopReason }) as unknown as GenerationResult;
    expect(finishReason(r('length'))).toBe('length');
    expect(finishReason(r('eos'))).toBe('stop');
    expect(finishReason(r('stop'))).toBe('stop');
    expect(apiModelId({ modelId: '/a/b/msn-code-tiny/' })).toBe('msn-code-tiny');
    expect(apiModelId({ modelId: 'https://huggingface.co/owner/name/resolve/main/' })).toBe('owner/name');
    expect(apiModelId({ modelId: 'local-folder:picked/' })).toBe('picked');
  });
});

describe('npm run serve with the openai client', () => {
  it('lists the model', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual([FIXTURE]);
    expect((await client.models.retrieve(FIXTURE)).id).toBe(FIXTURE);
  });

  it('chat, plain and streamed, gives the library\'s text', async () => {
    const lib = await engine.chat.completions.create({ messages: MESSAGES, max_tokens: 12 });
    const r = await client.chat.completions.create({ model: FIXTURE, messages: MESSAGES, max_tokens: 12 });
    expect(r.choices[0].message.content).toBe(lib.choices[0].message.content);
    expect(r.choices[0].finish_reason).toBe('length');
    expect(r.usage).toMatchObject({ prompt_tokens: lib.usage.prompt_tokens, completion_tokens: 12 });
    const s = await client.chat.completions.create({ model: FIXTURE, messages: MESSAGES, max_tokens: 12, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    let finish: string | null = null;
    for await (const c of s) {
      text += c.choices[0]?.delta.content ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
      if (c.usage) usage = c.usage;
    }
    expect(text).toBe(lib.choices[0].message.content);
    expect(finish).toBe('length');
    expect(usage?.completion_tokens).toBe(12);
  });

  it('completions, plain and streamed, give the library\'s text', async () => {
    const lib = await engine.completions.create({ prompt: 'def f(', max_tokens: 8 });
    const r = await client.completions.create({ model: FIXTURE, prompt: 'def f(', max_tokens: 8 });
    expect(r.choices[0].text).toBe(lib.choices[0].text);
    let text = '';
    for await (const c of await client.completions.create({ model: FIXTURE, prompt: 'def f(', max_tokens: 8, stream: true })) text += c.choices[0]?.text ?? '';
    expect(text).toBe(lib.choices[0].text);
  });

  it('answers bad requests with OpenAI-shaped errors and the right status', async () => {
    const fail = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a failure'); }, (e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
    const n = await fail(client.chat.completions.create({ model: FIXTURE, messages: MESSAGES, n: 2 }));
    expect(n).toBeInstanceOf(OpenAI.BadRequestError);
    expect(n.error).toMatchObject({ type: 'invalid_request_error', param: 'n', code: 'unsupported_parameter' });
    const model = await fail(client.chat.completions.create({ model: 'gpt-4o', messages: MESSAGES }));
    expect(model).toBeInstanceOf(OpenAI.NotFoundError);
    expect(model.code).toBe('model_not_found');
    const overflow = await fail(client.completions.create({ model: FIXTURE, prompt: 'x', max_tokens: 500, stream: true }));
    expect(overflow).toBeInstanceOf(OpenAI.BadRequestError);
    expect(overflow.code).toBe('context_length_exceeded');
    const big = await fail(client.completions.create({ model: FIXTURE, prompt: 'x'.repeat(5000), max_tokens: 1 }));
    expect(big.status).toBe(413);
    const route = await fetch(`${server.url}/nothing`);
    expect(route.status).toBe(404);
    expect((await route.json() as { error: { code: string } }).error.code).toBe('unknown_url');
    const method = await fetch(`${server.url}/chat/completions`);
    expect(method.status).toBe(405);
    const json = await fetch(`${server.url}/completions`, { method: 'POST', body: '{"prompt": ' });
    expect(json.status).toBe(400);
    expect((await json.json() as { error: { code: string } }).error.code).toBe('invalid_json');
    expect(errorResponse(new Error('boom')).status).toBe(500);
    // A model id that is not valid percent-encoding is the request's fault.
    const malformed = await fetch(`${server.url}/models/%E0`);
    expect(malformed.status).toBe(400);
    expect((await malformed.json() as { error: { code: string } }).error.code).toBe('invalid_url');
    expect((await fetch(`${server.url}/models/${encodeURIComponent('n\u00e9')}`)).status).toBe(404);
    // A chat request to a model without a chat template is the request's fault (400, param messages); another model-format error is the server's.
    expect(errorResponse(new ModelFormatError('This model has no chat template …', { chatTemplate: null }))).toMatchObject({ status: 400, body: { error: { code: 'no_chat_template', param: 'messages' } } });
    expect(errorResponse(new ModelFormatError('bad shard')).status).toBe(500);
  });

  it('stops a generation when its client disconnects, and serves the next request', async () => {
    const before = engine.lastResult;
    const ac = new AbortController();
    const s = await client.completions.create({ model: FIXTURE, prompt: 'x = ', max_tokens: 120, stream: true, msn: { decode: 'ar' } } as OpenAI.CompletionCreateParamsStreaming, { signal: ac.signal });
    let n = 0;
    // The client ends its iteration quietly on abort (or throws an abort error, depending on timing);
    // chunks it had already received and parsed may still come out of its iterator after the abort.
    await (async () => { for await (const c of s) { n += c.choices[0] ? 1 : 0; if (n === 1) ac.abort(); } })().catch((e: unknown) => expect((e as Error).name).toMatch(/Abort/));
    expect(n).toBeGreaterThanOrEqual(1);
    expect(n).toBeLessThan(120);
    await expect.poll(() => records.find((r) => r.aborted), { timeout: 10_000 }).toMatchObject({ status: 200, aborted: true });
    // The aborted generation never finished (lastResult is set only by a finished one).
    expect(engine.lastResult).toBe(before);
    const next = await client.completions.create({ model: FIXTURE, prompt: 'x = ', max_tokens: 3 });
    expect(next.usage?.completion_tokens).toBe(3);
  });

  it('a plain request whose client leaves while it waits in the queue is logged as never answered', async () => {
    // A streamed request holds the engine (its iterator is parked after its first chunk).
    const holder = await client.completions.create({ model: FIXTURE, prompt: 'x = ', max_tokens: 60, stream: true, msn: { decode: 'ar' } } as OpenAI.CompletionCreateParamsStreaming);
    const hold = holder[Symbol.asyncIterator]();
    await hold.next();
    const ac = new AbortController();
    const count = records.length;
    const arrived = new Promise((r) => server.server.once('request', r));
    const queued = client.completions.create({ model: FIXTURE, prompt: 'y = ', max_tokens: 3 }, { signal: ac.signal }).catch((e: unknown) => e);
    await arrived;
    ac.abort();
    expect(await queued).toBeInstanceOf(Error);
    await expect.poll(() => records.slice(count).find((r) => r.path === '/v1/completions'), { timeout: 10_000 }).toMatchObject({ status: null, aborted: true, error: null });
    const logged = records.slice(count).find((r) => r.path === '/v1/completions')!;
    expect(formatRecord(logged)).toBe('POST /v1/completions no response (client disconnected)');
    expect(formatRecord({ method: 'POST', path: '/v1/completions', status: 200, aborted: true, error: null })).toBe('POST /v1/completions 200 (client disconnected)');
    expect(formatRecord({ method: 'GET', path: '/x', status: 404, aborted: false, error: 'Unknown route' })).toBe('GET /x 404 Unknown route');
    await hold.return?.();
  });

  it('npm run serve: the built CLI serves the openai client and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [join('dist-node', 'serve.mjs'), '--model', fixturePath(FIXTURE), '--port', '0', '--context-length', '64'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /at (http:\/\/\S+\/v1)/.exec(err);
        if (m) resolve(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
    });
    const c = new OpenAI({ baseURL: url, apiKey: 'unused', maxRetries: 0 });
    const r = await c.completions.create({ model: FIXTURE, prompt: 'x = ', max_tokens: 4 });
    expect(r.usage?.completion_tokens).toBe(4);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
