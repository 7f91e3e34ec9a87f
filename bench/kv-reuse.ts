/**
 * Second-turn time to first token, cold vs reused KV prefix (issue 13, item 5), on the default model
 * in Node (Dawn; lavapipe on a machine without a GPU):
 *   node bench/build.mjs && node dist-node/bench/kv-reuse.mjs [--reps 5] [--out bench/results/kv-reuse-lavapipe.json]
 * Turn 1 is a code prompt; turn 2 is turn 1 + its output + a new line of code, as a chat client sends
 * it. `reused`: turn 2 right after turn 1 on the same engine (the committed rows are kept);
 * `cold`: turn 2 after `clearKvCache()` (the whole prompt is prefilled). Both give the same tokens
 * (checked). Medians over `reps` alternating runs; times in ms, as `GenerationResult.ttftMs`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createNodeEngine } from '../src/engine/node.js';
import { defaultModelPath } from '../src/cli/generate.js';

const { values } = parseArgs({ options: { reps: { type: 'string', default: '5' }, out: { type: 'string', default: 'bench/results/kv-reuse-lavapipe.json' } } });
const reps = Number(values.reps);
const root = process.cwd(); // the repository root (run from there)
const model = defaultModelPath();
const TURN1 = [
  'import math',
  'from dataclasses import dataclass',
  '',
  '',
  '@dataclass',
  'class Point:',
  '    x: float',
  '    y: float',
  '',
  '    def norm(self) -> float:',
  '        return math.sqrt(self.x * self.x + self.y * self.y)',
  '',
  '    def add(self, other: "Point") -> "Point":',
  '        return Point(self.x + other.x, self.y + other.y)',
  '',
  '    def scale(self, k: float) -> "Point":',
  '        return Point(self.x * k, self.y * k)',
  '',
  '',
  'def centroid(points: list[Point]) -> Point:',
  '    n = len(points)',
  '    sx = sum(p.x for p in points)',
  '    sy = sum(p.y for p in points)',
  '    return Point(sx / n, sy / n)',
  '',
  '',
  'def farthest(points: list[Point], origin: Point) -> Point:',
  '',
].join('\n');
const opts = { maxNewTokens: 32, decode: 'tr-jacobi' as const, tree: 'fixed' as const };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const engine = await createNodeEngine({ model });
try {
  const cold: number[] = [];
  const reused: number[] = [];
  let prompt2 = '';
  let tokens: number[] | null = null;
  let promptTokens = 0;
  let cachedPromptTokens = 0;
  for (let r = 0; r < reps; r++) {
    engine.clearKvCache();
    const t1 = await engine.complete(TURN1, opts);
    prompt2 = `${TURN1}${t1.text}\n\ndef main() -> None:\n`;
    const warm = await engine.complete(prompt2, opts);
    engine.clearKvCache();
    const fresh = await engine.complete(prompt2, opts);
    if (JSON.stringify(warm.tokenIds) !== JSON.stringify(fresh.tokenIds)) throw new Error('reused and cold second turns differ');
    if (tokens && JSON.stringify(tokens) !== JSON.stringify(fresh.tokenIds)) throw new Error('runs differ');
    tokens = fresh.tokenIds;
    reused.push(warm.ttftMs);
    cold.push(fresh.ttftMs);
    promptTokens = warm.promptTokens;
    cachedPromptTokens = warm.cachedPromptTokens;
  }
  const result = {
    what: 'second-turn time to first token (ms), cold vs reused KV prefix',
    date: new Date().toISOString().slice(0, 10),
    model: 'msn-code-tiny',
    adapter: engine.info.adapter,
    decode: `${opts.decode} (${opts.tree} tree)`,
    reps,
    secondTurnPromptTokens: promptTokens,
    cachedPromptTokens,
    ttftMs: { cold: median(cold), reused: median(reused), coldRuns: cold, reusedRuns: reused },
    sameTokens: true,
  };
  writeFileSync(join(root, values.out!), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result.ttftMs), `prompt ${promptTokens} tokens, ${cachedPromptTokens} cached`);
} finally {
  await engine.dispose();
}
