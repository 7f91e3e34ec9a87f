// The peers benchmark inside headless Chromium (bench/peers.html, driven by bench/peers.ts; issue 14):
// our engine and the peer runtimes (transformers.js, wllama; installed by bench/peers/install.sh) on the
// same prompt token ids, greedy, one after the other. The peers are imported at run time from
// bench/peers/node_modules, so the project type-checks and builds without them.
// The WebGPU call trace goes in first: it wraps `Worker` before any runtime creates one.
import { installPageTrace, TraceSession } from './webgpu-trace.js';
import { createEngine } from '../src/engine/browser.js';
import type { DecodeMode } from '../src/decode/scheduler.js';
import type { PeerRun, PeerRuntimeResult } from './peers-report.js';
import * as Comlink from 'comlink';
import type { DecodeProfileWorker } from './decode-profile-worker.js';
import type { DecodeProfileRaw } from './peers-profile.js';

// `?trace=0` (bench/peers.ts --no-trace): no wrapping, to check that the trace does not change the timings.
const tracing = new URLSearchParams(location.search).get('trace') !== '0';
if (tracing) installPageTrace();
const log = (s: string) => console.log(`[bench] ${s}`);
const PEERS = '/bench/peers/node_modules/';

type Outcome<T> = { ok: true; result: T } | { ok: false; error: string };
async function guard<T>(f: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, result: await f() };
  } catch (e) {
    const err = e as Error;
    return { ok: false, error: `${err?.name ?? 'Error'}: ${err?.message ?? String(e)}\n${err?.stack ?? ''}` };
  }
}

interface Common { name: string; prompts: Array<{ id: string; ids: number[] }>; maxNewTokens: number; runs: number }

/**
 * Warm-up (last prompt) then `runs` rounds over all prompts; `gen` returns ids and timings of one
 * greedy generation. Consecutive generations never repeat a prompt (with two or more prompts), so our
 * engine's KV prefix reuse cannot skip a prefill that the peers (no cache across calls) must do.
 */
async function measure(o: Common, loadMs: number, gen: (ids: number[]) => Promise<Omit<PeerRun, 'prompt' | 'rep'>>, extra: Record<string, unknown> = {}, trace?: TraceSession): Promise<PeerRuntimeResult> {
  // The WebGPU trace (bench/webgpu-trace.ts) snapshots around each generation; its first token splits prefill from decode.
  await trace?.loaded();
  const traced = async (ids: number[], warmup: boolean) => {
    await trace?.beforeGen();
    const s = performance.timeOrigin + performance.now();
    const r = await gen(ids);
    await trace?.afterGen({ warmup, firstTokenAt: s + r.ttftMs, newTokens: r.newTokens, decodeMs: r.decodeMs });
    return r;
  };
  const w = await traced(o.prompts[o.prompts.length - 1].ids, true);
  log(`  ${o.name} warm-up: ${w.newTokens} tokens, ttft ${w.ttftMs.toFixed(0)} ms, ${w.decodeTokensPerSecond.toFixed(1)} tok/s`);
  const runs: PeerRun[] = [];
  for (let rep = 1; rep <= o.runs; rep++) {
    for (const p of o.prompts) runs.push({ prompt: p.id, rep, ...(await traced(p.ids, false)) });
    const last = runs.slice(-o.prompts.length);
    log(`  ${o.name} rep ${rep}/${o.runs}: ${last.map((r) => r.decodeTokensPerSecond.toFixed(1)).join(', ')} tok/s`);
  }
  return { name: o.name, ok: true, loadMs, runs, ...extra, ...(trace ? { trace: trace.result() } : {}) };
}

/** Prompt text → ids with our tokenizer (as the engine encodes a raw prompt). */
async function peersTokenize(o: { model: string; prompts: Array<{ id: string; prompt: string }> }) {
  return guard(async () => {
    const engine = await createEngine({ model: o.model });
    try {
      return { prompts: o.prompts.map((p) => ({ id: p.id, ids: engine.encodePrompt(p.prompt) })), adapter: engine.info.adapter };
    } finally {
      await engine.dispose();
    }
  });
}

