/**
 * Prints the README Performance summary of the latest results per adapter in bench/results/;
 * with --render, first rewrites every results Markdown file from its JSON (after report changes):
 *   npx tsx bench/summary.ts [--render]
 * (test/bench/readme-figures.test.ts checks that the README contains exactly these blocks.)
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchRuns, latestRuns, performanceSummaries } from './figures.js';
import { renderMarkdown } from './report.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
if (process.argv.includes('--render')) {
  for (const { file, r } of benchRuns(dir)) writeFileSync(join(dir, file.replace(/\.json$/, '.md')), renderMarkdown(r));
}
for (const block of performanceSummaries(latestRuns(dir))) console.log(block);
