/**
 * Every figure that README.md and bench/README.md quote from the saved benchmark results, computed
 * from the files in bench/results/ (the latest run per adapter, and mat-heldout.json), so that each
 * one traces to a file and this script:
 *
 *   npx tsx bench/figures.ts            # print every figure with its source
 *   npx tsx bench/figures.ts --render   # rewrite bench/README.md's run-time table from the results
 *
 * test/bench/readme-figures.test.ts fails when a README says something else. Ranges are min-max over
 * the named values, rounded as printed; "per repetition" values are the `speedupPerRep` of the
 * suite "all" (speed-up over `ar` in the same repetition).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromiumPlan, estimateSeconds, PLANS } from './plan.js';
import { renderSummary } from './report.js';
import type { BenchResults } from './run.js';
import type { MatHeldout } from './mat-heldout.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = 'bench/results';

/** A saved benchmark run: its file (repo-relative) and contents. */
export interface SavedRun {
  file: string;
  r: BenchResults;
}

/**
 * The saved benchmark runs in `dir` (`<date>-<adapter>.json` written by bench/run.ts), by file
 * name in date order. Other dated results there (e.g. the self-check cost, bench/selfcheck.ts) are
 * not benchmark runs and are left out: a run has `schema` and `adapterSlug`.
 */
export function benchRuns(dir = join(root, RESULTS)): Array<{ file: string; r: BenchResults }> {
  return readdirSync(dir).filter((f) => /^\d{4}-\d\d-\d\d-.+\.json$/.test(f)).sort()
    .map((file) => ({ file, r: JSON.parse(readFileSync(join(dir, file), 'utf8')) as BenchResults }))
    .filter(({ r }) => typeof r.schema === 'number' && typeof r.adapterSlug === 'string');
}

/**
 * The latest `<date>-<adapter>.json` of each adapter in bench/results/, by adapter slug: runs in the
 * adapter's own kernel configuration (`--kernel-config auto`, or written before it was recorded) with
 * the folder's weights, not the forced `<date>-<adapter>-kernels-<choice>.json` ones nor the
 * quantized `<date>-<adapter>-q4.json` ones (bench/quant-report.ts reads those).
 */
export function latestRuns(dir = join(root, RESULTS)): Map<string, SavedRun> {
  const latest = new Map<string, SavedRun>();
  for (const { file, r } of benchRuns(dir)) if ((r.kernelConfig?.choice ?? 'auto') === 'auto' && (r.quantize ?? 'none') === 'none') latest.set(r.adapterSlug, { file: `${RESULTS}/${file}`, r });
  return latest;
}

/** The README Performance blocks (tables and kernel line), one per adapter: what bench/summary.ts prints. */
export function performanceSummaries(latest: Map<string, SavedRun>): string[] {
  return [...latest.values()].map(({ file, r }) => renderSummary(r, file.replace(/\.json$/, '.md')));
}

/** One quoted figure: the exact text a README contains, and where its numbers come from. */
export interface Figure {
  readme: 'README.md' | 'bench/README.md';
  text: string;
  source: string;
}

/** "a-b" with `digits` decimals (one value when both ends print alike). */
export function range(xs: number[], digits: number): string {
  const lo = Math.min(...xs).toFixed(digits);
  const hi = Math.max(...xs).toFixed(digits);
  return lo === hi ? lo : `${lo}-${hi}`;
}

function run(latest: Map<string, SavedRun>, slug: string): SavedRun {
  const s = latest.get(slug);
  if (!s) throw new Error(`bench/results has no ${slug} run`);
  return s;
}
const all = (m: BenchResults['models'][number]) => m.decode.suites.all ?? Object.values(m.decode.suites)[0];
const mode = (m: BenchResults['models'][number], name: string) => {
  const row = all(m).find((x) => x.mode === name);
  if (!row) throw new Error(`no ${name} row for ${m.model.id}`);
  return row;
};
const msn = (r: BenchResults) => r.models.find((m) => m.model.kind === 'msn') ?? r.models[0];
const costs = (m: BenchResults['models'][number]) => {
  const c = m.decode.adaptive?.cost;
  if (!c) throw new Error(`no probed cost table for ${m.model.id}`);
  const at = (T: number) => c.ms[c.sizes.indexOf(T)];
  return { c1: at(1), c4: at(4), c69: at(69) };
};

