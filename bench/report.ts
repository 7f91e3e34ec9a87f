/** Markdown rendering of a benchmark result (bench/results/<date>-<adapter>.md) and its README summary. */
import type { BenchResults } from './run.js';
import type { ModeSummary } from './decode.js';
import type { KernelRow } from './kernels.js';

const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const f = (x: number | undefined, d = 2) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
/** A rate with about three significant digits (GB/s and GFLOP/s span 0.01 to 10,000). */
const rate = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toPrecision(2));

function isCpu(r: BenchResults): boolean {
  return r.adapter.isFallbackAdapter || /lavapipe|swiftshader/.test(r.adapterSlug);
}

/** The accepted-length histogram as "n:count" pairs (n = tokens produced by a step). */
function hist(h: number[]): string {
  return h.map((c, n) => (c ? `${n}:${c}` : '')).filter(Boolean).join(' ');
}

function decodeTable(rows: ModeSummary[]): string[] {
  const out = ['| mode | tok/s | speed-up vs ar | MAT | accepted-length histogram (tokens:steps) | mean rows/step | host ms/step | forward ms/step | lossless |', '|---|---|---|---|---|---|---|---|---|'];
  for (const m of rows) {
    out.push(`| ${m.mode} | ${f(m.tokensPerSecond, 1)} | ${f(m.speedup)}x | ${f(m.mat)} | ${hist(m.acceptedHistogram)} | ${f(m.meanTreeSize, 1)} | ${f(m.hostMsPerStep, 3)} | ${f(m.forwardMsPerStep)} | ${m.mismatches ? `**${m.mismatches} mismatches**` : 'yes'} |`);
  }
  return out;
}

function kernelTable(rows: KernelRow[], cols: Array<'gbps' | 'gflops' | 'pctBandwidth' | 'pctFlops'>): string[] {
  const names = { gbps: 'GB/s', gflops: 'GFLOP/s', pctBandwidth: '% of bandwidth', pctFlops: '% of FLOP/s' };
  const out = [`| kernel | shape | weights | ms | ${cols.map((c) => names[c]).join(' | ')} | timing |`, `|---|---|---|---|${cols.map(() => '---|').join('')}---|`];
  for (const r of rows) out.push(`| ${r.kernel} | ${r.shape} | ${r.fmt ?? ''} | ${f(r.ms, 4)} | ${cols.map((c) => (c.startsWith('pct') ? f(r[c], 1) : rate(r[c]))).join(' | ')} | ${r.method} |`);
  return out;
}

