/** Run metadata shared by the bench entries: the commit measured and the adapter's file-name slug. */
import { execFileSync } from 'node:child_process';
import type { AdapterSummary } from '../src/gpu/context.js';

/** The commit measured (`MSN_BENCH_COMMIT` overrides), marked when src, shaders, bench or models have uncommitted changes. */
export function gitCommit(root: string): string {
  if (process.env.MSN_BENCH_COMMIT) return process.env.MSN_BENCH_COMMIT;
  try {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'src', 'shaders', 'bench', 'public/models', ':!bench/results'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${head} (+ uncommitted changes in src, shaders, bench or public/models)` : head;
  } catch {
    return 'unknown';
  }
}

/** Short file-name slug of an adapter: lavapipe, swiftshader, nvidia-h200, … */
export function adapterSlug(a: AdapterSummary, runtime: string): string {
  const s = `${a.vendor} ${a.architecture} ${a.device} ${a.description}`.toLowerCase();
  let name: string;
  if (s.includes('llvmpipe') || s.includes('lavapipe')) name = 'lavapipe';
  else if (s.includes('swiftshader')) name = 'swiftshader';
  else {
    const dev = (a.device || a.architecture).toLowerCase();
    const v = a.vendor.toLowerCase();
    name = (v && !dev.startsWith(v) ? `${v}-${dev}` : dev || v).replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'unknown';
  }
  return runtime === 'chromium' ? `${name}-chromium` : name;
}
