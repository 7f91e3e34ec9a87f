/**
 * Rewrites the README's "Versus other browser runtimes" figures from the newest saved peers run
 * (bench/results/*-peers-*.json, or the file given):  npx tsx bench/peers-readme.ts [file]
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { renderPeersReadme, replacePeersReadme, type PeersResults } from './peers-report.ts';

const root = join(import.meta.dirname, '..');

/** The newest bench/results/<date>-peers-*.json (repository path). @throws Error when there is none. */
export function latestPeersFile(): string {
  const files = readdirSync(join(root, 'bench', 'results')).filter((f) => /^\d{4}-\d{2}-\d{2}-peers-.*\.json$/.test(f)).sort();
  if (!files.length) throw new Error('no bench/results/*-peers-*.json');
  return `bench/results/${files[files.length - 1]}`;
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const file = process.argv[2] ? relative(root, process.argv[2]) : latestPeersFile();
  const r = JSON.parse(readFileSync(join(root, file), 'utf8')) as PeersResults;
  const readme = join(root, 'README.md');
  writeFileSync(readme, replacePeersReadme(readFileSync(readme, 'utf8'), renderPeersReadme(r, file)));
  console.log(`README.md: peers figures from ${file}`);
}
