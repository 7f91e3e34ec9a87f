/**
 * The OpenAI-style API over an {@link Engine}: `engine.chat.completions.create` and
 * `engine.completions.create`, with the request and response shapes of the OpenAI API reference
 * (Chat Completions: `ChatCompletion`, `ChatCompletionChunk`; legacy Completions: `Completion`;
 * https://platform.openai.com/docs/api-reference/chat) as WebLLM's `engine.chat.completions.create`
 * offers them in a page. `npm run serve` (src/cli/serve.ts) puts the same functions behind HTTP.
 *
 * Mapping onto {@link GenerateOptions}: `max_tokens` / `max_completion_tokens` → `maxNewTokens`,
 * `temperature`, `top_p` → `topP`, `top_k` → `topK`, `min_p` → `minP` (the last two as vLLM's
 * extra parameters), `seed`, `stop` (a string or up to 4) → `stop: string[]`; our own options
 * (`decode`, `tree`, `draftSeed`, `truncate`) in the request's `msn` object. Pure TypeScript over the
 * engine's public API: the queue, streaming and abort behaviour are the engine's.
 */
import { InvalidArgumentError, ModelNotFoundError, UnsupportedParameterError } from '../errors.js';
import { DECODE_MODES, type DecodeMode } from '../decode/scheduler.js';
import type { ChatMessage } from '../tokenizer/tokenizer.js';
import type { Engine, GenerateOptions, GenerationResult } from './engine.js';

/** A text part of a message's content (the only content part this runtime reads). */
export interface ChatCompletionContentPartText {
  type: 'text';
  text: string;
}

/** One chat message of a request. `developer` is read as `system` (the chat templates know no other). */
export interface ChatCompletionMessageParam {
  role: 'system' | 'developer' | 'user' | 'assistant';
  /** Text, or text parts (joined with "\n", as vLLM and Hugging Face do); null only for an assistant. */
  content: string | ChatCompletionContentPartText[] | null;
}

/** Our own request options (not in OpenAI's API), in the request's `msn` field. */
export interface MsnRequestOptions {
  /** Decoding strategy (default `tr-jacobi`); every mode gives the same tokens. */
  decode?: DecodeMode;
  /** Draft tree of `tr-jacobi` (default `adaptive`). */
  tree?: 'fixed' | 'adaptive';
  /** Seed of the draft initialisation (never changes the output). */
  draftSeed?: number;
  /** Chat only: refuse a chat that outgrows the context (`error`, default) or drop its oldest turns (`oldest`). */
  truncate?: 'error' | 'oldest';
}

/** Parameters both endpoints share. Null means "the default" everywhere, as in OpenAI's API. */
interface CommonParams {
  /** The model id; optional here (the engine has one model), refused with ModelNotFoundError when it names another. */
  model?: string | null;
  stream?: boolean | null;
  /** `include_usage`: a last chunk with empty `choices` carries `usage`. */
  stream_options?: { include_usage?: boolean | null } | null;
  /**
   * New tokens at most. Chat default: what the context leaves after the prompt (as trimmed by
   * `msn.truncate: 'oldest'`); completions: 16 (OpenAI's default).
   */
  max_tokens?: number | null;
  /** 0 = greedy (our default; OpenAI's is 1), up to 2. */
  temperature?: number | null;
  /** Nucleus mass in (0, 1] (default 1: off). */
  top_p?: number | null;
  /** Extra (vLLM's name): the k most likely tokens (0 or absent: the runtime's candidate set). */
  top_k?: number | null;
  /** Extra (vLLM's name): drop tokens below min_p × the top probability, in [0, 1]. */
  min_p?: number | null;
  /** Sampling seed, any safe integer (negative ones too); the seed used is `msn.seed` of the response. */
  seed?: number | null;
  /** Up to 4 stop strings; the text ends before the first one, which is not returned. */
  stop?: string | string[] | null;
  /** Our own options. */
  msn?: MsnRequestOptions | null;
  // Accepted only at their defaults (null, or the value named in DEFAULT_ONLY):
  n?: number | null;
  frequency_penalty?: number | null;
  presence_penalty?: number | null;
  logit_bias?: Record<string, number> | null;
  user?: string | null;
}

