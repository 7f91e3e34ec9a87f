// Tokenise strings with the runtime's JS tokenizer (src/tokenizer/tokenizer.ts, on
// @huggingface/tokenizers), for the Python parity test. TypeScript is loaded through tsx.
//
//     echo '["def f():\n\treturn 1"]' | node train/tests/js_tokenize.mjs public/models msn-code-tiny
//
// Reads a JSON array of strings on stdin, prints {ids, decoded}: the ids without special tokens added,
// and the text decoded from them with special tokens kept.
import { register } from 'tsx/esm/api';
import { join, resolve } from 'node:path';

const [modelsDir, name] = process.argv.slice(2);
if (!modelsDir || !name) {
  console.error('usage: node js_tokenize.mjs <models-dir> <model-name>  (strings as JSON on stdin)');
  process.exit(2);
}
register();
const { Tokenizer } = await import('../../src/tokenizer/tokenizer.ts');
const { createModelSource } = await import('../../src/model/source.ts');

let input = '';
for await (const chunk of process.stdin) input += chunk;
const texts = JSON.parse(input);
const tok = await Tokenizer.load(createModelSource(resolve(join(modelsDir, name))));
const ids = texts.map((t) => tok.encode(t, false));
const decoded = ids.map((x) => tok.decode(x, false));
process.stdout.write(JSON.stringify({ ids, decoded }));