/**
 * Ours: the engine on the page's WebGPU, `decode` (+ `tree`), on the prompt texts (which it encodes
 * to the same ids as peersTokenize); `quantize`: load-time weight quantization (`q8`: 8-bit groups).
 */
async function peersOurs(o: Common & { model: string; texts: Record<string, string>; decode: DecodeMode; tree?: 'fixed' | 'adaptive'; quantize?: 'q8' | 'q4' }) {
  return guard(async () => {
    const trace = tracing ? await TraceSession.begin() : undefined;
    const t0 = performance.now();
    const engine = await createEngine({ model: o.model, ...(o.quantize ? { quantize: o.quantize } : {}) });
    const loadMs = performance.now() - t0;
    try {
      const byIds = new Map(o.prompts.map((p) => [p.ids.join(','), o.texts[p.id]]));
      return await measure(o, loadMs, async (ids) => {
        const r = await engine.complete(byIds.get(ids.join(','))!, { maxNewTokens: o.maxNewTokens, decode: o.decode, tree: o.tree });
        return { ids: r.tokenIds, newTokens: r.newTokens, ttftMs: r.ttftMs, decodeMs: r.decodeMs, decodeTokensPerSecond: r.tokensPerSecond };
      }, { adapter: engine.info.adapter }, trace);
    } finally {
      await engine.dispose();
    }
  });
}

/** transformers.js 4 (ONNX Runtime Web) `device` webgpu | wasm, f32 ONNX from bench/peers/models. */
async function peersTransformers(o: Common & { modelsBase: string; modelId: string; device: 'webgpu' | 'wasm'; dtype: 'fp32' | 'fp16' }) {
  return guard(async () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const tf: any = await import(/* @vite-ignore */ `${PEERS}@huggingface/transformers/dist/transformers.web.js`);
    const ortDist = `${location.origin}${PEERS}onnxruntime-web/dist/`;
    tf.env.allowRemoteModels = false;
    tf.env.allowLocalModels = true;
    tf.env.localModelPath = o.modelsBase;
    tf.env.useBrowserCache = false;
    tf.env.backends.onnx.wasm.wasmPaths = { mjs: `${ortDist}ort-wasm-simd-threaded.asyncify.mjs`, wasm: `${ortDist}ort-wasm-simd-threaded.asyncify.wasm` };
    const trace = tracing ? await TraceSession.begin() : undefined;
    const t0 = performance.now();
    const model = await tf.AutoModelForCausalLM.from_pretrained(o.modelId, { device: o.device, dtype: o.dtype });
    const loadMs = performance.now() - t0;
    try {
      return await measure(o, loadMs, async (ids) => {
        const input = new tf.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]);
        const mask = new tf.Tensor('int64', new BigInt64Array(ids.length).fill(1n), [1, ids.length]);
        let puts = 0;
        let tFirst = 0;
        const streamer = { put: () => { if (++puts === 2) tFirst = performance.now(); }, end: () => {} };
        const s = performance.now();
        const out = await model.generate({ input_ids: input, attention_mask: mask, max_new_tokens: o.maxNewTokens, do_sample: false, streamer });
        const e = performance.now();
        const all = Array.from(out.data as BigInt64Array, Number);
        const gen = all.slice(ids.length);
        if (!tFirst) tFirst = e;
        return { ids: gen, newTokens: gen.length, ttftMs: tFirst - s, decodeMs: e - tFirst, decodeTokensPerSecond: gen.length > 1 ? (gen.length - 1) / ((e - tFirst) / 1000) : 0 };
      }, { version: tf.env.version, crossOriginIsolated: self.crossOriginIsolated }, trace);
    } finally {
      await model.dispose?.();
    }
  });
}

