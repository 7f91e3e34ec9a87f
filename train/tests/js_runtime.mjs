// The runtime (Node engine, src/) on a model folder, for the Python parity tests. Bundles js_runtime_impl.mjs
// (and the src/ TypeScript it imports) with esbuild into dist-node/train-tests/, then runs it.
//
//   echo '{"prompts": ["def f():"], "maxNewTokens": 64, "draftSeed": 24301, "modes": ["tr-jacobi"]}' \
//     | node train/tests/js_runtime.mjs steps public/models/msn-code-tiny
//       -> {"runs": [{"prompt": 0, "mode", "promptIds", "tokenIds", "steps"}...]}   (greedy; tr-jacobi with the
//          fixed paper tree, as `npm run generate -- --decode tr-jacobi --tree fixed --draft-seed S --json`)
//   echo '{"conversations": [[{"role": "user", "content": "hi"}]]}' | node train/tests/js_runtime.mjs chat <folder>
//       -> {"rendered": [...], "renderedNoGen": [...], "ids": [...]}   (the tokenizer alone, no GPU)
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bundleNode, root } from '../../scripts/esbuild-node.mjs';

const [cmd, folder] = process.argv.slice(2);
if (!['steps', 'chat'].includes(cmd) || !folder) {
  console.error('usage: node js_runtime.mjs steps|chat <model folder>  (JSON on stdin)');
  process.exit(2);
}
const out = join(root, 'dist-node', 'train-tests');
await bundleNode({ 'js-runtime': join(root, 'train/tests/js_runtime_impl.mjs') }, out, { sourcemap: false });
const { run } = await import(pathToFileURL(join(out, 'js-runtime.mjs')).href);
let input = '';
for await (const chunk of process.stdin) input += chunk;
process.stdout.write(JSON.stringify(await run(cmd, folder, JSON.parse(input))));
