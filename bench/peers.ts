/**
 * `npm run bench -- --peers [--quick]` (issue 14): our engine and the runtimes a user would pick
 * instead, transformers.js 4 (ONNX Runtime Web, `device` webgpu and wasm) and wllama 3 (llama.cpp in
 * WebAssembly: one thread, threads under cross-origin isolation, its WebGPU build when offered), in the
 * same headless Chromium (SwiftShader WebGPU here), one after the other (each in a fresh page), on the same prompt token ids
 * (the code suites), greedy, the same max_new_tokens, warm-up then median of the runs. Records load
 * time, time to first token, decode tokens/s and whether each runtime's greedy ids equal our `ar`'s;
 * rows in other weight formats (our load-time q8, wllama on the F16 and Q8_0 GGUF) carry it in their
 * name; then the profile of one of our `ar` decode steps (bench/decode-profile.ts, bench/peers-profile.ts)
 * goes on our `ar` summary row.
 *
 * Needs bench/peers/install.sh (the peers' own package; the project's npm ci never installs them) and
 * the exports of scripts/export_peers.py under bench/peers/models/<model> (made on demand with
 * bench/peers/.pyenv when missing). Writes bench/results/<date>-peers-<adapter>.{json,md}
 * (bench/results/tmp/ for --quick unless --out).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CHROMIUM_ARGS, CHROMIUM_PATH, modelUrlPath } from '../src/cli/chromium.js';
import { packageRoot } from '../src/engine/node.js';
import type { AdapterSummary } from '../src/gpu/context.js';
import { adapterSlug, gitCommit } from './meta.js';
import { renderPeersMarkdown, renderPeersTable, summarize, type PeerRuntimeResult, type PeersResults } from './peers-report.js';
import { loadPrompts } from './run.js';
import { loadReference64, top2 } from './peers-reference.js';
import { labelOffWebGpu, OFF_WEBGPU, type RuntimeTrace } from './webgpu-trace-report.js';
import { summarizeProfile, type DecodeProfileRaw } from './peers-profile.js';

export { BASELINE } from './peers-report.js';
import { BASELINE } from './peers-report.js';


const log = (s: string) => process.stderr.write(`${s}\n`);

type Outcome<T> = { ok: true; result: T } | { ok: false; error: string };

export function isCpuAdapter(a: AdapterSummary): boolean {
  return a.isFallbackAdapter || /swiftshader|llvmpipe|lavapipe|cpu/i.test(`${a.vendor} ${a.architecture} ${a.device} ${a.description}`);
}

export async function runPeersMain(argv: string[]): Promise<number> {
  const t0 = performance.now();
  const { values: v } = parseArgs({ args: argv, strict: true, options: { peers: { type: 'boolean' }, quick: { type: 'boolean' }, out: { type: 'string' }, runs: { type: 'string' }, 'max-new-tokens': { type: 'string' }, only: { type: 'string' }, 'no-trace': { type: 'boolean' } } });
  const root = packageRoot();
  const peersDir = join(root, 'bench', 'peers');
  if (!existsSync(join(peersDir, 'node_modules', '@huggingface', 'transformers')) || !existsSync(join(peersDir, 'node_modules', '@wllama', 'wllama'))) {
    log('The peers are not installed: run bash bench/peers/install.sh (their own package; needs the npm registry).');
    return 2;
  }
  const modelDir = join(root, 'public', 'models', 'msn-code-tiny');
  const modelId = 'msn-code-tiny';
  const exportDir = join(peersDir, 'models', modelId);
  if (!existsSync(join(exportDir, 'onnx', 'model.onnx')) || !existsSync(join(exportDir, 'model-f32.gguf'))) {
    const py = join(peersDir, '.pyenv', 'bin', 'python');
    if (!existsSync(py)) {
      log('No exports under bench/peers/models and no bench/peers/.pyenv: run bash bench/peers/install.sh --python, then scripts/export_peers.py.');
      return 2;
    }
    log('exporting the model (scripts/export_peers.py) ...');
    execFileSync(py, [join(root, 'scripts', 'export_peers.py'), '--model', modelDir, '--out', exportDir], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const quick = !!v.quick;
  const maxNewTokens = Number(v['max-new-tokens'] ?? (quick ? 16 : 24));
  const runs = Number(v.runs ?? 3);
  const texts = loadPrompts(root, quick ? { 'code-completion': 1, 'code-repetition': 1 } : { 'code-completion': 2, 'code-repetition': 2 });
  const versions: Record<string, string> = {};
  for (const p of ['@huggingface/transformers', '@wllama/wllama', 'onnxruntime-web']) versions[p] = (JSON.parse(readFileSync(join(peersDir, 'node_modules', p, 'package.json'), 'utf8')) as { version: string }).version;

  const { createServer } = await import('vite');
  const server = await createServer({
    root, configFile: `${root}/vite.config.ts`, logLevel: 'error',
    server: {
      port: 0, host: '127.0.0.1', fs: { strict: false }, hmr: false,
      // Cross-origin isolation: SharedArrayBuffer for wllama's and ONNX Runtime's threads.
      headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
    },
    optimizeDeps: { noDiscovery: true, include: [] },
  });
  await server.listen();
  const port = (server.httpServer!.address() as { port: number }).port;
  const { chromium } = await import('playwright');
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...CHROMIUM_ARGS, '--enable-webgpu-developer-features'] });
  const runtimes: PeerRuntimeResult[] = [];
  const notes: string[] = [];
  let adapter: AdapterSummary | null = null;
  let prompts: Array<{ id: string; ids: number[] }> = [];
  let profileRaw: DecodeProfileRaw | null = null;
  try {
    // Each runtime gets a fresh page (a new browsing context): worker threads, thread pools and GPU
    // devices a runtime leaves behind (ONNX Runtime's and llama.cpp's pthreads may keep spinning) go
    // with its page and cannot slow the next one down.
    const openPage = async () => {
      const page = await browser.newPage();
      page.on('console', (m) => { const t = m.text(); if (t.startsWith('[bench] ')) log(t.slice(8)); });
      page.on('pageerror', (e) => log(`page error: ${e.message}`));
      await page.goto(`http://127.0.0.1:${port}/bench/peers.html${v['no-trace'] ? '?trace=0' : ''}`, { timeout: 180_000 });
      await page.waitForFunction(() => (window as unknown as { peersReady?: boolean }).peersReady === true, null, { timeout: 120_000 });
      return page;
    };
    const call = async <T>(fn: string, args: unknown): Promise<Outcome<T>> => {
      const page = await openPage();
      try {
        return await (page.evaluate(([f, a]) => (window as unknown as Record<string, (x: unknown) => Promise<unknown>>)[f as string](a), [fn, args] as const) as Promise<Outcome<T>>);
      } finally {
        await page.close();
      }
    };
    const model = modelUrlPath(root, modelDir);
    const tok = await call<{ prompts: typeof prompts; adapter: AdapterSummary }>('peersTokenize', { model, prompts: texts.map((p) => ({ id: p.id, prompt: p.prompt })) });
    if (!tok.ok) throw new Error(`tokenizing failed: ${tok.error}`);
    prompts = tok.result.prompts;
    adapter = tok.result.adapter;
    const common = { prompts, maxNewTokens, runs };
    const textById = Object.fromEntries(texts.map((p) => [p.id, p.prompt]));
    const ggufOf = (kind: string) => `/${join('bench', 'peers', 'models', modelId, `model-${kind}.gguf`)}`;
    const gguf = ggufOf('f32');
    const plan: Array<[string, string, Record<string, unknown>]> = [
      ['ours ar', 'peersOurs', { model, texts: textById, decode: 'ar' }],
      ['ours tr-jacobi-adaptive', 'peersOurs', { model, texts: textById, decode: 'tr-jacobi', tree: 'adaptive' }],
      ['ours tr-jacobi-fixed', 'peersOurs', { model, texts: textById, decode: 'tr-jacobi', tree: 'fixed' }],
      [BASELINE, 'peersTransformers', { modelsBase: '/bench/peers/models/', modelId, device: 'webgpu', dtype: 'fp32' }],
      ['transformers.js wasm', 'peersTransformers', { modelsBase: '/bench/peers/models/', modelId, device: 'wasm', dtype: 'fp32' }],
      ['wllama wasm 1 thread', 'peersWllama', { gguf, texts: textById, threads: 1, nGpuLayers: 0 }],
      [`wllama wasm ${Math.max(2, Math.min(4, cpus().length))} threads`, 'peersWllama', { gguf, texts: textById, threads: Math.max(2, Math.min(4, cpus().length)), nGpuLayers: 0 }],
      ['wllama webgpu', 'peersWllama', { gguf, texts: textById, threads: 1, nGpuLayers: 999 }],
      // Other weight formats (labelled in the name): greedy ids need not equal our f32-computed ar.
      ['ours ar (q8 weights, load-time quantize)', 'peersOurs', { model, texts: textById, decode: 'ar', quantize: 'q8' }],
      ['wllama wasm 1 thread (F16 GGUF)', 'peersWllama', { gguf: ggufOf('f16'), texts: textById, threads: 1, nGpuLayers: 0 }],
      ['wllama wasm 1 thread (Q8_0 GGUF)', 'peersWllama', { gguf: ggufOf('q8_0'), texts: textById, threads: 1, nGpuLayers: 0 }],
    ];
    const only = v.only?.split(',');
    for (const [name, fn, args] of plan.filter(([n]) => !only || n === 'ours ar' || only.some((o) => n.includes(o)))) {
      log(`${name}:`);
      const t = performance.now();
      const r = await call<PeerRuntimeResult>(fn, { name, ...common, ...args });
      // A "webgpu" runtime whose decode dispatched no compute work ran on the CPU: its row says so.
      if (r.ok) runtimes.push({ ...r.result, name: labelOffWebGpu(r.result.name, r.result.trace as RuntimeTrace | undefined) });
      else {
        log(`  could not run: ${r.error.split('\n')[0]}`);
        runtimes.push({ name, ok: false, error: r.error });
      }
      log(`  (${((performance.now() - t) / 1000).toFixed(0)} s)`);
    }
    // Where one of our ar decode steps spends its time, at the middle of a generation of the median prompt.
    if (runtimes.find((r) => r.name === 'ours ar')?.ok) {
      log('profile of one ours ar decode step:');
      const t = performance.now();
      const lens = prompts.map((p) => p.ids.length).sort((a, b) => a - b);
      const r = await call<DecodeProfileRaw>('peersProfile', { model, P: lens[lens.length >> 1] + (maxNewTokens >> 1), reps: quick ? 5 : 9 });
      if (r.ok) profileRaw = r.result;
      else log(`  could not profile: ${r.error.split('\n')[0]}`);
      log(`  (${((performance.now() - t) / 1000).toFixed(0)} s)`);
    }
  } finally {
    await browser.close();
    await server.close();
  }
  if (!adapter) throw new Error('no adapter');
  const ar = runtimes.find((r) => r.name === 'ours ar');
  const reference = new Map<string, number[]>((ar?.runs ?? []).filter((r) => r.rep === 1).map((r) => [r.prompt, r.ids]));
  const summary = summarize(runtimes, reference, BASELINE);
  // Each mismatch: the float64 reference at the first differing position (prompt + our ids before it).
  const bad = summary.flatMap((row) => row.agreement.filter((a) => !a.equal));
  if (bad.length) {
    const ref = loadReference64(modelDir);
    for (const a of bad) {
      const ids = [...prompts.find((p) => p.id === a.prompt)!.ids, ...reference.get(a.prompt)!.slice(0, a.firstMismatch)];
      const t = top2(ref.lastLogits(ids));
      a.refGap = t.gap;
      a.refTop1 = t.top1;
    }
  }
  const arRow = summary.find((x) => x.name === 'ours ar');
  if (profileRaw && arRow?.decodeTokensPerSecond) {
    // The same per-token arithmetic at each runtime's speed (tree decoding does other arithmetic per token: left out).
    const peers = summary.filter((x) => x.ok && x.decodeTokensPerSecond && !x.name.startsWith('ours tr')).map((x) => ({ name: x.name, tokensPerSecond: x.decodeTokensPerSecond! }));
    arRow.profile = summarizeProfile(profileRaw, 1000 / arRow.decodeTokensPerSecond, peers);
  }
  const cpuAdapter = isCpuAdapter(adapter);
  notes.push('WebLLM is a paper anchor only (its model libraries are compiled and downloaded outside npm): not run here.');
  notes.push('f32 unless the row names another weight format: the ONNX f32 export for transformers.js, the GGUF F32 for wllama, our f16 folder computed in f32 (SwiftShader has no shader-f16). The F16 / Q8_0 GGUF rows and our q8 row (load-time 8-bit groups of 32, f16 scales; closest to Q8_0) compute from other weights: their greedy ids need not equal our f32 ar\'s (the first differing position and the float64 top-2 gap there are shown).');
  for (const r of runtimes) {
    const t = r.trace as RuntimeTrace | undefined;
    if (t && r.name.endsWith(OFF_WEBGPU)) notes.push(`${r.name}: its decode made no WebGPU compute dispatch (whole run: ${t.total.requestAdapter} adapter request(s), ${t.total.requestDevice} device request(s), ${t.total.dispatches} dispatches), so it ran on the CPU.`);
  }
  if (cpuAdapter) notes.push(`The WebGPU adapter (${adapter.vendor} ${adapter.architecture} ${adapter.description}) is a CPU adapter: WebGPU runs on the CPU.`);
  const date = new Date().toISOString();
  const results: PeersResults = {
    schema: 1, kind: 'peers', date, commit: gitCommit(root), adapter, cpuAdapter, model: modelId,
    plan: { name: quick ? 'quick' : 'standard', prompts: prompts.map((p) => p.id), maxNewTokens, runs }, versions,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', chromium: browser.version() },
    prompts, runtimes, summary, baseline: BASELINE, notes, wallMs: performance.now() - t0,
  };
  const outDir = v.out ?? join(root, 'bench', 'results', quick ? 'tmp' : '');
  mkdirSync(outDir, { recursive: true });
  const stem = join(outDir, `${date.slice(0, 10)}-peers-${adapterSlug(adapter, 'chromium').replace(/-chromium$/, '')}`);
  writeFileSync(`${stem}.json`, JSON.stringify(results, null, 1) + '\n');
  writeFileSync(`${stem}.md`, renderPeersMarkdown(results));
  log(renderPeersTable(summary, BASELINE));
  log(`wrote ${stem}.json and .md (${(results.wallMs / 1000).toFixed(0)} s)`);
  return 0;
}