/**
 * wllama 3 (llama.cpp in WebAssembly): the GGUF at `gguf`, `threads` (1 = single-thread build),
 * `nGpuLayers` (0 = CPU; > 0 its WebGPU backend when the build offers it). Its API is llama.cpp's
 * server completion, which takes the prompt as text only (an id array is refused: "type must be
 * string, but is array"): the prompt text goes in, and the run fails unless llama.cpp's prompt token
 * count equals ours. Greedy (temperature 0), no prompt cache; the generated ids are read from the
 * streamed `logprobs.content[].id`.
 *
 * Why text and not ids (wllama 3.13): the JS API has no tokenize/detokenize/decode/sampling call
 * (esm/wllama.d.ts lists loadModel, createCompletion, createChatCompletion, createEmbedding,
 * createRerank, createSystemOne, createTranscription, createRealtimeSession, getters); the only
 * generation request is `cmpl_req` (esm/index.js `createCompletion` → wllamaAction("completion",
 * { data_json: JSON.stringify(options) })), whose C++ side (github.com/ngxson/wllama
 * cpp/wllama-context.h `create_completion_task`) copies `body["prompt"]` into `server_task::cli_prompt`, a std::string:
 * an id array throws there. The one request whose prompt goes through llama.cpp's
 * `tokenize_input_prompts` (which accepts ids) is the embedding request, which does not generate.
 *
 * Which wasm and how many threads: `n_threads` 1 gives `nbThread` 0 to wllama's worker (no pthread
 * pool) and `n_threads: 1` to llama.cpp; there is one wllama.wasm (esm/wasm/wllama.wasm, the
 * `default` path here) for every configuration. `n_gpu_layers: 0` only makes wllama prepend
 * `navigator.gpu = { requestAdapter: async () => null }` to its worker code (its `noWebGPU`), so
 * ggml_webgpu logs "Failed to get an adapter" and llama.cpp runs on the CPU; with 999 the same wasm
 * in the same one-thread worker sees the real navigator.gpu. The WebGPU trace (`trace`) then says
 * whether its decode dispatched compute work. On SwiftShader (Chromium 156) it did not: the worker
 * requests an adapter, gets one, never requests a device, and makes no dispatch; a one-off load at
 * `log_level: 0` shows llama.cpp's debug lines "load_tensors: layer N assigned to device CPU" for
 * every layer and "backend_ptrs.size() = 1". Those lines are debug level; the benchmark loads at
 * wllama's default INFO level, so `backendLog` does not have them.
 */