export function renderMarkdown(r: BenchResults): string {
  const L: string[] = [];
  const a = r.adapter;
  L.push(`# Benchmark: ${r.adapterSlug} (${r.runtime}), ${r.date.slice(0, 10)}`, '');
  if (isCpu(r)) L.push(`> **CPU adapter, not a GPU.** ${a.description || a.architecture} runs WGSL on the CPU (1-10 GFLOP/s). Absolute speeds and the speed-ups of tree decoding here say nothing about GPUs: a 69-row tree forward costs many AR forwards on a CPU, while on a GPU it costs about one.`, '');
  L.push(`- adapter: vendor \`${a.vendor}\`, architecture \`${a.architecture}\`, device \`${a.device}\`, description \`${a.description}\`, fallback ${a.isFallbackAdapter}`);
  L.push(`- commit \`${r.commit}\`, ${r.date}, runtime \`${r.runtime}\`, node ${r.machine.node}, ${r.machine.cpus} CPUs (${r.machine.cpuModel}), load average at start ${r.machine.loadAvgAtStart.join(' / ')}${Object.keys(r.machine.env).length ? `, ${Object.entries(r.machine.env).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}`);
  L.push(`- plan \`${r.plan.name}\`: greedy, batch 1, ${r.plan.maxNewTokens} new tokens, prompts ${Object.entries(r.plan.promptsPerSuite).map(([s, n]) => `${n} × ${s}`).join(' + ')}, one warm-up then ${r.plan.runs} runs (median); wall ${(r.wallMs / 1000).toFixed(0)} s${r.expectedSeconds ? ` (expected ${r.expectedSeconds.toFixed(0)} s)` : ''}`);
  // Results written before the kernel configuration was recorded have none.
  if (r.quantize && r.quantize !== 'none') L.push(`- weights quantized at load: \`--quantize ${r.quantize}\` (groups of 32, embeddings included)`);
  if (r.models.some((m) => m.loadMs !== undefined)) L.push(`- load time (\`createNodeEngine\`, incl. self-check): ${r.models.map((m) => `${m.model.id} ${m.loadMs === undefined ? 'n/a' : `${m.loadMs.toFixed(0)} ms`}`).join(', ')}`);
  if (r.kernelConfig) L.push(`- kernel configuration: \`--kernel-config ${r.kernelConfig.choice}\` → \`${r.kernelConfig.key ?? 'not resolved (nothing ran)'}\``);
  L.push(`- lossless: ${r.mismatches ? `**FAILED: ${r.mismatches} generation(s) differ from ar**` : 'every generation of every mode produced exactly ar\'s tokens'}`);
  for (const n of r.notes) L.push(`- ${n}`);
  L.push('');
  L.push('Definitions: tok/s = Σ new tokens / Σ decode seconds over the suite (prefill excluded), median of the runs; speed-up = the same run\'s tok/s ÷ ar\'s, median over runs; MAT = new tokens / decode forwards; histograms sum the steps of all measured runs; host ms/step = step wall time not spent waiting for the worker (scheduler, adaptive policy, detokenizer); forward ms/step = waiting for the worker\'s forward (includes the worker round trip).', '');

  if (r.models.length) L.push('## Decoding', '');
  for (const { model, decode: d } of r.models) {
    const mem = d.info.memory;
    L.push(`### ${model.id} (${model.kind})`, '');
    L.push(`${d.info.config.numLayers} layers, C ${d.info.config.hiddenSize}, F ${d.info.config.intermediateSize}, H ${d.info.config.numHeads}/${d.info.config.numKvHeads}, D ${d.info.config.headDim}, V ${d.info.config.vocabSize}, weights ${d.info.weightFormats.join('+')}, context ${d.info.contextLength}. ` +
      `GPU memory: weights ${mb(mem.weightsBytes)}, KV cache ${mb(mem.kvBytes)}, scratch ${mb(mem.scratchBytes)}; live buffers ${mb(d.liveGpuBytes)}.` +
      (d.info.selfCheck ? ` Load-time self-check: max |GPU − float64| ${d.info.selfCheck.maxAbsErr.toPrecision(3)} (tolerance ${d.info.selfCheck.tolerance.toPrecision(3)}) in ${d.info.selfCheck.ms.toFixed(1)} ms.` : '') +
      (d.mainThreadLongestTaskMs !== undefined ? ` Longest main-thread task during decoding: ${d.mainThreadLongestTaskMs} ms (goal < 50 ms; 0 = none reached the 50 ms long-task threshold).` : ''), '');
    for (const [suite, rows] of Object.entries(d.suites)) {
      L.push(`**${suite}**`, '', ...decodeTable(rows), '');
    }
    const bySuite = new Map<string, { n: number; rep: number; self: number }>();
    for (const p of d.prompts) {
      const e = bySuite.get(p.suite) ?? { n: 0, rep: 0, self: 0 };
      e.n++; e.rep += p.repeat4; e.self += p.selfRepeat4;
      bySuite.set(p.suite, e);
    }
    L.push(`Repetition of ar's output (share of new tokens completing a 4-gram seen before; high values inflate retrieval's MAT): ${[...bySuite.entries()].map(([s, e]) => `${s} ${f(e.rep / e.n)} against prompt + output, ${f(e.self / e.n)} within the output`).join('; ')}.`, '');
    if (d.adaptive?.cost) {
      L.push(`Adaptive tree: probed forward cost c(T) ${d.adaptive.cost.sizes.map((s, i) => `T ${s}: ${f(d.adaptive!.cost!.ms[i])} ms`).join(', ')}; tree sizes chosen in the measured runs (size: steps; 1 = AR step): ${Object.entries(d.adaptive.chosenSizes).map(([s, n]) => `${s}: ${n}`).join(', ')}.`, '');
    }
  }
  if (r.models.length === 2) {
    const [m, s] = r.models;
    const all = (x: typeof m) => x.decode.suites.all ?? Object.values(x.decode.suites)[0];
    L.push(`### ${m.model.id} vs ${s.model.id} (all prompts)`, '', '| mode | MAT MSN | MAT SFT | speed-up MSN | speed-up SFT |', '|---|---|---|---|---|');
    for (const row of all(m)) {
      const o = all(s).find((x) => x.mode === row.mode);
      L.push(`| ${row.mode} | ${f(row.mat)} | ${f(o?.mat)} | ${f(row.speedup)}x | ${f(o?.speedup)}x |`);
    }
    L.push('');
  }
  if (r.host) {
    L.push('## Scheduler host cost (no GPU)', '', 'decode() against an instant backend: the scheduler\'s own work per step (target < 1 ms for the 69-row tree).', '');
    L.push('| mode | synthetic model | steps | MAT | rows/step | ms/step |', '|---|---|---|---|---|---|');
    for (const h of r.host) L.push(`| ${h.mode} | ${h.model} | ${h.steps} | ${f(h.mat)} | ${f(h.meanTreeSize, 1)} | ${f(h.msPerStep, 4)} |`);
    L.push('');
  }
  const k = r.kernels;
  if (k) {
    L.push('## Kernels', '');
    L.push(`Timing: ${k.timing === 'timestamp' ? 'timestamp queries (device time of one compute pass, divided by the dispatches in it)' : 'wall time from submit to onSubmittedWorkDone (no timestamp-query)'}; median of 3 trials after a warm-up. ` +
      `Engine configuration on this adapter: matmul lanes ${k.matmul.lanes}, GEMV ${k.matmul.gemvCols} columns per workgroup, tiled ${k.matmul.tiledCols} thread columns × ${k.matmul.tiledCpt ?? 1} outputs per thread; attention block ${k.attnBlock ?? 64}${k.kernelConfig ? ` (configuration \`${k.kernelConfig.key}\`)` : ''}. Sizes: \`${k.size}\`. Limits used: maxStorageBufferBindingSize ${mb(k.limits.maxStorageBufferBindingSize)}.`, '');
    L.push(`**Ceilings:** bandwidth ${rate(k.ceilings.bandwidthGBps)} GB/s (${k.ceilings.bandwidthSource}; copy ${rate(k.ceilings.copyGBps)}, stream read ${rate(k.ceilings.streamGBps)}), FLOP/s ${rate(k.ceilings.flopsGFlops)} GFLOP/s (${k.ceilings.flopsSource}).`, '');
    L.push(...kernelTable(k.ceilingRows, ['gbps', 'gflops']), '');
    L.push('**GEMV** (T = 1; bytes = weights + x + y)', '', ...kernelTable(k.gemv, ['gbps', 'gflops', 'pctBandwidth']), '');
    if (k.gemvLanesSweep.length) L.push('**GEMV reduction lanes** (LANES is engine-wide: T = 1 and T > 1 must reduce alike; GEMV columns per workgroup follow the engine formula)', '', ...kernelTable(k.gemvLanesSweep, ['gbps', 'pctBandwidth']), '');
    L.push('**GEMM** (T rows × weight N×K)', '', ...kernelTable(k.gemm, ['gflops', 'pctFlops']), '');
    L.push('**Attention** (FLOPs over visible keys only; bytes = K + V + q + out once)', '', ...kernelTable(k.attention, ['gflops', 'gbps', 'pctBandwidth', 'pctFlops']), '');
    if (k.dispatchesPerForward) L.push(`**Dispatches per forward:** AR (T = 1, last-row logits) ${k.dispatchesPerForward.ar}, tree (T = 69, all logits) ${k.dispatchesPerForward.tree69}, prefill chunk (no head) ${k.dispatchesPerForward.prefill128}.`, '');
    for (const fw of k.forward) {
      L.push(`Forward T ${fw.T} at P ${fw.P} (${fw.logits} logits): ${fw.dispatches} dispatches, ${f(fw.ms, 3)} ms (${fw.method}, one compute pass).`);
      if (fw.byKernel) {
        L.push('', '| kernel | dispatches | ms | % |', '|---|---|---|---|');
        for (const b of fw.byKernel) L.push(`| ${b.kernel} | ${b.dispatches} | ${f(b.ms, 4)} | ${f(b.pct, 1)} |`);
      }
      L.push('');
    }
    if (k.skipped.length) L.push(`Skipped: ${k.skipped.join('; ')}.`, '');
  }
  return L.join('\n') + '\n';
}

