// Shared esbuild settings for the Node bundles (CLI, executor process, benchmark): .wgsl loads as text,
// webgpu/playwright/vite stay external
// (webgpu resolves from the nearest node_modules: the repo's, or .gpu/node_modules on the GPU machine).
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Bundles `entryPoints` ({name: path}) into `outdir` as ESM `.mjs` files for Node 20. */
export function bundleNode(entryPoints, outdir, { sourcemap = true } = {}) {
  return build({
    entryPoints,
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap,
    loader: { '.wgsl': 'text' },
    external: ['webgpu', 'playwright', 'playwright-core', 'vite'],
    // CommonJS dependencies bundled into ESM need a require().
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'warning',
  });
}
