import { defineConfig, type Plugin } from 'vite';
import { fileURLToPath } from 'node:url';

const onnxStub = fileURLToPath(new URL('./src/tokenizer/onnx-stub.ts', import.meta.url));

/** Imports `*.wgsl` files as strings (one kernel per file under shaders/). */
export function wgslText(): Plugin {
  return {
    name: 'wgsl-text',
    transform(code, id) {
      if (id.endsWith('.wgsl')) return { code: `export default ${JSON.stringify(code)};`, map: null };
      return null;
    },
  };
}

/** Aliases shared by the app, the library build, the dev server and Vitest. */
export const alias = {
  // @xenova/transformers' tokenizer module imports its ONNX backends; tokenizers never use them.
  'onnxruntime-web': onnxStub,
  'onnxruntime-node': onnxStub,
};

export default defineConfig({
  // No SPA fallback: a missing model file must be a 404, not index.html.
  appType: 'mpa',
  plugins: [wgslText()],
  resolve: { alias },
  worker: { format: 'es', plugins: () => [wgslText()] },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1', port: 4173, strictPort: true },
  build: {
    target: 'es2022',
    rollupOptions: { input: { main: fileURLToPath(new URL('./index.html', import.meta.url)) } },
  },
});
