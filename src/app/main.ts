/**
 * The chat demo at `/`: pick a model (the embedded default, or any Hugging Face Llama-family folder
 * URL), watch it download, then stream completions (or chat replies when the model has a chat
 * template) with live statistics, a stop button and a decoding switch. The model runs in a Web
 * Worker (shared engine registry, src/component/registry.ts); this thread only tokenizes and
 * schedules. Model output is only ever inserted as text, never parsed as HTML.
 */
import type { Engine, GenerationResult } from '../engine/engine.js';
import type { DecodeMode } from '../decode/scheduler.js';
import type { ChatMessage } from '../tokenizer/tokenizer.js';
import { AbortedError, DeviceLostError, WebGpuUnavailableError } from '../errors.js';
import { describeError, type ErrorView } from '../component/describe-error.js';
import { modelDisplayName, normalizeModelUrl } from '../component/model-url.js';
import { acquireEngine, invalidateEngine, type EngineLease } from '../component/registry.js';
import { applyUpdate, cachedModels, clearCachedModels, registerServiceWorker, settleModelCache } from './pwa.js';
import type { SettleResult } from './cache-names.js';
import { skipModelCache } from './settle.js';
import { checkStorageQuota, describePersistence, requestPersistentStorage } from './storage.js';
import { folderFromFiles, folderFromHandle, locationKey, type LocalFolder } from '../model/local-folder.js';
import { describeSuggestion, SUGGESTIONS, suggestionLocation, type ModelSuggestion } from './suggestions.js';

/** An entry of `public/models/index.json`. */
interface ModelEntry {
  id: string;
  /** Folder, relative to `models/`. */
  path: string;
  name?: string;
  description?: string;
  /** Default prompt (in the model's prompt format). */
  prompt?: string;
}

/**
 * Default completion prompt, in the SFT format of our code models (train/README.md, "The SFT
 * format"): a Python signature and docstring, ending with the closing quotes; the body follows.
 */
export const DEFAULT_COMPLETION_PROMPT = 'def fibonacci(n):\n    """Return the n-th Fibonacci number."""';
const DEFAULT_CHAT_PROMPT = 'Write a Python function that reverses a string.';
const CUSTOM = '__custom__';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const el = {
  form: $<HTMLFormElement>('model-form'),
  pick: $<HTMLSelectElement>('model-pick'),
  pickHint: $<HTMLParagraphElement>('pick-hint'),
  model: $<HTMLInputElement>('model'),
  weights: $<HTMLSelectElement>('weights'),
  gpuMemory: $<HTMLInputElement>('gpu-memory'),
  hfToken: $<HTMLInputElement>('hf-token'),
  load: $<HTMLButtonElement>('load'),
  progress: $<HTMLProgressElement>('progress'),
  progressText: $<HTMLParagraphElement>('progress-text'),
  modelInfo: $<HTMLParagraphElement>('model-info'),
  status: $<HTMLParagraphElement>('status'),
  error: $<HTMLDivElement>('error'),
  errorTitle: $<HTMLElement>('error-title'),
  errorMessage: $<HTMLParagraphElement>('error-message'),
  errorAction: $<HTMLParagraphElement>('error-action'),
  errorReload: $<HTMLButtonElement>('error-reload'),
  errorUncached: $<HTMLButtonElement>('error-uncached'),
  openFolder: $<HTMLButtonElement>('open-folder'),
  folderInput: $<HTMLInputElement>('folder-input'),
  storageInfo: $<HTMLParagraphElement>('storage-info'),
  useChat: $<HTMLInputElement>('use-chat'),
  modeHint: $<HTMLParagraphElement>('mode-hint'),
  prompt: $<HTMLTextAreaElement>('prompt'),
  decode: $<HTMLSelectElement>('decode'),
  maxNew: $<HTMLInputElement>('max-new'),
  temperature: $<HTMLInputElement>('temperature'),
  topP: $<HTMLInputElement>('top-p'),
  seed: $<HTMLInputElement>('seed'),
  send: $<HTMLButtonElement>('send'),
  stop: $<HTMLButtonElement>('stop'),
  newChat: $<HTMLButtonElement>('new-chat'),
  output: $<HTMLDivElement>('output'),
  tokens: $<HTMLElement>('stat-tokens'),
  tps: $<HTMLElement>('stat-tps'),
  mat: $<HTMLElement>('stat-mat'),
  speedup: $<HTMLElement>('stat-speedup'),
  ttft: $<HTMLElement>('stat-ttft'),
  cacheInfo: $<HTMLParagraphElement>('cache-info'),
  update: $<HTMLDivElement>('update'),
  clearCache: $<HTMLButtonElement>('clear-cache'),
  adapterInfo: $<HTMLParagraphElement>('adapter-info'),
  simulateLoss: $<HTMLButtonElement>('simulate-loss'),
};