async function peersWllama(o: Common & { gguf: string; threads: number; nGpuLayers: number; texts: Record<string, string> }) {
  return guard(async () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const wl: any = await import(/* @vite-ignore */ `${PEERS}@wllama/wllama/esm/index.js`);
    const native: string[] = [];
    const keep = (...a: unknown[]) => { const t = a.join(' '); native.push(t); return t; };
    const w = new wl.Wllama({ default: `${PEERS}@wllama/wllama/esm/wasm/wllama.wasm` }, { allowOffline: true, logger: { debug: (...a: unknown[]) => { keep(...a); }, log: (...a: unknown[]) => log(`  wllama: ${keep(...a)}`.slice(0, 300)), warn: (...a: unknown[]) => log(`  wllama warn: ${a.join(' ')}`.slice(0, 300)), error: (...a: unknown[]) => log(`  wllama error: ${a.join(' ')}`.slice(0, 300)) } });
    const trace = tracing ? await TraceSession.begin() : undefined;
    const t0 = performance.now();
    const blob = await (await fetch(o.gguf)).blob();
    await w.loadModel([new File([blob], 'model.gguf')], { n_threads: o.threads, n_gpu_layers: o.nGpuLayers, n_ctx: 1024, n_batch: 512 });
    const loadMs = performance.now() - t0;
    const noGpu = native.find((l) => /Failed to get an adapter|WebGPU not available/.test(l));
    if (o.nGpuLayers > 0 && noGpu) {
      await w.exit();
      throw new Error(`wllama's WebGPU backend got no adapter in its worker (it would run on the CPU): ${noGpu}`);
    }
    // What llama.cpp said about its backends and offload (which device ran the layers).
    const backendLog = native.filter((l) => /webgpu|offload|backend|CPU_REPACK|device|thread/i.test(l)).slice(0, 30).map((l) => l.slice(0, 200));
    const extra = { backendLog, multithread: w.isMultithread(), threads: w.getNumThreads(), webgpuSupported: w.isSupportWebGPU(), crossOriginIsolated: self.crossOriginIsolated };
    try {
      const byIds = new Map(o.prompts.map((p) => [p.ids.join(','), o.texts[p.id]]));
      return await measure(o, loadMs, async (ids) => {
        const got: number[] = [];
        let tFirst = 0;
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        let last: any = null;
        const s = performance.now();
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        const it: AsyncIterable<any> = await w.createCompletion({ prompt: byIds.get(ids.join(',')), max_tokens: o.maxNewTokens, temperature: 0, top_k: 1, cache_prompt: false, return_tokens: true, logprobs: 1, stream: true });
        let finish: string | null = null;
        for await (const ch of it) {
          const c = ch.choices?.[0];
          const toks: number[] = (c?.logprobs?.content ?? []).map((x: { id: number }) => x.id);
          if (toks.length && !tFirst) tFirst = performance.now();
          got.push(...toks);
          finish = c?.finish_reason ?? finish;
          last = ch;
        }
        const e = performance.now();
        if (!got.length) throw new Error(`wllama returned no token ids (last chunk: ${JSON.stringify(last).slice(0, 400)})`);
        // The prompt went in as text (wllama 3's completion takes no id array): it must have become our ids' count.
        const pt = last?.usage?.prompt_tokens;
        if (pt !== ids.length) throw new Error(`llama.cpp tokenized the prompt to ${pt} tokens, ours to ${ids.length}`);
        // A 'stop' finish without stop strings is an end-of-generation token, which llama.cpp counts but does not stream.
        if (finish === 'stop' && !w.isTokenEOG(got[got.length - 1]) && last?.usage?.completion_tokens === got.length + 1) got.push(w.getEOS());
        if (!tFirst) tFirst = e;
        return { ids: got, newTokens: got.length, ttftMs: tFirst - s, decodeMs: e - tFirst, decodeTokensPerSecond: got.length > 1 ? (got.length - 1) / ((e - tFirst) / 1000) : 0 };
      }, extra, trace);
    } finally {
      await w.exit();
    }
  });
}

/**
 * The decode-step profile (bench/decode-profile.ts) in a bench-only Web Worker at KV position `P`,
 * plus the median of `reps` empty Comlink round trips page → worker → page (rpcMs).
 */
async function peersProfile(o: { model: string; P: number; reps: number }) {
  return guard(async (): Promise<DecodeProfileRaw> => {
    const worker = new Worker(new URL('./decode-profile-worker.ts', import.meta.url), { type: 'module', name: 'msn-profile' });
    try {
      const w = Comlink.wrap<DecodeProfileWorker>(worker);
      const raw = await w.profile(new URL(o.model, location.href).href, o.P, o.reps);
      const rtt: number[] = [];
      for (let i = 0; i < 4 * o.reps; i++) {
        const t = performance.now();
        await w.ping();
        rtt.push(performance.now() - t);
      }
      rtt.sort((a, b) => a - b);
      return { ...raw, rpcMs: rtt[rtt.length >> 1] };
    } finally {
      worker.terminate();
    }
  });
}

Object.assign(window, { peersTokenize, peersOurs, peersProfile, peersTransformers, peersWllama, peersReady: true });
