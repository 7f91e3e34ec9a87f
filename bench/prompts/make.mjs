// Builds the benchmark prompt suites from the training pipeline's held-out test prompts
// (train/data/test_prompts.jsonl: functions from test-split files, never trained on), in the exact
// SFT format of train/README.md: [CLASS_HEADER "\n"] DEF_BLOCK, ending with the docstring's closing
// quotes, no trailing newline. Deterministic: rerun after the test prompts change.
//
//   node bench/prompts/make.mjs
//
// Suites:
//   code-completion.jsonl  held-out prompts verbatim (≤ 600 characters), evenly spaced over the file.
//   code-repetition.jsonl  constructed from held-out top-level functions: the whole function (prompt +
//                          reference body) is quoted inside the docstring of a new def block, either a
//                          refactor ("NAME_refactored", same signature) or a mirroring test
//                          ("test_NAME()"). The body the model writes can copy from its prompt, which is
//                          what prompt-lookup (retrieval) drafting is for.
// There is no prose suite: no prose-capable model exists in public/models (code-only tiny models).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const rows = readFileSync(join(root, 'train/data/test_prompts.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

/** n items evenly spaced over xs, in order. */
function spaced(xs, n) {
  if (xs.length <= n) return xs;
  return Array.from({ length: n }, (_, i) => xs[Math.floor((i * xs.length) / n)]);
}

const completion = spaced(rows.filter((r) => r.prompt.length <= 600), 16).map((r, i) => ({
  id: `completion-${i}`, suite: 'code-completion', source_id: r.id, name: r.name, prompt: r.prompt,
}));

const indent = (text, pad) => text.split('\n').map((l) => (l.trim() ? pad + l : '')).join('\n');
const candidates = rows.filter((r) => {
  if (!/^def \w+\(.*\)( -> [^\n]+)?:\n/.test(r.prompt)) return false; // top-level, one-line signature
  if (r.response.includes('"""') || r.response.includes("'''")) return false;
  const n = r.prompt.length + r.response.length;
  return n >= 200 && n <= 650 && r.response.split('\n').length >= 5;
});
const repetition = [];
for (const r of spaced(candidates, 8)) {
  const m = /^def (\w+)\((.*)\)( -> [^\n]+)?:\n/.exec(r.prompt);
  const [, name, args, ret = ''] = m;
  const source = (r.prompt + r.response).replaceAll('"""', "'''");
  repetition.push({
    id: `refactor-${repetition.length}`, suite: 'code-repetition', source_id: r.id, name: `${name}_refactored`,
    prompt: `def ${name}_refactored(${args})${ret}:\n    """Refactored version of ${name}, with the same behaviour.\n\n    Original:\n\n${indent(source, '        ')}\n    """`,
  });
  repetition.push({
    id: `test-${repetition.length}`, suite: 'code-repetition', source_id: r.id, name: `test_${name}`,
    prompt: `def test_${name}():\n    """Tests for ${name}, defined as:\n\n${indent(source, '        ')}\n    """`,
  });
}

for (const [file, items] of [['code-completion.jsonl', completion], ['code-repetition.jsonl', repetition]]) {
  writeFileSync(join(here, file), items.map((x) => JSON.stringify(x)).join('\n') + '\n');
  console.log(`${file}: ${items.length} prompts`);
}
