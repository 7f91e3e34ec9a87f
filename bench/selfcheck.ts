/**
 * Cost of the load-time self-check (issue 16, item 5). For every fixture and shipped model: load
 * time with and without the check (median of `--runs` loads of each, in alternating order, in-process
 * executor on this machine's adapter), the check's own time (`ModelInfo.selfCheck.ms`; median over
 * those loads, where the JS engine has compiled the float64 code after the first), the same as the
 * CLI reports it in a fresh process each time (median of `--runs` CLI runs: what a user's first load
 * pays), and its error against the tolerance. Then the part that grows with the model, the float64 CPU side, for
 * a layer of Llama-3.2-1B's shape (C 2048, F 8192, H 32, Hkv 8, D 64; random bf16 weights):
 * decoding the layer's weights and 8 tokens through `llamaLayer64`.
 *
 *   node scripts/build-node.mjs && node bench/build.mjs && node dist-node/bench/selfcheck.mjs [--runs 5] [--swiftshader] [--out bench/results/<name>]
 * writes <name>.json and <name>.md (default: print the markdown only).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createNodeGpu, prepareNodeGpuEnv } from '../src/gpu/node.js';
import { packageRoot } from '../src/engine/node.js';
import { decodeToF32 } from '../src/model/dtype.js';
import { llamaLayer64, type KvCache64, type LayerWeights64 } from '../src/model/float64.js';
import { Executor } from '../src/worker/executor.js';
import { SELF_CHECK_CHUNKS } from '../src/worker/selfcheck.js';
import type { ModelInfo } from '../src/worker/api.js';
import { median, round } from './stats.js';

interface ModelRow {
  model: string;
  params: number;
  weights: string;
  loadMsWith: number;
  loadMsWithout: number;
  checkMs: number;
  /** The check as the CLI reports it in a fresh process each time (nothing compiled by the JS engine yet). */
  checkMsCold: number;
  maxAbsErr: number;
  tolerance: number;
}

const MODELS = [
  'test/fixtures/models/tiny-gqa-f32', 'test/fixtures/models/tiny-mha-tied-f16', 'test/fixtures/models/tiny-llama3-bf16-sharded',
  'test/fixtures/models/tiny-gqa-f16-untied', 'public/models/msn-code-tiny', 'public/models/msn-code-tiny-sft',
];

function paramCount(info: ModelInfo): number {
  const c = info.config;
  const layer = c.hiddenSize * (c.numHeads + 2 * c.numKvHeads) * c.headDim + c.numHeads * c.headDim * c.hiddenSize + 3 * c.hiddenSize * c.intermediateSize + 2 * c.hiddenSize;
  return c.numLayers * layer + c.vocabSize * c.hiddenSize * (c.tieWordEmbeddings ? 1 : 2) + c.hiddenSize;
}

/** Run on Chromium's SwiftShader Vulkan driver instead of the default (lavapipe here). */
let swiftshader = false;

