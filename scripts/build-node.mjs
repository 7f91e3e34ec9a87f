// Bundles the Node entry points (CLI, worker thread, benchmarks) with esbuild into dist-node/.
// WGSL files load as text; @xenova/transformers' ONNX backends are aliased to a stub.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stub = join(root, 'src/tokenizer/onnx-stub.ts');
const outdir = process.argv[2] ?? join(root, 'dist-node');
await build({
  entryPoints: {
    cli: join(root, 'src/cli/generate.ts'),
    'node-worker': join(root, 'src/worker/node-worker.ts'),
  },
  outdir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  loader: { '.wgsl': 'text' },
  alias: { 'onnxruntime-node': stub, 'onnxruntime-web': stub },
  external: ['webgpu', 'playwright', 'playwright-core', 'vite', 'sharp'],
  // CommonJS dependencies bundled into ESM need a require().
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
});
