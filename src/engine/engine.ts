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
import { costKey, isCostTable, MemoryCostCache, type CostCache } from './cost-cache.js';
import type { ChatMessage, Tokenizer } from '../tokenizer/tokenizer.js';
import type { AdapterSummary } from '../gpu/context.js';
import type { ExecutorApi, ModelInfo } from '../worker/api.js';

/** Options of one generation. */
export interface GenerateOptions {
  /** New tokens at most (default 128). */
  maxNewTokens?: number;
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
  /** Sampling seed, an integer in [0, 2^53) (default: random; the one used is `result.seed`). */
  seed?: number;
  /** Treat the prompt as a user message and apply the model's chat template. */
  chat?: boolean;
  /**
   * Chat only: let special-token text inside messages (e.g. `<|im_end|>`, `<|endoftext|>`) become
   * control tokens, as Hugging Face's `apply_chat_template(tokenize=True)` does (default false: message
   * text is plain text, and only the template's markup yields control tokens). Trusted input only.
   */
  allowSpecialInContent?: boolean;
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
export interface GenerationResult extends DecodeStats {
  /** Generated text (excludes the prompt and EOS). */
  text: string;
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
    const maxNewTokens = options.maxNewTokens ?? 128;
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
    try {
      if (this.#lostError) throw this.#lostError;
      if (options.signal?.aborted) throw new AbortedError();
      const sampling = resolveSampling(options);
      const promptIds = this.encodePrompt(prompt, options.chat, options.allowSpecialInContent);
      // Context overflow is refused before any GPU work (the adaptive probe included).
      if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) throw new InvalidArgumentError(`maxNewTokens must be a positive integer, got ${maxNewTokens}.`);
      if (promptIds.length + maxNewTokens > this.info.contextLength) throw new ContextOverflowError(promptIds.length, maxNewTokens, this.info.contextLength);
      await this.executor.reset();
      const startedAt = performance.now();
      const policy = mode === 'tr-jacobi' && treeKind === 'adaptive' ? await this.#adaptivePolicy(options.onPhase) : undefined;
      options.onPhase?.('prefill');
      const stream = this.tokenizer.streamDecoder();
      const eos = new Set(this.info.eosTokenIds);
      const tokenIds: number[] = [];
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
      });
      let stats: DecodeStats;
      while (true) {
        const step = await gen.next();
        if (step.done) { stats = step.value; break; }
        for (const id of step.value) {
          tokenIds.push(id);
          if (eos.has(id)) continue;
          const piece = stream.push(id);
          if (piece) {
            beforeYield();
            yield piece;
            afterYield();
          }
        }
      }
      const rest = stream.flush();
      if (rest) {
        beforeYield();
        yield rest;
        afterYield();
      }
      const result: GenerationResult = {
        ...stats,
        text: stream.text,
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
      if (e instanceof MsnError) throw e;
      if ((e as Error)?.name === 'AbortError') throw new AbortedError();
      throw e;
    } finally {
      signal?.removeEventListener('abort', onAbortParked);
      release();
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
