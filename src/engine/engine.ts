/**
 * The engine on the main thread: tokenizer, chat template, the decoding scheduler and streaming
 * text, over an executor that usually lives in a worker. Requests run one at a time in FIFO order.
 */
import { AbortedError, ContextOverflowError, DeviceLostError, InvalidArgumentError, MsnError } from '../errors.js';
import { decode, DECODE_MODES, type DecodeMode, type DecodeStats, type TreePolicy } from '../decode/scheduler.js';
import { createRng } from '../decode/rng.js';
import { resolveSampling } from '../decode/sampling.js';
import { AdaptiveTreePolicy } from '../decode/adaptive.js';
import { probeForwardCost } from '../decode/probe.js';
import { StopMatcher, validateStops } from '../decode/stop.js';
import { costKey, isCostTable, MemoryCostCache, type CostCache } from './cost-cache.js';
import type { ChatMessage, Tokenizer } from '../tokenizer/tokenizer.js';
import type { AdapterSummary } from '../gpu/context.js';
import type { ExecutorApi, ModelInfo } from '../worker/api.js';
import { createChatCompletion, createCompletion } from './openai.js';

/** Options of one generation. */
export interface GenerateOptions {
  /**
   * New tokens at most (default 128), or `'context'`: as many as the context leaves after the prompt
   * (after `truncate: 'oldest'` trimmed it, which then trims only as far as one new token needs).
   */
  maxNewTokens?: number | 'context';
  /** Decoding strategy (default `tr-jacobi`): `ar`, `jacobi`, `retrieval` or `tr-jacobi`. */
  decode?: DecodeMode;
  /** Draft tree of `tr-jacobi`: the paper's fixed 69-node tree or the adaptive sub-tree (default). */
  tree?: 'fixed' | 'adaptive';
  /** Seed of the draft initialisation (random context tokens); output does not depend on it. */
  draftSeed?: number;
  /**
   * Sampling temperature (default 0 = greedy). > 0: each token is the seeded Gumbel-max draw from
   * softmax(logits / temperature) over the truncated candidate set (README "Sampling"); every decode
   * mode gives the same tokens for the same seed.
   */
  temperature?: number;
  /** Keep the k most likely tokens (ties kept; 0 = off). At most the 64 most likely are ever candidates. */
  topK?: number;
  /** Nucleus sampling: keep the most likely tokens whose probability reaches topP, in (0, 1] (1 = off). */
  topP?: number;
  /** Drop tokens whose probability is below minP × the top token's, in [0, 1] (0 = off). */
  minP?: number;
  /** Sampling seed, any safe integer, negative ones too (default: random; the one used is `result.seed`). */
  seed?: number;
  /** Treat the prompt as a user message and apply the model's chat template. */
  chat?: boolean;
  /**
   * Chat only: let special-token text inside messages (e.g. `<|im_end|>`, `<|endoftext|>`) become
   * control tokens, as Hugging Face's `apply_chat_template(tokenize=True)` does (default false: message
   * text is plain text, and only the template's markup yields control tokens). Trusted input only.
   */
  allowSpecialInContent?: boolean;
  /**
   * Stop sequences (at most 4 non-empty strings), matched on the decoded text across token and
   * step boundaries: generation ends with the token that completes one; the stop text and anything
   * after it are not emitted, and streamed text that could still begin a stop is held back until it
   * cannot (src/decode/stop.ts). `tokenIds` and the counts include that token.
   */
  stop?: string[];
  /**
   * A chat (messages) longer than the context: `error` (default) refuses it with
   * ContextOverflowError; `oldest` drops whole turns (a user message and the replies after it) from
   * the oldest on, keeping leading system messages and the last turn, until prompt + maxNewTokens fit.
   */
  truncate?: 'error' | 'oldest';
  /** Aborts the generation (between decode steps); the engine stays usable. */
  signal?: AbortSignal;
  /**
   * Called when the request enters a phase: `probe` (a one-time measurement of this GPU for the
   * adaptive tree, seconds on a slow adapter; cached afterwards), `prefill`, `decode`.
   */
  onPhase?: (phase: 'probe' | 'prefill' | 'decode') => void;
  /** Called after every decode step with the running counts (live MAT and tokens/s). */
  onStep?: (s: { newTokens: number; steps: number; decodeMs: number; meanAcceptedTokens: number; tokensPerSecond: number }) => void;
}

