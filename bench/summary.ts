/**
 * Prints the README Performance summary of the latest results per adapter in bench/results/;
 * with --render, first rewrites every results Markdown file from its JSON (after report changes):
 *   npx tsx bench/summary.ts [--render]
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderMarkdown, renderSummary } from './report.js';
import type { BenchResults } from './run.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
const latest = new Map<string, { file: string; r: BenchResults }>();
for (const file of readdirSync(dir).filter((f) => /^\d{4}-\d\d-\d\d-.+\.json$/.test(f)).sort()) {
  const r = JSON.parse(readFileSync(join(dir, file), 'utf8')) as BenchResults;
  if (process.argv.includes('--render')) writeFileSync(join(dir, file.replace(/\.json$/, '.md')), renderMarkdown(r));
  latest.set(r.adapterSlug, { file, r });
}
for (const { file, r } of latest.values()) console.log(renderSummary(r, `bench/results/${file.replace(/\.json$/, '.md')}`));