/**
 * Every figure the READMEs quote from the saved results (latest lavapipe and SwiftShader runs, and
 * the held-out MAT file). Throws when a needed result is missing.
 */
export function readmeFigures(latest: Map<string, SavedRun>, heldout: MatHeldout): Figure[] {
  const lava = run(latest, 'lavapipe');
  const swift = run(latest, 'swiftshader-chromium');
  const both = `${lava.file}, ${swift.file}`;
  const runs = [lava.r, swift.r];
  const models = runs.flatMap((r) => r.models);
  const perRep = (r: BenchResults, name: string) => r.models.flatMap((m) => mode(m, name).speedupPerRep);
  const fixedAll = range(runs.flatMap((r) => perRep(r, 'tr-jacobi-fixed')), 2);
  const adaptiveLava = range(perRep(lava.r, 'tr-jacobi-adaptive'), 2);
  const adaptiveSwift = range(perRep(swift.r, 'tr-jacobi-adaptive'), 2);
  const ratio = range(models.map((m) => costs(m).c69 / costs(m).c1), 0);
  const lavaCosts = lava.r.models.map(costs);
  const swiftCosts = swift.r.models.map(costs);
  const tokens = heldout.prompts.reduce((s, p) => s + p.fixed.newTokens, 0);
  const steps = heldout.prompts.reduce((s, p) => s + p.fixed.steps, 0);
  const rep = (r: BenchResults) => {
    const shares: number[] = [];
    for (const m of r.models) {
      const bySuite = new Map<string, number[]>();
      for (const p of m.decode.prompts) bySuite.set(p.suite, [...(bySuite.get(p.suite) ?? []), p.repeat4]);
      for (const xs of bySuite.values()) shares.push((100 * xs.reduce((a, b) => a + b, 0)) / xs.length);
    }
    return range(shares, 0);
  };
  const lavaMsn = msn(lava.r);
  const adaptive = mode(lavaMsn, 'tr-jacobi-adaptive');
  const chosen = lavaMsn.decode.adaptive?.chosenSizes ?? {};
  const trees = Object.keys(chosen).map(Number).filter((s) => s > 1);
  const arTps = lava.r.models.map((m) => mode(m, 'ar').tokensPerSecond);
  const k = lava.r.kernels!;
  const ks = swift.r.kernels!;
  const gemvLava = k.gemv;
  const treeFwd = k.forward.find((f) => f.T === 69);
  const attnTree = k.attention.find((a) => a.kernel === 'attention model T 69 (tree)');
  const hostRows = runs.flatMap((r) => (r.host ?? []).filter((h) => h.mode === 'tr-jacobi-fixed').map((h) => h.msPerStep));
  const swiftC4 = swiftCosts.map((c) => c.c4 / c.c1);
  const f: Figure[] = [
    { readme: 'README.md', source: `${both} (fixed-tree MAT of the MSN model), ${'bench/results/mat-heldout.json'}`,
      text: `the fixed tree accepts ${range(runs.map((r) => mode(msn(r), 'tr-jacobi-fixed').mat), 2)} tokens per step in the benchmark's ${lava.r.plan.maxNewTokens}-token runs and ${(tokens / steps).toFixed(2)} over ${heldout.commands.fixed[3]}-token held-out completions` },
    { readme: 'README.md', source: `${both}: tr-jacobi-adaptive and tr-jacobi-fixed speedupPerRep`,
      text: `${adaptiveLava}x (lavapipe) and ${adaptiveSwift}x (SwiftShader) of AR over the repetitions of the saved benchmark runs, where the fixed tree runs at ${fixedAll}x` },
    { readme: 'README.md', source: `${both}: kernels.ceilings.flopsGFlops`,
      text: `at ${range(runs.map((r) => r.kernels!.ceilings.flopsGFlops), 1)} GFLOP/s` },
    { readme: 'README.md', source: `${both}: machine.loadAvgAtStart[0]`,
      text: `load average ${range(runs.map((r) => r.machine.loadAvgAtStart[0]), 1)} at the start of the runs` },
    { readme: 'README.md', source: `${both}: decode.adaptive.cost (probed c(T), ms)`,
      text: `about as much as ${ratio} single-token forwards (probes: lavapipe c(1) ≈ ${range(lavaCosts.map((c) => c.c1), 0)} ms, c(69) ≈ ${range(lavaCosts.map((c) => c.c69), 0)} ms; SwiftShader ${range(swiftCosts.map((c) => c.c1), 0)} and ${range(swiftCosts.map((c) => c.c69), 0)} ms)` },
    { readme: 'README.md', source: `${both}: decode.prompts[].repeat4, averaged per suite`,
      text: `${rep(lava.r)} % of new tokens repeat a 4-gram on the lavapipe prompts, ${rep(swift.r)} % on the two Chromium prompts` },
    { readme: 'README.md', source: `${both}: c(69)/c(1) and tr-jacobi-fixed speedupPerRep`,
      text: `a 69-row forward costs about ${ratio} single-row forwards there, so even at MAT about 2 it runs at ${fixedAll}x of \`ar\`` },
    { readme: 'README.md', source: `${both}: tr-jacobi-adaptive speedupPerRep`,
      text: `across the repetitions of these runs it ranged over ${adaptiveLava}x on lavapipe and ${adaptiveSwift}x on SwiftShader` },
    { readme: 'README.md', source: `${lava.file}: ar tokensPerSecond of both models`,
      text: `\`ar\` itself differs by ${Math.round(100 * (Math.max(...arTps) / Math.min(...arTps) - 1))} % between the two identically sized models of the same run (${Math.min(...arTps).toFixed(1)} vs ${Math.max(...arTps).toFixed(1)} tok/s)` },
    { readme: 'README.md', source: `${lava.file}: decode.adaptive.chosenSizes and steps of ${lavaMsn.model.id}`,
      text: `AR with occasional ${range(trees, 0)}-row trees (MSN on lavapipe: AR for ${chosen['1'] ?? 0} of ${adaptive.steps} steps)` },
    { readme: 'README.md', source: `${both}: hostMsPerStep of every mode (suite all)`,
      text: `is ${range(models.flatMap((m) => all(m).map((x) => x.hostMsPerStep)), 2)} ms in the real runs` },
    { readme: 'README.md', source: `${both}: host[] rows of tr-jacobi-fixed`,
      text: `about ${range(hostRows, 2)} ms for a 69-node tree step` },
    { readme: 'README.md', source: `${lava.file}: kernels.gemv, kernels.gemm, kernels.attention, kernels.forward`,
      text: `on lavapipe the GEMV runs at ${range(gemvLava.map((g) => g.gbps ?? 0), 1)} GB/s (${range(gemvLava.map((g) => g.pctBandwidth ?? 0), 0)} % of the buffer-copy ceiling; it is compute-bound there at ${range(gemvLava.map((g) => g.gflops ?? 0), 1)} GFLOP/s) and the tiled matmul at ${range(k.gemm.map((g) => g.gflops ?? 0), 1)} GFLOP/s, but tree attention (T = 69, 256 cached rows) runs at ${(attnTree?.gflops ?? 0).toFixed(2)} GFLOP/s and is ${Math.round(treeFwd?.byKernel?.find((b) => b.kernel === 'attention')?.pct ?? 0)} % of a tree forward` },
    { readme: 'README.md', source: `${swift.file}: kernels.gemv, decode.adaptive.cost`,
      text: `On SwiftShader the GEMV runs at ${range(ks.gemv.map((g) => g.gbps ?? 0), 2)} GB/s (${range(ks.gemv.map((g) => g.pctBandwidth ?? 0), 0)} % of its copy bandwidth), so forwards of a few rows cost little more than one row (c(4) ≈ ${range(swiftC4, 2)} c(1) in the probe)` },
  ];
  return f;
}