let models: ModelEntry[] = [];
let lease: EngineLease | null = null;
let engine: Engine | null = null;
let chatMode = false;
let turns: ChatMessage[] = [];
let abort: AbortController | null = null;
/**
 * True while a load runs its checks before the current engine is released (prepareCache): no
 * generation may start on an engine about to be released, nor a second load.
 */
let preparing = false;
/** The folder opened from disk that is loaded (or loading), null for a URL: "Reload model" reloads it. */
let localFolder: LocalFolder | null = null;
/** tokens/s of the last `ar` run per (model, prompt, max new tokens). */
const arBaseline = new Map<string, number>();
/** Prompts the app filled in itself (replaced when another model is loaded). */
const defaultPrompts = new Set([DEFAULT_COMPLETION_PROMPT, DEFAULT_CHAT_PROMPT, '']);

function setStatus(text: string): void {
  if (el.status.textContent !== text) el.status.textContent = text;
}

function showError(view: ErrorView): void {
  el.errorTitle.textContent = view.title;
  el.errorMessage.textContent = view.message;
  el.errorAction.textContent = view.action;
  el.errorReload.hidden = !view.needsReload || (!el.model.value.trim() && !localFolder) || view.code === 'storage-quota';
  el.errorUncached.hidden = view.code !== 'storage-quota';
  el.error.dataset.code = view.code;
  el.error.hidden = false;
}

