// Tokenise strings with the runtime's JS tokenizer (@xenova/transformers), for the Python parity test.
//
//     echo '["def f():\n\treturn 1"]' | node train/tests/js_tokenize.mjs public/models msn-code-tiny
//
// Reads a JSON array of strings on stdin, prints a JSON array of id arrays (no special tokens added).
import { env, AutoTokenizer } from '@xenova/transformers';

const [modelsDir, name] = process.argv.slice(2);
if (!modelsDir || !name) {
  console.error('usage: node js_tokenize.mjs <models-dir> <model-name>  (strings as JSON on stdin)');
  process.exit(2);
}
env.allowRemoteModels = false;
env.localModelPath = modelsDir.endsWith('/') ? modelsDir : modelsDir + '/';

let input = '';
for await (const chunk of process.stdin) input += chunk;
const texts = JSON.parse(input);
const tok = await AutoTokenizer.from_pretrained(name);
const ids = texts.map((t) => Array.from(tok.encode(t, null, { add_special_tokens: false })));
const decoded = ids.map((x) => (x.length ? tok.decode(x) : '')); // decode([]) throws in 2.17.2
process.stdout.write(JSON.stringify({ ids, decoded }));
