// Every figure of the README comes from a file in the repo that a script regenerates: these tests
// re-render the generated parts from the saved files and fail when the README (or the saved file
// itself) says something else.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAT_HELDOUT_FILE, MAX_NEW_TOKENS, PROMPTS, renderMatTable, replaceMatTable, type MatHeldout } from '../../bench/mat-heldout.ts';

const root = join(import.meta.dirname, '..', '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

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