function hideError(): void {
  el.error.hidden = true;
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 1)} MB`;
}

function sync(): void {
  const busy = abort !== null;
  el.send.disabled = !engine || busy || preparing;
  el.stop.disabled = !busy;
  el.load.disabled = busy || preparing;
  el.openFolder.disabled = busy || preparing;
  el.simulateLoss.disabled = !engine || busy || preparing;
  el.newChat.hidden = !chatMode;
  el.newChat.disabled = busy || turns.length === 0;
  el.useChat.disabled = busy || !engine?.tokenizer.hasChatTemplate;
}

// -- model picking and loading ----------------------------------------------------------------

/** localStorage key of the Hugging Face token (this browser only; never in a URL or a message). */
const TOKEN_KEY = 'msn-webgpu:hf-token';

function readToken(): string {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return ''; // storage disabled: the field still works for this page
  }
}

function saveToken(): void {
  const t = el.hfToken.value.trim();
  try {
    if (t) localStorage.setItem(TOKEN_KEY, t);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage disabled: kept in the field only */
  }
}

/**
 * The Hugging Face token options of a load: the token goes to the Hub only, and to this page's own
 * origin (which holds it already), never to another site (`sendsHubToken`, src/model/source.ts).
 */
function hubAuth(): { hubToken?: string; hubTokenOrigins: string[] } {
  const t = el.hfToken.value.trim();
  return { ...(t ? { hubToken: t } : {}), hubTokenOrigins: [location.origin] };
}

/** The suggestion behind the picker's selected option, if it is one. */
function pickedSuggestion(): ModelSuggestion | null {
  const i = el.pick.selectedOptions[0]?.dataset.suggestion;
  return i === undefined ? null : SUGGESTIONS[Number(i)] ?? null;
}

function modelsBase(): URL {
  return new URL('models/', document.baseURI);
}

function fillPicker(selectedUrl: string | null): void {
  el.pick.replaceChildren();
  for (const m of models) {
    const o = new Option(m.name ?? `${m.id} (embedded)`, new URL(m.path.endsWith('/') ? m.path : `${m.path}/`, modelsBase()).href);
    el.pick.add(o);
  }
  const hub = document.createElement('optgroup');
  hub.label = 'Suggestions from the Hugging Face Hub (downloaded when loaded)';
  SUGGESTIONS.forEach((sg, i) => {
    const o = new Option(`${sg.repo}${sg.weights === 'q4' ? ' (q4)' : ''}${sg.gated ? ' (gated)' : ''}`, normalizeModelUrl(suggestionLocation(sg), document.baseURI));
    o.dataset.suggestion = String(i);
    hub.append(o);
  });
  el.pick.add(hub);
  el.pick.add(new Option('Custom URL…', CUSTOM));
  const match = [...el.pick.options].find((o) => o.value === selectedUrl);
  el.pick.value = match ? match.value : CUSTOM;
  describePick();
}

function describePick(): void {
  const i = el.pick.selectedIndex;
  const sg = pickedSuggestion();
  el.pickHint.textContent = sg ? describeSuggestion(sg) : el.pick.value === CUSTOM ? 'Type a model folder URL below and press Load.' : (models[i]?.description ?? 'A model shipped with this app.');
}

function onPick(): void {
  describePick();
  if (el.pick.value === CUSTOM) {
    el.model.focus();
    return;
  }
  const sg = pickedSuggestion();
  if (sg) {
    // A Hub suggestion is only filled in: it downloads (maybe gigabytes) when the user presses Load.
    el.model.value = suggestionLocation(sg);
    el.weights.value = sg.weights;
    if (sg.gated && !el.hfToken.value.trim()) el.hfToken.focus();
    else el.load.focus();
    return;
  }
  el.model.value = el.pick.value;
  void load();
}

/** The load settings (weights, GPU memory) the current engine was loaded with. */
let loadedSettings = '';

/**
 * Before the first download into the offline cache: asks for persistent storage (once per page) and
 * shows the answer; then, when the service worker would cache `url` and it is not cached whole yet,
 * checks the storage estimate against the folder's bytes (src/app/storage.ts). With `uncached`, tells
 * the service worker to store nothing of it instead.
 * @returns false when the model does not fit (the StorageQuotaError is shown, with “Load without
 *   caching”; the check's requests are `no-store`, so nothing of the model was cached) or its folder
 *   cannot be read (that error is shown).
 */
async function prepareCache(url: string, uncached: boolean): Promise<boolean> {
  el.storageInfo.textContent = describePersistence(await requestPersistentStorage());
  if (!navigator.serviceWorker?.controller) return true;
  if (uncached) {
    await skipModelCache(url);
    return true;
  }
  const cached = (await cachedModels().catch(() => [])).find((m) => m.folder === url);
  if (cached?.complete) return true;
  setStatus(`Checking storage for ${modelDisplayName(url)}…`);
  try {
    await checkStorageQuota(url, cached?.bytes ?? 0, undefined, undefined, hubAuth());
  } catch (e) {
    // Too big (StorageQuotaError), or the folder cannot be read (the load would fail the same way;
    // a damaged cached file the probe read is evicted and said so): the page settles it as a failed
    // load, so nothing half-cached stays. A model loaded before stays loaded and usable.
    showError(describeError(e, 'load'));
    setStatus(engine ? 'Ready' : 'Model not loaded');
    void refreshCacheInfo({ folder: url, loaded: false });
    return false;
  }
  return true;
}

/** Loads the folder opened from disk: nothing is downloaded, so nothing is cached. */
async function loadLocal(folder: LocalFolder): Promise<void> {
  localFolder = folder;
  await load();
}

/** Opens a model folder from disk: the directory picker where there is one (Chromium), else the webkitdirectory input. */
async function openFolder(): Promise<void> {
  const picker = (window as unknown as { showDirectoryPicker?: (o?: { mode?: 'read' }) => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker;
  if (!picker) {
    el.folderInput.click();
    return;
  }
  let handle: FileSystemDirectoryHandle;
  try {
    handle = await picker({ mode: 'read' });
  } catch (e) {
    if ((e as Error)?.name === 'AbortError') return; // the user closed the picker
    el.folderInput.click(); // e.g. a SecurityError in a cross-origin frame
    return;
  }
  await loadLocal(folderFromHandle(handle));
}

async function load({ uncached = false }: { uncached?: boolean } = {}): Promise<void> {
  if (abort || preparing) return;
  hideError();
  const local = localFolder;
  let url: string;
  try {
    url = local ? locationKey(local) : normalizeModelUrl(el.model.value, document.baseURI);
  } catch (e) {
    showError(describeError(e, 'load'));
    setStatus('Model not loaded');
    return;
  }
  const quantize = el.weights.value as 'q4' | 'q8' | 'none';
  const gb = Number(el.gpuMemory.value);
  const gpuMemoryBytes = el.gpuMemory.value.trim() !== '' && Number.isFinite(gb) && gb > 0 ? Math.round(gb * 2 ** 30) : undefined;
  const settings = JSON.stringify([quantize, gpuMemoryBytes ?? null]);
  if (lease?.model === url && engine && loadedSettings === settings) {
    setStatus('Ready');
    return;
  }
  if (!local) {
    // Until the checks end, the current engine stays loaded but takes no request: a generation
    // started now would run on an engine released a moment later and never finish.
    preparing = true;
    setStatus(`Preparing ${modelDisplayName(url)}…`);
    sync();
    let go = false;
    try {
      go = await prepareCache(url, uncached);
    } finally {
      preparing = false;
      sync();
    }
    if (!go) return;
  }
  lease?.release({ immediate: true });
  engine = null;
  turns = [];
  sync();
  const name = local ? `${local.name} (from disk)` : modelDisplayName(url);
  const u = new URL(location.href);
  if (local) {
    el.pick.value = CUSTOM;
    u.searchParams.delete('model'); // a folder from disk cannot be reopened from a link
  } else {
    el.model.value = url;
    const pickMatch = [...el.pick.options].find((o) => o.value === url);
    el.pick.value = pickMatch ? pickMatch.value : CUSTOM;
    if (models[0] && url === el.pick.options[0]?.value) u.searchParams.delete('model');
    else u.searchParams.set('model', url);
  }
  describePick();
  window.history.replaceState(null, '', u);
  setStatus(`Loading ${name}…`);
  el.progress.value = 0;
  el.progressText.textContent = 'Connecting…';
  el.modelInfo.textContent = '';
  el.load.disabled = true;
  loadedSettings = settings;
  const mine = acquireEngine(local ?? url, {
    ...hubAuth(),
    quantize,
    gpuMemoryBytes,
    onProgress: (p) => {
      const frac = p.totalBytes ? Math.min(1, p.loadedBytes / p.totalBytes) : null;
      if (frac === null) el.progress.removeAttribute('value');
      else el.progress.value = frac;
      el.progressText.textContent = `${mb(p.loadedBytes)}${p.totalBytes ? ` of ${mb(p.totalBytes)} (${Math.round((frac ?? 0) * 100)} %)` : ''} · ${p.file}`;
    },
    onInvalidate: (reason) => {
      if (lease !== mine) return;
      engine = null;
      // Lost while idle: say so now, with "Reload model" (a running request reports it itself).
      if (!abort) showError(describeError(reason, 'generate'));
      setStatus('Model not loaded');
      sync();
    },
  });
  lease = mine;
  let loaded = false;
  try {
    const e = await mine.ready;
    if (lease !== mine) return;
    engine = e;
    el.progress.value = 1;
    onLoaded(e, url, name);
    setStatus('Ready');
    loaded = true;
  } catch (e) {
    if (lease !== mine) return;
    lease = null;
    el.progressText.textContent = '';
    showError(describeError(e, 'load'));
    setStatus('Model not loaded');
  } finally {
    el.load.disabled = false;
    sync();
    // A loaded model is kept whole in the offline cache, or not at all (the service worker decides).
    void refreshCacheInfo(local ? null : { folder: url, loaded });
  }
}

/** Chat (the model's chat template, turns kept until "New chat") or raw completion. */
function setChatMode(on: boolean, e: Engine | null = engine): void {
  chatMode = on;
  turns = [];
  el.modeHint.textContent = chatMode
    ? 'Chat: this model has a chat template, so your prompt is sent as a user message and the conversation continues until “New chat”.'
    : !e?.tokenizer.hasChatTemplate
      ? 'Completion: this model continues your text. Code models expect a Python function signature and docstring; the model writes the body.'
      : 'Completion: the chat template is off, so the model continues your text as it is.';
}

function onLoaded(e: Engine, url: string, name: string): void {
  const c = e.info.config;
  const params = (e.info.memory.weightsBytes / 1e6).toFixed(1);
  el.modelInfo.textContent = `${name}: ${c.architecture}, ${c.numLayers} layers, hidden ${c.hiddenSize}, vocabulary ${c.vocabSize}, ${params} MB of weights (${e.info.weightFormats.join(', ')}), context ${e.info.contextLength} tokens (KV cache ${e.info.kvDtype}).${e.info.memoryPlan.reason ? ` ${e.info.memoryPlan.reason}` : ''}`;
  const a = e.info.adapter;
  el.adapterInfo.textContent = `Adapter: ${[a.vendor, a.architecture, a.description].filter(Boolean).join(' ')}${a.isFallbackAdapter ? ' (software fallback)' : ''}. GPU memory: ${mb(e.info.memory.weightsBytes + e.info.memory.kvBytes + e.info.memory.scratchBytes)}.`;
  el.useChat.checked = e.tokenizer.hasChatTemplate;
  setChatMode(el.useChat.checked, e);
  const entry = models.find((m) => new URL(m.path.endsWith('/') ? m.path : `${m.path}/`, modelsBase()).href === url);
  if (defaultPrompts.has(el.prompt.value)) {
    el.prompt.value = entry?.prompt ?? (chatMode ? DEFAULT_CHAT_PROMPT : DEFAULT_COMPLETION_PROMPT);
    defaultPrompts.add(el.prompt.value);
  }
  el.output.replaceChildren();
  clearStats();
}

// -- generation --------------------------------------------------------------------------------

function clearStats(): void {
  for (const d of [el.tokens, el.tps, el.mat, el.speedup, el.ttft]) d.textContent = '–';
}

function baselineKey(prompt: string | ChatMessage[], maxNew: number): string {
  return JSON.stringify([lease?.model, prompt, maxNew]);
}

/** Appends a log entry for one request; returns the element that receives the streamed text. */
function newEntry(promptText: string): { entry: HTMLElement; text: HTMLElement } {
  const entry = document.createElement('article');
  entry.className = 'entry';
  if (chatMode) {
    const you = document.createElement('p');
    you.className = 'turn user';
    const who = document.createElement('span');
    who.className = 'who';
    who.textContent = 'You: ';
    you.append(who, document.createTextNode(promptText));
    const reply = document.createElement('p');
    reply.className = 'turn model';
    const who2 = document.createElement('span');
    who2.className = 'who';
    who2.textContent = 'Model: ';
    const text = document.createElement('span');
    text.className = 'text';
    reply.append(who2, text);
    entry.append(you, reply);
    el.output.append(entry);
    return { entry, text };
  }
  const pre = document.createElement('pre');
  const echo = document.createElement('span');
  echo.className = 'prompt-echo';
  echo.textContent = promptText;
  const text = document.createElement('span');
  text.className = 'text';
  pre.append(echo, text);
  entry.append(pre);
  el.output.replaceChildren(entry);
  return { entry, text };
}

async function send(): Promise<void> {
  const e = engine;
  const promptText = el.prompt.value;
  if (!e || abort || preparing || !promptText.trim()) return;
  hideError();
  const decode = el.decode.value as DecodeMode;
  const maxNewTokens = Math.max(1, Math.min(4096, Math.floor(Number(el.maxNew.value)) || 64));
  // Sampling controls (README "Sampling"): out-of-range input falls back to greedy / top-p off.
  const t = Number(el.temperature.value);
  const temperature = Number.isFinite(t) && t > 0 ? Math.min(t, 2) : 0;
  const p = Number(el.topP.value);
  const topP = p > 0 && p <= 1 ? p : 1;
  const sd = el.seed.value.trim() === '' ? NaN : Number(el.seed.value);
  const seed = Number.isSafeInteger(sd) && sd >= 0 ? sd : undefined;
  const input: string | ChatMessage[] = chatMode ? [...turns, { role: 'user', content: promptText }] : promptText;
  abort = new AbortController();
  sync();
  setStatus('Generating…');
  clearStats();
  const { entry, text } = newEntry(promptText);
  el.output.setAttribute('aria-busy', 'true');
  const t0 = performance.now();
  let firstAt = 0;
  let pieces = 0;
  let out = '';
  let lastPaint = 0;
  const live = () => {
    const now = performance.now();
    if (now - lastPaint < 150) return;
    lastPaint = now;
    el.tokens.textContent = `≈${pieces}`;
    const secs = (now - firstAt) / 1000;
    if (pieces > 1 && secs > 0) el.tps.textContent = `≈${((pieces - 1) / secs).toFixed(1)} (live)`;
  };
  let result: GenerationResult | null = null;
  try {
    const it = e.generate(input, {
      // A chat longer than the context drops its oldest turns (the system message stays); earlier
      // turns' KV rows are reused from the previous request (cachedPromptTokens in the statistics).
      maxNewTokens, decode, chat: chatMode, signal: abort.signal, truncate: chatMode ? 'oldest' : 'error', temperature, topP, seed,
      onPhase: (phase) => {
        if (phase === 'probe') setStatus('Measuring this GPU once for the adaptive tree (cached afterwards)…');
        else if (phase === 'prefill') setStatus('Generating…');
      },
    });
    let r = await it.next();
    while (!r.done) {
      if (!firstAt) {
        firstAt = performance.now();
        el.ttft.textContent = `${(firstAt - t0).toFixed(0)} ms`;
      }
      pieces++;
      out += r.value;
      text.append(document.createTextNode(r.value));
      if (el.output.scrollHeight > el.output.clientHeight) el.output.scrollTop = el.output.scrollHeight;
      live();
      r = await it.next();
    }
    result = r.value;
    showStats(result, input, maxNewTokens);
    setStatus('Ready');
  } catch (err) {
    const view = describeError(err instanceof Error && err.name === 'AbortError' ? new AbortedError() : err, 'generate');
    if (view.code === 'aborted') {
      const note = document.createElement('p');
      note.className = 'note';
      note.textContent = `Stopped after about ${pieces} tokens.`;
      el.tps.textContent = el.tps.textContent.replace(' (live)', ' (stopped)');
      entry.append(note);
      setStatus('Ready');
    } else {
      showError(view);
      if (err instanceof DeviceLostError && lease) {
        invalidateEngine(lease.model, err);
        engine = null;
        setStatus('Model not loaded');
      } else setStatus(engine ? 'Ready' : 'Model not loaded');
    }
  } finally {
    el.output.setAttribute('aria-busy', 'false');
    if (chatMode && out) turns = [...(input as ChatMessage[]), { role: 'assistant', content: out }];
    if (chatMode && result) el.prompt.value = '';
    abort = null;
    sync();
  }
}

function showStats(s: GenerationResult, input: string | ChatMessage[], maxNew: number): void {
  el.tokens.textContent = `${s.newTokens} in ${s.steps} steps${s.seed === null ? '' : ` (seed ${s.seed})`}`;
  el.tps.textContent = s.tokensPerSecond.toFixed(1);
  el.mat.textContent = s.meanAcceptedTokens.toFixed(2);
  el.ttft.textContent = `${s.ttftMs.toFixed(0)} ms (prefill ${s.prefillMs.toFixed(0)} ms; ${s.cachedPromptTokens} of ${s.promptTokens} prompt tokens cached)`;
  const key = baselineKey(input, maxNew);
  if (s.decode === 'ar') {
    arBaseline.set(key, s.tokensPerSecond);
    el.speedup.textContent = '1.00× (this is the ar baseline)';
  } else {
    const base = arBaseline.get(key);
    el.speedup.textContent = base ? `${(s.tokensPerSecond / base).toFixed(2)}× (${s.tokensPerSecond.toFixed(1)} vs ${base.toFixed(1)} tokens/s)` : 'run ar on this prompt to compare';
  }
}

// -- offline cache -------------------------------------------------------------------------------

let settling: Promise<unknown> = Promise.resolve();

/**
 * Shows what is cached for offline use: only whole models count; a model that could not be cached
 * (settled after its load: quota, a short download) is named with the reason, and folders holding
 * only part of a model are named as not available offline.
 */
async function refreshCacheInfo(settle: { folder: string; loaded: boolean } | null = null): Promise<void> {
  const mine = settling.then(async () => {
    const settled: SettleResult | null = settle ? await settleModelCache(settle.folder, settle.loaded) : null;
    const list = await cachedModels();
    const whole = list.filter((m) => m.complete);
    const partial = list.filter((m) => !m.complete);
    const parts: string[] = [];
    if (settled?.cached === false) parts.push(`Could not cache ${modelDisplayName(settled.folder)} for offline use: ${settled.reason}. It still works while online; free some storage and load it again to retry.`);
    if (whole.length) parts.push(`Cached for offline use: ${whole.map((m) => `${modelDisplayName(m.folder)} (${m.files} files, ${mb(m.bytes)})`).join('; ')}.`);
    if (partial.length) parts.push(`Not fully cached, so not available offline: ${partial.map((m) => `${modelDisplayName(m.folder)} (${m.reason})`).join('; ')}.`);
    el.cacheInfo.textContent = parts.length ? parts.join(' ') : 'No model is cached yet.';
    el.clearCache.disabled = list.length === 0;
  }).catch(() => {
    el.cacheInfo.textContent = 'The Cache API is not available here.';
    el.clearCache.disabled = true;
  });
  settling = mine;
  await mine;
}

/** Shows "An update is ready" with a button that reloads into the new version. */
function showUpdate(): void {
  if (el.update.childElementCount) return;
  const text = document.createElement('p');
  text.textContent = 'An update is ready. This page keeps working; reload to use the new version.';
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'primary';
  button.textContent = 'Reload to update';
  button.addEventListener('click', () => {
    button.disabled = true;
    void applyUpdate();
  });
  el.update.replaceChildren(text, button);
}

async function clearCache(): Promise<void> {
  await clearCachedModels();
  await refreshCacheInfo();
  el.cacheInfo.textContent = `Cached models cleared. ${el.cacheInfo.textContent}`;
}

// -- wiring ------------------------------------------------------------------------------------

el.form.addEventListener('submit', (e) => {
  e.preventDefault();
  localFolder = null;
  void load();
});
el.pick.addEventListener('change', () => {
  localFolder = null;
  onPick();
});
el.openFolder.addEventListener('click', () => void openFolder());
el.folderInput.addEventListener('change', () => {
  const files = el.folderInput.files;
  if (!files?.length) return;
  let folder: LocalFolder;
  try {
    folder = folderFromFiles(files);
  } catch (e) {
    showError(describeError(e, 'load'));
    return;
  } finally {
    el.folderInput.value = '';
  }
  void loadLocal(folder);
});
el.errorUncached.addEventListener('click', () => {
  el.errorUncached.hidden = true;
  void load({ uncached: true });
});
el.weights.addEventListener('change', () => { if (engine || lease) void load(); });
el.gpuMemory.addEventListener('change', () => { if (engine || lease) void load(); });
el.send.addEventListener('click', () => void send());
el.stop.addEventListener('click', () => abort?.abort());
el.useChat.addEventListener('change', () => {
  setChatMode(el.useChat.checked);
  el.output.replaceChildren();
  clearStats();
  sync();
});
el.newChat.addEventListener('click', () => {
  turns = [];
  el.output.replaceChildren();
  clearStats();
  sync();
  el.prompt.focus();
});
el.errorReload.addEventListener('click', () => {
  lease?.release({ immediate: true });
  lease = null;
  engine = null;
  void load();
});
el.clearCache.addEventListener('click', () => void clearCache());
el.hfToken.addEventListener('change', saveToken);
el.simulateLoss.addEventListener('click', () => {
  void engine?.executor.simulateDeviceLoss();
});
el.prompt.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    void send();
  }
});
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && abort) {
    e.preventDefault();
    abort.abort();
  }
});

async function init(): Promise<void> {
  const param = new URL(location.href).searchParams.get('model');
  let indexError: unknown = null;
  const swReady = registerServiceWorker({ onUpdateReady: showUpdate });
  try {
    const res = await fetch(new URL('index.json', modelsBase()));
    if (!res.ok) throw new Error(`models/index.json: HTTP ${res.status}`);
    const idx = (await res.json()) as { default?: string; models?: ModelEntry[] };
    models = Array.isArray(idx.models) ? idx.models.filter((m) => m && typeof m.id === 'string' && typeof m.path === 'string') : [];
    const def = models.find((m) => m.id === idx.default);
    if (def) models = [def, ...models.filter((m) => m !== def)];
  } catch (e) {
    indexError = e;
  }
  let initial: string | null = null;
  if (param) {
    try {
      initial = normalizeModelUrl(param, document.baseURI);
    } catch {
      initial = null;
    }
    el.model.value = initial ?? param;
  } else if (models[0]) {
    initial = new URL(models[0].path.endsWith('/') ? models[0].path : `${models[0].path}/`, modelsBase()).href;
    el.model.value = initial;
  }
  el.hfToken.value = readToken();
  fillPicker(initial);
  el.prompt.value = models[0]?.prompt ?? DEFAULT_COMPLETION_PROMPT;
  defaultPrompts.add(el.prompt.value);
  sync();
  void refreshCacheInfo();
  if (!navigator.gpu) {
    showError(describeError(new WebGpuUnavailableError('navigator.gpu is missing: this browser does not expose WebGPU to this page.'), 'load'));
    setStatus('WebGPU is not available');
    return;
  }
  // Let the service worker take control first, so the model files land in the offline cache.
  await swReady;
  if (!param && !models.length) {
    setStatus(indexError ? 'No embedded model found; type a model folder URL and press Load.' : 'Type a model folder URL and press Load.');
    return;
  }
  await load();
}

void init();