/** `engine.chat.completions.create`'s request. */
export interface ChatCompletionCreateParams extends CommonParams {
  messages: ChatCompletionMessageParam[];
  /** Same as `max_tokens` (OpenAI's newer name); both given must agree. */
  max_completion_tokens?: number | null;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
}

/** `engine.completions.create`'s request: a raw prompt, no chat template. */
export interface CompletionCreateParams extends CommonParams {
  /** The raw prompt (a string, or an array of exactly one string). */
  prompt: string | string[];
  logprobs?: number | null;
  echo?: boolean | null;
  best_of?: number | null;
  suffix?: string | null;
}

/** Token counts of a request (OpenAI's `CompletionUsage`). */
export interface CompletionUsage {
  prompt_tokens: number;
  /** New tokens, up to and including the token that completed a stop (EOS or a stop string). */
  completion_tokens: number;
  total_tokens: number;
  /** `cached_tokens`: prompt tokens whose KV rows were reused from the previous request. */
  prompt_tokens_details: { cached_tokens: number };
}

/** `finish_reason`: `stop` (EOS or a stop string) or `length` (`max_tokens` or the context). */
export type FinishReason = 'stop' | 'length';

/** Our extras of a response (`msn` field): decoding statistics of the generation. */
export interface MsnResponseExtras {
  steps: number;
  /** Mean accepted tokens per step (MAT). */
  meanAcceptedTokens: number;
  tokensPerSecond: number;
  decode: DecodeMode;
  tree: 'fixed' | 'adaptive' | null;
  /** Prompt tokens whose KV rows were reused from the previous request (the KV prefix cache). */
  cachedPromptTokens: number;
  /** The sampling seed used (null when greedy). */
  seed: number | null;
  prefillMs: number;
  ttftMs: number;
  decodeMs: number;
}

/** OpenAI's `ChatCompletion`. */
export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  /** Unix time, seconds. */
  created: number;
  model: string;
  /** The kernel configuration's key: the same fingerprint and seed give the same tokens. */
  system_fingerprint: string;
  choices: Array<{ index: 0; message: { role: 'assistant'; content: string; refusal: null }; logprobs: null; finish_reason: FinishReason }>;
  usage: CompletionUsage;
  msn: MsnResponseExtras;
}

/** OpenAI's `ChatCompletionChunk`. */
export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  system_fingerprint: string;
  /** One choice; empty in the last chunk of `stream_options.include_usage`. */
  choices: Array<{ index: 0; delta: { role?: 'assistant'; content?: string }; logprobs: null; finish_reason: FinishReason | null }>;
  /** Present (null until the last chunk) only with `stream_options.include_usage`. */
  usage?: CompletionUsage | null;
  /** On the chunk that carries `finish_reason` (and on the usage chunk). */
  msn?: MsnResponseExtras;
}

/** OpenAI's `Completion` (also each chunk of a completions stream, with the text piece). */
export interface Completion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: Array<{ index: 0; text: string; logprobs: null; finish_reason: FinishReason | null }>;
  usage?: CompletionUsage | null;
  msn?: MsnResponseExtras;
}

/** Per-call options (as the `openai` client's request options). */
export interface RequestOptions {
  /** Aborts the generation (AbortedError); a queued request leaves the queue. */
  signal?: AbortSignal;
}

/**
 * Parameters of OpenAI's API accepted only at their default; a value that differs is refused with
 * UnsupportedParameterError naming the parameter. Null and absent always pass.
 */
const DEFAULT_ONLY: Record<string, unknown> = {
  n: 1, frequency_penalty: 0, presence_penalty: 0, logit_bias: {}, logprobs: false, top_logprobs: 0, echo: false,
  best_of: 1, suffix: '', tools: [], tool_choice: 'none', functions: [], function_call: 'none', parallel_tool_calls: true,
  response_format: { type: 'text' }, store: false, service_tier: 'auto', modalities: ['text'], audio: null,
  prediction: null, reasoning_effort: null, web_search_options: null, metadata: {},
};

