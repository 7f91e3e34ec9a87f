// The peers benchmark's float64 reference forward (bench/peers-reference.ts) against transformers'
// logits saved in the fixture's golden.json (float32 PyTorch; the fixture's weights are float32).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadReference64, top2 } from '../../bench/peers-reference.ts';
import { fixturePath } from '../helpers/fixtures.js';

const dir = fixturePath('tiny-gqa-f32');
const golden = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as { prompt_ids: number[]; prompt_logits: number[][]; greedy_ids: number[]; greedy_logits: number[][] };

describe('loadReference64', () => {
  const ref = loadReference64(dir);

  it('gives transformers\' logits at the last prompt position and after greedy tokens', () => {
    const maxDiff = (a: ArrayLike<number>, b: number[]) => Math.max(...b.map((x, i) => Math.abs(x - a[i])));
    const p = golden.prompt_ids;
    expect(maxDiff(ref.lastLogits(p), golden.prompt_logits[p.length - 1])).toBeLessThan(2e-4);
    const l = ref.lastLogits([...p, golden.greedy_ids[0]]);
    expect(l.length).toBe(301);
    expect(maxDiff(l, golden.greedy_logits[1])).toBeLessThan(2e-4);
    expect(top2(l).top1).toBe(golden.greedy_ids[1]);
  });

  it('refuses a family it does not implement', () => {
    expect(() => loadReference64(fixturePath('tiny-qwen2-bf16'))).toThrow('plain Llama only');
  });
});

describe('top2', () => {
  it('gives the top id and the gap to the runner-up, ties to the first', () => {
    expect(top2([0.5, 2, -1, 1.25])).toEqual({ top1: 1, top2: 3, gap: 0.75 });
    expect(top2([3, 1, 3])).toEqual({ top1: 0, top2: 2, gap: 0 });
  });
});