/** bench/README.md's run-time table: measured wall times of the saved runs, else the plan estimate. */
export function renderRunTimes(latest: Map<string, SavedRun>): string {
  const lava = run(latest, 'lavapipe');
  const swift = run(latest, 'swiftshader-chromium');
  const min = (s: number) => (s < 90 ? `${Math.round(s)} s` : s < 5400 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(1)} h`);
  const measured = (s: SavedRun, plan: string) => {
    if (s.r.plan.name !== plan) return null;
    const name = s.file.slice(RESULTS.length + 1);
    const only = s.r.models.length === 1 ? `, ${s.r.models[0].model.id} only, ${Object.values(s.r.plan.promptsPerSuite).join(' + ')} prompts` : '';
    return `${min(s.r.wallMs / 1000)} measured ([${name}](results/${name})${only})`;
  };
  const est = (plan: keyof typeof PLANS, cls: 'lavapipe' | 'swiftshader' | 'gpu') => {
    const p = cls === 'swiftshader' ? chromiumPlan(PLANS[plan]) : PLANS[plan];
    const models = p.models === 'twins' ? 2 : 1;
    return `~${min(estimateSeconds(p, cls, models, 150, p.models === 'fixture' ? 0.15 : 1))} (estimate)`;
  };
  const rows = [
    ['`--quick`', 'fixture `tiny-gqa-f32`', '1 code-completion', '16', 'quick'],
    ['standard', 'default MSN + SFT twin', '2 code-completion + 2 code-repetition', '24', 'standard'],
    ['`--full`', 'default MSN + SFT twin', '8 + 8', '64', 'full'],
  ] as const;
  return [
    '<!-- run-times:begin (generated by `npx tsx bench/figures.ts --render` from bench/results/ and bench/plan.ts) -->',
    '| plan | models | prompts | new tokens | runs | lavapipe (Node) | SwiftShader (Chromium) | H200 |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map(([name, models, prompts, tokens, plan]) =>
      `| ${name} | ${models} | ${prompts} | ${tokens} | warm-up + ${PLANS[plan].runs} | ${measured(lava, plan) ?? est(plan, 'lavapipe')} | ${measured(swift, plan) ?? est(plan, 'swiftshader')} | ${est(plan, 'gpu')} |`),
    '<!-- run-times:end -->',
  ].join('\n');
}

/** `text` with the block between the run-times markers replaced; throws without the markers. */
export function replaceRunTimes(text: string, latest: Map<string, SavedRun>): string {
  const a = text.indexOf('<!-- run-times:begin');
  const end = '<!-- run-times:end -->';
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error('bench/README.md has no run-times block');
  return text.slice(0, a) + renderRunTimes(latest) + text.slice(b + end.length);
}

function main(argv: string[]): void {
  const latest = latestRuns();
  const heldout = JSON.parse(readFileSync(join(root, RESULTS, 'mat-heldout.json'), 'utf8')) as MatHeldout;
  if (argv.includes('--render')) {
    const path = join(root, 'bench/README.md');
    writeFileSync(path, replaceRunTimes(readFileSync(path, 'utf8'), latest));
  }
  for (const fig of readmeFigures(latest, heldout)) console.log(`${fig.readme}: ${fig.text}\n    from ${fig.source}`);
  console.log(renderRunTimes(latest));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main(process.argv.slice(2));