/** Parameters read (beyond DEFAULT_ONLY), per endpoint. `user` is metadata: accepted, unused. */
const CHAT_PARAMS = new Set(['model', 'messages', 'stream', 'stream_options', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'top_k', 'min_p', 'seed', 'stop', 'msn', 'user']);
const COMPLETION_PARAMS = new Set(['model', 'prompt', 'stream', 'stream_options', 'max_tokens', 'temperature', 'top_p', 'top_k', 'min_p', 'seed', 'stop', 'msn', 'user']);
/** Of DEFAULT_ONLY, the ones each endpoint has (the rest are unknown there). */
const CHAT_DEFAULT_ONLY = new Set(Object.keys(DEFAULT_ONLY).filter((k) => !['echo', 'best_of', 'suffix'].includes(k)));
const COMPLETION_DEFAULT_ONLY = new Set(['n', 'frequency_penalty', 'presence_penalty', 'logit_bias', 'logprobs', 'echo', 'best_of', 'suffix']);

/** Most stop strings per request (OpenAI's limit). */
export const MAX_STOP_STRINGS = 4;
/** New tokens of a completions request without `max_tokens` (OpenAI's documented default). */
export const COMPLETIONS_DEFAULT_MAX_TOKENS = 16;

/** Structural equality of JSON values (object keys in any order). */
function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a), kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/**
 * The model id this engine answers to: the model folder's name (`msn-code-tiny`), or `owner/name`
 * for a Hugging Face location.
 */
export function apiModelId(engine: Pick<Engine, 'modelId'>): string {
  const loc = engine.modelId.replace(/^local-folder:/, '');
  const hf = /huggingface\.co\/([^/]+\/[^/]+)\/resolve\//.exec(loc);
  if (hf) return hf[1];
  const parts = loc.split(/[/\\]/).filter((p) => p.length > 0);
  return parts.at(-1) ?? 'model';
}

/** Checks every key of a request: known, or at its default. */
function checkParams(body: Record<string, unknown>, read: Set<string>, defaultOnly: Set<string>): void {
  for (const [k, v] of Object.entries(body)) {
    if (read.has(k)) continue;
    if (!defaultOnly.has(k)) throw new UnsupportedParameterError(k, v, 'this API has no such parameter.');
    if (v === null || v === undefined || jsonEqual(v, DEFAULT_ONLY[k])) continue;
    throw new UnsupportedParameterError(k, v, `msn-webgpu supports only its default (${JSON.stringify(DEFAULT_ONLY[k])}); remove it or set it to that.`);
  }
}

/** A finite number in [lo, hi] (openLo: lo excluded), or undefined for null/absent. */
function numberParam(body: Record<string, unknown>, name: string, lo: number, hi: number, opts: { integer?: boolean; openLo?: boolean } = {}): number | undefined {
  const v = body[name];
  if (v === null || v === undefined) return undefined;
  const ok = typeof v === 'number' && Number.isFinite(v) && (opts.openLo ? v > lo : v >= lo) && v <= hi && (!opts.integer || Number.isInteger(v));
  if (!ok) throw new InvalidArgumentError(`"${name}" must be ${opts.integer ? 'an integer' : 'a number'} in ${opts.openLo ? '(' : '['}${lo}, ${hi}], got ${JSON.stringify(v)}.`, { param: name, value: v });
  return v as number;
}

