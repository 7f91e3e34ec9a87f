// Checks the production build: no ONNX runtime (nothing in the runtime needs one) in any chunk of the
// app (dist/assets) or the library (dist/lib), chunk sizes, the library's shape (one ES module whose
// worker chunk is resolved from the script URL) and the PWA files. Run after `vite build`.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const banned = [/onnxruntime/i, /ort-wasm[\w-]*\.(wasm|mjs)/i, /ortWasm/];
// onnxruntime-web alone is several hundred KiB: a runtime chunk above this means something leaked.
const MAX_CHUNK_KIB = 400;
let failed = false;
let total = 0;
const fail = (msg) => {
  console.error(`check-bundle: ${msg}`);
  failed = true;
};

function scan(dir) {
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) {
      scan(p);
      continue;
    }
    const size = statSync(p).size;
    total += size;
    if (!/\.(js|mjs)$/.test(f)) continue;
    const text = readFileSync(p, 'utf8');
    for (const re of banned) if (re.test(text)) fail(`${p} matches ${re} (an ONNX runtime leaked into the bundle)`);
    console.log(`check-bundle: ${p} ${(size / 1024).toFixed(1)} KiB`);
    if (size / 1024 > MAX_CHUNK_KIB) fail(`${p} is larger than ${MAX_CHUNK_KIB} KiB`);
  }
}
scan('dist/assets');

// The library: dist/lib/msn-webgpu.js, one ES module plus its worker chunk under dist/lib/assets/.
const lib = 'dist/lib/msn-webgpu.js';
if (!existsSync(lib)) fail(`${lib} is missing (the library build runs at the end of \`vite build\`)`);
else {
  scan('dist/lib');
  const top = readdirSync('dist/lib').filter((f) => /\.(js|mjs)$/.test(f));
  if (top.length !== 1) fail(`dist/lib should hold one module, found ${top.join(', ')}`);
  const text = readFileSync(lib, 'utf8');
  const workers = [...text.matchAll(/new URL\("(assets\/worker-[\w-]+\.js)", import\.meta\.url\)/g)].map((m) => m[1]);
  if (workers.length === 0) fail(`${lib} does not resolve its worker chunk from import.meta.url`);
  for (const w of workers) if (!existsSync(join('dist/lib', w))) fail(`${lib} refers to ${w}, which is missing`);
  if (/\bimport\s*\(?\s*["']\.\.?\//.test(text)) fail(`${lib} imports other chunks; it must be a single module`);
}

// The PWA: service worker, manifest with icons, a Content-Security-Policy on the app page.
for (const f of ['dist/sw.js', 'dist/manifest.webmanifest', 'dist/offline.html']) if (!existsSync(f)) fail(`${f} is missing`);
if (existsSync('dist/manifest.webmanifest')) {
  const m = JSON.parse(readFileSync('dist/manifest.webmanifest', 'utf8'));
  for (const i of m.icons ?? []) if (!existsSync(join('dist', i.src))) fail(`manifest icon ${i.src} is missing`);
  if (!(m.icons ?? []).some((i) => i.sizes === '512x512')) fail('the manifest needs a 512x512 icon');
}
const html = readFileSync('dist/index.html', 'utf8');
if (!/http-equiv="Content-Security-Policy"/.test(html)) fail('dist/index.html has no Content-Security-Policy');
if (!/rel="manifest"/.test(html)) fail('dist/index.html does not link the web app manifest');

console.log(`check-bundle: total ${(total / 1024).toFixed(1)} KiB`);
if (failed) process.exit(1);
