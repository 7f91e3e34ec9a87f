/**
 * `npm run generate`: the project's main job run headless. Runs the engine in Node (Dawn on the
 * machine's adapter) or in headless Chromium, streams text or prints one JSON object.
 *
 * Dawn's native library writes its log (shader compiler warnings, and GPU errors nobody handled)
 * with printf to its process's file descriptor 1, which no JavaScript stream can redirect. It runs
 * only in the engine's executor process (`createNodeEngine`), whose stdout is this process's
 * stderr, so stdout holds only the CLI's own output. A failed run writes nothing on stdout (no
 * JSON, no partial result) and one line on stderr: `<ErrorName>: <message>`; an executor process
 * that dies (a crash, a native abort) is one `WorkerLostError` line, and this process exits 1.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MsnError } from '../errors.js';
import { createNodeEngine, packageRoot } from '../engine/node.js';
import { parseCli, quantizeOptions, USAGE, type CliOptions } from './args.js';
import type { GenerationResult } from '../engine/engine.js';
import type { GpuFaults, SelfCheckReport } from '../worker/api.js';

/** Output of `--json` (also what `--runtime chromium` returns): the generation result plus where it ran. */
export type CliResult = Omit<GenerationResult, 'adapter'> & {
  runtime: string;
  model: string;
  adapter: { vendor: string; architecture: string; device: string; description: string };
  /**
   * GPU bytes allocated, and the peak JavaScript memory of the executor during the load (Node:
   * heapUsed + external; Chromium: `performance.memory`, or null where the browser has none).
   */
  memory: { weightsBytes: number; kvBytes: number; scratchBytes: number; peakJsHeapBytes: number | null };
  /** The KV cache element type that ran. */
  kvDtype: 'f16' | 'f32';
  /** The context the model was loaded with, and why it is shorter than asked for (null when it is not). */
  context: { length: number; reason: string | null };
  /** Weight formats on the GPU, e.g. ['f16'] or ['q4g32']. */
  weightFormats: string[];
  /** The load-time self-check (null with --no-self-check). */
  selfCheck: SelfCheckReport | null;
  /** The kernel configuration that ran (`--kernel-config` resolved on this adapter): its preset and key. */
  kernelConfig: { preset: 'gpu' | 'cpu'; key: string };
};

/** Test-only: `LoadOptions.faults` from the `MSN_TEST_FAULTS` environment variable (JSON). */
function testFaults(): GpuFaults | undefined {
  const f = process.env.MSN_TEST_FAULTS;
  return f ? (JSON.parse(f) as GpuFaults) : undefined;
}

/** The default model folder named by public/models/index.json. */
export function defaultModelPath(): string {
  const root = packageRoot();
  const idx = JSON.parse(readFileSync(join(root, 'public', 'models', 'index.json'), 'utf8')) as { default: string; models: Array<{ id: string; path: string }> };
  const entry = idx.models.find((m) => m.id === idx.default);
  return join(root, 'public', 'models', entry?.path ?? idx.default);
}

async function runNode(o: CliOptions, model: string, out: (s: string) => void): Promise<CliResult> {
  const engine = await createNodeEngine({ model, contextLength: o.contextLength, preferSwiftShader: o.swiftshader, selfCheck: o.selfCheck, kernelConfig: o.kernelConfig, kvDtype: o.kvDtype, gpuMemoryBytes: o.gpuMemoryBytes, ...quantizeOptions(o), faults: testFaults() });
  try {
    if (engine.info.memoryPlan.reason) process.stderr.write(`Note: ${engine.info.memoryPlan.reason}\n`);
    const it = engine.generate(o.prompt, { maxNewTokens: o.maxNewTokens, decode: o.decode, tree: o.tree, draftSeed: o.draftSeed,
      temperature: o.temperature, topK: o.topK, topP: o.topP, minP: o.minP, seed: o.seed, stop: o.stop, chat: o.chat, allowSpecialInContent: o.allowSpecialInContent });
    let r = await it.next();
    while (!r.done) {
      if (!o.json) out(r.value);
      r = await it.next();
    }
    const { adapter, ...res } = r.value;
    return {
      ...res, runtime: 'node', model,
      adapter: { vendor: adapter.vendor, architecture: adapter.architecture, device: adapter.device, description: adapter.description },
      memory: { weightsBytes: engine.info.memory.weightsBytes, kvBytes: engine.info.memory.kvBytes, scratchBytes: engine.info.memory.scratchBytes, peakJsHeapBytes: engine.info.memory.peakJsHeapBytes },
      kvDtype: engine.info.kvDtype,
      context: { length: engine.info.contextLength, reason: engine.info.memoryPlan.reason },
      weightFormats: engine.info.weightFormats,
      selfCheck: engine.info.selfCheck,
      kernelConfig: { preset: engine.info.kernelConfig.preset, key: engine.info.kernelConfig.key },
    };
  } finally {
    await engine.dispose();
  }
}

/**
 * Runs the CLI on `argv`; returns the exit code (0 ok, 1 failure, 2 a usage error: one error line
 * and a pointer to --help on stderr, nothing on stdout).
 * @param write receives everything meant for stdout (default: process.stdout).
 */
export async function main(argv: string[], write: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  let o: CliOptions | undefined;
  try {
    o = parseCli(argv);
    if (o.help) {
      write(USAGE);
      return 0;
    }
    const model = o.model ? (/^[a-z]+:\/\//i.test(o.model) ? o.model : resolve(o.model)) : defaultModelPath();
    let result: CliResult;
    if (o.runtime === 'chromium') {
      const { runInChromium } = await import('./chromium.js');
      result = await runInChromium(o, model);
      if (!o.json) write(result.text);
    } else {
      result = await runNode(o, model, write);
    }
    if (o.json) write(`${JSON.stringify(result)}\n`);
    else {
      write('\n');
      process.stderr.write(`[${result.newTokens} tokens, ${result.steps} steps, MAT ${result.meanAcceptedTokens.toFixed(2)}, ${result.tokensPerSecond.toFixed(1)} tok/s on ${result.adapter.vendor} ${result.adapter.architecture} (${result.adapter.description || result.adapter.device}), ${result.runtime}]\n`);
    }
    return 0;
  } catch (e) {
    const err = e as Error;
    // One line: messages that carry a native library's multi-line text are joined.
    const oneLine = (m: string) => m.trim().replace(/\s*\n\s*/g, ' ');
    const line = err instanceof MsnError ? `${err.name}: ${oneLine(err.message)}` : `Error: ${oneLine(err?.message ?? String(e))}`;
    process.stderr.write(`${line}\n`);
    if (o?.verbose) process.stderr.write(`${err?.stack ?? ''}\n`);
    // A usage error (any InvalidArgumentError: an unknown option, a missing or bad value) exits 2
    // with the --help pointer; anything else exits 1.
    const usage = err instanceof MsnError && err.code === 'invalid-argument';
    if (usage) process.stderr.write('Run with --help for the options.\n');
    return usage ? 2 : 1;
  }
}

const invoked = process.argv[1] && /(?:cli|generate)\.(?:mjs|ts|js)$/.test(process.argv[1]);
if (invoked) {
  // The reader went away (`… | head`): stop quietly, as command-line tools do, instead of an EPIPE
  // stack trace. The executor process ends itself when its channel closes.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(0);
  });
  void main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
