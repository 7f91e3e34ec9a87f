/**
 * `npm run bench` — the benchmark entry (Node). See bench/README.md.
 *
 *   npm run bench [-- --quick | --full] [--runtime node|chromium] [...]     (--help lists every option)
 *
 *   npm run bench -- --peers [--quick]     transformers.js and wllama beside ours in Chromium (bench/peers.ts)
 *
 * Per model (default MSN + its SFT twin) × decode mode: tokens/s, speed-up over ar, MAT, accepted-length
 * histogram, repetition, host ms per step, GPU memory, lossless check (a mismatch exits 1); kernel
 * microbenchmarks; the scheduler's host cost. Writes bench/results/<date>-<adapter>.{json,md}
 * (bench/results/tmp/ for --quick unless --out is given).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { createNodeEngine, packageRoot } from '../src/engine/node.js';
import { resolveNodeModelLocation } from '../src/model/location-node.js';
import { modelDisplayName } from '../src/component/model-url.js';
import { chooseIcd, createNodeGpu, prepareNodeGpuEnv } from '../src/gpu/node.js';
import type { AdapterSummary } from '../src/gpu/context.js';
import { KERNEL_CONFIG_CHOICES, type KernelConfigChoice } from '../src/gpu/kernel-config.js';
import { MODES, runDecodeBench, type BenchPrompt, type DecodeBenchResult, type ModeSpec } from './decode.js';
import { runKernelBench, type KernelBenchResult, type KernelBenchSize } from './kernels.js';
import { runHostBench, type HostBenchRow } from './host.js';
import { chromiumPlan, estimateSeconds, PLANS, type AdapterClass, type Plan, type PlanName } from './plan.js';
import { renderMarkdown } from './report.js';
import { runCostMain } from './cost.js';
import { adapterSlug, gitCommit } from './meta.js';

export { adapterSlug, gitCommit };

export interface BenchModel {
  id: string;
  path: string;
  /** 'msn' | 'sft' | 'fixture' */
  kind: string;
}

export interface BenchResults {
  schema: 1;
  date: string;
  commit: string;
  runtime: 'node' | 'chromium';
  adapter: AdapterSummary;
  adapterSlug: string;
  plan: Plan;
  machine: { node: string; platform: string; cpus: number; cpuModel: string; loadAvgAtStart: number[]; env: Record<string, string> };
  expectedSeconds: number | null;
  /**
   * The kernel configuration the run used: `choice` (`--kernel-config`), and what it resolved to on
   * this adapter (`preset`, `key`: src/gpu/kernel-config.ts), from the first engine or the kernel bench.
   */
  kernelConfig: { choice: KernelConfigChoice; preset: 'gpu' | 'cpu' | null; key: string | null };
  /**
   * `--quantize`: load-time weight quantization of every engine (`LoadOptions.quantize`, groups of 32,
   * embeddings included); absent in runs saved before the option (= `none`). Each model's
   * `decode.info.weightFormats` says what the GPU held (e.g. `q4g32`).
   */
  quantize?: BenchQuantize;
  /**
   * Per model: `loadMs` = wall time of `createNodeEngine` (a local folder: reading, quantizing when
   * asked, uploading, compiling, the load-time self-check); absent in older runs and in Chromium runs.
   */
  models: Array<{ model: BenchModel; decode: DecodeBenchResult; loadMs?: number }>;
  kernels: KernelBenchResult | null;
  host: HostBenchRow[] | null;
  mismatches: number;
  notes: string[];
  wallMs: number;
}

/** `--quantize` of the benchmark. */
export type BenchQuantize = 'none' | 'q4' | 'q8';

interface Args {
  plan: PlanName;
  quantize: BenchQuantize;
  runtime: 'node' | 'chromium';
  models: BenchModel[];
  maxNewTokens?: number;
  runs?: number;
  prompts?: number;
  kernels: boolean;
  decode: boolean;
  host: boolean;
  out?: string;
  inline: boolean;
  modes?: string[];
  which?: Plan['models'];
  kernelSize?: KernelBenchSize;
  kernelConfig?: KernelConfigChoice;
}

const USAGE = `npm run bench -- [--quick | --full] [--runtime node|chromium] [--models twins|default|fixture] [--model LOCATION]...
  [--modes ar,jacobi,retrieval,tr-jacobi-fixed,tr-jacobi-adaptive] [--max-new-tokens N] [--runs N] [--prompts N]
  [--kernel-size quick|small|cpu|gpu] [--kernel-config auto|gpu|cpu] [--quantize q4|q8|none] [--no-kernels] [--no-decode] [--no-host] [--out DIR] [--inline]`;

