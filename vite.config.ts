import { defineConfig, type Plugin } from 'vite';

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

export default defineConfig({
  plugins: [wgslText()],
  worker: { format: 'es', plugins: () => [wgslText()] },
});
