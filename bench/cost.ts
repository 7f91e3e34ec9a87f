/**
 * `npm run bench -- --cost [--runtime node|chromium] [--adapter lavapipe|swiftshader (Node)] [--model LOCATION]... [--P N] [--label TEXT] [--out DIR]`
 *
 * The cost-curve section alone (bench/cost-curve.ts): c(T)/c(1) of a whole forward and the traffic
 * ratios, for the default model (public/models) and every `--model`, in both kernel configurations.
 * Writes bench/results/<date>-cost-<adapter>[-<label>].{json,md}. `--label before` marks a run made
 * on older kernels by bench/cost-at.sh (the commit is recorded in the file).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/engine/node.js';
import { adapterSlug, gitCommit } from './meta.js';
import { createNodeGpu, prepareNodeGpuEnv } from '../src/gpu/node.js';
import { resolveNodeModelLocation } from '../src/model/location-node.js';
import { runCostBench, type CostBenchResult } from './cost-curve.js';
import { renderCostMarkdown } from './cost-report.js';

/** A saved cost run (`<date>-cost-<adapter>[-label].json`). */
export interface CostRun extends CostBenchResult {
  kind: 'cost';
  date: string;
  commit: string;
  runtime: 'node' | 'chromium';
  label: string | null;
  /** The default model's traffic in the `gpu` configuration (the issue's `traffic` array). */
  traffic: Array<{ T: number; P: number; weightFetchRatio: number | null; kvFetchRatio: number | null }>;
}

const USAGE = 'npm run bench -- --cost [--runtime node|chromium] [--adapter lavapipe|swiftshader] [--model LOCATION]... [--P N] [--label TEXT] [--out DIR]';

/** Runs the cost section; returns the exit status. */
export async function runCostMain(argv: string[]): Promise<number> {
  const log = (s: string) => process.stderr.write(`${s}\n`);
  let v;
  try {
    ({ values: v } = parseArgs({ args: argv, strict: true, options: { cost: { type: 'boolean' }, runtime: { type: 'string' }, adapter: { type: 'string' }, model: { type: 'string', multiple: true }, P: { type: 'string' }, label: { type: 'string' }, out: { type: 'string' } } }));
  } catch (e) {
    log(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const runtime = v.runtime ?? 'node';
  if (runtime !== 'node' && runtime !== 'chromium') { log(`--runtime is node or chromium\n${USAGE}`); return 2; }
  const swiftshader = v.adapter === 'swiftshader';
  if (v.adapter !== undefined && v.adapter !== 'lavapipe' && !swiftshader) { log(`--adapter is lavapipe or swiftshader (Node)\n${USAGE}`); return 2; }
  const P = v.P === undefined ? 512 : Number(v.P);
  if (!Number.isInteger(P) || P < 1) { log(`--P needs a positive integer\n${USAGE}`); return 2; }
  const root = packageRoot();
  const models = [{ name: 'msn-code-tiny', path: join(root, 'public', 'models', 'msn-code-tiny') }, ...(v.model ?? []).map((m) => ({ name: basename(resolveNodeModelLocation(m)), path: resolveNodeModelLocation(m) }))];
  prepareNodeGpuEnv(swiftshader);
  let r: CostBenchResult;
  if (runtime === 'chromium') {
    const { runChromiumBench } = await import('./chromium.js');
    const { PLANS } = await import('./plan.js');
    const out = await runChromiumBench({ root, models: [], prompts: [], plan: PLANS.quick, modes: [], kernels: false, decode: false, host: false, cost: { models, P }, log });
    r = out.cost!;
  } else {
    r = await runCostBench({ gpu: await createNodeGpu({ preferSwiftShader: swiftshader }), models: models.map((m) => ({ name: m.name, location: m.path })), P, log });
  }
  const date = new Date().toISOString().slice(0, 10);
  const def = r.curves.find((c) => c.model === models[0].name && c.preset === 'gpu');
  const run: CostRun = {
    kind: 'cost', date, commit: gitCommit(root), runtime, label: v.label ?? null, ...r,
    traffic: (def?.traffic ?? []).map((t) => ({ T: t.T, P: t.P, weightFetchRatio: t.weightFetchRatio, kvFetchRatio: t.kvFetchRatio })),
  };
  const slug = adapterSlug(r.adapter, runtime);
  const dir = v.out ?? join(root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${date}-cost-${slug}${v.label ? `-${v.label}` : ''}`);
  writeFileSync(`${file}.json`, `${JSON.stringify(run, null, 1)}\n`);
  writeFileSync(`${file}.md`, renderCostMarkdown(run));
  log(`wrote ${file}.json and .md`);
  return 0;
}
