// The benchmark inside headless Chromium (bench/chromium.html, driven by bench/chromium.ts): the same
// decode, kernel and host benchmarks as in Node, with the engine in a Web Worker and the kernel
// microbenchmarks on the page's navigator.gpu.
import { createEngine } from '../src/engine/browser.js';
import { runDecodeBench, type BenchPrompt, type ModeSpec } from './decode.js';
import { runKernelBench, type KernelBenchSize } from './kernels.js';
import type { KernelConfigChoice } from '../src/gpu/kernel-config.js';
import { runHostBench } from './host.js';
import { runCostBench } from './cost-curve.js';

const log = (s: string) => console.log(`[bench] ${s}`);

type Outcome<T> = { ok: true; result: T } | { ok: false; error: string };

async function guard<T>(f: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, result: await f() };
  } catch (e) {
    const err = e as Error;
    return { ok: false, error: `${err?.name}: ${err?.message}\n${err?.stack ?? ''}` };
  }
}

async function msnBenchDecode(o: { model: string; name: string; prompts: BenchPrompt[]; modes: ModeSpec[]; maxNewTokens: number; runs: number; kernelConfig?: KernelConfigChoice }) {
  return guard(async () => {
    // The page must stay responsive while the model runs in its worker: record long main-thread tasks.
    let longest = 0;
    const obs = new PerformanceObserver((list) => { for (const e of list.getEntries()) longest = Math.max(longest, e.duration); });
    obs.observe({ type: 'longtask', buffered: false });
    const engine = await createEngine({ model: o.model, kernelConfig: o.kernelConfig });
    try {
      const r = await runDecodeBench(engine, o.name, { prompts: o.prompts, modes: o.modes, maxNewTokens: o.maxNewTokens, runs: o.runs, log });
      return { ...r, mainThreadLongestTaskMs: Math.round(longest) };
    } finally {
      obs.disconnect();
      await engine.dispose();
    }
  });
}

async function msnBenchKernels(o: { model: string; size?: KernelBenchSize; kernelConfig?: KernelConfigChoice }) {
  return guard(() => runKernelBench({ gpu: navigator.gpu, model: new URL(o.model, location.href).href, size: o.size, kernelConfig: o.kernelConfig, log }));
}

async function msnBenchHost(o: { vocab: number; steps: number }) {
  return guard(() => runHostBench(o.vocab, o.steps));
}

async function msnBenchCost(o: { models: Array<{ name: string; location: string }>; P?: number }) {
  return guard(() => runCostBench({ gpu: navigator.gpu, models: o.models.map((m) => ({ name: m.name, location: new URL(m.location, location.href).href })), P: o.P, log }));
}

Object.assign(window, { msnBenchDecode, msnBenchKernels, msnBenchHost, msnBenchCost, msnBenchReady: true });