/** A boolean, or undefined for null/absent. */
function boolParam(body: Record<string, unknown>, name: string): boolean | undefined {
  const v = body[name];
  if (v === null || v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new InvalidArgumentError(`"${name}" must be true or false, got ${JSON.stringify(v)}.`, { param: name, value: v });
  return v;
}

/** What a request asks of the engine. */
interface Plan {
  stream: boolean;
  includeUsage: boolean;
  /** undefined: the endpoint's default. */
  maxTokens: number | undefined;
  options: GenerateOptions;
}

/** Validates the parameters both endpoints share and maps them to GenerateOptions. */
function planCommon(engine: Engine, body: Record<string, unknown>, signal: AbortSignal | undefined): Plan {
  const model = body.model;
  if (model !== null && model !== undefined) {
    if (typeof model !== 'string') throw new InvalidArgumentError(`"model" must be a string, got ${JSON.stringify(model)}.`, { param: 'model', value: model });
    const id = apiModelId(engine);
    if (model !== id && model !== engine.modelId) throw new ModelNotFoundError(model, id);
  }
  const stream = boolParam(body, 'stream') ?? false;
  let includeUsage = false;
  const so = body.stream_options;
  if (so !== null && so !== undefined) {
    if (typeof so !== 'object' || Array.isArray(so)) throw new InvalidArgumentError('"stream_options" must be an object.', { param: 'stream_options', value: so });
    if (!stream) throw new InvalidArgumentError('"stream_options" is allowed only with "stream": true.', { param: 'stream_options', value: so });
    for (const [k, v] of Object.entries(so)) {
      if (k === 'include_usage') includeUsage = boolParam(so as Record<string, unknown>, k) ?? false;
      else if (v !== null && v !== undefined && !(k === 'include_obfuscation' && v === false)) throw new UnsupportedParameterError(`stream_options.${k}`, v, 'only "include_usage" is supported.');
    }
  }
  const options: GenerateOptions = { signal };
  const temperature = numberParam(body, 'temperature', 0, 2);
  if (temperature !== undefined) options.temperature = temperature;
  const topP = numberParam(body, 'top_p', 0, 1, { openLo: true });
  if (topP !== undefined) options.topP = topP;
  const topK = numberParam(body, 'top_k', 0, Number.MAX_SAFE_INTEGER, { integer: true });
  if (topK !== undefined && topK > 0) options.topK = topK;
  const minP = numberParam(body, 'min_p', 0, 1);
  if (minP !== undefined) options.minP = minP;
  const seed = numberParam(body, 'seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, { integer: true });
  if (seed !== undefined) options.seed = seed;
  const stop = body.stop;
  if (stop !== null && stop !== undefined) {
    const list = typeof stop === 'string' ? [stop] : stop;
    if (!Array.isArray(list) || !list.every((s) => typeof s === 'string' && s.length > 0) || list.length > MAX_STOP_STRINGS) {
      throw new InvalidArgumentError(`"stop" must be a non-empty string or an array of at most ${MAX_STOP_STRINGS} non-empty strings, got ${JSON.stringify(stop)}.`, { param: 'stop', value: stop });
    }
    if (list.length > 0) options.stop = list as string[];
  }
  const msn = body.msn;
  if (msn !== null && msn !== undefined) {
    if (typeof msn !== 'object' || Array.isArray(msn)) throw new InvalidArgumentError('"msn" must be an object.', { param: 'msn', value: msn });
    for (const [k, v] of Object.entries(msn)) {
      if (v === null || v === undefined) continue;
      if (k === 'decode') {
        if (!(DECODE_MODES as readonly unknown[]).includes(v)) throw new InvalidArgumentError(`"msn.decode" must be one of ${DECODE_MODES.join(', ')}, got ${JSON.stringify(v)}.`, { param: 'msn.decode', value: v });
        options.decode = v as DecodeMode;
      } else if (k === 'tree') {
        if (v !== 'fixed' && v !== 'adaptive') throw new InvalidArgumentError(`"msn.tree" must be "fixed" or "adaptive", got ${JSON.stringify(v)}.`, { param: 'msn.tree', value: v });
        options.tree = v;
      } else if (k === 'draftSeed') {
        if (!Number.isSafeInteger(v)) throw new InvalidArgumentError(`"msn.draftSeed" must be an integer, got ${JSON.stringify(v)}.`, { param: 'msn.draftSeed', value: v });
        options.draftSeed = v as number;
      } else if (k === 'truncate') {
        if (v !== 'error' && v !== 'oldest') throw new InvalidArgumentError(`"msn.truncate" must be "error" or "oldest", got ${JSON.stringify(v)}.`, { param: 'msn.truncate', value: v });
        options.truncate = v;
      } else {
        throw new UnsupportedParameterError(`msn.${k}`, v, 'the "msn" options are decode, tree, draftSeed and truncate.');
      }
    }
  }
  return { stream, includeUsage, maxTokens: numberParam(body, 'max_tokens', 1, Number.MAX_SAFE_INTEGER, { integer: true }), options };
}

/** A request body as a plain object, or InvalidArgumentError. */
function asBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InvalidArgumentError('The request body must be a JSON object.', { param: null });
  return body as Record<string, unknown>;
}

/** OpenAI messages → the tokenizer's chat messages. */
function chatMessages(raw: unknown): ChatMessage[] {
  if (!Array.isArray(raw) || raw.length === 0) throw new InvalidArgumentError('"messages" must be a non-empty array of messages.', { param: 'messages', value: raw });
  return raw.map((m: unknown, i) => {
    const at = `messages[${i}]`;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new InvalidArgumentError(`"${at}" must be an object with "role" and "content".`, { param: at });
    const msg = m as Record<string, unknown>;
    for (const [k, v] of Object.entries(msg)) {
      if (k === 'role' || k === 'content' || v === null || v === undefined) continue;
      throw new UnsupportedParameterError(`${at}.${k}`, v, 'messages carry only "role" and "content" here (no names, tools or audio).');
    }
    const role = msg.role;
    if (role !== 'system' && role !== 'developer' && role !== 'user' && role !== 'assistant') {
      if (role === 'tool' || role === 'function') throw new UnsupportedParameterError(`${at}.role`, role, 'tool calls are not supported.');
      throw new InvalidArgumentError(`"${at}.role" must be system, developer, user or assistant, got ${JSON.stringify(role)}.`, { param: `${at}.role`, value: role });
    }
    const c = msg.content;
    let content: string;
    if (typeof c === 'string') content = c;
    else if (c === null || c === undefined) {
      if (role !== 'assistant') throw new InvalidArgumentError(`"${at}.content" is required.`, { param: `${at}.content` });
      content = '';
    } else if (Array.isArray(c)) {
      content = c.map((part: unknown, j) => {
        const p = part as Record<string, unknown> | null;
        if (p?.type === 'text' && typeof p.text === 'string') return p.text;
        throw new UnsupportedParameterError(`${at}.content[${j}].type`, p?.type, 'only text parts are supported.');
      }).join('\n');
    } else throw new InvalidArgumentError(`"${at}.content" must be a string or an array of text parts.`, { param: `${at}.content`, value: c });
    return { role: role === 'developer' ? 'system' : role, content };
  });
}

/** Response fields every object of one request shares. */
interface Envelope { id: string; created: number; model: string; system_fingerprint: string }

function envelope(engine: Engine, prefix: string): Envelope {
  // getRandomValues, not randomUUID: the latter exists only in secure contexts (https, localhost).
  const hex = Array.from(globalThis.crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
  return { id: `${prefix}-${hex}`, created: Math.floor(Date.now() / 1000), model: apiModelId(engine), system_fingerprint: engine.info.kernelConfig.key };
}

/** `finish_reason` of a result: `length` when it ran out of tokens, else `stop` (EOS or a stop string). */
export function finishReason(r: GenerationResult): FinishReason {
  return r.stopReason === 'length' ? 'length' : 'stop';
}

/** OpenAI's usage of a result. */
export function usageOf(r: GenerationResult): CompletionUsage {
  return { prompt_tokens: r.promptTokens, completion_tokens: r.tokenIds.length, total_tokens: r.promptTokens + r.tokenIds.length, prompt_tokens_details: { cached_tokens: r.cachedPromptTokens } };
}

/** Our extras of a result. */
export function msnExtras(r: GenerationResult): MsnResponseExtras {
  return {
    steps: r.steps, meanAcceptedTokens: r.meanAcceptedTokens, tokensPerSecond: r.tokensPerSecond, decode: r.decode, tree: r.tree,
    cachedPromptTokens: r.cachedPromptTokens, seed: r.seed, prefillMs: r.prefillMs, ttftMs: r.ttftMs, decodeMs: r.decodeMs,
  };
}

/**
 * Runs `engine.generate` and hands out its text pieces; the first `next()` of the result waits for
 * the generation's first piece (or its end), so queueing, context overflow and bad options fail
 * there, before a stream has sent anything. Leaving early (`return()`) ends the generation.
 */
async function* pieces(engine: Engine, prompt: string | ChatMessage[], options: GenerateOptions): AsyncGenerator<string, GenerationResult> {
  const it = engine.generate(prompt, options);
  let done = false;
  try {
    while (true) {
      const r = await it.next();
      if (r.done) { done = true; return r.value; }
      yield r.value;
    }
  } finally {
    if (!done) await it.return(undefined as never).catch(() => {});
  }
}

/**
 * The plan's token budget: explicit, else `'context'` for a chat (the engine fills what the context
 * leaves after the prompt, as trimmed by `msn.truncate`) or 16 for completions (OpenAI's default).
 */
function maxNewTokens(plan: Plan, chat: boolean): number | 'context' {
  if (plan.maxTokens !== undefined) return plan.maxTokens;
  return chat ? 'context' : COMPLETIONS_DEFAULT_MAX_TOKENS;
}

/**
 * `engine.chat.completions.create`: a chat completion of `body.messages` with the model's chat
 * template (message text is plain text: special-token text in it never becomes control tokens).
 * Without `stream` it resolves to a {@link ChatCompletion}; with `stream: true` to an async iterable
 * of {@link ChatCompletionChunk}s: a first chunk with `delta.role`, one per text piece (pieces never
 * split a character), one with `finish_reason` and `msn`, then with `stream_options.include_usage`
 * one with empty `choices` and `usage`. Requests queue FIFO with every other request of the engine.
 * @throws UnsupportedParameterError (a parameter at a value we do not support, or unknown), InvalidArgumentError
 *   (a value out of range: `detail.param` names it), ModelNotFoundError, and the errors of
 *   {@link Engine.generate} (ContextOverflowError, AbortedError, ChatTemplateError, ...): before the
 *   promise resolves for a plain request, from the stream's first `next()` for a streamed one.
 */
export function createChatCompletion(engine: Engine, body: ChatCompletionCreateParams & { stream: true }, req?: RequestOptions): Promise<AsyncIterable<ChatCompletionChunk>>;
export function createChatCompletion(engine: Engine, body: ChatCompletionCreateParams & { stream?: false | null }, req?: RequestOptions): Promise<ChatCompletion>;
export function createChatCompletion(engine: Engine, body: ChatCompletionCreateParams, req?: RequestOptions): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>>;
export async function createChatCompletion(engine: Engine, body: ChatCompletionCreateParams, req: RequestOptions = {}): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>> {
  const b = asBody(body);
  checkParams(b, CHAT_PARAMS, CHAT_DEFAULT_ONLY);
  const plan = planCommon(engine, b, req.signal);
  const mct = numberParam(b, 'max_completion_tokens', 1, Number.MAX_SAFE_INTEGER, { integer: true });
  if (mct !== undefined && plan.maxTokens !== undefined && mct !== plan.maxTokens) {
    throw new InvalidArgumentError(`"max_tokens" (${plan.maxTokens}) and "max_completion_tokens" (${mct}) differ; give one.`, { param: 'max_completion_tokens', value: mct });
  }
  plan.maxTokens ??= mct;
  const messages = chatMessages(b.messages);
  const options: GenerateOptions = { ...plan.options, chat: true, maxNewTokens: maxNewTokens(plan, true) };
  const env = envelope(engine, 'chatcmpl');
  if (!plan.stream) {
    const r = await engine.complete(messages, options);
    return {
      ...env, object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: r.text, refusal: null }, logprobs: null, finish_reason: finishReason(r) }],
      usage: usageOf(r), msn: msnExtras(r),
    };
  }
  const includeUsage = plan.includeUsage;
  return (async function* chatChunks(): AsyncGenerator<ChatCompletionChunk> {
    const usage = includeUsage ? { usage: null } : {};
    const chunk = (delta: { role?: 'assistant'; content?: string }, finish: FinishReason | null): ChatCompletionChunk => ({
      ...env, object: 'chat.completion.chunk', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...usage,
    });
    const it = pieces(engine, messages, options);
    let first = true;
    let r = await it.next();
    try {
      while (!r.done) {
        if (first) { first = false; yield chunk({ role: 'assistant', content: '' }, null); }
        yield chunk({ content: r.value }, null);
        r = await it.next();
      }
    } finally {
      if (!r.done) await it.return(undefined as never);
    }
    const res = r.value;
    if (first) yield chunk({ role: 'assistant', content: '' }, null);
    yield { ...chunk({}, finishReason(res)), msn: msnExtras(res) };
    if (includeUsage) yield { ...env, object: 'chat.completion.chunk', choices: [], usage: usageOf(res), msn: msnExtras(res) };
  })();
}