/** Final record of a generation. */
export interface GenerationResult extends Omit<DecodeStats, 'stopReason'> {
  /** Generated text (excludes the prompt, EOS and a stop sequence with what followed it). */
  text: string;
  /** `stop`: EOS or a stop sequence ended it; `length`: maxNewTokens did. */
  stopReason: 'stop' | 'length';
  /** The stop sequence that ended the text, or null. */
  stopSequence: string | null;
  /** Prompt tokens whose KV rows were reused from the previous request (not prefilled again). */
  cachedPromptTokens: number;
  /** Chat messages dropped from the start by `truncate: 'oldest'` (0 when none). */
  droppedMessages: number;
  /** New token ids (includes a generated EOS). */
  tokenIds: number[];
  /** newTokens / steps (MAT). */
  meanAcceptedTokens: number;
  /** newTokens / decode seconds. */
  tokensPerSecond: number;
  decode: DecodeMode;
  /** Tree kind used by `tr-jacobi`, else null. */
  tree: 'fixed' | 'adaptive' | null;
  adapter: AdapterSummary;
  /** The sampling seed used (given or drawn at random); null when decoding greedily. */
  seed: number | null;
}

/** An API function's overloads without their leading engine argument. */
type OmitEngine<F> = F extends {
  (e: Engine, ...a: infer A1): infer R1;
  (e: Engine, ...a: infer A2): infer R2;
  (e: Engine, ...a: infer A3): infer R3;
} ? { (...a: A1): R1; (...a: A2): R2; (...a: A3): R3 } : never;

/** Longest wait on the adaptive tree's cost cache, in ms; past it the engine measures instead. */
export const COST_CACHE_WAIT_MS = 250;

export class Engine {
  #queue: Promise<unknown> = Promise.resolve();
  #masks = new Map<string, number>();
  #policy: AdaptiveTreePolicy | null = null;
  #disposed = false;
  /** Result of the last finished generation. */
  lastResult: GenerationResult | null = null;
  /**
   * Resolves (never rejects) if the GPU device is lost or the worker that holds it is lost
   * ({@link WorkerLostError}, a DeviceLostError), even while idle. Every later call then fails at
   * once with that error: create a new engine.
   */
  readonly lost: Promise<DeviceLostError>;
  #lostError: DeviceLostError | null = null;
  #cacheWarned = false;
  /**
   * The KV prefix cache: token ids whose KV rows 0..n−1 are committed in the executor (left by the
   * previous request). Empty while a request runs, until it knows which rows stay valid.
   */
  #kvIds: number[] = [];

  /**
   * OpenAI-style chat completions (`src/engine/openai.ts`, as WebLLM's): `create({ messages, stream,
   * max_tokens, temperature, top_p, seed, stop, ... })` → a ChatCompletion, or with `stream: true` an
   * async iterable of ChatCompletionChunks. Queued FIFO with {@link generate}.
   */
  readonly chat = { completions: { create: ((body, req) => createChatCompletion(this, body, req)) as OmitEngine<typeof createChatCompletion> } };
  /** OpenAI-style completions of a raw prompt (no chat template): `create({ prompt, ... })`. */
  readonly completions = { create: ((body, req) => createCompletion(this, body, req)) as OmitEngine<typeof createCompletion> };