/** Options of `npm run bench` (node:util parseArgs, as the generate CLI). @throws Error on a bad option. */
function parseBenchArgs(argv: string[]): Args {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: 'boolean' }, full: { type: 'boolean' }, runtime: { type: 'string' }, model: { type: 'string', multiple: true },
      modes: { type: 'string' }, models: { type: 'string' }, 'kernel-size': { type: 'string' }, 'kernel-config': { type: 'string' }, quantize: { type: 'string' }, 'max-new-tokens': { type: 'string' },
      runs: { type: 'string' }, prompts: { type: 'string' }, 'no-kernels': { type: 'boolean' }, 'no-decode': { type: 'boolean' },
      'no-host': { type: 'boolean' }, out: { type: 'string' }, inline: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) { console.log(USAGE); process.exit(0); }
  const oneOf = <T extends string>(name: string, x: string | undefined, allowed: readonly T[]): T | undefined => {
    if (x !== undefined && !(allowed as readonly string[]).includes(x)) throw new Error(`--${name} is ${allowed.join(', ')}`);
    return x as T | undefined;
  };
  const int = (name: string, x: string | undefined): number | undefined => {
    if (x === undefined) return undefined;
    const n = Number(x);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} needs a positive integer.`);
    return n;
  };
  return {
    plan: v.full ? 'full' : v.quick ? 'quick' : 'standard',
    runtime: oneOf('runtime', v.runtime, ['node', 'chromium'] as const) ?? 'node',
    quantize: oneOf('quantize', v.quantize, ['q4', 'q8', 'none'] as const) ?? 'none',
    models: (v.model ?? []).map(customModel),
    modes: v.modes?.split(','),
    which: oneOf('models', v.models, ['twins', 'default', 'fixture'] as const),
    kernelSize: oneOf('kernel-size', v['kernel-size'], ['quick', 'small', 'cpu', 'gpu'] as const),
    kernelConfig: oneOf('kernel-config', v['kernel-config'], KERNEL_CONFIG_CHOICES),
    maxNewTokens: int('max-new-tokens', v['max-new-tokens']),
    runs: int('runs', v.runs),
    prompts: int('prompts', v.prompts),
    kernels: !v['no-kernels'],
    decode: !v['no-decode'],
    host: !v['no-host'],
    out: v.out,
    inline: !!v.inline,
  };
}

const FIXTURE = join('test', 'fixtures', 'models', 'tiny-gqa-f32');

/**
 * A `--model` location (a folder, URL, `hf:owner/name[@rev]` or huggingface.co link, as the CLI)
 * as a bench model, named `owner/name` on a Hub, else by its folder name.
 * @throws InvalidArgumentError when it is no model location.
 */
function customModel(location: string): BenchModel {
  const path = resolveNodeModelLocation(location);
  return { id: /^https?:/i.test(path) ? modelDisplayName(path) : basename(path), path, kind: 'custom' };
}

/** The default MSN model and its SFT twin from public/models/index.json; the fixture when absent. */
export function defaultModels(root: string, which: Plan['models']): BenchModel[] {
  const fixture = [{ id: 'tiny-gqa-f32', path: join(root, FIXTURE), kind: 'fixture' }];
  const idxPath = join(root, 'public', 'models', 'index.json');
  if (which === 'fixture' || !existsSync(idxPath)) return fixture;
  const idx = JSON.parse(readFileSync(idxPath, 'utf8')) as { default: string; models: Array<{ id: string; path: string }> };
  const find = (id: string) => idx.models.find((m) => m.id === id);
  const def = find(idx.default);
  if (!def || !existsSync(join(root, 'public', 'models', def.path, 'config.json'))) return fixture;
  const out: BenchModel[] = [{ id: def.id, path: join(root, 'public', 'models', def.path), kind: 'msn' }];
  const sft = find(`${def.id}-sft`);
  if (which === 'twins' && sft && existsSync(join(root, 'public', 'models', sft.path, 'config.json'))) out.push({ id: sft.id, path: join(root, 'public', 'models', sft.path), kind: 'sft' });
  return out;
}

/** Prompts of the plan: n per suite, evenly spaced over bench/prompts/<suite>.jsonl. */
export function loadPrompts(root: string, perSuite: Record<string, number>, override?: number): BenchPrompt[] {
  const out: BenchPrompt[] = [];
  for (const [suite, n0] of Object.entries(perSuite)) {
    const n = override ?? n0;
    const all = readFileSync(join(root, 'bench', 'prompts', `${suite}.jsonl`), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as BenchPrompt);
    const pick = all.length <= n ? all : Array.from({ length: n }, (_, i) => all[Math.floor((i * all.length) / n)]);
    out.push(...pick.map((p) => ({ ...p, suite })));
  }
  return out;
}



function adapterClass(runtime: string): AdapterClass {
  if (runtime === 'chromium') return 'swiftshader';
  const icd = process.env.VK_DRIVER_FILES ?? chooseIcd();
  if (/nvidia|radeon|amd|intel/i.test(icd)) return 'gpu';
  return /swiftshader/i.test(icd) ? 'swiftshader' : 'lavapipe';
}

const log = (s: string) => process.stderr.write(`${s}\n`);

async function main(): Promise<number> {
  const t0 = performance.now();
  let args: Args;
  try {
    args = parseBenchArgs(process.argv.slice(2));
  } catch (e) {
    log(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.quantize !== 'none' && args.runtime === 'chromium') {
    log(`--quantize is measured in Node only (the Chromium bench page loads the folder's dtype).\n${USAGE}`);
    return 2;
  }
  prepareNodeGpuEnv();
  const machine = machineInfo(args.runtime === 'chromium');
  const root = packageRoot();
  const plan: Plan = args.runtime === 'chromium' ? chromiumPlan(PLANS[args.plan]) : { ...PLANS[args.plan] };
  if (args.maxNewTokens) plan.maxNewTokens = args.maxNewTokens;
  if (args.runs) plan.runs = args.runs;
  if (args.which) plan.models = args.which;
  if (args.kernelSize) plan.kernels = args.kernelSize;
  if (args.kernelConfig) plan.kernelConfig = args.kernelConfig;
  else if (args.runtime === 'chromium' && plan.kernels === 'auto') plan.kernels = 'small';
  if (args.prompts) plan.promptsPerSuite = Object.fromEntries(Object.keys(plan.promptsPerSuite).map((k) => [k, args.prompts!]));
  const models = args.models.length ? args.models : defaultModels(root, plan.models);
  const prompts = loadPrompts(root, plan.promptsPerSuite);
  const modes: readonly ModeSpec[] = args.modes ? MODES.filter((m) => m.name === 'ar' || args.modes!.includes(m.name)) : MODES;
  const cls = adapterClass(args.runtime);
  // Decode costs are calibrated on the 3.2M-parameter default model; the random fixtures cost about a tenth.
  const expected = estimateSeconds(plan, cls, models.length, 150, models.every((m) => m.kind === 'fixture') ? 0.15 : 1);
  log(`msn-webgpu bench: plan ${plan.name}, runtime ${args.runtime} (${cls}), weights ${args.quantize === 'none' ? 'as in the folder' : args.quantize}, ${models.length} model(s) × ${modes.length} modes × ${prompts.length} prompts, ` +
    `${plan.maxNewTokens} new tokens, warm-up + ${plan.runs} runs, kernel config ${plan.kernelConfig}`);
  log(`expected run time: about ${Math.ceil(expected / 60)} min on ${cls}${plan.name === 'full' ? ' (the full matrix; CPU adapters run at 1-10 GFLOP/s)' : ''}`);
  const notes: string[] = [];
  if (models[0].kind === 'fixture') notes.push('Measured on a random-weight test fixture (test/fixtures/models/tiny-gqa-f32): a smoke run; its MAT and speed-ups mean nothing.');
  notes.push('No prose suite: no prose-capable model exists in public/models (code-only models).');

  const outDir = args.out ?? join(root, 'bench', 'results', plan.name === 'quick' ? 'tmp' : '');
  mkdirSync(outDir, { recursive: true });
  const date = new Date().toISOString();
  const results: BenchResults = {
    schema: 1, date, commit: gitCommit(root), runtime: args.runtime, adapter: { vendor: '', architecture: '', device: '', description: '', isFallbackAdapter: false }, adapterSlug: '',
    plan, machine, expectedSeconds: expected, kernelConfig: { choice: plan.kernelConfig, preset: null, key: null }, quantize: args.quantize, models: [], kernels: null, host: null, mismatches: 0, notes, wallMs: 0,
  };
  let stem = '';
  /** Writes the JSON and Markdown (after every stage, so a run cut short still leaves its results). */
  const save = (final: boolean) => {
    results.mismatches = results.models.reduce((n, m) => n + m.decode.mismatches.length, 0);
    results.wallMs = performance.now() - t0;
    if (!results.adapterSlug) return;
    // A forced configuration or quantization gets a file of its own, so it never replaces the day's `auto` run.
    stem = join(outDir, `${date.slice(0, 10)}-${results.adapterSlug}${plan.kernelConfig === 'auto' ? '' : `-kernels-${plan.kernelConfig}`}${args.quantize === 'none' ? '' : `-${args.quantize}`}`);
    writeFileSync(`${stem}.json`, JSON.stringify({ ...results, ...(final ? {} : { partial: true }) }, null, 1) + '\n');
    writeFileSync(`${stem}.md`, renderMarkdown(results));
  };
  const setAdapter = (a: AdapterSummary) => {
    results.adapter = a;
    results.adapterSlug = adapterSlug(a, args.runtime);
  };

  if (args.runtime === 'chromium') {
    const { runChromiumBench } = await import('./chromium.js');
    const r = await runChromiumBench({ root, models, prompts, plan, modes, kernels: args.kernels && plan.kernels, decode: args.decode, host: args.host, log });
    setAdapter(r.adapter);
    const k = r.models[0]?.decode.info.kernelConfig ?? r.kernels?.kernelConfig;
    if (k) Object.assign(results.kernelConfig, { preset: k.preset, key: k.key });
    Object.assign(results, { models: r.models, kernels: r.kernels, host: r.host });
  } else {
    // Order: default model, kernels, host, then the twin (the most wanted numbers first).
    const decodeModel = async (m: BenchModel) => {
      log(`decode: ${m.id}`);
      const tLoad = performance.now();
      const quantize = args.quantize === 'none' ? {} : { quantize: args.quantize };
      const engine = await createNodeEngine({ model: m.path, inline: args.inline, kernelConfig: plan.kernelConfig, ...quantize });
      const loadMs = Math.round((performance.now() - tLoad) * 10) / 10;
      log(`  loaded in ${loadMs.toFixed(0)} ms, weights ${engine.info.weightFormats.join('+')}`);
      try {
        setAdapter(engine.info.adapter);
        Object.assign(results.kernelConfig, { preset: engine.info.kernelConfig.preset, key: engine.info.kernelConfig.key });
        const r = await runDecodeBench(engine, m.id, { prompts, modes, maxNewTokens: plan.maxNewTokens, runs: plan.runs, log });
        results.models.push({ model: m, decode: r, loadMs });
      } finally {
        await engine.dispose();
      }
      save(false);
    };
    if (args.decode) await decodeModel(models[0]);
    if (args.kernels) {
      log('kernels:');
      const size: KernelBenchSize | undefined = plan.kernels === 'auto' ? undefined : plan.kernels;
      results.kernels = await runKernelBench({ gpu: await createNodeGpu(), model: models[0].path, size, kernelConfig: plan.kernelConfig, log });
      if (!results.adapterSlug) setAdapter(results.kernels.adapter);
      if (!results.kernelConfig.key) Object.assign(results.kernelConfig, { preset: results.kernels.kernelConfig.preset, key: results.kernels.kernelConfig.key });
      save(false);
    }
    if (args.host) {
      log('host (scheduler only):');
      results.host = await runHostBench(results.models[0]?.decode.info.config.vocabSize ?? 4096, plan.hostSteps);
      log(`  ${results.host.map((h) => `${h.mode}/${h.model} ${h.msPerStep} ms`).join(', ')}`);
      save(false);
    }
    if (args.decode) for (const m of models.slice(1)) await decodeModel(m);
  }
  if (!results.adapterSlug) throw new Error('Nothing was run (--no-decode and --no-kernels).');
  save(true);
  log(`wrote ${stem}.json and .md (${(results.wallMs / 1000).toFixed(0)} s; expected ${expected.toFixed(0)} s)`);
  if (results.mismatches) {
    log(`FAIL: ${results.mismatches} generation(s) differ from ar's output (lossless invariant broken):`);
    for (const m of results.models) for (const x of m.decode.mismatches) log(`  ${m.model.id} ${x.mode} ${x.prompt} rep ${x.rep}: first difference at token ${x.index}`);
    return 1;
  }
  return 0;
}

/** Machine facts; the Vulkan/lavapipe variables only for the Node runtime (Chromium picks its own adapter). */
function machineInfo(chromium: boolean): BenchResults['machine'] {
  const env: Record<string, string> = {};
  if (!chromium) for (const k of ['LP_NUM_THREADS', 'VK_ICD_FILENAMES', 'VK_DRIVER_FILES']) if (process.env[k]) env[k] = process.env[k]!;
  return { node: process.version, platform: `${process.platform}-${process.arch}`, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', loadAvgAtStart: loadavg().map((x) => Math.round(x * 100) / 100), env };
}

(process.argv.includes('--peers') ? import('./peers.js').then((m) => m.runPeersMain(process.argv.slice(2))) : process.argv.includes('--cost') ? runCostMain(process.argv.slice(2)) : main()).then((code) => process.exit(code), (e) => {
  log(`bench failed: ${(e as Error)?.stack ?? e}`);
  process.exit(2);
});