/**
 * `engine.completions.create`: continues the raw `body.prompt` (Hugging Face's encoding, no chat
 * template). Without `stream` it resolves to a {@link Completion}; with `stream: true` to an async
 * iterable of `Completion` chunks (one per text piece, then one with `finish_reason` and `msn`, then
 * with `stream_options.include_usage` one with empty `choices` and `usage`). `max_tokens` defaults to 16.
 * @throws as {@link createChatCompletion}; a prompt of token ids or of several strings is an UnsupportedParameterError.
 */
export function createCompletion(engine: Engine, body: CompletionCreateParams & { stream: true }, req?: RequestOptions): Promise<AsyncIterable<Completion>>;
export function createCompletion(engine: Engine, body: CompletionCreateParams & { stream?: false | null }, req?: RequestOptions): Promise<Completion>;
export function createCompletion(engine: Engine, body: CompletionCreateParams, req?: RequestOptions): Promise<Completion | AsyncIterable<Completion>>;
export async function createCompletion(engine: Engine, body: CompletionCreateParams, req: RequestOptions = {}): Promise<Completion | AsyncIterable<Completion>> {
  const b = asBody(body);
  checkParams(b, COMPLETION_PARAMS, COMPLETION_DEFAULT_ONLY);
  const plan = planCommon(engine, b, req.signal);
  let prompt = b.prompt;
  if (Array.isArray(prompt) && prompt.length === 1 && typeof prompt[0] === 'string') prompt = prompt[0];
  if (Array.isArray(prompt)) throw new UnsupportedParameterError('prompt', prompt, 'the prompt must be one string (no batches, no token ids).');
  if (typeof prompt !== 'string') throw new InvalidArgumentError(`"prompt" must be a string, got ${JSON.stringify(prompt)}.`, { param: 'prompt', value: prompt });
  const options: GenerateOptions = { ...plan.options, maxNewTokens: maxNewTokens(plan, false) };
  const env = envelope(engine, 'cmpl');
  const chunk = (text: string, finish: FinishReason | null): Completion => ({ ...env, object: 'text_completion', choices: [{ index: 0, text, logprobs: null, finish_reason: finish }] });
  if (!plan.stream) {
    const r = await engine.complete(prompt, options);
    return { ...chunk(r.text, finishReason(r)), usage: usageOf(r), msn: msnExtras(r) };
  }
  const includeUsage = plan.includeUsage;
  const text = prompt;
  return (async function* completionChunks(): AsyncGenerator<Completion> {
    const usage = includeUsage ? { usage: null } : {};
    const it = pieces(engine, text, options);
    let r = await it.next();
    try {
      while (!r.done) {
        yield { ...chunk(r.value, null), ...usage };
        r = await it.next();
      }
    } finally {
      if (!r.done) await it.return(undefined as never);
    }
    const res = r.value;
    yield { ...chunk('', finishReason(res)), ...usage, msn: msnExtras(res) };
    if (includeUsage) yield { ...env, object: 'text_completion', choices: [], usage: usageOf(res), msn: msnExtras(res) };
  })();
}
