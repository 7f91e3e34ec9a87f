// Bundles the Node entry points (CLI, executor process, the quantize converter, the OpenAI-style server) into dist-node/ (see scripts/esbuild-node.mjs).
//   node scripts/build-node.mjs [outdir]
import { join } from 'node:path';
import { bundleNode, root } from './esbuild-node.mjs';

await bundleNode(
  { cli: join(root, 'src/cli/generate.ts'), quantize: join(root, 'src/cli/quantize.ts'), serve: join(root, 'src/cli/serve.ts'), 'node-worker': join(root, 'src/worker/node-worker.ts') },
  process.argv[2] ?? join(root, 'dist-node'),
);
