/**
 * `<msn-chat>`: a self-contained prompt box + streaming output bound to a shared engine.
 *
 *   <script type="module" src="/lib/msn-webgpu.js"></script>
 *   <msn-chat model="https://huggingface.co/owner/name/resolve/main/" decode="tr-jacobi" max-new-tokens="64"></msn-chat>
 *
 * Attributes: `model` (model folder URL, `hf:owner/name` or a huggingface.co page), `decode`
 * (`ar` | `jacobi` | `retrieval` | `tr-jacobi`, default `tr-jacobi`), `max-new-tokens` (default 128),
 * `prompt` (initial text of the prompt box), `chat` (`off`: send raw completion prompts even when
 * the model has a chat template; default: the template is applied when the model has one),
 * `temperature` (default 0: greedy), `top-p`, `seed` (sampling, README "Sampling"; a bad value fails
 * the request with InvalidArgumentError naming it).
 * Events (see events.ts): `progress`, `ready`, `token`, `done`, `error`. Method: `generate(prompt)`.
 * Elements with the same model URL share one worker and engine; their requests run FIFO.
 *
 * Moves and attribute changes never touch a request already made:
 * - a move (removed and re-inserted in the same task, as frameworks reorder lists, or
 *   `moveBefore()`, which calls `connectedMoveCallback`) keeps the requests and their streams; only an
 *   element still disconnected one task later is removed for real: its requests are aborted and its
 *   share of the engine is released (the registry disposes the engine when no share is left);
 * - a request uses the attributes the element had when it was made. A `model` change while requests
 *   made before it are pending switches the model once they have settled; requests made after the
 *   change wait for the new model.
 */
import type { Engine, GenerationResult } from '../engine/engine.js';
import { AbortedError, DeviceLostError, InvalidArgumentError } from '../errors.js';
import { DECODE_MODES, type DecodeMode } from '../decode/scheduler.js';
import type { LoadProgress } from '../model/loader.js';
import { describeError } from './describe-error.js';
import type { MsnChatEventMap, MsnDoneDetail, MsnErrorDetail, MsnProgressDetail, MsnReadyDetail, MsnTokenDetail } from './events.js';
import { modelDisplayName, normalizeModelUrl } from './model-url.js';
import { acquireEngine, invalidateEngine, type EngineLease } from './registry.js';
import { MSN_CHAT_CSS } from './styles.js';
import { settleModelCache } from '../app/settle.js';

/** Options of {@link MsnChatElement.generate}; unset ones come from the attributes at the call. */
export interface MsnGenerateOptions {
  maxNewTokens?: number;
  decode?: DecodeMode;
  /** Sampling (default: the `temperature`, `top-p` and `seed` attributes; temperature 0 = greedy). */
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  seed?: number;
  /** Apply the chat template (default: when the model has one, unless the `chat` attribute is `off`). */
  chat?: boolean;
  /** Aborts this request (a queued one leaves the queue at once). */
  signal?: AbortSignal;
}

const TEMPLATE = `
<div class="box" part="box">
  <div class="head"><span class="model" part="model"></span></div>
  <progress part="progress" max="1" value="0" aria-label="Model download"></progress>
  <span class="progress-text" aria-hidden="true"></span>
  <p class="status" part="status" role="status" aria-live="polite">No model</p>
  <div class="error" part="error" role="alert" hidden><strong></strong><p class="msg"></p><p class="action"></p><button type="button" class="reload">Reload model</button></div>
  <label for="prompt">Prompt</label>
  <textarea id="prompt" part="prompt" spellcheck="false" aria-describedby="keys"></textarea>
  <div class="row">
    <button type="button" class="send primary" part="send" disabled>Send</button>
    <button type="button" class="stop" part="stop" disabled>Stop</button>
  </div>
  <span id="keys" hidden>Ctrl+Enter sends, Escape stops.</span>
  <div class="output" part="output" role="log" aria-label="Output" aria-live="polite"></div>
  <p class="stats" part="stats"></p>
</div>`;

let sheet: CSSStyleSheet | null = null;
function styleSheet(): CSSStyleSheet | null {
  if (sheet) return sheet;
  try {
    sheet = new CSSStyleSheet();
    sheet.replaceSync(MSN_CHAT_CSS);
  } catch {
    sheet = null;
  }
  return sheet;
}

