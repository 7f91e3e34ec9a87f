/**
 * `--runtime chromium`: serves the repository with Vite, opens bench/chromium.html in headless Debian
 * Chromium (Playwright; WebGPU on SwiftShader on these machines) and runs the benchmarks there.
 * Adds --enable-webgpu-developer-features so timestamp queries are not quantized (and the adapter
 * info is filled in).
 */
import { CHROMIUM_ARGS, CHROMIUM_PATH, modelUrlPath } from '../src/cli/chromium.js';
import type { AdapterSummary } from '../src/gpu/context.js';
import type { BenchPrompt, DecodeBenchResult, ModeSpec } from './decode.js';
import type { HostBenchRow } from './host.js';
import type { CostBenchResult } from './cost-curve.js';
import type { KernelBenchResult, KernelBenchSize } from './kernels.js';
import type { Plan } from './plan.js';
import type { BenchModel } from './run.js';

export interface ChromiumBenchOptions {
  root: string;
  models: BenchModel[];
  prompts: BenchPrompt[];
  plan: Plan;
  modes: readonly ModeSpec[];
  kernels: KernelBenchSize | 'auto' | false;
  decode: boolean;
  host: boolean;
  /** The cost-curve section (`--cost`): these models in both kernel configurations. */
  cost?: { models: Array<{ name: string; path: string }>; P?: number } | null;
  log: (s: string) => void;
}

type Outcome<T> = { ok: true; result: T } | { ok: false; error: string };

function unwrap<T>(what: string, o: Outcome<T>): T {
  if (!o.ok) throw new Error(`${what} failed in Chromium: ${o.error}`);
  return o.result;
}

export async function runChromiumBench(o: ChromiumBenchOptions): Promise<{ adapter: AdapterSummary; models: Array<{ model: BenchModel; decode: DecodeBenchResult }>; kernels: KernelBenchResult | null; host: HostBenchRow[] | null; cost: CostBenchResult | null }> {
  const { createServer } = await import('vite');
  const server = await createServer({
    root: o.root, configFile: `${o.root}/vite.config.ts`, logLevel: 'error',
    server: { port: 0, host: '127.0.0.1', fs: { strict: false }, hmr: false },
    optimizeDeps: { noDiscovery: true, include: [] },
  });
  await server.listen();
  const port = (server.httpServer!.address() as { port: number }).port;
  const { chromium } = await import('playwright');
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...CHROMIUM_ARGS, '--enable-webgpu-developer-features'] });
  try {
    const page = await browser.newPage();
    page.on('console', (m) => {
      const t = m.text();
      if (t.startsWith('[bench] ')) o.log(t.slice(8));
    });
    await page.goto(`http://127.0.0.1:${port}/bench/chromium.html`);
    await page.waitForFunction(() => (window as unknown as { msnBenchReady?: boolean }).msnBenchReady === true, null, { timeout: 120_000 });
    const models: Array<{ model: BenchModel; decode: DecodeBenchResult }> = [];
    let adapter: AdapterSummary | null = null;
    if (o.decode) {
      for (const m of o.models) {
        o.log(`decode: ${m.id}`);
        const args = { model: modelUrlPath(o.root, m.path), name: m.id, prompts: o.prompts, modes: [...o.modes], maxNewTokens: o.plan.maxNewTokens, runs: o.plan.runs, kernelConfig: o.plan.kernelConfig };
        const r = unwrap('decode benchmark', await page.evaluate((a) => (window as unknown as { msnBenchDecode: (x: unknown) => Promise<Outcome<DecodeBenchResult>> }).msnBenchDecode(a), args));
        adapter = r.info.adapter;
        models.push({ model: m, decode: r });
      }
    }
    let kernels: KernelBenchResult | null = null;
    if (o.kernels) {
      o.log('kernels:');
      const args = { model: modelUrlPath(o.root, o.models[0].path), size: o.kernels === 'auto' ? undefined : o.kernels, kernelConfig: o.plan.kernelConfig };
      kernels = unwrap('kernel benchmark', await page.evaluate((a) => (window as unknown as { msnBenchKernels: (x: unknown) => Promise<Outcome<KernelBenchResult>> }).msnBenchKernels(a), args));
      adapter ??= kernels.adapter;
    }
    let host: HostBenchRow[] | null = null;
    if (o.host) {
      o.log('host (scheduler only):');
      const args = { vocab: models[0]?.decode.info.config.vocabSize ?? 4096, steps: o.plan.hostSteps };
      host = unwrap('host benchmark', await page.evaluate((a) => (window as unknown as { msnBenchHost: (x: unknown) => Promise<Outcome<HostBenchRow[]>> }).msnBenchHost(a), args));
    }
    let cost: CostBenchResult | null = null;
    if (o.cost) {
      o.log('cost curve:');
      const args = { models: o.cost.models.map((m) => ({ name: m.name, location: modelUrlPath(o.root, m.path) })), P: o.cost.P };
      cost = unwrap('cost-curve benchmark', await page.evaluate((a) => (window as unknown as { msnBenchCost: (x: unknown) => Promise<Outcome<CostBenchResult>> }).msnBenchCost(a), args));
      adapter ??= cost.adapter;
    }
    if (!adapter) throw new Error('Nothing was run (--no-decode and --no-kernels).');
    return { adapter, models, kernels, host, cost };
  } finally {
    await browser.close();
    await server.close();
  }
}
