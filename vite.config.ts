import { build, defineConfig, type Plugin } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));

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

/**
 * Minified builds keep class names: error classes are rebuilt by name after crossing the worker
 * boundary (src/worker/transfer.ts), and `err.name` is shown to users.
 */
const keepNames = { output: { keepNames: true } };

/** Where the library build goes, and its entry (the `<msn-chat>` web component + engine API). */
export const LIB_OUT_DIR = 'dist/lib';
export const LIB_FILE = 'msn-webgpu.js';
const LIB_ENTRY = fileURLToPath(new URL('./src/component/index.ts', import.meta.url));

/**
 * After the app build, builds the library: one ES module (`dist/lib/msn-webgpu.js`) whose worker
 * chunk (`dist/lib/assets/worker-*.js`) it finds with `new URL(…, import.meta.url)`, so a single
 * module script tag loads everything. In dev, `/lib/msn-webgpu.js` serves the library source.
 */
function libraryBuild(): Plugin {
  let isBuild = false;
  return {
    name: 'msn-library-build',
    configResolved(c) {
      isBuild = c.command === 'build';
    },
    configureServer(server) {
      server.middlewares.use((req, _res, next) => {
        if (req.url?.split('?')[0] === `/lib/${LIB_FILE}`) req.url = '/src/component/index.ts';
        next();
      });
    },
    async closeBundle() {
      if (!isBuild) return;
      await build({
        configFile: false,
        root,
        // Relative asset URLs: the worker chunk is resolved from the script's own URL.
        base: './',
        logLevel: 'warn',
        publicDir: false,
        plugins: [wgslText()],
        worker: { format: 'es', plugins: () => [wgslText()], rollupOptions: keepNames },
        // Library mode keeps process.env.* as is; the tokenizer's dependencies read NODE_ENV.
        define: { 'process.env.NODE_ENV': JSON.stringify('production') },
        build: {
          outDir: LIB_OUT_DIR,
          emptyOutDir: true,
          target: 'es2022',
          minify: true,
          rollupOptions: keepNames,
          lib: { entry: LIB_ENTRY, formats: ['es'], fileName: () => LIB_FILE },
        },
      });
    },
  };
}

export default defineConfig({
  // No SPA fallback: a missing model file must be a 404, not index.html.
  appType: 'mpa',
  plugins: [
    wgslText(),
    libraryBuild(),
    VitePWA({
      // Our own service worker (src/app/sw.ts): precache + model-file caching with HEAD/Range care.
      strategies: 'injectManifest',
      srcDir: 'src/app',
      filename: 'sw.ts',
      // main.ts registers it (production only) and waits for it before loading the model.
      injectRegister: false,
      manifestFilename: 'manifest.webmanifest',
      injectManifest: {
        rollupFormat: 'iife',
        // The app shell, the library (lib/: its module and worker chunk, which libraryBuild has
        // written by now) with its example page, and the model list; models are cached at run time
        // as they are fetched. Precached files that a new version drops stay available to the
        // pages opened before the update (src/app/sw.ts), the library's pages included.
        globPatterns: ['**/*.{js,css,html,svg,png,webmanifest}', ...(existsSync(new URL('./public/models/index.json', import.meta.url)) ? ['models/index.json'] : [])],
        globIgnores: ['models/*/**/*'],
        maximumFileSizeToCacheInBytes: 8 * 1024 * 1024,
      },
      manifest: {
        id: './',
        name: 'msn-webgpu — in-browser LLM',
        short_name: 'msn-webgpu',
        description: 'A Llama-family language model running in your browser on WebGPU, decoded losslessly in parallel with TR-Jacobi. Works offline once a model is loaded.',
        start_url: './',
        scope: './',
        display: 'standalone',
        background_color: '#ffffff',
        theme_color: '#1d4ed8',
        categories: ['developer', 'productivity', 'utilities'],
        icons: [
          { src: 'icons/icon-192.png', sizes: '192x192', type: 'image/png', purpose: 'any' },
          { src: 'icons/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'any' },
          { src: 'icons/icon-maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
        ],
      },
      devOptions: { enabled: false },
    }),
  ],
  worker: { format: 'es', plugins: () => [wgslText()], rollupOptions: keepNames },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1', port: 4173, strictPort: true },
  build: {
    target: 'es2022',
    rollupOptions: { input: { main: fileURLToPath(new URL('./index.html', import.meta.url)) }, ...keepNames },
  },
});
