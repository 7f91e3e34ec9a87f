/**
 * `--runtime chromium`: serves the project with Vite, opens e2e/harness.html in headless Debian
 * Chromium (Playwright, WebGPU on SwiftShader here) and runs the same engine in a Web Worker there.
 */
import { relative, isAbsolute } from 'node:path';
import { MsnError, ERROR_CLASSES } from '../errors.js';
import { packageRoot } from '../engine/node.js';
import { quantizeOptions, type CliOptions } from './args.js';
import type { CliResult } from './generate.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './chromium-flags.js';

export { CHROMIUM_ARGS, CHROMIUM_PATH };

/** URL path under which the dev server exposes a model folder. */
export function modelUrlPath(root: string, model: string): string {
  if (/^[a-z]+:\/\//i.test(model)) return model;
  const rel = relative(root, model);
  const inside = !rel.startsWith('..') && !isAbsolute(rel);
  return (inside ? `/${rel.split('\\').join('/')}` : `/@fs${model}`).replace(/\/?$/, '/');
}

export async function runInChromium(o: CliOptions, model: string): Promise<CliResult> {
  const root = packageRoot();
  const { createServer } = await import('vite');
  const server = await createServer({
    root, configFile: `${root}/vite.config.ts`, logLevel: 'error',
    server: { port: 0, host: '127.0.0.1', fs: { strict: false }, hmr: false },
    optimizeDeps: { noDiscovery: true, include: [] },
  });
  await server.listen();
  const addr = server.httpServer!.address() as { port: number };
  const { chromium } = await import('playwright');
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${addr.port}/e2e/harness.html`);
    await page.waitForFunction(() => (window as unknown as { msnReady?: boolean }).msnReady === true, null, { timeout: 120_000 });
    const run = await page.evaluate((args) => (window as unknown as { msnRun: (a: unknown) => Promise<unknown> }).msnRun(args), {
      model: modelUrlPath(root, model), prompt: o.prompt, maxNewTokens: o.maxNewTokens, decode: o.decode, tree: o.tree, draftSeed: o.draftSeed, temperature: o.temperature, topK: o.topK, topP: o.topP, minP: o.minP, seed: o.seed, stop: o.stop, chat: o.chat, allowSpecialInContent: o.allowSpecialInContent, contextLength: o.contextLength, selfCheck: o.selfCheck, kernelConfig: o.kernelConfig, kvDtype: o.kvDtype, gpuMemoryBytes: o.gpuMemoryBytes, ...quantizeOptions(o),
    }) as { ok: true; result: CliResult } | { ok: false; error: { name: string; message: string; code?: string } };
    if (!run.ok) {
      const Cls = ERROR_CLASSES[run.error.name];
      if (Cls) {
        const e = Object.create(Cls.prototype) as MsnError;
        Object.assign(e, { name: run.error.name, message: run.error.message, code: run.error.code, detail: {} });
        throw e;
      }
      throw new Error(`${run.error.name}: ${run.error.message}`);
    }
    const { pieces: _pieces, deviceLimits: _limits, memory, ...r } = run.result as CliResult & { pieces?: string[]; deviceLimits?: unknown };
    if (r.context.reason) process.stderr.write(`Note: ${r.context.reason}\n`);
    return { ...r, runtime: 'chromium', model, memory: { weightsBytes: memory.weightsBytes, kvBytes: memory.kvBytes, scratchBytes: memory.scratchBytes, peakJsHeapBytes: memory.peakJsHeapBytes } };
  } finally {
    await browser.close();
    await server.close();
  }
}
