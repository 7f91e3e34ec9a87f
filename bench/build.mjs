// Bundles the benchmark entries (bench/run.ts; bench/selfcheck.ts, the self-check's cost; bench/kv-reuse.ts) and the
// engine's executor-process entry, the same way as the CLI (scripts/esbuild-node.mjs).
//   node bench/build.mjs [outdir]     default dist-node/bench (git-ignored); bench/device.sh uses .gpu
import { join, resolve } from 'node:path';
import { bundleNode, root } from '../scripts/esbuild-node.mjs';

await bundleNode(
  { bench: join(root, 'bench/run.ts'), selfcheck: join(root, 'bench/selfcheck.ts'), 'kv-reuse': join(root, 'bench/kv-reuse.ts'), 'node-worker': join(root, 'src/worker/node-worker.ts') },
  resolve(process.argv[2] ?? join(root, 'dist-node', 'bench')),
  { sourcemap: false },
);
