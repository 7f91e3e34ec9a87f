// Checks the production build: no ONNX runtime (the tokenizer's unused backend) in any chunk,
// and reports chunk sizes. Run after `vite build`.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const dir = 'dist/assets';
const banned = [/onnxruntime/i, /ort-wasm[\w-]*\.(wasm|mjs)/i, /ortWasm/];
// onnxruntime-web alone is several hundred KiB: a runtime chunk above this means something leaked.
const MAX_CHUNK_KIB = 400;
let failed = false;
let total = 0;
for (const f of readdirSync(dir)) {
  const p = join(dir, f);
  const size = statSync(p).size;
  total += size;
  if (!/\.(js|mjs)$/.test(f)) continue;
  const text = readFileSync(p, 'utf8');
  for (const re of banned) {
    if (re.test(text)) {
      console.error(`check-bundle: ${f} matches ${re} (an ONNX runtime leaked into the bundle)`);
      failed = true;
    }
  }
  console.log(`check-bundle: ${f} ${(size / 1024).toFixed(1)} KiB`);
  if (size / 1024 > MAX_CHUNK_KIB) {
    console.error(`check-bundle: ${f} is larger than ${MAX_CHUNK_KIB} KiB`);
    failed = true;
  }
}
console.log(`check-bundle: total ${(total / 1024).toFixed(1)} KiB`);
if (failed) process.exit(1);