/** The requests bound to one model binding (one `#connect`), so that a model switch waits for them. */
interface Binding {
  count: number;
}

/** Loads whose outcome was already sent to the service worker (elements sharing a load send it once). */
const settledLoads = new WeakSet<Promise<Engine>>();

/**
 * When the load behind `lease` ends, tells the page's service worker whether it succeeded (the
 * app's worker then caches the model whole or evicts its files: see src/app/settle.ts); once per
 * load, whatever the number of elements sharing it. Best effort: nothing waits for the answer.
 */
function settleCacheOnce(lease: EngineLease): void {
  if (settledLoads.has(lease.ready)) return;
  settledLoads.add(lease.ready);
  lease.ready.then(() => true, () => false).then((loaded) => settleModelCache(lease.model, loaded)).catch(() => {});
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 1)} MB`;
}

export class MsnChatElement extends HTMLElement {
  static readonly observedAttributes = ['model', 'decode', 'max-new-tokens', 'prompt'];

  #root: ShadowRoot;
  #lease: EngineLease | null = null;
  #engine: Engine | null = null;
  #loadError: unknown = null;
  #requests = new Set<AbortController>();
  #nextId = 1;
  #running = 0;
  /** Requests made since the last `#connect` (they run on its model). */
  #binding: Binding = { count: 0 };
  /** A `model` change waits for the current binding's requests to settle. */
  #switchPending = false;
  /** Requests made while a switch is pending, waiting for the new binding. */
  #waiters: Array<(b: Binding) => void> = [];
  /** A disconnection not yet known to be a real removal (cleared when reconnected in time). */
  #removal: ReturnType<typeof setTimeout> | null = null;
  #ready!: Promise<Engine>;
  #els!: {
    model: HTMLElement; progress: HTMLProgressElement; progressText: HTMLElement; status: HTMLElement; error: HTMLElement;
    prompt: HTMLTextAreaElement; send: HTMLButtonElement; stop: HTMLButtonElement; output: HTMLElement; stats: HTMLElement;
  };

  constructor() {
    super();
    this.#root = this.attachShadow({ mode: 'open' });
    const s = styleSheet();
    if (s) this.#root.adoptedStyleSheets = [s];
    const tpl = document.createElement('template');
    tpl.innerHTML = TEMPLATE; // static markup only; model output is only ever inserted as text
    this.#root.append(tpl.content.cloneNode(true));
    const q = <T extends HTMLElement>(sel: string) => this.#root.querySelector(sel) as T;
    this.#els = {
      model: q('.model'), progress: q('progress'), progressText: q('.progress-text'), status: q('.status'), error: q('.error'),
      prompt: q('textarea'), send: q('.send'), stop: q('.stop'), output: q('.output'), stats: q('.stats'),
    };
    this.#resetReady();
    const { send, stop, prompt, error } = this.#els;
    send.addEventListener('click', () => this.#sendFromBox());
    stop.addEventListener('click', () => this.stop());
    prompt.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        this.#sendFromBox();
      } else if (e.key === 'Escape' && this.#requests.size) {
        e.preventDefault();
        this.stop();
      }
    });
    error.querySelector('.reload')!.addEventListener('click', () => this.reload());
  }

  // -- attributes / properties ------------------------------------------------------------------

  /** Model folder URL (absolute after normalisation), or '' when unset. */
  get model(): string {
    return this.getAttribute('model') ?? '';
  }
  set model(v: string) {
    this.setAttribute('model', v);
  }
  get decode(): DecodeMode {
    const d = this.getAttribute('decode') as DecodeMode | null;
    return d && DECODE_MODES.includes(d) ? d : 'tr-jacobi';
  }
  set decode(v: DecodeMode) {
    this.setAttribute('decode', v);
  }
  get maxNewTokens(): number {
    const n = Number(this.getAttribute('max-new-tokens'));
    return Number.isInteger(n) && n > 0 ? n : 128;
  }
  set maxNewTokens(v: number) {
    this.setAttribute('max-new-tokens', String(v));
  }
  /** `temperature` attribute as a number (absent: undefined = greedy; not a number: NaN, refused by generate). */
  get temperature(): number | undefined {
    return this.#numberAttr('temperature');
  }
  /** `top-p` attribute as a number (absent: undefined = off). */
  get topP(): number | undefined {
    return this.#numberAttr('top-p');
  }
  /** `seed` attribute as a number (absent: undefined = a random seed per request). */
  get seed(): number | undefined {
    return this.#numberAttr('seed');
  }
  #numberAttr(name: string): number | undefined {
    const v = this.getAttribute(name);
    return v === null ? undefined : v.trim() === '' ? NaN : Number(v);
  }
  /** The loaded engine (shared with other elements of the same model), or null. */
  get engine(): Engine | null {
    return this.#engine;
  }
  /** Resolves with the engine once the model is loaded (rejects if loading fails). */
  get ready(): Promise<Engine> {
    return this.#ready;
  }

  connectedCallback(): void {
    // Properties set on the element before it was upgraded shadow the accessors: re-apply them.
    for (const prop of ['model', 'decode', 'maxNewTokens'] as const) {
      if (Object.prototype.hasOwnProperty.call(this, prop)) {
        const v = (this as Record<string, unknown>)[prop];
        delete (this as Record<string, unknown>)[prop];
        (this as Record<string, unknown>)[prop] = v;
      }
    }
    if (this.#removal !== null) {
      // Re-inserted within the task that removed it: a move, nothing to do.
      clearTimeout(this.#removal);
      this.#removal = null;
    }
    if (!this.#lease) this.#connect();
  }
  /**
   * Removed from the document: a move re-inserts the element before the next task, so the abort
   * of its requests and the release of its engine share wait for that task.
   */
  disconnectedCallback(): void {
    if (this.#removal !== null) return;
    this.#removal = setTimeout(() => {
      this.#removal = null;
      if (this.isConnected) return;
      this.stop();
      this.#disconnect();
    }, 0);
  }
  /** `moveBefore()` moved the element (Chromium 133+): it keeps its requests and engine. */
  connectedMoveCallback(): void {}
  attributeChangedCallback(name: string, old: string | null, value: string | null): void {
    // `prompt`: initial text of the prompt box (kept once the user has typed).
    if (name === 'prompt' && (this.#els.prompt.value === '' || this.#els.prompt.value === (old ?? ''))) this.#els.prompt.value = value ?? '';
    // `model`: applies once the requests made before the change have settled (never to them).
    if (name === 'model' && old !== value && (this.isConnected || this.#removal !== null)) {
      if (this.#binding.count > 0) this.#switchPending = true;
      else this.#switchModel();
    }
  }

  override addEventListener<K extends keyof MsnChatEventMap>(type: K, listener: (this: MsnChatElement, ev: MsnChatEventMap[K]) => unknown, options?: boolean | AddEventListenerOptions): void;
  override addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void;
  override addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void {
    super.addEventListener(type, listener, options);
  }

  // -- public methods ---------------------------------------------------------------------------

  /**
   * Generates a completion (or a chat reply when the model has a chat template) of `prompt`,
   * streaming it into the output and firing `token` then `done` (or `error`). Resolves with the
   * result; rejects with the error (an `AbortedError` after `stop()` or the element's removal).
   * Unset options come from the attributes at this call; the request runs on the model the
   * element has at this call (after a pending `model` change: the new one), whatever changes later.
   */
  async generate(prompt: string, options: MsnGenerateOptions = {}): Promise<GenerationResult> {
    const requestId = this.#nextId++;
    const maxNewTokens = options.maxNewTokens ?? this.maxNewTokens;
    const decode = options.decode ?? this.decode;
    const temperature = options.temperature ?? this.temperature;
    const topP = options.topP ?? this.topP;
    const seed = options.seed ?? this.seed;
    const chatAttr = this.getAttribute('chat') !== 'off';
    const ctl = new AbortController();
    const external = options.signal;
    const onExternal = () => ctl.abort();
    if (external?.aborted) ctl.abort();
    external?.addEventListener('abort', onExternal, { once: true });
    this.#requests.add(ctl);
    this.#sync();
    let binding: Binding | null = null;
    try {
      binding = await this.#bind(ctl.signal);
      const engine = await this.#waitReady(ctl.signal);
      const chat = options.chat ?? (chatAttr && engine.tokenizer.hasChatTemplate);
      const it = engine.generate(prompt, { maxNewTokens, decode, chat, signal: ctl.signal, temperature, topK: options.topK, topP, minP: options.minP, seed });
      let output = '';
      let index = 0;
      let started = false;
      const begin = () => {
        if (started) return;
        started = true;
        this.#running++;
        this.#els.output.textContent = '';
        this.#els.output.setAttribute('aria-busy', 'true');
        this.#setStatus('Generating…');
        this.#hideError();
      };
      let r = await it.next();
      while (!r.done) {
        begin();
        output += r.value;
        this.#els.output.append(document.createTextNode(r.value));
        this.#emit('token', { requestId, text: r.value, index: index++, output } satisfies MsnTokenDetail);
        r = await it.next();
      }
      begin();
      const result = r.value;
      this.#finish();
      const s = result;
      this.#els.stats.textContent = `${s.newTokens} tokens · ${s.tokensPerSecond.toFixed(1)} tokens/s · mean accepted tokens ${s.meanAcceptedTokens.toFixed(2)} · ${s.decode} · ${s.cachedPromptTokens}/${s.promptTokens} prompt tokens cached`;
      this.#emit('done', { requestId, prompt, result } satisfies MsnDoneDetail);
      return result;
    } catch (e) {
      if (this.#els.output.getAttribute('aria-busy') === 'true') this.#finish();
      const err = (e as Error)?.name === 'AbortError' ? new AbortedError() : e;
      const view = describeError(err, 'generate');
      if (view.code === 'aborted') {
        if (this.#engine) this.#setStatus('Ready');
      } else {
        this.#showError(view);
        if (err instanceof DeviceLostError && this.#lease) invalidateEngine(this.#lease.model, err);
      }
      this.#emit('error', { requestId, phase: 'generate', ...view, error: err } satisfies MsnErrorDetail);
      throw err;
    } finally {
      external?.removeEventListener('abort', onExternal);
      this.#requests.delete(ctl);
      if (binding) this.#unbind(binding);
      this.#sync();
    }
  }

  /** Stops this element's running request and removes its queued ones. */
  stop(): void {
    for (const c of [...this.#requests]) c.abort();
  }

  /** Loads the model again (after a device loss or a failed load). */
  reload(): void {
    this.stop();
    this.#disconnect();
    this.#connect();
  }

  // -- internals --------------------------------------------------------------------------------

  #resetReady(): void {
    this.#ready = new Promise<Engine>(() => {});
  }

  /**
   * Binds a new request to the current model, or, while a `model` change is pending, to the next
   * one once the switch happens. Rejects with `AbortedError` when aborted while waiting.
   */
  #bind(signal: AbortSignal): Promise<Binding> {
    if (!this.#switchPending) {
      this.#binding.count++;
      return Promise.resolve(this.#binding);
    }
    return new Promise<Binding>((resolve, reject) => {
      const onAbort = () => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(new AbortedError('Generation was aborted before the model was loaded.'));
      };
      const waiter = (b: Binding) => {
        signal.removeEventListener('abort', onAbort);
        resolve(b);
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** A request of `b` settled: the last one of the current binding lets a pending `model` change happen. */
  #unbind(b: Binding): void {
    b.count--;
    if (b === this.#binding && b.count === 0 && this.#switchPending) this.#switchModel();
  }

  /** Applies the `model` attribute: releases the current engine share and acquires the new one. */
  #switchModel(): void {
    this.#disconnect();
    this.#connect();
  }

  #connect(): void {
    // A new binding; the requests that waited for a model switch are its first.
    const binding: Binding = { count: this.#waiters.length };
    this.#binding = binding;
    this.#switchPending = false;
    for (const w of this.#waiters.splice(0)) w(binding);
    this.#engine = null;
    this.#loadError = null;
    this.#hideError();
    const { progress, progressText, model: modelEl } = this.#els;
    progress.value = 0;
    progressText.textContent = '';
    let model: string;
    try {
      model = normalizeModelUrl(this.model, document.baseURI);
    } catch (e) {
      const err = this.model ? e : new InvalidArgumentError('Set the model attribute of <msn-chat> to a model folder URL.');
      this.#loadFailed(err);
      return;
    }
    modelEl.textContent = modelDisplayName(model);
    modelEl.title = model;
    this.#setStatus('Loading model…');
    const lease = acquireEngine(model, {
      onProgress: (p: LoadProgress) => this.#progress(model, p),
      onInvalidate: (reason) => {
        if (this.#lease !== lease) return;
        this.#engine = null;
        this.#resetReady();
        this.#loadError = reason;
        this.#showError(describeError(reason, 'generate'));
        this.#setStatus('Model unavailable');
        this.#sync();
      },
    });
    this.#lease = lease;
    this.#ready = lease.ready;
    this.#ready.catch(() => {}); // handled below; avoid unhandled rejections for unobserved `ready`
    settleCacheOnce(lease);
    lease.ready.then((engine) => {
      if (this.#lease !== lease) return;
      this.#engine = engine;
      progress.value = 1;
      this.#setStatus('Ready');
      this.#sync();
      this.#emit('ready', { model, info: engine.info, chat: engine.tokenizer.hasChatTemplate } satisfies MsnReadyDetail);
    }, (e) => {
      if (this.#lease !== lease) return;
      this.#loadFailed(e);
    });
  }

  #disconnect(): void {
    this.#switchPending = false; // the next #connect reads the attribute anyway
    this.#lease?.release();
    this.#lease = null;
    this.#engine = null;
    this.#resetReady();
    this.#sync();
  }

  #loadFailed(e: unknown): void {
    this.#loadError = e;
    const ready = Promise.reject(e);
    ready.catch(() => {});
    this.#ready = ready;
    const view = describeError(e, 'load');
    this.#showError(view);
    this.#setStatus('Model not loaded');
    this.#sync();
    this.#emit('error', { requestId: null, phase: 'load', ...view, error: e } satisfies MsnErrorDetail);
  }

  async #waitReady(signal: AbortSignal): Promise<Engine> {
    if (this.#engine) return this.#engine;
    if (this.#loadError || !this.#lease) throw this.#loadError ?? new InvalidArgumentError('Set the model attribute of <msn-chat> to a model folder URL.');
    const aborted = new Promise<never>((_, rej) => {
      if (signal.aborted) rej(new AbortedError('Generation was aborted before the model was loaded.'));
      signal.addEventListener('abort', () => rej(new AbortedError('Generation was aborted before the model was loaded.')), { once: true });
    });
    return Promise.race([this.#ready, aborted]);
  }

  #progress(model: string, p: LoadProgress): void {
    const fraction = p.totalBytes ? Math.min(1, p.loadedBytes / p.totalBytes) : null;
    const { progress, progressText } = this.#els;
    if (fraction === null) progress.removeAttribute('value');
    else progress.value = fraction;
    progressText.textContent = `${mb(p.loadedBytes)}${p.totalBytes ? ` of ${mb(p.totalBytes)} (${Math.round((fraction ?? 0) * 100)} %)` : ''}`;
    this.#emit('progress', { model, loadedBytes: p.loadedBytes, totalBytes: p.totalBytes, fraction, file: p.file } satisfies MsnProgressDetail);
  }

  #sendFromBox(): void {
    const text = this.#els.prompt.value;
    if (!this.#engine || !text.trim()) return;
    this.generate(text).catch(() => {}); // shown in the element and fired as `error`
  }

  #finish(): void {
    this.#running = Math.max(0, this.#running - 1);
    this.#els.output.setAttribute('aria-busy', 'false');
    if (this.#engine) this.#setStatus('Ready');
  }

  #sync(): void {
    this.#els.send.disabled = !this.#engine;
    this.#els.stop.disabled = this.#requests.size === 0;
  }

  #setStatus(text: string): void {
    if (this.#els.status.textContent !== text) this.#els.status.textContent = text;
  }

  #showError(view: ReturnType<typeof describeError>): void {
    const box = this.#els.error;
    box.querySelector('strong')!.textContent = view.title;
    box.querySelector('.msg')!.textContent = view.message;
    box.querySelector('.action')!.textContent = view.action;
    (box.querySelector('.reload') as HTMLElement).hidden = !view.needsReload || !this.model;
    box.hidden = false;
  }

  #hideError(): void {
    this.#els.error.hidden = true;
  }

  #emit<K extends keyof MsnChatEventMap>(type: K, detail: MsnChatEventMap[K]['detail']): void {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'msn-chat': MsnChatElement;
  }
}
