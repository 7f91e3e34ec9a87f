/**
 * The chat demo: loads a model into a Web Worker, streams completions, shows stats and errors.
 * Model output is only ever inserted as text (never parsed as HTML).
 */
import { createEngine } from '../engine/browser.js';
import type { Engine } from '../engine/engine.js';
import { MsnError } from '../errors.js';
import type { DecodeMode } from '../decode/scheduler.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const modelInput = $<HTMLInputElement>('model');
const loadBtn = $<HTMLButtonElement>('load');
const progress = $<HTMLProgressElement>('progress');
const progressText = $<HTMLSpanElement>('progress-text');
const status = $<HTMLParagraphElement>('status');
const prompt = $<HTMLTextAreaElement>('prompt');
const decodeSel = $<HTMLSelectElement>('decode');
const maxNew = $<HTMLInputElement>('max-new');
const sendBtn = $<HTMLButtonElement>('send');
const stopBtn = $<HTMLButtonElement>('stop');
const output = $<HTMLDivElement>('output');
const stats = $<HTMLParagraphElement>('stats');

let engine: Engine | null = null;
let abort: AbortController | null = null;

function setStatus(text: string, error = false): void {
  status.textContent = text;
  status.classList.toggle('error', error);
}

function explain(e: unknown): string {
  if (e instanceof Error && (e instanceof MsnError || 'code' in e)) return `${e.message}`;
  return `Unexpected error: ${(e as Error)?.message ?? String(e)}`;
}

async function load(): Promise<void> {
  sendBtn.disabled = true;
  loadBtn.disabled = true;
  await engine?.dispose().catch(() => {});
  engine = null;
  setStatus('Loading model…');
  progress.value = 0;
  try {
    engine = await createEngine({
      model: modelInput.value,
      onProgress: (p) => {
        const frac = p.totalBytes ? p.loadedBytes / p.totalBytes : 0;
        progress.value = frac;
        progressText.textContent = `${(p.loadedBytes / 1e6).toFixed(1)} MB${p.totalBytes ? ` of ${(p.totalBytes / 1e6).toFixed(1)} MB (${Math.round(frac * 100)} %)` : ''} — ${p.file}`;
      },
    });
    progress.value = 1;
    const a = engine.info.adapter;
    setStatus('Ready');
    stats.textContent = `Adapter: ${a.vendor} ${a.architecture} ${a.description}`.trim();
    sendBtn.disabled = false;
  } catch (e) {
    setStatus(explain(e), true);
  } finally {
    loadBtn.disabled = false;
  }
}

async function send(): Promise<void> {
  if (!engine) return;
  abort = new AbortController();
  sendBtn.disabled = true;
  stopBtn.disabled = false;
  output.textContent = '';
  setStatus('Generating…');
  try {
    const it = engine.generate(prompt.value, { maxNewTokens: Number(maxNew.value) || 64, decode: decodeSel.value as DecodeMode, signal: abort.signal });
    let r = await it.next();
    while (!r.done) {
      output.append(document.createTextNode(r.value));
      r = await it.next();
    }
    const s = r.value;
    stats.textContent = `${s.newTokens} tokens in ${s.steps} steps · ${s.tokensPerSecond.toFixed(1)} tokens/s · mean accepted tokens ${s.meanAcceptedTokens.toFixed(2)} · prefill ${s.prefillMs.toFixed(0)} ms`;
    setStatus('Ready');
  } catch (e) {
    if ((e as Error).name === 'AbortedError') setStatus('Stopped. Ready');
    else setStatus(explain(e), true);
  } finally {
    abort = null;
    stopBtn.disabled = true;
    sendBtn.disabled = !engine;
  }
}

loadBtn.addEventListener('click', () => void load());
sendBtn.addEventListener('click', () => void send());
stopBtn.addEventListener('click', () => abort?.abort());
prompt.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void send();
});

async function init(): Promise<void> {
  if (!('gpu' in navigator)) {
    setStatus('WebGPU is not available in this browser. Use Chrome or Edge 113+ (or another browser with WebGPU enabled) over https or localhost.', true);
    return;
  }
  try {
    const idx = await (await fetch('models/index.json')).json() as { default: string; models: Array<{ id: string; path: string; prompt?: string }> };
    const m = idx.models.find((x) => x.id === idx.default) ?? idx.models[0];
    modelInput.value = new URL(`models/${m.path}`, location.href).href;
    if (m.prompt) prompt.value = m.prompt;
  } catch {
    setStatus('No embedded model index found; type a model folder URL and press Load.');
    return;
  }
  await load();
}
void init();