  constructor(
    readonly executor: ExecutorApi,
    readonly info: ModelInfo,
    readonly tokenizer: Tokenizer,
    private readonly onDispose: () => void | Promise<void> = () => {},
    /** Where the adaptive tree's cost table is cached. */
    readonly costCache: CostCache = new MemoryCostCache(),
    /** Model location (part of the cost-cache key). */
    readonly modelId = '',
  ) {
    // A worker that dies rejects every pending call, whenLost() included, with a WorkerLostError.
    this.lost = executor.whenLost().then((l) => new DeviceLostError(l.reason, l.message), (e: unknown) => e instanceof DeviceLostError ? e : new Promise<never>(() => {}));
    void this.lost.then((e) => { this.#lostError = e; });
  }

  /**
   * Prompt token ids as the engine will feed them. Chat (messages, or `chat`): the chat template with
   * message text read as plain text unless `allowSpecialInContent` (see {@link Tokenizer.encodeChat}).
   * Raw text: Hugging Face's encoding, special-token text included, plus the post-processor's tokens.
   * @throws ModelFormatError (no chat template), ChatTemplateError, InvalidArgumentError.
   */
  encodePrompt(prompt: string | ChatMessage[], chat = false, allowSpecialInContent = false): number[] {
    if (Array.isArray(prompt) || chat) {
      const messages = Array.isArray(prompt) ? prompt : [{ role: 'user', content: prompt }];
      return this.tokenizer.encodeChat(messages, { allowSpecialInContent });
    }
    const ids = this.tokenizer.encode(prompt, true);
    if (ids.length === 0 && this.info.config.bosTokenId !== null) return [this.info.config.bosTokenId];
    return ids;
  }

  /**
   * Streams the generated text in pieces (concatenating to `result.text`); the generator's return
   * value is the {@link GenerationResult}. Calls are queued FIFO.
   * @throws ContextOverflowError, AbortedError, DeviceLostError, InvalidArgumentError, ChatTemplateError
   *   (all but the last two before any GPU work).
   */
  async *generate(prompt: string | ChatMessage[], options: GenerateOptions = {}): AsyncGenerator<string, GenerationResult> {
    if (this.#disposed) throw new InvalidArgumentError('This engine was disposed; create a new one.');
    if (this.#lostError) throw this.#lostError;
    const mode = options.decode ?? 'tr-jacobi';
    if (!(DECODE_MODES as readonly string[]).includes(mode)) throw new InvalidArgumentError(`Unknown decode mode "${mode}"; use one of ${DECODE_MODES.join(', ')}.`);
    const treeKind = options.tree ?? 'adaptive';
    if (treeKind !== 'fixed' && treeKind !== 'adaptive') throw new InvalidArgumentError(`tree must be "fixed" or "adaptive", got "${treeKind}".`);
    const maxNewOption = options.maxNewTokens ?? 128;
    const stops = validateStops(options.stop);
    const truncate = options.truncate ?? 'error';
    if (truncate !== 'error' && truncate !== 'oldest') throw new InvalidArgumentError(`truncate must be "error" or "oldest", got ${JSON.stringify(truncate)}.`);
    let release!: () => void;
    const turn = new Promise<void>((r) => { release = r; });
    const prev = this.#queue;
    this.#queue = prev.then(() => turn);
    // Wait for our turn (FIFO); an abort while queued removes this request at once.
    const signal = options.signal;
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<'aborted'>((r) => {
      if (!signal) return;
      onAbort = () => r('aborted');
      if (signal.aborted) r('aborted');
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    const first = await Promise.race([prev.then(() => 'turn' as const), aborted]);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    if (first === 'aborted') {
      release();
      throw new AbortedError('Generation was aborted before it started (removed from the queue).');
    }
    // While this generator is parked at a `yield`, no executor call of ours is in flight. If the
    // signal aborts then, the turn is released at once, since the caller may never call next()
    // again; a later next() only throws.
    let parked = false;
    let abandoned = false;
    const onAbortParked = () => {
      if (!parked) return;
      abandoned = true;
      release();
    };
    signal?.addEventListener('abort', onAbortParked, { once: true });
    /** Before each yield: an aborted request stops here instead of handing out more text. */
    const beforeYield = () => {
      if (signal?.aborted) throw new AbortedError();
      parked = true;
    };
    /** After each yield: a request whose turn was released on abort must not touch the executor. */
    const afterYield = () => {
      parked = false;
      if (abandoned) throw new AbortedError();
    };
    /** Whether this request reached the executor (errors before that leave the prefix cache alone). */
    let touched = false;
    try {
      if (this.#lostError) throw this.#lostError;
      if (options.signal?.aborted) throw new AbortedError();
      const sampling = resolveSampling(options);
      const fill = maxNewOption === 'context';
      if (!fill && !(Number.isInteger(maxNewOption) && maxNewOption >= 1)) throw new InvalidArgumentError(`maxNewTokens must be a positive integer or "context", got ${JSON.stringify(maxNewOption)}.`);
      // Context overflow is refused (or the chat trimmed) before any GPU work (the adaptive probe included).
      const { ids: promptIds, dropped } = this.#fitPrompt(prompt, options, fill ? 1 : maxNewOption, truncate);
      const maxNewTokens = fill ? this.info.contextLength - promptIds.length : maxNewOption;
      // From here on the executor is used: a failure other than an abort drops the prefix cache.
      touched = true;
      const startedAt = performance.now();
      const policy = mode === 'tr-jacobi' && treeKind === 'adaptive' ? await this.#adaptivePolicy(options.onPhase) : undefined;
      // KV prefix reuse: keep the rows of the longest common prefix with the previous request (at
      // most the prompt minus its last token, which every decode starts from), drop the rest.
      const prevIds = this.#kvIds;
      this.#kvIds = [];
      let cachedPrompt = 0;
      while (cachedPrompt < prevIds.length && cachedPrompt < promptIds.length - 1 && prevIds[cachedPrompt] === promptIds[cachedPrompt]) cachedPrompt++;
      if (cachedPrompt > 0) await this.executor.kvTruncate(cachedPrompt);
      else await this.executor.reset();
      this.#kvIds = promptIds.slice(0, cachedPrompt);
      options.onPhase?.('prefill');
      const stream = this.tokenizer.streamDecoder();
      const matcher = new StopMatcher(stops);
      const eos = new Set(this.info.eosTokenIds);
      const tokenIds: number[] = [];
      /** Text released by the stop matcher and not yet yielded. */
      let ready = '';
      let text = '';
      const gen = decode(this.executor, promptIds, {
        mode, maxNewTokens, eosTokenIds: eos, maxRows: this.info.maxRows, contextLength: this.info.contextLength, signal: options.signal,
        rng: createRng(options.draftSeed ?? 0x5eed), sampling: sampling ?? undefined, maskCache: this.#masks, vocabSize: this.info.config.vocabSize,
        onStep: options.onStep || options.onPhase ? (st) => {
          if (st.steps === 1) options.onPhase?.('decode');
          if (options.onStep) options.onStep({
          newTokens: st.newTokens, steps: st.steps, decodeMs: st.decodeMs,
          meanAcceptedTokens: st.steps ? st.newTokens / st.steps : 0,
          tokensPerSecond: st.decodeMs > 0 ? st.newTokens / (st.decodeMs / 1000) : 0,
          });
        } : undefined,
        policy,
        startedAt,
        // Every emitted token but EOS goes through the stream decoder and the stop matcher here, in
        // order; the scheduler ends generation on the token that completes a stop.
        stopAfter: (id) => {
          const piece = stream.push(id);
          if (piece) ready += matcher.push(piece);
          return matcher.stopped !== null;
        },
        cachedPrefix: cachedPrompt,
        commitTail: true,
      });
      let stats: DecodeStats;
      while (true) {
        // The rows of every token before this step's root are committed once its forward ran.
        const committed = promptIds.length - 1 + tokenIds.length;
        const step = await gen.next();
        if (step.done) { stats = step.value; break; }
        if (committed > this.#kvIds.length) this.#kvIds = [...promptIds, ...tokenIds].slice(0, committed);
        tokenIds.push(...step.value);
        if (ready) {
          const piece = ready;
          ready = '';
          text += piece;
          beforeYield();
          yield piece;
          afterYield();
        }
      }
      // The last step's accepted rows were committed (commitTail): all but the last token's.
      this.#kvIds = [...promptIds, ...tokenIds].slice(0, -1);
      const rest = stream.flush();
      if (rest) ready += matcher.push(rest);
      if (matcher.stopped === null) ready += matcher.flush();
      if (ready) {
        text += ready;
        beforeYield();
        yield ready;
        afterYield();
      }
      const { stopReason, ...counts } = stats;
      const result: GenerationResult = {
        ...counts,
        text,
        stopReason: stopReason === 'length' && matcher.stopped === null ? 'length' : 'stop',
        stopSequence: matcher.stopped,
        cachedPromptTokens: cachedPrompt,
        droppedMessages: dropped,
        tokenIds,
        meanAcceptedTokens: stats.steps ? stats.newTokens / stats.steps : 0,
        tokensPerSecond: stats.decodeMs > 0 ? stats.newTokens / (stats.decodeMs / 1000) : 0,
        decode: mode,
        tree: mode === 'tr-jacobi' ? treeKind : null,
        adapter: this.info.adapter,
        seed: sampling ? sampling.seed : null,
      };
      this.lastResult = result;
      return result;
    } catch (e) {
      // After an abort the committed rows recorded so far stay valid; after any other failure once
      // the executor was used the cache is dropped (the next request prefills from scratch); a
      // request refused before that (bad options, context overflow) leaves it as it was. A request
      // whose turn was released while parked no longer owns the cache.
      if (touched && !abandoned && !(e instanceof AbortedError || (e as Error)?.name === 'AbortError')) this.#kvIds = [];
      if (e instanceof MsnError) throw e;
      if ((e as Error)?.name === 'AbortError') throw new AbortedError();
      throw e;
    } finally {
      signal?.removeEventListener('abort', onAbortParked);
      release();
    }
  }

  /**
   * Prompt ids for `prompt`, checked against the context: prompt + maxNewTokens must fit. A chat
   * that does not fit is trimmed with `truncate: 'oldest'`: whole turns (a user message and the
   * messages up to the next user message) are dropped from the oldest on, leading system messages
   * are kept, and the last turn is never dropped.
   * @returns the ids and how many messages were dropped.
   * @throws ContextOverflowError when it does not fit (after trimming, with `oldest`).
   */
  #fitPrompt(prompt: string | ChatMessage[], options: GenerateOptions, maxNewTokens: number, truncate: 'error' | 'oldest'): { ids: number[]; dropped: number } {
    const C = this.info.contextLength;
    let ids = this.encodePrompt(prompt, options.chat, options.allowSpecialInContent);
    if (ids.length + maxNewTokens <= C || truncate !== 'oldest' || !Array.isArray(prompt)) {
      if (ids.length + maxNewTokens > C) throw new ContextOverflowError(ids.length, maxNewTokens, C);
      return { ids, dropped: 0 };
    }
    let head = 0;
    while (head < prompt.length && prompt[head].role === 'system') head++;
    let rest = prompt.slice(head);
    while (true) {
      // The next turn starts at the second user message of what is left.
      const next = rest.findIndex((m, i) => i > 0 && m.role === 'user');
      if (next < 0) throw new ContextOverflowError(ids.length, maxNewTokens, C);
      rest = rest.slice(next);
      ids = this.encodePrompt([...prompt.slice(0, head), ...rest], true, options.allowSpecialInContent);
      if (ids.length + maxNewTokens <= C) return { ids, dropped: prompt.length - head - rest.length };
    }
  }

  /**
   * The adaptive tree policy: the forward-cost table comes from the cache or a one-time probe
   * (per adapter, model and kernel configuration: `costKey`); acceptance statistics accumulate over this engine's generations.
   */
  async #adaptivePolicy(onPhase?: GenerateOptions['onPhase']): Promise<TreePolicy> {
    if (this.#policy) return this.#policy;
    const key = costKey(this.info, this.modelId);
    const cached = await this.#cacheCall(() => this.costCache.get(key), null);
    let table = isCostTable(cached) ? cached : null;
    if (!table) {
      onPhase?.('probe');
      // The probe needs an empty committed cache: the prefix cache is dropped.
      this.#kvIds = [];
      await this.executor.reset();
      const measured = await probeForwardCost(this.executor, this.info.maxRows, this.info.config.vocabSize);
      // Written in the background: the generation never waits on the cache's write.
      void this.#cacheCall(() => this.costCache.set(key, measured), undefined);
      table = measured;
    }
    this.#policy = new AdaptiveTreePolicy(table);
    return this.#policy;
  }

  /**
   * One call to the cost cache, which is only an optimisation: its result, or `fallback` when it
   * fails (one console warning per engine) or has not answered within {@link COST_CACHE_WAIT_MS}.
   */
  async #cacheCall<T>(op: () => Promise<T>, fallback: T): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<T>((r) => { timer = setTimeout(() => r(fallback), COST_CACHE_WAIT_MS); });
    const call = Promise.resolve().then(op);
    call.catch(() => {}); // a failure after the deadline is nobody's business
    try {
      return await Promise.race([call, late]);
    } catch (e) {
      if (!this.#cacheWarned) console.warn(`msn-webgpu: the adaptive tree's cost cache failed (${(e as Error)?.message ?? String(e)}); the forward costs are measured again next time.`);
      this.#cacheWarned = true;
      return fallback;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Token ids whose KV rows the next request may reuse (the previous request's prompt and output,
   * minus the last token). Empty after `clearKvCache()`, a failed request, or the adaptive probe.
   */
  get kvCacheTokens(): readonly number[] {
    return this.#kvIds;
  }

  /**
   * Forgets the KV prefix cache: the next request prefills its whole prompt (a cold start). Call it
   * after using `executor` directly, which the cache cannot see.
   */
  clearKvCache(): void {
    this.#kvIds = [];
  }

  /** Forward cost table used by the adaptive tree (null before the first adaptive generation). */
  get adaptive(): AdaptiveTreePolicy | null {
    return this.#policy;
  }

  /** Runs a generation to the end and returns its result. */
  async complete(prompt: string | ChatMessage[], options: GenerateOptions = {}): Promise<GenerationResult> {
    const it = this.generate(prompt, options);
    while (true) {
      const r = await it.next();
      if (r.done) return r.value;
    }
  }

  /** Frees the GPU resources and the worker. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    try {
      await this.executor.dispose();
    } finally {
      await this.onDispose();
    }
  }
}
