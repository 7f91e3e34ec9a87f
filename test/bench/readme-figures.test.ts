// Every figure of the README comes from a file in the repo that a script regenerates: these tests
// re-render the generated parts from the saved files and fail when the README (or the saved file
// itself) says something else.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { latestRuns, performanceSummaries, range, readmeFigures, renderRunTimes, replaceRunTimes } from '../../bench/figures.ts';
import { latestCostRuns, renderCostTable, replaceCostTable } from '../../bench/cost-report.ts';
import { fitsAt, PAPER_MODELS_FILE, planPaperModels, renderPaperModels, replacePaperModels, type PaperModelPlan } from '../../bench/paper-models.ts';
import { MAT_HELDOUT_FILE, MAT_SAMPLED_FILE, MAX_NEW_TOKENS, matOf, PROMPTS, renderMatTable, replaceMatTable, SAMPLING_ARGS, sampledSentence, type MatHeldout } from '../../bench/mat-heldout.ts';

const root = join(import.meta.dirname, '..', '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const benchReadme = readFileSync(join(root, 'bench/README.md'), 'utf8');
/** README text with line breaks as spaces (figures may wrap). */
const flat = (text: string) => text.replace(/\s*\n\s*/g, ' ');

describe('README held-out MAT table (bench/mat-heldout.ts)', () => {
  const data = JSON.parse(readFileSync(join(root, MAT_HELDOUT_FILE), 'utf8')) as MatHeldout;

  it('is the table rendered from bench/results/mat-heldout.json', () => {
    expect(readme).toContain(renderMatTable(data));
    expect(replaceMatTable(readme, data)).toBe(readme);
  });

  it('the saved file holds the runs the README describes, each lossless', () => {
    const held = readFileSync(join(root, 'train/data/test_prompts.jsonl'), 'utf8').split('\n').filter(Boolean).slice(0, PROMPTS).map((l) => JSON.parse(l) as { id: number; prompt: string });
    expect(data.prompts.map((p) => [p.id, p.prompt])).toEqual(held.map((h) => [h.id, h.prompt]));
    expect(data.commands.fixed).toEqual(['--prompt', '$P', '--max-new-tokens', String(MAX_NEW_TOKENS), '--decode', 'tr-jacobi', '--tree', 'fixed', '--json']);
    for (const p of data.prompts) {
      expect(p.ar).toMatchObject({ decode: 'ar', steps: p.ar.newTokens, newTokens: p.ar.tokenIds.length });
      expect(p.fixed).toMatchObject({ decode: 'tr-jacobi', tree: 'fixed', newTokens: p.fixed.tokenIds.length });
      expect(p.fixed.tokenIds).toEqual(p.ar.tokenIds);
      expect(p.identical).toBe(true);
      expect(p.fixed.meanAcceptedTokens).toBeCloseTo(p.fixed.newTokens / p.fixed.steps, 10);
      expect(p.fixed.newTokens).toBeLessThanOrEqual(MAX_NEW_TOKENS);
    }
  });

  it('a changed figure in the saved file changes the rendered table', () => {
    const bumped = structuredClone(data);
    bumped.prompts[0].fixed.steps += 1;
    expect(renderMatTable(bumped)).not.toBe(renderMatTable(data));
    expect(readme).not.toContain(renderMatTable(bumped));
  });
});

describe('README sampled MAT (bench/mat-heldout.ts --sampled)', () => {
  it('the "Cost" sentence is what bench/results/mat-heldout-sampled.json holds, every run lossless', () => {
    const data = JSON.parse(readFileSync(join(root, MAT_SAMPLED_FILE), 'utf8')) as MatHeldout;
    const greedy = JSON.parse(readFileSync(join(root, MAT_HELDOUT_FILE), 'utf8')) as MatHeldout;
    expect(data.sampling).toEqual(SAMPLING_ARGS);
    expect(data.commands.fixed).toEqual(['--prompt', '$P', '--max-new-tokens', String(MAX_NEW_TOKENS), '--decode', 'tr-jacobi', '--tree', 'fixed', '--json', ...SAMPLING_ARGS]);
    expect(data.prompts.map((p) => p.prompt)).toEqual(greedy.prompts.map((p) => p.prompt));
    for (const p of data.prompts) {
      expect(p.fixed.tokenIds).toEqual(p.ar.tokenIds);
      expect(p.identical).toBe(true);
      expect(p.fixed.seed).toBe(7);
    }
    const text = flat(readme);
    expect(text).toContain(`\`${SAMPLING_ARGS.join(' ')}\`: ${sampledSentence(data)} (greedy: ${matOf(greedy).toFixed(2)})`);
  });
});

describe('README figures from the saved benchmark results (bench/figures.ts)', () => {
  const latest = latestRuns();
  const heldout = JSON.parse(readFileSync(join(root, MAT_HELDOUT_FILE), 'utf8')) as MatHeldout;

  it('the Performance tables are what bench/summary.ts renders from the latest run of each adapter', () => {
    expect([...latest.keys()].sort()).toEqual(['lavapipe', 'swiftshader-chromium']);
    for (const block of performanceSummaries(latest)) expect(readme).toContain(block.trim());
  });

  it('every figure quoted in the prose is the one computed from the saved files', () => {
    const figures = readmeFigures(latest, heldout);
    expect(figures.length).toBeGreaterThan(10);
    for (const f of figures) expect(flat(f.readme === 'README.md' ? readme : benchReadme), `${f.readme}: ${f.text} (from ${f.source})`).toContain(f.text);
  });

  it('bench/README.md run times are the saved wall times and the plan estimates', () => {
    expect(benchReadme).toContain(renderRunTimes(latest));
    expect(replaceRunTimes(benchReadme, latest)).toBe(benchReadme);
  });

  it('figures follow the files: ranges are min-max as printed, and a changed result changes the text', () => {
    expect(range([0.819, 0.981, 0.95, 0.926, 0.737, 0.818], 2)).toBe('0.74-0.98');
    expect(range([66, 66.4], 0)).toBe('66');
    const before = readmeFigures(latest, heldout).map((f) => f.text);
    const changed = new Map([...latest].map(([k, v]) => [k, structuredClone(v)]));
    const adaptive = changed.get('lavapipe')!.r.models[0].decode.suites.all.find((m) => m.mode === 'tr-jacobi-adaptive')!;
    adaptive.speedupPerRep = [1.2, 0.5, 0.9];
    const after = readmeFigures(changed, heldout).map((f) => f.text);
    expect(after.filter((t, i) => t !== before[i]).length).toBeGreaterThan(0);
    expect(after.some((t) => t.includes('0.50-1.20x (lavapipe)'))).toBe(true);
  });
});

describe('README cost-curve and traffic table (bench/cost-report.ts)', () => {
  const runs = latestCostRuns();

  it('is the table rendered from the latest saved cost runs', () => {
    expect(readme).toContain(renderCostTable(runs));
    expect(replaceCostTable(readme, renderCostTable(runs))).toBe(readme);
  });

  it('the runs cover both CPU adapters, before and after, both configurations, the default and a real-shaped model', () => {
    const keys = new Set(runs.map(({ r }) => `${r.adapter.description.includes('SwiftShader') || r.runtime === 'chromium' ? 'swiftshader' : 'lavapipe'}|${r.label ?? 'after'}`));
    expect([...keys].sort()).toEqual(['lavapipe|after', 'lavapipe|before', 'swiftshader|after', 'swiftshader|before']);
    for (const { r } of runs) {
      expect(new Set(r.curves.map((c) => `${c.model}|${c.preset}`)).size).toBe(4);
      expect(r.curves.map((c) => c.model)).toContain('smollm2-135m-4l');
      for (const c of r.curves) expect(c.curve.map((p) => p.T)).toEqual([1, 2, 4, 8, 16, 32, 69, 128]);
    }
  });

  it("this commit's traffic at T = 69 meets issue 11's targets; the saved before-run had no traffic model", () => {
    for (const { r } of runs.filter(({ r }) => r.label === null)) {
      const t69 = r.traffic.find((t) => t.T === 69)!;
      expect(t69.weightFetchRatio).toBeLessThanOrEqual(3);
      expect(t69.kvFetchRatio).toBeLessThanOrEqual(Math.ceil((69 * 2) / 16)); // the default model: G = 2
    }
    for (const { r } of runs.filter(({ r }) => r.label === 'before')) expect(r.traffic.every((t) => t.weightFetchRatio === null)).toBe(true);
  });

  it('a changed figure in a saved run changes the table', () => {
    const bumped = structuredClone(runs);
    bumped[0].r.curves[0].curve[1].ratio += 1;
    expect(renderCostTable(bumped)).not.toBe(renderCostTable(runs));
  });
});

describe("README table of the paper's MSN models (bench/paper-models.ts)", () => {
  const saved = JSON.parse(readFileSync(join(root, PAPER_MODELS_FILE), 'utf8')) as { plans: PaperModelPlan[] };

  it('the saved plans are what the memory plan computes today', () => {
    expect(planPaperModels()).toEqual(saved.plans);
  });

  it('is the table rendered from bench/results/paper-models-plan.json', () => {
    expect(readme).toContain(renderPaperModels(saved.plans));
    expect(replacePaperModels(readme, saved.plans)).toBe(readme);
  });

  it('its contexts are the largest that fit: one more token exceeds the budget', () => {
    for (const p of saved.plans) {
      for (const c of p.contextFits) {
        if (c.contextLength === null || c.contextLength === p.maxPositionEmbeddings) continue;
        const budget = c.gib * 2 ** 30;
        expect(fitsAt(p.config, c.contextLength, budget)).toBe(true);
        expect(fitsAt(p.config, c.contextLength + 1, budget)).toBe(false);
      }
    }
  });
});

describe('README second-turn TTFT (bench/kv-reuse.ts)', () => {
  const saved = JSON.parse(readFileSync(join(root, 'bench/results/kv-reuse-lavapipe.json'), 'utf8')) as { reps: number; secondTurnPromptTokens: number; cachedPromptTokens: number; ttftMs: { cold: number; reused: number } };

  it('states the saved medians, token counts and repetitions', () => {
    const text = flat(readme);
    expect(text).toContain(`${saved.secondTurnPromptTokens}-token second turn of which ${saved.cachedPromptTokens} were cached; median of ${saved.reps}`);
    expect(text).toContain(`cold **${Math.round(saved.ttftMs.cold)} ms**, reused **${Math.round(saved.ttftMs.reused)} ms**`);
  });
});

describe('README "Versus other browser runtimes" (bench/peers-readme.ts)', () => {
  it('is the block rendered from the newest saved peers run, every runtime that ran agreeing or its mismatch named', async () => {
    const { latestPeersFile } = await import('../../bench/peers-readme.ts');
    const { renderPeersReadme, replacePeersReadme } = await import('../../bench/peers-report.ts');
    const file = latestPeersFile();
    const data = JSON.parse(readFileSync(join(root, file), 'utf8')) as import('../../bench/peers-report.ts').PeersResults;
    const block = renderPeersReadme(data, file);
    expect(readme).toContain(block);
    expect(replacePeersReadme(readme, block)).toBe(readme);
    expect(readme).toContain('WebLLM is a paper anchor only');
    // the run compared our ar with transformers.js WebGPU on the same adapter
    const names = data.summary.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['ours ar', 'transformers.js webgpu', 'transformers.js wasm']));
    for (const s of data.summary) if (s.ok) expect(s.agreement.length).toBe(data.prompts.length);
  });
});
