// Bundles the benchmark entry (bench/run.ts) and the engine's worker-thread entry with esbuild, the
// same way scripts/build-node.mjs bundles the CLI: .wgsl as text, onnxruntime aliased to a stub,
// webgpu/playwright/vite external (webgpu resolves from the nearest node_modules: the repo's, or
// .gpu/node_modules on the GPU machine).
//   node bench/build.mjs [outdir]     default dist-node/bench (git-ignored); bench/device.sh uses .gpu
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stub = join(root, 'src/tokenizer/onnx-stub.ts');
const outdir = resolve(process.argv[2] ?? join(root, 'dist-node', 'bench'));
await build({
  entryPoints: { bench: join(root, 'bench/run.ts'), 'node-worker': join(root, 'src/worker/node-worker.ts') },
  outdir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: false,
  loader: { '.wgsl': 'text' },
  alias: { 'onnxruntime-node': stub, 'onnxruntime-web': stub },
  external: ['webgpu', 'playwright', 'playwright-core', 'vite', 'sharp'],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
});