/** Compact summary for the README's Performance section. */
export function renderSummary(r: BenchResults, link: string): string {
  const L: string[] = [];
  L.push(`**${r.adapterSlug}** (${r.runtime}; ${r.adapter.description || r.adapter.architecture}; ${r.date.slice(0, 10)}, commit \`${r.commit.slice(0, 7)}\`; [full results](${link})). ` +
    `${r.plan.maxNewTokens} new tokens, ${Object.entries(r.plan.promptsPerSuite).map(([s, n]) => `${n} ${s}`).join(' + ')} prompts, median of ${r.plan.runs} runs; lossless check ${r.mismatches ? 'FAILED' : 'passed'}.`, '');
  if (r.models.length) {
    const names = r.models.map((m) => m.model.id);
    L.push(`| mode | ${names.map((n) => `${n} tok/s | speed-up | MAT`).join(' | ')} |`, `|---|${names.map(() => '---|---|---|').join('')}`);
    const rows = r.models.map((m) => m.decode.suites.all ?? Object.values(m.decode.suites)[0]);
    for (let i = 0; i < rows[0].length; i++) {
      L.push(`| ${rows[0][i].mode} | ${rows.map((rs) => `${f(rs[i].tokensPerSecond, 1)} | ${f(rs[i].speedup)}x | ${f(rs[i].mat)}`).join(' | ')} |`);
    }
    L.push('');
  }
  const k = r.kernels;
  if (k) {
    const big = [...k.gemv].filter((g) => g.kernel.includes('large')).sort((a, b) => (b.gbps ?? 0) - (a.gbps ?? 0))[0];
    const g = [...k.gemm].sort((a, b) => (b.gflops ?? 0) - (a.gflops ?? 0))[0];
    L.push(`Kernels (${k.timing}): ceilings ${rate(k.ceilings.bandwidthGBps)} GB/s, ${rate(k.ceilings.flopsGFlops)} GFLOP/s; ` +
      `${big ? `best large GEMV ${big.shape} ${big.fmt} ${rate(big.gbps)} GB/s (${f(big.pctBandwidth, 0)} %); ` : ''}` +
      `${g ? `best GEMM ${g.shape} ${g.fmt} ${rate(g.gflops)} GFLOP/s (${f(g.pctFlops, 0)} %); ` : ''}` +
      `${k.dispatchesPerForward ? `${k.dispatchesPerForward.ar} dispatches per AR forward, ${k.dispatchesPerForward.tree69} per tree forward.` : ''}`);
  }
  return L.join('\n') + '\n';
}
