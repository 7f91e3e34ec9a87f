// The quantized-weights figures (issue 12, item 8) come from saved files that scripts regenerate: these
// tests re-render the README block and the model card's section from the saved files, check that the
// saved runs are what the README says (lossless, quantized as named), and that the model card's manifest
// entry matches the card.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { latestRuns } from '../../bench/figures.ts';
import { cliArgs, MAT_HELDOUT_FILE, matHeldoutFile, matOf, MAX_NEW_TOKENS, PROMPTS } from '../../bench/mat-heldout.ts';
import { CARD, CARD_BEGIN, CARD_END, loadSaved, README_BEGIN, README_END, renderCardSection, renderQuantReadme, replaceBlock, VARIANTS } from '../../bench/quant-report.ts';

const root = join(import.meta.dirname, '..', '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const card = readFileSync(join(root, CARD), 'utf8');
const saved = loadSaved(root);

describe('README "Quantized weights: quality and speed" (bench/quant-report.ts)', () => {
  it('is the block rendered from the saved files, and the card section likewise', () => {
    expect(readme).toContain(renderQuantReadme(saved));
    expect(replaceBlock(readme, README_BEGIN, README_END, renderQuantReadme(saved))).toBe(readme);
    expect(card).toContain(renderCardSection(saved.quality));
    expect(replaceBlock(card, CARD_BEGIN, CARD_END, renderCardSection(saved.quality))).toBe(card);
  });

  it('the block comes after the held-out MAT table', () => {
    expect(readme.indexOf(README_BEGIN)).toBeGreaterThan(readme.indexOf('<!-- mat-heldout:end -->'));
  });

  it('a changed figure in a saved file changes the rendered text', () => {
    const bumped = structuredClone(saved);
    bumped.quality.variants.q4.heldout_loss.value += 0.5;
    expect(renderQuantReadme(bumped)).not.toBe(renderQuantReadme(saved));
    expect(renderCardSection(bumped.quality)).not.toBe(renderCardSection(saved.quality));
    const slower = structuredClone(saved);
    slower.mats.q4.prompts[0].fixed.steps += 1;
    expect(renderQuantReadme(slower)).not.toBe(renderQuantReadme(saved));
  });

  it("the model card's manifest entry is the card's size and sha256", () => {
    const manifest = JSON.parse(readFileSync(join(root, 'public/models/msn-code-tiny/manifest.json'), 'utf8')) as { files: Array<{ path: string; size: number; sha256: string }> };
    const entry = manifest.files.find((f) => f.path === 'README.md')!;
    const bytes = readFileSync(join(root, CARD));
    expect(entry).toEqual({ path: 'README.md', size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
  });
});

describe('saved quantized-weights results', () => {
  it('quality: f16 equals the card (same weights and loss definition); q8 and q4 quantize every Linear and the embedding', () => {
    const q = saved.quality;
    const card = JSON.parse(readFileSync(join(root, 'public/models/msn-code-tiny/training_metrics.json'), 'utf8')) as Record<string, unknown>;
    expect(q.heldout_pairs_source).toBe(card.heldout_pairs_source);
    expect(q.heldout_pairs).toBe(card.heldout_pairs);
    expect(q.variants.f16.heldout_loss.value).toBe(card.heldout_loss_msn);
    expect(q.variants.f16.quantized_weights).toEqual([]);
    for (const v of ['q8', 'q4'] as const) {
      const names = q.variants[v].quantized_weights;
      expect(names).toHaveLength(1 + 6 * 7); // the tied embedding + 6 layers × (q, k, v, o, gate, up, down)
      expect(names[0]).toBe('model.embed_tokens');
      expect(q.variants[v].greedy_identical_to_f16).toBeLessThanOrEqual(q.decode_prompts);
    }
    // q4 is the coarser grid: its loss moves further from f16 than q8's
    expect(Math.abs(q.variants.q4.heldout_loss_rel_vs_f16!.value)).toBeGreaterThan(Math.abs(q.variants.q8.heldout_loss_rel_vs_f16!.value));
  });

  it('runtime MAT: the quantized runs are the README runs with --quantize, each lossless', () => {
    for (const qz of ['q8', 'q4'] as const) {
      const m = saved.mats[qz];
      expect(m.quantize).toBe(qz);
      expect(m.commands.fixed).toEqual([...cliArgs('$P', 'fixed'), '--quantize', qz]);
      expect(m.prompts.map((p) => p.id)).toEqual(saved.mats.none.prompts.map((p) => p.id));
      expect(m.prompts).toHaveLength(PROMPTS);
      for (const p of m.prompts) {
        expect(p.fixed.tokenIds).toEqual(p.ar.tokenIds);
        expect(p.identical).toBe(true);
        expect(p.fixed.weightFormats).toEqual([`${qz}g32`]);
        expect(p.fixed.newTokens).toBeLessThanOrEqual(MAX_NEW_TOKENS);
      }
      expect(matOf(m)).toBeGreaterThan(1);
    }
  });

  it('speed: one run per variant, quantized as named, lossless, load time measured', () => {
    expect(saved.speed.length).toBeGreaterThan(0);
    for (const { r } of saved.speed) {
      for (const q of VARIANTS) {
        const run = r.runs[q];
        expect(run.quantize).toBe(q);
        expect(run.mismatches).toBe(0);
        expect(run.models[0].decode.info.weightFormats).toEqual([q === 'none' ? 'f16' : `${q}g32`]);
        expect(run.models[0].loadMs).toBeGreaterThan(0);
        expect(run.models[0].decode.suites.all.map((x) => x.mode)).toEqual(['ar', 'tr-jacobi-fixed', 'tr-jacobi-adaptive']);
      }
      // q4 holds the weights in about a quarter of f16's bytes (plus scales and zero points)
      expect(r.runs.q4.models[0].decode.info.memory.weightsBytes).toBeLessThan(0.5 * r.runs.none.models[0].decode.info.memory.weightsBytes);
    }
  });
});

describe('quantized runs beside the unquantized ones', () => {
  it("mat-heldout: --quantize appends to the CLI arguments and names its own file; none keeps the README's", () => {
    expect(cliArgs('$P', 'ar')).toEqual(['--prompt', '$P', '--max-new-tokens', String(MAX_NEW_TOKENS), '--decode', 'ar', '--json']);
    expect(cliArgs('$P', 'ar', 'q4')).toEqual([...cliArgs('$P', 'ar'), '--quantize', 'q4']);
    expect(matHeldoutFile('none')).toBe(MAT_HELDOUT_FILE);
    expect(matHeldoutFile('q8')).toBe('bench/results/mat-heldout-q8.json');
  });

  it("bench/figures.ts's latest runs leave quantized bench runs out", () => {
    const dir = mkdtempSync(join(tmpdir(), 'msn-quant-test-'));
    try {
      const run = (quantize: string | undefined, wallMs: number) => ({ schema: 1, adapterSlug: 'lavapipe', kernelConfig: { choice: 'auto' }, ...(quantize ? { quantize } : {}), wallMs });
      writeFileSync(join(dir, '2026-01-01-lavapipe.json'), JSON.stringify(run(undefined, 1)));
      writeFileSync(join(dir, '2026-01-02-lavapipe-q4.json'), JSON.stringify(run('q4', 2)));
      writeFileSync(join(dir, '2026-01-02-quant-lavapipe.json'), JSON.stringify({ schema: 1, kind: 'quant-bench', adapterName: 'lavapipe' }));
      expect(latestRuns(dir).get('lavapipe')!.r.wallMs).toBe(1);
      writeFileSync(join(dir, '2026-01-03-lavapipe.json'), JSON.stringify(run('none', 3)));
      expect(latestRuns(dir).get('lavapipe')!.r.wallMs).toBe(3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