async function measureModel(root: string, model: string, runs: number): Promise<ModelRow> {
  const withCheck: number[] = [];
  const without: number[] = [];
  const checks: number[] = [];
  let info: ModelInfo | null = null;
  for (let r = 0; r < runs; r++) {
    for (const selfCheck of r % 2 ? [false, true] : [true, false]) {
      const ex = new Executor(() => createNodeGpu({ preferSwiftShader: swiftshader }));
      const t0 = performance.now();
      const got = await ex.load(join(root, model), { contextLength: 256, selfCheck });
      (selfCheck ? withCheck : without).push(performance.now() - t0);
      if (selfCheck) {
        checks.push(got.selfCheck!.ms);
        info = got;
      }
      await ex.dispose();
    }
  }
  const cold: number[] = [];
  for (let r = 0; r < runs; r++) {
    const out = execFileSync(process.execPath, [join(root, 'dist-node', 'cli.mjs'), '--model', join(root, model), '--prompt', 'x', '--max-new-tokens', '1', '--decode', 'ar', '--context-length', '256', '--json', ...(swiftshader ? ['--swiftshader'] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    cold.push((JSON.parse(out) as { selfCheck: { ms: number } }).selfCheck.ms);
  }
  const s = info!.selfCheck!;
  return {
    model: model.split('/').pop()!, params: paramCount(info!), weights: info!.weightFormats.join('+'),
    loadMsWith: round(median(withCheck), 1), loadMsWithout: round(median(without), 1), checkMs: round(median(checks), 1), checkMsCold: round(median(cold), 1),
    maxAbsErr: Number(s.maxAbsErr.toPrecision(3)), tolerance: Number(s.tolerance.toPrecision(3)),
  };
}

/** The CPU side of the check for a layer of Llama-3.2-1B's shape: decode bf16 weights, then 8 tokens through llamaLayer64. */
function measureCpu1B(runs: number): { decodeMs: number; layerMs: number } {
  const C = 2048, F = 8192, H = 32, Hkv = 8, D = 64;
  const sizes = { q: H * D * C, k: Hkv * D * C, v: Hkv * D * C, o: C * H * D, gate: F * C, up: F * C, down: C * F };
  const raw = Object.fromEntries(Object.entries(sizes).map(([k, n]) => {
    const h = new Uint16Array(n);
    for (let i = 0; i < n; i++) h[i] = 0x3c00 + ((i * 2654435761) >>> 22); // positive bf16 values in [2^-7, 2)
    return [k, new Uint8Array(h.buffer)];
  }));
  const decode: number[] = [];
  const layer: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    const w = Object.fromEntries(Object.entries(raw).map(([k, b]) => [k, decodeToF32(b, 'BF16')])) as Record<keyof typeof sizes, Float32Array>;
    const t1 = performance.now();
    const weights: LayerWeights64 = { ...w, inNorm: new Float32Array(C).fill(1), postNorm: new Float32Array(C).fill(1) };
    const shape = { C, H, Hkv, D, F, eps: 1e-5, invFreq: Float64Array.from({ length: D / 2 }, (_, i) => 1 / 500000 ** ((2 * i) / D)) };
    const cache: KvCache64 = { k: [], v: [], rows: 0 };
    let P = 0;
    for (const T of SELF_CHECK_CHUNKS) {
      const x = Float64Array.from({ length: T * C }, (_, i) => Math.sin(i + P));
      llamaLayer64(x, Array.from({ length: T }, (_, i) => P + i), shape, weights, cache);
      P += T;
    }
    decode.push(t1 - t0);
    layer.push(performance.now() - t1);
  }
  return { decodeMs: round(median(decode), 0), layerMs: round(median(layer), 0) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, out: { type: 'string' }, swiftshader: { type: 'boolean', default: false } } });
  const runs = Number(values.runs);
  swiftshader = values.swiftshader!;
  const root = packageRoot();
  prepareNodeGpuEnv(swiftshader);
  const loadAvgAtStart = loadavg().map((x) => round(x, 2));
  const rows: ModelRow[] = [];
  let adapter = '';
  for (const m of MODELS) {
    rows.push(await measureModel(root, m, runs));
    process.stderr.write(`${m}: ${JSON.stringify(rows.at(-1))}\n`);
  }
  {
    const ex = new Executor(() => createNodeGpu({ preferSwiftShader: swiftshader }));
    const info = await ex.load(join(root, MODELS[0]), { selfCheck: false, warmup: false });
    adapter = `${info.adapter.vendor} ${info.adapter.architecture} (${info.adapter.description})`;
    await ex.dispose();
  }
  const cpu1b = measureCpu1B(Math.min(runs, 3));
  const result = { date: new Date().toISOString().slice(0, 10), adapter, runs, machine: { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', loadAvgAtStart }, models: rows, cpu1b };
  const L = [
    `Self-check cost on ${adapter}, ${result.date}; median of ${runs} loads each way in one process (contextLength 256, warmup on), and of ${runs} CLI runs (a fresh process each), ${result.machine.cpus} CPUs, load average at start ${loadAvgAtStart.join(' / ')}.`,
    '',
    '| model | params | weights | load with check, ms | load without, ms | check, ms (of load without) | check in a fresh process (CLI), ms | max abs err | tolerance |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.model} | ${(r.params / 1e6).toFixed(2)}M | ${r.weights} | ${r.loadMsWith} | ${r.loadMsWithout} | ${r.checkMs} (${round((100 * r.checkMs) / r.loadMsWithout, 1)} %) | ${r.checkMsCold} | ${r.maxAbsErr} | ${r.tolerance} |`),
    '',
    `CPU side for one Llama-3.2-1B-shaped layer (bf16, 8 tokens): decode ${cpu1b.decodeMs} ms + float64 layer ${cpu1b.layerMs} ms (median of ${Math.min(runs, 3)}).`,
    '',
  ];
  const md = L.join('\n');
  process.stdout.write(md);
  if (values.out) {
    writeFileSync(`${values.out}.json`, `${JSON.stringify(result, null, 1)}\n`);
    writeFileSync(`${values.out}.md`, md);
  }
}

await main();
